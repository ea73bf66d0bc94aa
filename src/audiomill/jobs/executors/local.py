"""The default executor: a pool of spawned worker processes beside the service process.

Each worker process (``worker_process.worker_main``) sets an engine up once and keeps its
models warm for every later job; the service process itself never imports torch or
onnxruntime. A worker that dies (segfault, ``os.abort()``, the OOM killer) costs only the
jobs it was running: each is retried once in a fresh worker, then failed with a message
naming the signal, while the API keeps answering and queued jobs carry on.

The pool hands out job ids only; the database row is the truth. A kind whose spec allows
``batch_slots > 1`` may run that many jobs at once in one worker (engines that batch
concurrent requests into one model call); other kinds run one job per worker at a time.
Jobs survive restarts because the queue is rebuilt from the database at start-up (see
service.recover_interrupted).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import signal
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from sqlalchemy import select

from audiomill.engines.base import kind_spec
from audiomill.errors import AudiomillError
from audiomill.jobs import service, states
from audiomill.jobs.executors.worker_process import worker_main
from audiomill.jobs.states import JobStatus
from audiomill.kinds import KindSpec
from audiomill.runtime import Runtime
from audiomill.store.tables import Job

log = logging.getLogger(__name__)

# A job whose worker died is run at most this many times in all, then failed.
MAX_ATTEMPTS_AFTER_CRASH = 2
# Workers that die before they are ready (a broken install, say) are respawned after a
# growing pause, so a crash loop does not eat the machine.
RESPAWN_BACKOFF_SECONDS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
# After stop's grace period a worker still busy gets SIGTERM, then this later SIGKILL.
KILL_AFTER_TERMINATE_SECONDS = 2.0


def describe_exit(exitcode: int | None) -> str:
    """ "SIGABRT (signal 6)" for a worker killed by a signal, "exit code 3" otherwise."""
    if exitcode is None:
        return "unknown cause"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = "unknown signal"
        return f"{name} (signal {-exitcode})"
    return f"exit code {exitcode}"


@dataclass
class _Worker:
    process: BaseProcess
    connection: Connection
    ready: bool = False
    stop_sent: bool = False
    running: dict[int, str] = field(default_factory=dict)  # job id -> kind
    warm: set[str] = field(default_factory=set)  # kinds it has run: their engines are set up

    @property
    def pid(self) -> int:
        return self.process.pid or 0

    def can_take(self, kind: str, slots: int) -> bool:
        if not self.ready or self.stop_sent:
            return False
        if not self.running:
            return True
        return len(self.running) < slots and all(k == kind for k in self.running.values())


class LocalExecutor:
    def __init__(self, runtime: Runtime, concurrency: int, stop_grace_seconds: float = 5.0) -> None:
        self._runtime = runtime
        self._concurrency = concurrency
        self._stop_grace_seconds = stop_grace_seconds
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._pending: deque[tuple[int, str]] = deque()
        self._workers: list[_Worker] = []
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_write, False)
        self._stopping = threading.Event()
        self._dispatcher: threading.Thread | None = None
        self._early_deaths = 0
        self._respawn_at = 0.0

    # ------------------------------------------------------------------ the public face

    def start(self) -> None:
        for _ in range(self._concurrency):
            self._spawn()
        self._dispatcher = threading.Thread(target=self._dispatch_loop, name="audiomill-executor", daemon=True)
        self._dispatcher.start()
        for job_id, kind in service.recover_interrupted(self._runtime):
            self._runtime.submit(job_id, kind)

    def submit(self, job_id: int, kind: str) -> None:
        with self._lock:
            if (job_id, kind) not in self._pending:  # the reaper may hand the same id again
                self._pending.append((job_id, kind))
        self._wake()

    def live_workers(self) -> int:
        """Worker processes alive now (for /metrics' audiomill_workers_live)."""
        with self._lock:
            return sum(1 for worker in self._workers if worker.process.is_alive())

    def stop(self, timeout_seconds: float | None = None) -> None:
        """Stop the workers: idle ones at once, busy ones after the grace period (their
        jobs stay 'processing' and are re-run at the next start). No process outlives this."""
        if self._dispatcher is None:
            return
        if timeout_seconds is not None:
            self._stop_grace_seconds = timeout_seconds
        self._stopping.set()
        self._wake()
        self._dispatcher.join(self._stop_grace_seconds + KILL_AFTER_TERMINATE_SECONDS + 5.0)
        self._dispatcher = None
        for worker in self._workers:  # only if the dispatcher itself got stuck
            worker.process.kill()
            worker.process.join(1.0)
        self._workers.clear()
        os.close(self._wake_read)
        os.close(self._wake_write)
        self._wake_write = -1  # a late submit must not write into a reused descriptor

    def worker_pids(self) -> list[int]:
        with self._lock:
            return [worker.pid for worker in self._workers]

    def running_jobs(self) -> dict[int, list[int]]:
        """Worker pid -> ids of the jobs it runs now."""
        with self._lock:
            return {worker.pid: list(worker.running) for worker in self._workers}

    # ------------------------------------------------------------------ the dispatcher thread

    def _wake(self) -> None:
        try:
            os.write(self._wake_write, b"x")
        except (BlockingIOError, OSError):  # full (already woken) or closed (stopped)
            pass

    def _spawn(self) -> None:
        parent_end, child_end = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=worker_main,
            name="audiomill-worker",
            # INFO at least: the job lifecycle lines, which this process's handlers filter.
            args=(self._runtime.settings, child_end, min(logging.getLogger().getEffectiveLevel(), logging.INFO)),
            daemon=True,
        )
        process.start()
        child_end.close()
        with self._lock:
            self._workers.append(_Worker(process, parent_end))

    def _dispatch_loop(self) -> None:
        deadline: float | None = None
        while True:
            if self._stopping.is_set() and deadline is None:
                deadline = time.monotonic() + self._stop_grace_seconds
                self._send_stop()
            timeout = self._next_timeout(deadline)
            waitables: list[Any] = [self._wake_read]
            for worker in self._workers:
                waitables += [worker.connection, worker.process.sentinel]
            ready = set(wait(waitables, timeout))
            if self._wake_read in ready:
                os.read(self._wake_read, 4096)
            for worker in list(self._workers):
                if worker.connection in ready:
                    self._read_messages(worker)
                if worker.process.sentinel in ready:
                    self._on_exit(worker)
            if deadline is not None:
                if not self._workers:
                    return
                self._force_stop(deadline)
                continue
            try:
                self._replace_dead()
                self._dispatch()
            except Exception:  # a failed spawn, say: the pool must keep running; retry soon
                log.exception("local executor: dispatching failed; trying again")
                self._respawn_at = time.monotonic() + 1.0

    def _next_timeout(self, deadline: float | None) -> float | None:
        if deadline is not None:
            return 0.1  # stopping: look at the clock often (grace period, then signals)
        now = time.monotonic()
        if len(self._workers) < self._concurrency or self._respawn_at > now:  # a spawn or a retry due
            return max(0.0, self._respawn_at - now)
        return None

    def _read_messages(self, worker: _Worker) -> None:
        try:
            while worker.connection.poll():
                self._handle(worker, worker.connection.recv())
        except (EOFError, OSError):
            pass  # the child is gone: its sentinel tells the rest

    def _handle(self, worker: _Worker, message: tuple[Any, ...]) -> None:
        what = message[0]
        if what == "event":
            self._runtime.events.publish(message[1], message[2])
        elif what == "log":
            record = logging.makeLogRecord(message[1])
            logger = logging.getLogger(record.name)
            if logger.isEnabledFor(record.levelno):
                logger.handle(record)
        elif what == "done":
            with self._lock:
                worker.running.pop(message[1], None)
        elif what == "ready":
            worker.ready = True
            self._early_deaths = 0

    def _dispatch(self) -> None:
        placed: list[tuple[int, str]] = []
        with self._lock:
            candidates = list(self._pending)
            busy = {job_id for worker in self._workers for job_id in worker.running}
        for job_id, kind in candidates:
            if job_id in busy:  # a duplicate submission of a job a worker already runs
                placed.append((job_id, kind))
                continue
            spec = self._spec(kind)
            worker = self._choose(kind, spec.batch_slots if spec else 1)
            if worker is None:
                continue
            try:
                try:
                    worker.connection.send(("run", job_id, spec))
                except (pickle.PicklingError, AttributeError, TypeError):
                    worker.connection.send(("run", job_id, None))  # the child resolves the kind itself
            except OSError:
                continue  # the worker is dying; its sentinel comes next
            with self._lock:
                worker.running[job_id] = kind
            worker.warm.add(kind)
            busy.add(job_id)
            placed.append((job_id, kind))
        if placed:
            with self._lock:
                for item in placed:
                    try:
                        self._pending.remove(item)
                    except ValueError:
                        pass

    @staticmethod
    def _spec(kind: str) -> KindSpec | None:
        try:
            return kind_spec(kind)
        except (AudiomillError, ImportError, AttributeError):
            return None  # the worker fails the job with the reason

    def _choose(self, kind: str, slots: int) -> _Worker | None:
        open_workers = [worker for worker in self._workers if worker.can_take(kind, slots)]
        # A worker already running this kind first (that is where jobs batch), then one
        # that ran it before (its model is loaded), then any idle one.
        open_workers.sort(key=lambda worker: (not worker.running, kind not in worker.warm))
        return open_workers[0] if open_workers else None

    def _send_stop(self) -> None:
        for worker in self._workers:
            if not worker.ready:  # still starting up: it runs nothing, no need to wait
                worker.process.terminate()
            try:
                worker.connection.send(("stop",))
            except OSError:
                pass
            worker.stop_sent = True

    def _force_stop(self, deadline: float) -> None:
        now = time.monotonic()
        for worker in self._workers:
            if now >= deadline + KILL_AFTER_TERMINATE_SECONDS:
                worker.process.kill()
            elif now >= deadline:
                worker.process.terminate()

    def _replace_dead(self) -> None:
        while len(self._workers) < self._concurrency and time.monotonic() >= self._respawn_at:
            self._spawn()

    def _on_exit(self, worker: _Worker) -> None:
        self._read_messages(worker)  # a "done" sent just before the end
        worker.process.join()
        worker.connection.close()
        with self._lock:
            self._workers.remove(worker)
        if self._stopping.is_set():
            return  # its jobs stay 'processing'; the next start re-runs them
        cause = describe_exit(worker.process.exitcode)
        log.error(
            "worker process %s died: %s (running jobs %s)",
            worker.pid,
            cause,
            sorted(worker.running) or "none",
            extra={"worker_pid": worker.pid, "exit": cause},
        )
        if not worker.ready:
            pause = RESPAWN_BACKOFF_SECONDS[min(self._early_deaths, len(RESPAWN_BACKOFF_SECONDS) - 1)]
            self._early_deaths += 1
            self._respawn_at = time.monotonic() + pause
        for job_id, kind in worker.running.items():
            try:
                self._job_lost(job_id, kind, worker.pid, cause)
            except Exception:  # the database is away: the reaper finds the job later
                log.exception("could not record the loss of job %s", job_id)

    def _job_lost(self, job_id: int, kind: str, pid: int, cause: str) -> None:
        """Retry a job whose worker died once; fail it the second time."""
        reason = f"worker process died: {cause}"
        ours = f"{socket.gethostname()}:{pid}/"  # the attempt tokens that worker handed out
        with self._runtime.db.session() as session:
            row = session.execute(
                select(Job.uuid, Job.status, Job.attempt_token, Job.attempts).where(Job.id == job_id)
            ).first()
            if row is None:
                return  # deleted meanwhile
            if row.status == JobStatus.pending:
                resubmit = True  # never claimed: just hand it out again
            elif row.status != JobStatus.processing or not (row.attempt_token or "").startswith(ours):
                return  # it ended, or another attempt holds it now
            elif row.attempts < MAX_ATTEMPTS_AFTER_CRASH:
                resubmit = states.requeue(session, job_id, reason, attempt_token=row.attempt_token)
            else:
                states.fail(session, job_id, reason, row.attempt_token)
                resubmit = False
        if resubmit:
            self._runtime.submit(job_id, kind)
        with self._runtime.db.session() as session:
            job = session.get(Job, job_id)
            if job is not None:
                self._runtime.events.publish(job.uuid, service.job_event(job))
