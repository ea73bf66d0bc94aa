"""Blob store in an S3-compatible bucket, for workers on several machines.

Objects live at ``{prefix}{sha[:2]}/{sha[2:4]}/{sha}``. The bucket is the truth; each
machine keeps a local read cache of the blobs it has used, because engines and file
responses (with HTTP Range) read local paths. A cached copy is written under a temporary
name and renamed into place only once its size and digest match, so a reader never sees a
partial file, and concurrent first readers in one process share a single download.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from audiomill.errors import NotFound, StorageUnavailable
from audiomill.store.blobs import StagedFile, _digest_file, check_digest, stage_file, stage_stream

if TYPE_CHECKING:
    from audiomill.config import Settings

_MISSING_CODES = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}
_NO_CREDENTIALS = "no S3 credentials found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)"
# Striped locks: concurrent first readers of one digest in this process download it once.
_LOCK_STRIPES = 64


def s3_client(endpoint_url: str | None, region: str | None) -> Any:
    """A client with credentials from boto3's usual chain (env, profile, instance role)."""
    config = Config(
        connect_timeout=10,
        read_timeout=120,
        retries={"max_attempts": 3, "mode": "standard"},
        max_pool_connections=32,
        # Self-hosted S3 (MinIO, Ceph, moto) rarely resolves bucket.host names.
        s3={"addressing_style": "path"} if endpoint_url else None,
    )
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, region_name=region, config=config)


def normalize_prefix(prefix: str) -> str:
    prefix = prefix.lstrip("/")
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextmanager
def _storage_errors(action: str) -> Iterator[None]:
    """Turn botocore's exceptions into errors a user can act on."""
    try:
        yield
    except NoCredentialsError as exc:
        raise StorageUnavailable(f"{action}: {_NO_CREDENTIALS}") from exc
    except (ClientError, BotoCoreError) as exc:
        raise StorageUnavailable(f"{action}: {exc}") from exc


