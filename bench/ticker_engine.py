"""A job kind that only reports progress (``bench_ticker``): ``seconds`` long, a progress
call every 0.1 s (the runner writes and publishes at most two a second per job). Many run
at once in one worker (batch_slots), so a few processes keep 100 jobs updating together.
Loaded through AUDIOMILL_EXTRA_KINDS."""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from audiomill.kinds import KindSpec

KIND = "bench_ticker"
TICK_SECONDS = 0.1


class TickerParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(default=20.0, gt=0, le=600)


SPEC = KindSpec(
    name=KIND,
    summary="reports progress for a while (benchmarks)",
    params=TickerParams,
    inputs=(),
    outputs=(),
    engine=__name__,
    batch_slots=100,
)


def setup() -> None:
    pass


def run(ctx: Any) -> None:
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < ctx.params.seconds:
        if ctx.cancelled():
            return
        ctx.progress(elapsed / ctx.params.seconds, "ticking")
        time.sleep(TICK_SECONDS)
    ctx.set_result(ticked_seconds=round(elapsed, 2))
