"""Job events: progress and status changes fanned out to listeners (WebSocket clients).

Workers run in threads (local executor) while listeners live on the API's event loop, so
publishing hands each event to the listener's loop thread-safely. Listeners also re-read
the database now and then, so a job run by another process still reaches them.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from typing import Any

JobEvent = dict[str, Any]


class _Listener:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[JobEvent] = asyncio.Queue(maxsize=256)

    def deliver(self, event: JobEvent) -> None:
        def put() -> None:
            if self.queue.full():  # a slow client only needs the newest state
                self.queue.get_nowait()
            self.queue.put_nowait(event)

        self.loop.call_soon_threadsafe(put)


class LocalEventBus:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: dict[str, set[_Listener]] = defaultdict(set)

    def publish(self, job_uuid: str, event: JobEvent) -> None:
        with self._lock:
            listeners = list(self._listeners.get(job_uuid, ()))
        for listener in listeners:
            try:
                listener.deliver(event)
            except RuntimeError:  # its loop closed: the client is gone
                self._remove(job_uuid, listener)

    def subscribe(self, job_uuid: str) -> _Listener:
        listener = _Listener(asyncio.get_running_loop())
        with self._lock:
            self._listeners[job_uuid].add(listener)
        return listener

    def unsubscribe(self, job_uuid: str, listener: _Listener) -> None:
        self._remove(job_uuid, listener)

    def _remove(self, job_uuid: str, listener: _Listener) -> None:
        with self._lock:
            listeners = self._listeners.get(job_uuid)
            if listeners is not None:
                listeners.discard(listener)
                if not listeners:
                    del self._listeners[job_uuid]
