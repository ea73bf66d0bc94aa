"""Errors become JSON a client can act on; never a traceback, never a 500 for bad input.

/api/v1 and seed 000 answer FastAPI's ``{"detail": …}``. A seed with another error shape
registers a formatter for its path prefix (see compat/audio_services.py), so errors raised
before its handlers run (authentication, validation) come out in its shape too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from audiomill.errors import AudiomillError, RateLimited

log = logging.getLogger(__name__)

# (status, message) -> (status, body) for a path prefix
ErrorShape = Callable[[int, str], tuple[int, dict[str, Any]]]
_ERROR_SHAPES: list[tuple[str, ErrorShape]] = []


def register_error_shape(path_prefix: str, shape: ErrorShape) -> None:
    _ERROR_SHAPES.append((path_prefix, shape))


def _shape_for(request: Request) -> ErrorShape | None:
    path = request.url.path
    return next((shape for prefix, shape in _ERROR_SHAPES if path.startswith(prefix)), None)


def shaped_error(path: str, status: int, message: str) -> tuple[int, dict[str, Any]]:
    """(status, body) for an error answered outside the handlers (e.g. by a middleware)."""
    shape = next((shape for prefix, shape in _ERROR_SHAPES if path.startswith(prefix)), None)
    return shape(status, message) if shape is not None else (status, {"detail": message})


def _validation_message(exc: RequestValidationError) -> str:
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "form"))
        problems.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    return "invalid request: " + "; ".join(problems)


def install_error_handlers(app: FastAPI) -> None:
    def respond(
        request: Request, status: int, message: str, default_body: Any, headers: dict[str, str] | None = None
    ) -> JSONResponse:
        shape = _shape_for(request)
        if shape is not None:
            status, body = shape(status, message)
            return JSONResponse(status_code=status, content=body, headers=headers)
        return JSONResponse(status_code=status, content=default_body, headers=headers)

    @app.exception_handler(AudiomillError)
    async def _audiomill_error(request: Request, exc: AudiomillError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after_seconds)} if isinstance(exc, RateLimited) else None
        if exc.http_status == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        return respond(request, exc.http_status, exc.message, {"detail": exc.message}, headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return respond(request, 422, _validation_message(exc), {"detail": jsonable_encoder(exc.errors())})

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return respond(request, exc.status_code, str(exc.detail), {"detail": exc.detail}, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return respond(request, 500, "internal server error", {"detail": "internal server error"})


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
