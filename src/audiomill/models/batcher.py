"""Batch concurrent requests to one model into one call, from many job threads.

Autoregressive generation (MusicGen) is bound by the latency of each step, not by
arithmetic: on a GPU a batch of 16 takes about the time of a batch of 1. So a worker runs
several jobs at once (``KindSpec.batch_slots``) and their model calls meet here:

* a job thread calls :meth:`Batcher.run` with its request and its own ``cancelled`` /
  ``progress`` callbacks, and blocks;
* one batcher thread per model waits for the first request, keeps collecting for up to
  ``collect_seconds`` (or until ``max_batch_size`` compatible requests are waiting), then
  calls ``run_batch`` once with every compatible request (``compatible(leader, other)``:
  same shapes, similar lengths) and hands each thread its own result;
* a job cancelled while it waits is dropped before the call; one cancelled during the
  call returns at once (:class:`JobCancelled`) while the others go on, and the call is
  told to stop (``Slot.cancelled`` is visible to it) when every request in it is cancelled;
* progress is written by the batcher thread into each slot and reported by the job's own
  thread, so callbacks that touch a database stay on the job's thread.

Requests that do not fit the current batch wait for the next one; the model is never
called from two threads at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from audiomill.errors import JobCancelled

RequestT = TypeVar("RequestT")
ResultT = TypeVar("ResultT")

# A batcher thread with nothing to do for this long exits; the next request starts another.
IDLE_EXIT_SECONDS = 60.0


@dataclass(eq=False)
class Slot(Generic[RequestT, ResultT]):
    """One request's place in the queue and in a batch."""

    request: RequestT
    submitted_at: float
    fraction: float = 0.0  # progress of this request inside the running call, 0..1
    _cancelled: threading.Event = field(default_factory=threading.Event)
    _done: threading.Event = field(default_factory=threading.Event)
    _result: ResultT | None = None
    _error: BaseException | None = None

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        self._cancelled.set()

    def finish(self, result: ResultT) -> None:
        self._result = result
        self._done.set()

    def fail(self, error: BaseException) -> None:
        self._error = error
        self._done.set()

    def wait(self, timeout_seconds: float) -> bool:
        return self._done.wait(timeout_seconds)

    def outcome(self) -> ResultT:
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


RunBatch = Callable[[Sequence[Slot[RequestT, ResultT]]], Sequence[ResultT]]
Compatible = Callable[[RequestT, RequestT], bool]


class Batcher(Generic[RequestT, ResultT]):
    """Groups concurrent requests to one model into single ``run_batch`` calls."""

    def __init__(
        self,
        run_batch: RunBatch[RequestT, ResultT],
        *,
        max_batch_size: int,
        collect_seconds: float,
        compatible: Compatible[RequestT] = lambda leader, other: True,
        name: str = "batcher",
    ) -> None:
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        self._run_batch = run_batch
        self.max_batch_size = max_batch_size
        self.collect_seconds = max(0.0, collect_seconds)
        self._compatible = compatible
        self._name = name
        self._pending: list[Slot[RequestT, ResultT]] = []
        self._wakeup = threading.Condition()
        self._thread: threading.Thread | None = None
        self.batch_sizes: list[int] = []  # one entry per run_batch call (diagnostics, tests)

    # ------------------------------------------------------------------ job threads

    def submit(self, request: RequestT) -> Slot[RequestT, ResultT]:
        slot: Slot[RequestT, ResultT] = Slot(request, time.monotonic())
        with self._wakeup:
            self._pending.append(slot)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
                self._thread.start()
            self._wakeup.notify_all()
        return slot

    def run(
        self,
        request: RequestT,
        *,
        cancelled: Callable[[], bool] = lambda: False,
        progress: Callable[[float], None] | None = None,
        poll_seconds: float = 0.1,
    ) -> ResultT:
        """Submit ``request`` and block until its result; raises JobCancelled on cancel."""
        slot = self.submit(request)
        last_fraction = -1.0
        while not slot.wait(poll_seconds):
            if cancelled():
                slot.cancel()
                with self._wakeup:
                    self._wakeup.notify_all()
                raise JobCancelled()
            if progress is not None and slot.fraction != last_fraction:
                last_fraction = slot.fraction
                progress(last_fraction)
        if cancelled():
            raise JobCancelled()
        result = slot.outcome()
        if progress is not None and last_fraction != 1.0:
            progress(1.0)  # a fast call can finish between two polls
        return result

    # ------------------------------------------------------------------ batcher thread

    def _serve(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            self._execute(batch)

    def _next_batch(self) -> list[Slot[RequestT, ResultT]] | None:
        """Wait for a leader, collect compatible requests, take them off the queue."""
        with self._wakeup:
            while True:
                self._drop_cancelled()
                if not self._pending:
                    if not self._wakeup.wait(IDLE_EXIT_SECONDS) and not self._pending:
                        self._thread = None
                        return None
                    continue
                leader = self._pending[0]
                group = self._group(leader)
                remaining = leader.submitted_at + self.collect_seconds - time.monotonic()
                if len(group) >= self.max_batch_size or remaining <= 0:
                    break
                self._wakeup.wait(remaining)
            batch = self._group(self._pending[0])[: self.max_batch_size]
            for slot in batch:
                self._pending.remove(slot)
            return batch

    def _group(self, leader: Slot[RequestT, ResultT]) -> list[Slot[RequestT, ResultT]]:
        return [slot for slot in self._pending if slot is leader or self._compatible(leader.request, slot.request)]

    def _drop_cancelled(self) -> None:
        for slot in [s for s in self._pending if s.cancelled]:
            self._pending.remove(slot)
            slot.fail(JobCancelled())

    def _execute(self, batch: list[Slot[RequestT, ResultT]]) -> None:
        self.batch_sizes.append(len(batch))
        try:
            results = self._run_batch(batch)
            if len(results) != len(batch):
                raise RuntimeError(f"run_batch returned {len(results)} results for {len(batch)} requests")
        except BaseException as exc:  # noqa: BLE001 - every waiting thread must hear of it
            for slot in batch:
                slot.fail(JobCancelled() if slot.cancelled else exc)
            return
        for slot, result in zip(batch, results):
            if slot.cancelled:
                slot.fail(JobCancelled())
            else:
                slot.fraction = 1.0
                slot.finish(result)
