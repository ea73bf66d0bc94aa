"""One worker process of the local executor: it runs the jobs its parent hands it, each in
a thread, with engines set up once and kept warm between jobs.

The child builds its own Runtime (database, blob store) from the parent's Settings; the
job row stays the truth, the parent sends only job ids (with the kind's spec as the parent
knows it). Events and log records go back to the parent, which hands them to its
WebSocket listeners and its log handlers.

Messages over the one duplex pipe (pickled tuples)::

    parent → child   ("run", job_id, KindSpec | None)   ("stop",)
    child → parent   ("ready", pid)   ("done", job_id)   ("event", job_uuid, event)
                     ("log", LogRecord attributes)
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from multiprocessing.connection import Connection
from typing import Any

from audiomill.numba_cache import claim_numba_cache_dir
from audiomill.config import Settings
from audiomill.jobs.events import JobEvent, LocalEventBus
from audiomill.kinds import KindSpec

log = logging.getLogger(__name__)


class ParentChannel:
    """The child's end of the pipe; any thread may send (jobs, heartbeats, loggers)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._lock = threading.Lock()

    def send(self, message: tuple[Any, ...]) -> None:
        with self._lock:
            self._connection.send(message)


class ParentEventBus(LocalEventBus):
    """Job events go to the parent, whose bus reaches the WebSocket clients."""

    def __init__(self, channel: ParentChannel) -> None:
        super().__init__()
        self._channel = channel

    def publish(self, job_uuid: str, event: JobEvent) -> None:
        try:
            self._channel.send(("event", job_uuid, event))
        except (OSError, ValueError):  # the parent is gone; the row still has the state
            pass


class ForwardToParent(logging.Handler):
    """Hands each record to the parent's logging, pre-formatted so it pickles."""

    def __init__(self, channel: ParentChannel) -> None:
        super().__init__()
        self._channel = channel
        self._exceptions = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            attributes = dict(record.__dict__)
            attributes["msg"], attributes["args"] = record.getMessage(), None
            if record.exc_info:
                attributes["exc_text"] = self._exceptions.formatException(record.exc_info)
            attributes["exc_info"] = None
            attributes.pop("message", None)
            self._channel.send(("log", attributes))
        except Exception:
            self.handleError(record)


def _forward_logs(channel: ParentChannel, level: int) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(ForwardToParent(channel))
    root.setLevel(level)


def worker_main(settings: Settings, connection: Connection, log_level: int) -> None:
    """The child's entry point (spawned): serve "run" messages until "stop" or the parent goes."""
    # Ctrl-C in a terminal reaches the whole process group: the parent decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    channel = ParentChannel(connection)
    _forward_logs(channel, log_level)
    claim_numba_cache_dir()  # before any engine imports librosa: see audiomill.numba_cache

    # Imported here, not at module level: the parent process never needs the runner.
    from audiomill.jobs.runner import run_job
    from audiomill.runtime import build_runtime

    runtime = build_runtime(settings, migrate=False)  # the parent migrated before spawning us
    runtime.events = ParentEventBus(channel)

    def run(job_id: int, spec: KindSpec | None) -> None:
        try:
            run_job(runtime, job_id, spec)
        except Exception:  # the database went away, say: report and keep serving
            log.exception("worker process failed to run job %s", job_id)
        finally:
            try:
                channel.send(("done", job_id))
            except (OSError, ValueError):
                pass

    channel.send(("ready", os.getpid()))
    jobs: list[threading.Thread] = []
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):
            # The parent died without a word: do not outlive it. Jobs still running stay
            # 'processing' and are re-run by the next service (restart recovery, reaper).
            os._exit(0)
        if message[0] == "stop":
            break
        if message[0] == "run":
            _, job_id, spec = message
            thread = threading.Thread(target=run, args=(job_id, spec), name=f"job-{job_id}", daemon=True)
            thread.start()
            jobs = [job for job in jobs if job.is_alive()] + [thread]
    for job in jobs:
        job.join()
    runtime.db.dispose()
