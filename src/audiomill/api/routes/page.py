"""The web page at ``/`` for browsers; API clients asking ``/`` keep their JSON.

Content negotiation on ``Accept``: a request that prefers ``text/html`` (every browser's
navigation) gets the page; anything else (curl's ``*/*``, ``application/json``, seed 000's
clients) gets seed 000's JSON root exactly as before. The page's own files live under
``/web/`` with a strict Content-Security-Policy: scripts only from this origin, no inline
script, nothing fetched from another host.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope

from audiomill.api.compat import demucs_api
from audiomill.web import STATIC_DIR

router = APIRouter(include_in_schema=False)

# 'self' in connect-src covers ws:// and wss:// to this host (CSP Level 3). blob: lets
# recordings and decoded audio play; data: lets canvases export. No 'unsafe-inline' anywhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # The microphone is this page's own (recording, humming); nothing else may ask.
    "Permissions-Policy": "microphone=(self), camera=(), geolocation=()",
}


def _quality(accept: str, media_type: str) -> float:
    """The q value ``accept`` gives ``media_type`` exactly (0 when not named)."""
    for part in accept.split(","):
        name, *options = (piece.strip() for piece in part.split(";"))
        if name.lower() != media_type:
            continue
        for option in options:
            key, _, value = option.partition("=")
            if key.strip() == "q":
                try:
                    return float(value)
                except ValueError:
                    return 0.0
        return 1.0
    return 0.0


def wants_html(accept: str) -> bool:
    """True when the client names text/html and prefers it to JSON."""
    html = _quality(accept, "text/html")
    return html > 0 and html >= _quality(accept, "application/json")


def page_response() -> FileResponse:
    return FileResponse(
        STATIC_DIR / "index.html",
        media_type="text/html; charset=utf-8",
        headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"},
    )


@router.get("/", response_model=None)
def root(request: Request) -> Response:
    if wants_html(request.headers.get("accept", "")):
        return page_response()
    return JSONResponse(demucs_api.health_check().model_dump())


class PageFiles(StaticFiles):
    """The page's static files, with the page's security headers and revalidation."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        response.headers["Cache-Control"] = "no-cache"
        return response


def page_files() -> PageFiles:
    return PageFiles(directory=STATIC_DIR)
