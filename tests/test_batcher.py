"""The cross-job batcher on its own: grouping, cancellation, errors (no model involved)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from audiomill.errors import JobCancelled
from audiomill.models.batcher import Batcher, Slot


class Recorder:
    """A run_batch that records its calls and can be held inside a call."""

    def __init__(self, delay_seconds: float = 0.0) -> None:
        self.calls: list[list[int]] = []
        self.delay_seconds = delay_seconds
        self.inside = threading.Event()

    def __call__(self, slots: Sequence[Slot[int, str]]) -> list[str]:
        self.calls.append([slot.request for slot in slots])
        self.inside.set()
        deadline = time.monotonic() + self.delay_seconds
        while time.monotonic() < deadline and not all(slot.cancelled for slot in slots):
            for slot in slots:
                slot.fraction = 0.5
            time.sleep(0.01)
        return [f"out-{slot.request}" for slot in slots]


def _run_all(batcher: Batcher[int, str], requests: list[int]) -> dict[int, str | BaseException]:
    results: dict[int, str | BaseException] = {}
    barrier = threading.Barrier(len(requests))

    def one(request: int) -> None:
        barrier.wait()
        try:
            results[request] = batcher.run(request)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            results[request] = exc

    threads = [threading.Thread(target=one, args=(r,)) for r in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return results


def test_concurrent_requests_become_one_call() -> None:
    recorder = Recorder()
    batcher: Batcher[int, str] = Batcher(recorder, max_batch_size=8, collect_seconds=0.3)
    results = _run_all(batcher, [1, 2, 3, 4, 5])
    assert len(recorder.calls) == 1
    assert sorted(recorder.calls[0]) == [1, 2, 3, 4, 5]
    assert results == {r: f"out-{r}" for r in [1, 2, 3, 4, 5]}


def test_batches_are_capped_and_incompatible_requests_wait() -> None:
    recorder = Recorder()
    batcher: Batcher[int, str] = Batcher(
        recorder,
        max_batch_size=2,
        collect_seconds=0.3,
        compatible=lambda a, b: a % 2 == b % 2,
    )
    results = _run_all(batcher, [1, 2, 3, 4, 5])
    assert all(len(call) <= 2 for call in recorder.calls)
    for call in recorder.calls:
        assert len({r % 2 for r in call}) == 1, call  # odd and even never share a call
    assert sorted(r for call in recorder.calls for r in call) == [1, 2, 3, 4, 5]
    assert results == {r: f"out-{r}" for r in [1, 2, 3, 4, 5]}


def test_a_request_cancelled_while_queued_is_never_run() -> None:
    recorder = Recorder(delay_seconds=0.5)
    batcher: Batcher[int, str] = Batcher(recorder, max_batch_size=1, collect_seconds=0.0)
    first = threading.Thread(target=batcher.run, args=(1,))
    first.start()
    assert recorder.inside.wait(5)
    cancel = threading.Event()
    with pytest.raises(JobCancelled):
        threading.Timer(0.1, cancel.set).start()
        batcher.run(2, cancelled=cancel.is_set)
    first.join(5)
    time.sleep(0.1)
    assert recorder.calls == [[1]]


def test_cancel_inside_a_call_returns_at_once_and_the_others_finish() -> None:
    recorder = Recorder(delay_seconds=1.0)
    batcher: Batcher[int, str] = Batcher(recorder, max_batch_size=4, collect_seconds=0.2)
    outcome: dict[str, object] = {}
    cancel = threading.Event()

    def quitter() -> None:
        started = time.monotonic()
        try:
            batcher.run(1, cancelled=cancel.is_set)
        except JobCancelled:
            outcome["cancel_seconds"] = time.monotonic() - started

    def stayer() -> None:
        fractions: list[float] = []
        outcome["result"] = batcher.run(2, progress=fractions.append)
        outcome["fractions"] = fractions

    threads = [threading.Thread(target=quitter), threading.Thread(target=stayer)]
    for thread in threads:
        thread.start()
    assert recorder.inside.wait(5)
    cancel.set()
    for thread in threads:
        thread.join(5)
    assert recorder.calls == [[1, 2]]
    assert outcome["result"] == "out-2"
    assert float(outcome["cancel_seconds"]) < 1.0  # type: ignore[arg-type]
    assert 0.5 in outcome["fractions"]  # type: ignore[operator]


def test_an_error_reaches_every_request_of_the_call() -> None:
    def broken(slots: Sequence[Slot[int, str]]) -> list[str]:
        raise RuntimeError("out of memory")

    batcher: Batcher[int, str] = Batcher(broken, max_batch_size=4, collect_seconds=0.2)
    results = _run_all(batcher, [1, 2])
    assert all(isinstance(r, RuntimeError) and "out of memory" in str(r) for r in results.values())
    # The batcher thread survives a failed call.
    recorder = Recorder()
    batcher._run_batch = recorder  # type: ignore[assignment]
    assert batcher.run(3) == "out-3"
