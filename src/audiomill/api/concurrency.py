"""Back-pressure: a bounded number of requests in progress, a bounded queue, then 503.

Without it every accepted request became a task waiting for the thread pool; a burst left
a backlog that outlived it by tens of seconds (clients gave up, the service kept working
on their requests). Here at most ``max_concurrent`` HTTP requests are processed at once;
up to ``max_queued`` more wait their turn, first come first served, for at most
``queue_timeout_seconds``; anything beyond is answered at once with 503 and
``Retry-After``. A slot is held until the response starts (a long download streams its
body without holding one). WebSockets and lifespan events pass through.
"""

from __future__ import annotations

import asyncio
from collections import deque

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from audiomill.api.errors import shaped_error

RETRY_AFTER_SECONDS = 1


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
        if scope["type"] != "http" or self.max_concurrent <= 0:
            await self.app(scope, receive, send)
            return
        if not await self._acquire():
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

    async def _acquire(self) -> bool:
        if self.active < self.max_concurrent and not self.queued:
            self.active += 1
            return True
        if self.queued >= self.max_queued:
            return False
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiters.append(waiter)
        self.queued += 1
        timer = loop.call_later(self.queue_timeout_seconds, lambda: waiter.done() or waiter.set_result(False))
        try:
            return await waiter  # True: a releasing request handed us its slot
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.result():
                self._release()  # handed a slot as we were cancelled: pass it on
            raise
        finally:
            timer.cancel()
            self.queued -= 1

    def _release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(True)  # the slot goes straight to the longest waiter
                return
        self.active -= 1

    async def _busy(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = (f"server busy: {self.active} requests in progress and {self.queued} waiting; "
                   f"retry in {RETRY_AFTER_SECONDS} s")
        status, body = shaped_error(scope.get("path", ""), 503, message)
        response = JSONResponse(status_code=status, content=body, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        await response(scope, receive, send)
