"""Keeps a browser from being turned against the local user (loopback mode only).

In local mode anonymous requests act as the machine's owner, so:
- a request whose Host is not a loopback name is refused (DNS rebinding: evil.example
  resolving to 127.0.0.1 would otherwise reach us with the victim's browser);
- a state-changing request whose Origin is not our own is refused (a page on another site
  posting a form or fetch to http://127.0.0.1:8000);
- a WebSocket from a foreign Origin is refused likewise.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from audiomill.config import Settings, is_loopback_host

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def _host_name(host_header: str) -> str:
    return urlsplit(f"//{host_header}").hostname or ""


def is_same_origin(origin: str, host_header: str, trusted_origins: list[str]) -> bool:
    if origin in trusted_origins:
        return True
    parts = urlsplit(origin)
    return parts.scheme in {"http", "https", "ws", "wss"} and parts.netloc.lower() == host_header.lower()


class LocalModeGuard:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.allowed_hosts = {h.lower() for h in settings.allowed_hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())}
        host_header = headers.get("host", "")
        host = _host_name(host_header).lower()
        problem: str | None = None
        if not (is_loopback_host(host) or host in self.allowed_hosts):
            problem = f"host {host!r} is not a loopback name; this service only answers local requests"
        else:
            origin = headers.get("origin")
            unsafe = scope["type"] == "websocket" or scope.get("method", "GET") not in SAFE_METHODS
            if unsafe and origin is not None and not is_same_origin(origin, host_header, self.settings.cors_origins):
                problem = f"cross-origin request from {origin!r} refused"
        if problem is None:
            await self.app(scope, receive, send)
            return
        response = JSONResponse(status_code=403, content={"detail": problem})
        if scope["type"] == "websocket":
            if "websocket.http.response" not in scope.get("extensions", {}):
                await send({"type": "websocket.close", "code": 1008, "reason": problem[:120]})
                return
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": 403,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "websocket.http.response.body", "body": response.body})
            return
        await response(scope, receive, send)
