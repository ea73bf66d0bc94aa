"""The one small error hierarchy users can catch.

    AudiomillError                 anything audiomill raises on purpose
    ├── InvalidInput       (422)   a parameter or value is not acceptable
    │   └── DurationTooLong (422)
    ├── UnsupportedMedia   (415)   the bytes are not audio we can decode
    ├── PayloadTooLarge    (413)   the upload is over the size limit
    ├── NotFound           (404)   no such thing, or not yours
    ├── Unauthorized       (401)   no valid credentials where they are required
    ├── Forbidden          (403)   refused for a reason other than ownership (CSRF, origin)
    ├── RateLimited        (429)   too many requests or active jobs; carries retry_after_seconds
    ├── QuotaExceeded      (413)   the user's storage quota would be exceeded
    ├── Conflict           (409)   the thing is in the wrong state for the request
    ├── ModelUnavailable   (503)   weights are missing and cannot be fetched
    ├── StorageUnavailable (503)   the blob store (e.g. an S3 bucket) cannot be reached or used
    └── JobCancelled               raised inside an engine when the job was cancelled

Engines raise these; the API maps ``http_status`` onto responses, the CLI onto messages.
"""

from __future__ import annotations


class AudiomillError(Exception):
    http_status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(AudiomillError):
    http_status = 422


class DurationTooLong(InvalidInput):
    pass


class UnsupportedMedia(AudiomillError):
    http_status = 415


class PayloadTooLarge(AudiomillError):
    http_status = 413


class NotFound(AudiomillError):
    http_status = 404


class Unauthorized(AudiomillError):
    http_status = 401


class Forbidden(AudiomillError):
    http_status = 403


class RateLimited(AudiomillError):
    http_status = 429

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = max(1, retry_after_seconds)


class QuotaExceeded(AudiomillError):
    http_status = 413


class Conflict(AudiomillError):
    http_status = 409


class ModelUnavailable(AudiomillError):
    http_status = 503


class StorageUnavailable(AudiomillError):
    http_status = 503


class JobCancelled(AudiomillError):
    http_status = 409

    def __init__(self, message: str = "job was cancelled") -> None:
        super().__init__(message)
