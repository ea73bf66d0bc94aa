"""The per-user live feed over WebSocket: ``/api/v1/events`` and seed 001's ``/ws/processing/``.

Each message is one JSON event, ``{"type": "job.progress", "job": {...}}`` with ``job`` the
same JSON as ``GET /api/v1/jobs/{id}`` (seed 001's path adds ``file_id``); see
:mod:`audiomill.api.feed` and the ``JobFeedEvent`` schema in OpenAPI. Only the caller's own
jobs are sent. Authentication is that of HTTP: an API key (``Authorization: Bearer``), the
``sessionid`` cookie (same origin only), or nothing in local mode. Messages the client sends
are read and ignored (``{"type": "ping"}`` is answered with ``{"type": "pong"}``).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, FastAPI, WebSocket, WebSocketDisconnect

from audiomill.api.deps import websocket_caller
from audiomill.api.feed import JobFeedEvent, ProcessingUpdate, Subscription, feed_hub
from audiomill.runtime import Runtime

router = APIRouter(tags=["events"])

FELL_BEHIND = 1013  # "try again later": reconnect and re-list


@router.websocket("/api/v1/events")
async def job_events_feed(websocket: WebSocket) -> None:
    """Every change to the caller's jobs (created, started, progress, completed, failed,
    cancelled, deleted) as ``{"type", "job"}`` messages, until the client closes."""
    await _serve(websocket, with_file_id=False)


@router.websocket("/ws/processing/")
async def processing_updates(websocket: WebSocket) -> None:
    """Seed 001's real-time processing updates: the same events, with the integer ``file_id``."""
    await _serve(websocket, with_file_id=True)


async def _serve(websocket: WebSocket, with_file_id: bool) -> None:
    runtime: Runtime = websocket.app.state.runtime
    caller = await websocket_caller(websocket, runtime)
    if caller is None:
        return
    hub = feed_hub(websocket.app.state)
    # Subscribed before the client hears "accepted": a job it creates next is never missed.
    subscription = hub.subscribe(caller.user.id, with_file_id)
    try:
        await websocket.accept()
    except BaseException:
        hub.unsubscribe(subscription)
        raise
    reader = asyncio.create_task(_read_until_closed(websocket))
    try:
        await _send_events(websocket, subscription, reader)
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass  # the client went away mid-send
    finally:
        hub.unsubscribe(subscription)
        reader.cancel()


async def _send_events(websocket: WebSocket, subscription: Subscription, reader: asyncio.Task[None]) -> None:
    while True:
        batch = asyncio.ensure_future(subscription.next_batch())
        done, _ = await asyncio.wait({batch, reader}, return_when=asyncio.FIRST_COMPLETED)
        if reader in done:
            batch.cancel()
            return
        if subscription.overflowed:
            await websocket.close(code=FELL_BEHIND, reason="too far behind: reconnect and re-list your jobs")
            return
        for text in batch.result():
            await websocket.send_text(text)


async def _read_until_closed(websocket: WebSocket) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text and _is_ping(text):
            await websocket.send_text('{"type":"pong"}')


def _is_ping(text: str) -> bool:
    try:
        body = json.loads(text)
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("type") == "ping"


def document_events(app: FastAPI) -> None:
    """The feed's message shapes as OpenAPI components (WebSocket routes have no operations)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in (JobFeedEvent, ProcessingUpdate):
                definition = model.model_json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
                for name, sub_schema in definition.pop("$defs", {}).items():
                    components.setdefault(name, sub_schema)
                components[model.__name__] = definition
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
