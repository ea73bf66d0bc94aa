"""The default executor: a pool of worker threads inside the service process.

Threads (not processes) so a model loaded once stays warm for every later job; torch
releases the GIL while it computes. Jobs survive restarts because the queue is rebuilt
from the database at start-up (see service.recover_interrupted).
"""

from __future__ import annotations

import logging
import queue
import threading

from audiomill.jobs import service
from audiomill.jobs.runner import run_job
from audiomill.runtime import Runtime

log = logging.getLogger(__name__)

_STOP = -1


class LocalExecutor:
    def __init__(self, runtime: Runtime, concurrency: int) -> None:
        self._runtime = runtime
        self._concurrency = concurrency
        self._queue: queue.Queue[int] = queue.Queue()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for index in range(self._concurrency):
            thread = threading.Thread(target=self._work, name=f"audiomill-worker-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        for job_id, kind in service.recover_interrupted(self._runtime):
            self._runtime.submit(job_id, kind)

    def submit(self, job_id: int, kind: str) -> None:
        self._queue.put(job_id)

    def live_workers(self) -> int:
        """Workers alive now (for /metrics' audiomill_workers_live)."""
        return sum(1 for thread in self._threads if thread.is_alive())

    def stop(self, timeout_seconds: float = 5.0) -> None:
        """Stop taking jobs. A job still running is left 'processing' and re-run at next start."""
        for _ in self._threads:
            self._queue.put(_STOP)
        for thread in self._threads:
            thread.join(timeout=timeout_seconds)
        self._threads.clear()

    def _work(self) -> None:
        while True:
            job_id = self._queue.get()
            if job_id == _STOP:
                return
            try:
                run_job(self._runtime, job_id)
            except Exception:  # the database went away, say: keep the worker alive
                log.exception("worker failed to run job %s", job_id)
