"""A job kind that does nothing (``bench_noop``): what is left of a job's time is the
service's own (dispatch, claim, finish). Loaded through AUDIOMILL_EXTRA_KINDS."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from audiomill.kinds import InputSpec, KindSpec

KIND = "bench_noop"


class NoopParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


SPEC = KindSpec(
    name=KIND,
    summary="does nothing (benchmarks)",
    params=NoopParams,
    inputs=(InputSpec("audio"),),
    outputs=(),
    engine=__name__,
)


def setup() -> None:
    pass


def run(ctx: Any) -> None:
    ctx.set_result(noop=True)