class S3BlobStore:
    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str,
        cache_dir: Path,
        scratch_dir: Path,
        transfer: TransferConfig | None = None,
        list_page_size: int = 1000,
    ) -> None:
        self._client = client
        self.bucket = bucket
        self.prefix = normalize_prefix(prefix)
        self.cache_dir = cache_dir
        self.scratch_dir = scratch_dir
        self._transfer = transfer or TransferConfig()
        self._list_page_size = list_page_size
        self._locks = [threading.Lock() for _ in range(_LOCK_STRIPES)]
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.scratch_dir.mkdir(parents=True, exist_ok=True)

    @classmethod
    def from_settings(cls, settings: Settings, cache_dir: Path, scratch_dir: Path) -> S3BlobStore:
        """Connect and check the bucket, so a bad configuration fails at start, not mid-job."""
        if not settings.s3_bucket:
            raise StorageUnavailable("blob_store is s3 but no bucket is set: set AUDIOMILL_S3_BUCKET")
        client = s3_client(settings.s3_endpoint_url, settings.s3_region)
        store = cls(client, settings.s3_bucket, settings.s3_prefix, cache_dir, scratch_dir)
        store.check_bucket()
        return store

    def check_bucket(self) -> None:
        where = f"S3 bucket {self.bucket!r} at {self._client.meta.endpoint_url}"
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code = _error_code(exc)
            if code in _MISSING_CODES:
                raise StorageUnavailable(f"{where} does not exist; create it first") from exc
            if code in {"403", "AccessDenied", "Forbidden"}:
                raise StorageUnavailable(f"access to {where} is denied for these credentials") from exc
            raise StorageUnavailable(f"{where} cannot be used: {code}: {exc}") from exc
        except NoCredentialsError as exc:
            raise StorageUnavailable(f"{where} cannot be used: {_NO_CREDENTIALS}") from exc
        except BotoCoreError as exc:  # unreachable endpoint, TLS, timeouts
            raise StorageUnavailable(f"{where} cannot be reached: {exc}") from exc

    # -- layout ---------------------------------------------------------------------------

    def _key(self, sha256: str) -> str:
        check_digest(sha256)
        return f"{self.prefix}{sha256[:2]}/{sha256[2:4]}/{sha256}"

    def _digest_of(self, key: str) -> str | None:
        """The digest a key names, or None for anything that is not one of our objects."""
        parts = key[len(self.prefix) :].split("/")
        if len(parts) != 3 or parts[0] != parts[2][:2] or parts[1] != parts[2][2:4]:
            return None
        try:
            return check_digest(parts[2])
        except ValueError:
            return None

    def _cache_path(self, sha256: str) -> Path:
        check_digest(sha256)
        return self.cache_dir / sha256[:2] / sha256[2:4] / sha256

    def _lock(self, sha256: str) -> threading.Lock:
        return self._locks[int(sha256[:4], 16) % _LOCK_STRIPES]

    def _head(self, sha256: str) -> dict[str, Any] | None:
        """The object's metadata, or None when it is not in the bucket."""
        try:
            return self._client.head_object(Bucket=self.bucket, Key=self._key(sha256))  # type: ignore[no-any-return]
        except ClientError as exc:
            if _error_code(exc) in _MISSING_CODES:
                return None
            raise

    # -- BlobStore ------------------------------------------------------------------------

    def stage_stream(self, source: BinaryIO, max_bytes: int, chunk_bytes: int = 1024 * 1024) -> StagedFile:
        return stage_stream(self.scratch_dir, source, max_bytes, chunk_bytes)

    def stage_file(self, source: Path) -> StagedFile:
        return stage_file(source)

    def commit(self, staged: StagedFile) -> str:
        """Upload a staged file (unless the bucket has it) and keep it as the cached copy."""
        key = self._key(staged.sha256)
        with _storage_errors(f"storing blob {staged.sha256} in bucket {self.bucket!r}"):
            head = self._head(staged.sha256)
            if head is None or head.get("ContentLength") != staged.size_bytes:
                # upload_file switches to a multipart upload above the transfer threshold.
                self._client.upload_file(
                    str(staged.path),
                    self.bucket,
                    key,
                    ExtraArgs={"ContentType": "application/octet-stream"},
                    Config=self._transfer,
                )
        self._keep_as_cached(staged)
        return staged.sha256

    def _keep_as_cached(self, staged: StagedFile) -> None:
        """The staged bytes are verified content: move them into the cache (no re-download)."""
        target = self._cache_path(staged.sha256)
        if target.exists():
            staged.path.unlink(missing_ok=True)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._temp_name(target)
        try:
            shutil.move(str(staged.path), tmp)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def discard(self, staged: StagedFile) -> None:
        staged.path.unlink(missing_ok=True)

    def path(self, sha256: str) -> Path:
        """Local path of a blob, for reading; fetched from the bucket on first use."""
        target = self._cache_path(sha256)
        if self._touch(target):
            return target
        with self._lock(sha256):
            if not target.exists():  # another thread may have fetched it meanwhile
                self._download(sha256, target)
        return target

    def _download(self, sha256: str, target: Path) -> None:
        action = f"fetching blob {sha256} from bucket {self.bucket!r}"
        with _storage_errors(action):
            head = self._head(sha256)
            if head is None:
                raise NotFound(f"stored file {sha256} is missing from bucket {self.bucket!r}")
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._temp_name(target)
            try:
                self._client.download_file(self.bucket, self._key(sha256), str(tmp), Config=self._transfer)
                digest, size = _digest_file(tmp)
                if size != head["ContentLength"] or digest != sha256:
                    raise StorageUnavailable(
                        f"{action}: got {size} bytes with sha256 {digest}, expected "
                        f"{head['ContentLength']} bytes with sha256 {sha256}"
                    )
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)

    @staticmethod
    def _touch(path: Path) -> bool:
        """Mark a cached copy as used (prune_cache keeps recently used ones); False if absent."""
        try:
            os.utime(path)
        except FileNotFoundError:
            return False
        return True

    @staticmethod
    def _temp_name(target: Path) -> Path:
        handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
        os.close(handle)
        return Path(name)

    def exists(self, sha256: str) -> bool:
        with _storage_errors(f"looking up blob {sha256} in bucket {self.bucket!r}"):
            return self._head(sha256) is not None

    def delete(self, sha256: str) -> None:
        """Remove the object and this machine's cached copy (other machines keep theirs)."""
        with _storage_errors(f"deleting blob {sha256} from bucket {self.bucket!r}"):
            self._client.delete_object(Bucket=self.bucket, Key=self._key(sha256))
        self._cache_path(sha256).unlink(missing_ok=True)

    def all_digests(self) -> Iterable[str]:
        paginator = self._client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self.bucket, Prefix=self.prefix, PaginationConfig={"PageSize": self._list_page_size}
        )
        with _storage_errors(f"listing bucket {self.bucket!r}"):
            for page in pages:
                for item in page.get("Contents", []):
                    digest = self._digest_of(item["Key"])
                    if digest is not None:
                        yield digest

    def modified_at(self, sha256: str) -> float:
        with _storage_errors(f"looking up blob {sha256} in bucket {self.bucket!r}"):
            head = self._head(sha256)
        if head is None:
            raise FileNotFoundError(f"blob {sha256} is not in bucket {self.bucket!r}")
        return float(head["LastModified"].timestamp())

    # -- cache upkeep ---------------------------------------------------------------------

    def prune_cache(self, max_age_seconds: float) -> int:
        """Drop cached copies not modified for max_age_seconds; returns how many went.

        The bucket keeps the bytes, so a pruned blob is fetched again on its next use.
        """
        cutoff = time.time() - max_age_seconds
        removed = 0
        for path in self.cache_dir.glob("*/*/*"):
            if len(path.name) != 64:  # a download in progress
                continue
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed
