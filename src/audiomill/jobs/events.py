"""Job events: progress and status changes fanned out to listeners (WebSocket clients).

Workers run in threads (local executor) while listeners live on the API's event loop, so
publishing hands each event to the listener's loop thread-safely. Listeners also re-read
the database now and then, so a job run by another process still reaches them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any

JobEvent = dict[str, Any]
# Called with (job uuid, event) for every job's events, in the publisher's thread: it must
# return at once (the per-user feed puts the event on its own queue).
EventTap = Callable[[str, JobEvent], None]
log = logging.getLogger(__name__)


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
        self._taps: list[EventTap] = []

    def publish(self, job_uuid: str, event: JobEvent) -> None:
        with self._lock:
            listeners = list(self._listeners.get(job_uuid, ()))
            taps = list(self._taps)
        for tap in taps:
            try:
                tap(job_uuid, event)
            except Exception:  # a tap's failure must not cost the job's other listeners
                log.exception("event tap failed for job %s", job_uuid)
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

    def add_tap(self, tap: EventTap) -> None:
        """Hear every job's events (the per-user feed: one tap per process, not per client)."""
        with self._lock:
            if tap not in self._taps:
                self._taps.append(tap)

    def remove_tap(self, tap: EventTap) -> None:
        with self._lock:
            if tap in self._taps:
                self._taps.remove(tap)

    def _remove(self, job_uuid: str, listener: _Listener) -> None:
        with self._lock:
            listeners = self._listeners.get(job_uuid)
            if listeners is not None:
                listeners.discard(listener)
                if not listeners:
                    del self._listeners[job_uuid]


class RedisEventBus(LocalEventBus):
    """Events cross processes through Redis pub/sub: a worker on another machine publishes,
    and a listener thread in each API process hands the event to its WebSocket clients.

    If Redis is briefly unreachable, events are delivered locally only; WebSocket clients
    then still see progress through their periodic database reads.
    """

    CHANNEL_PREFIX = "audiomill:job-events:"

    def __init__(self, url: str) -> None:
        import redis

        super().__init__()
        self._redis = redis.Redis.from_url(url)
        self._listener_started = threading.Event()
        self._stopping = threading.Event()

    def publish(self, job_uuid: str, event: JobEvent) -> None:
        import redis

        try:
            self._redis.publish(self.CHANNEL_PREFIX + job_uuid, json.dumps(event))
        except redis.RedisError:
            log.warning("redis unreachable: event for %s delivered locally only", job_uuid)
            super().publish(job_uuid, event)

    def subscribe(self, job_uuid: str) -> _Listener:
        self._start_listening()
        return super().subscribe(job_uuid)

    def add_tap(self, tap: EventTap) -> None:
        self._start_listening()
        super().add_tap(tap)

    def _start_listening(self) -> None:
        if not self._listener_started.is_set():
            self._listener_started.set()
            threading.Thread(target=self._listen, name="audiomill-events", daemon=True).start()

    def close(self) -> None:
        self._stopping.set()

    def _listen(self) -> None:
        import redis

        while not self._stopping.is_set():
            try:
                pubsub = self._redis.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
                pubsub.psubscribe(self.CHANNEL_PREFIX + "*")
                while not self._stopping.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message and message["type"] == "pmessage":
                        channel = message["channel"].decode()
                        LocalEventBus.publish(self, channel[len(self.CHANNEL_PREFIX) :], json.loads(message["data"]))
            except redis.RedisError:
                log.warning("event listener lost redis; reconnecting", exc_info=True)
                self._stopping.wait(1.0)


def make_event_bus(events_url: str | None) -> LocalEventBus:
    return RedisEventBus(events_url) if events_url else LocalEventBus()
