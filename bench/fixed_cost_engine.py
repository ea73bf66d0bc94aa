"""A job kind whose every run costs the same CPU time (``seconds`` of this thread's CPU),
for measuring how throughput scales with worker processes. Registered in the benchmark's
workers through AUDIOMILL_EXTRA_KINDS as ``bench_fixed_cost``."""

from __future__ import annotations

import time

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from audiomill.engines.base import EngineContext


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seconds: float = Field(default=0.5, ge=0.0, le=60.0)


input_names = ("audio",)
_MATRIX = np.random.default_rng(0).standard_normal((96, 96)).astype(np.float32)


def setup() -> None:
    pass


def run(ctx: EngineContext[Params]) -> None:
    # CPU time of this thread, not wall time: a fixed amount of work, whatever the load.
    start = time.thread_time()
    value = _MATRIX
    while time.thread_time() - start < ctx.params.seconds:
        value = np.tanh(value @ _MATRIX)
    ctx.set_result(checksum=float(value.sum()))
