"""Errors become JSON a client can act on; never a traceback, never a 500 for bad input."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from audiomill.errors import AudiomillError, RateLimited

log = logging.getLogger(__name__)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AudiomillError)
    async def _audiomill_error(_request: Request, exc: AudiomillError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after_seconds)} if isinstance(exc, RateLimited) else None
        if exc.http_status == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        return JSONResponse(status_code=exc.http_status, content={"detail": exc.message}, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(status_code=500, content={"detail": "internal server error"})


class BodySizeLimit:
    """Refuse a request whose declared body is over the limit before reading any of it."""

    def __init__(self, app, max_body_bytes: int) -> None:  # type: ignore[no-untyped-def]
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] == "http":
            for key, value in scope.get("headers", ()):
                if key == b"content-length":
                    try:
                        declared = int(value)
                    except ValueError:
                        declared = -1
                    if declared > self.max_body_bytes:
                        response = JSONResponse(
                            status_code=413,
                            content={"detail": f"request body is larger than the limit of {self.max_body_bytes} bytes"},
                        )
                        await response(scope, receive, send)
                        return
        await self.app(scope, receive, send)


__all__ = ["BodySizeLimit", "StarletteHTTPException", "install_error_handlers"]
