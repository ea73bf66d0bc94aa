"""Back-pressure: a bounded number of requests in progress, a bounded queue, then 503.

Without it every accepted request became a task waiting for the thread pool; a burst left
a backlog that outlived it by tens of seconds (clients gave up, the service kept working
on their requests). Here at most ``max_concurrent`` HTTP requests are processed at once;
up to ``max_queued`` more wait their turn, first come first served, for at most
``queue_timeout_seconds``; anything beyond is answered at once with 503 and
``Retry-After``. Uploads (a body over 1 MiB) are not counted. A waiting request whose client hangs up leaves the line unanswered, so
the clients that gave up during a burst cost nothing after it. A slot is held until the
response starts (a long download streams its body without holding one). WebSockets and
lifespan events pass through.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from audiomill.api.errors import shaped_error

RETRY_AFTER_SECONDS = 1
# Requests with a body larger than this (uploads) are not counted: see _is_upload.
UPLOAD_BYTES = 1024 * 1024


class ConcurrencyLimit:
    def __init__(self, app: ASGIApp, max_concurrent: int, max_queued: int, queue_timeout_seconds: float) -> None:
        self.app = app
        self.max_concurrent = max_concurrent
        self.max_queued = max_queued
        self.queue_timeout_seconds = queue_timeout_seconds
        self.active = 0  # requests holding a slot
        self.queued = 0  # requests waiting for one
        self._waiters: deque[asyncio.Future[bool]] = deque()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.max_concurrent <= 0 or _is_upload(scope):
            await self.app(scope, receive, send)
            return
        if self.active < self.max_concurrent and not self.queued:
            self.active += 1
        elif self.queued >= self.max_queued:
            await self._busy(scope, receive, send)
            return
        else:
            admitted, receive = await self._wait_for_slot(receive)
            if admitted is None:
                return  # the client left while waiting: nobody to answer, no work to do
            if not admitted:
                await self._busy(scope, receive, send)
                return
        released = False

        def release_once() -> None:
            nonlocal released
            if not released:
                released = True
                self._release()

        async def send_releasing(message: Message) -> None:
            if message["type"] == "http.response.start":
                release_once()
            await send(message)

        try:
            await self.app(scope, receive, send_releasing)
        finally:
            release_once()

    async def _wait_for_slot(self, receive: Receive) -> tuple[bool | None, Receive]:
        """Wait in line. True: a releasing request handed us its slot; False: waited too
        long; None: the client went away meanwhile (after a burst, the clients that gave
        up must not keep the service busy with answers nobody reads)."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiters.append(waiter)
        self.queued += 1
        timer = loop.call_later(self.queue_timeout_seconds, _resolve, waiter, False)
        watcher: asyncio.Future[Message] | None = None
        first: Message | None = None
        try:
            # A request whose body is complete in its first message (GET, small POST) can be
            # watched for a disconnect while it waits; a longer body is left unread.
            first = await receive()
            if first["type"] == "http.disconnect":
                return None, receive
            if not first.get("more_body", False):
                watcher = asyncio.ensure_future(receive())
                both: set[asyncio.Future[Any]] = {waiter, watcher}
                await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
                if not waiter.done() and watcher.done() and watcher.result()["type"] == "http.disconnect":
                    waiter.set_result(False)  # leave the line
                    return None, receive
            admitted = await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.result():
                self._release()  # handed a slot as we were cancelled: pass it on
            raise
        finally:
            timer.cancel()
            self.queued -= 1
            if watcher is not None and not watcher.done():
                watcher.cancel()
        return admitted, _replaying(first, receive)

    def _release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(True)  # the slot goes straight to the longest waiter
                return
        self.active -= 1

    async def _busy(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = (
            f"server busy: {self.active} requests in progress and {self.queued} waiting; "
            f"retry in {RETRY_AFTER_SECONDS} s"
        )
        status, body = shaped_error(scope.get("path", ""), 503, message)
        response = JSONResponse(status_code=status, content=body, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        await response(scope, receive, send)


def _is_upload(scope: Scope) -> bool:
    """A request with a large (or streamed) body: its slot would be held for as long as the
    client takes to send it, so a few slow uploads could starve every poll. Uploads are
    bounded by the per-user rate and active-job limits instead."""
    for key, value in scope.get("headers", ()):
        if key == b"transfer-encoding":
            return True
        if key == b"content-length":
            try:
                return int(value) > UPLOAD_BYTES
            except ValueError:
                return False
    return False


def _resolve(waiter: asyncio.Future[bool], admitted: bool) -> None:
    if not waiter.done():
        waiter.set_result(admitted)


def _replaying(first: Message | None, receive: Receive) -> Receive:
    """``receive`` with the message read while waiting handed out first."""
    pending = [first] if first is not None else []

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay
