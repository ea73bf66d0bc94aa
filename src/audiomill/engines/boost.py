"""Loudness boost (job kind ``boost``): gain toward a loudness target, true-peak limited.

Two streamed passes, so memory does not grow with the file (beyond the meter's
1.56 ms statistics, about 18 MB per hour, see audio/loudness.py):

1. measure: integrated loudness and true peak of the input;
2. plan the static gain (target - measured, raised where the limiter would take loudness
   back, see ``plan_gain``), then decode again, apply the gain through the look-ahead
   true-peak limiter and encode; the output is measured on its way out.

Any sample rate and channel count in, the same out, with the same number of frames.
The "after" figures are measured on the samples handed to the encoder: a lossy output
(mp3, m4a) can decode with true peaks a few tenths of a dB higher, which is what the
default -1 dBTP ceiling leaves room for.
The result says what was reached: when the ceiling makes the target impossible (a loud
input asked for '5x') the limiter holds the ceiling and ``target_reached`` is false.

Denoise ends with the same two steps (``measure_stream`` / ``write_boosted``): one way
to boost.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from audiomill import audio
from audiomill.audio.loudness import (
    GainPlan,
    LoudnessMeter,
    LoudnessReport,
    TruePeakLimiter,
    plan_gain,
)
from audiomill.engines.base import EngineContext, raise_if_cancelled
from audiomill.errors import InvalidInput
from audiomill.params.boost import BoostParams, LoudnessFields


DECODE_BLOCK_FRAMES = 65536
# how close to the target counts as reached (the acceptance tolerance of the service)
TARGET_TOLERANCE_LU = 0.5

_MEASURE_END = 0.3  # progress split: measuring is cheaper than limiting + encoding

ProgressFn = Callable[[float], None]


def setup() -> None:
    """Nothing to load: the limiter is plain DSP."""


def run(ctx: EngineContext[BoostParams]) -> None:
    params = ctx.params
    source = ctx.input_path("audio")
    info = audio.probe(source)  # UnsupportedMedia before any work
    total_frames = max(1, round(info.duration_seconds * info.sample_rate))

    ctx.progress(0.0, "measuring loudness")
    blocks = counted_blocks(
        ctx,
        audio.iter_decode(source, block_frames=DECODE_BLOCK_FRAMES),
        total_frames,
        lambda done: ctx.progress(_MEASURE_END * done, "measuring loudness"),
    )
    meter = measure_stream(blocks, info.sample_rate, info.channels)
    if meter.finish().duration_seconds == 0:
        raise InvalidInput("the input holds no audio samples")

    extension = audio.extension_for(params.output_format)
    destination = ctx.output_path("audio", f"boosted.{extension}")
    result = write_boosted(
        ctx,
        audio.iter_decode(source, block_frames=DECODE_BLOCK_FRAMES),  # pass 2 decodes again
        destination,
        meter,
        params,
        lambda done: ctx.progress(_MEASURE_END + (1 - _MEASURE_END) * done, "boosting"),
    )
    ctx.progress(1.0, "done")
    ctx.set_result(**result)


def measure_stream(blocks: Iterable[np.ndarray], sample_rate: int, channels: int) -> LoudnessMeter:
    """Pass 1: a finished meter over the blocks (its stats feed plan_gain)."""
    meter = LoudnessMeter(sample_rate, channels)
    for block in blocks:
        meter.add(block)
    meter.finish()
    return meter


def write_boosted(
    ctx: EngineContext[Any],
    source: Iterable[np.ndarray],
    destination: Path,
    meter: LoudnessMeter,
    params: LoudnessFields,
    on_progress: ProgressFn,
) -> dict[str, object]:
    """Pass 2: gain + limit ``source`` (the audio ``meter`` measured in pass 1, again)
    into ``destination``. Returns the job's result values.
    """
    before = meter.finish()
    plan = _plan(meter, before, params)
    sample_rate, channels = meter.sample_rate, meter.channels
    limiter = TruePeakLimiter(sample_rate, channels, plan.gain_db, params.ceiling_dbtp)
    after_meter = LoudnessMeter(sample_rate, channels)
    total_frames = max(1, round(before.duration_seconds * sample_rate))
    blocks = counted_blocks(ctx, source, total_frames, on_progress)
    with audio.AudioWriter(destination, sample_rate, channels, params) as writer:
        for block in audio.run_stage(limiter, blocks):
            writer.write(block)
            after_meter.add(block)
    return boost_result(before, after_meter.finish(), plan, limiter, params)


def _plan(meter: LoudnessMeter, before: LoudnessReport, params: LoudnessFields) -> GainPlan:
    if not math.isfinite(before.integrated_lufs):
        return GainPlan(gain_db=0.0, target_lufs=None, predicted_lufs=before.integrated_lufs)
    boost_db = params.boost_gain_db()
    target_lufs = params.target_lufs
    if target_lufs is None:
        target_lufs = before.integrated_lufs + (boost_db or 0.0)
    return plan_gain(meter.stats, target_lufs, params.ceiling_dbtp)



def boost_result(
    before: LoudnessReport,
    after: LoudnessReport,
    plan: GainPlan,
    limiter: TruePeakLimiter,
    params: LoudnessFields,
) -> dict[str, object]:
    """The JSON result of a boost: what was asked, what was measured, what was reached."""
    reached = plan.target_lufs is not None and (
        abs(after.integrated_lufs - plan.target_lufs) <= TARGET_TOLERANCE_LU
    )
    if plan.target_lufs is None:
        note = "the input is silent (below the -70 LUFS gate): nothing to boost"
    elif reached:
        note = None
    else:
        note = (
            f"reached {after.integrated_lufs:.1f} LUFS of the {plan.target_lufs:.1f} LUFS "
            f"asked for: the {params.ceiling_dbtp:g} dBTP ceiling (or the largest gain "
            "allowed) does not leave room for more without crushing the audio"
        )
    return {
        "boost_level": params.boost_level if params.target_lufs is None else None,
        "boost_db": params.boost_gain_db(),
        "target_lufs": _finite_or_none(plan.target_lufs),
        "ceiling_dbtp": params.ceiling_dbtp,
        "loudness_before_lufs": _finite_or_none(before.integrated_lufs),
        "loudness_after_lufs": _finite_or_none(after.integrated_lufs),
        "loudness_change_lu": _finite_or_none(after.integrated_lufs - before.integrated_lufs),
        "true_peak_before_dbtp": _finite_or_none(before.true_peak_dbtp),
        "true_peak_after_dbtp": _finite_or_none(after.true_peak_dbtp),
        "sample_peak_after_dbfs": _finite_or_none(after.sample_peak_dbfs),
        "gain_db": round(plan.gain_db, 3),
        "limiter_max_reduction_db": round(-limiter.max_reduction_db, 3),
        "target_reached": reached,
        "note": note,
        "duration_seconds": before.duration_seconds,
        "sample_rate": limiter.sample_rate,
        "channels": limiter.channels,
    }


def counted_blocks(
    ctx: EngineContext[Any],
    blocks: Iterable[np.ndarray],
    total_frames: int,
    on_progress: ProgressFn,
) -> Iterator[np.ndarray]:
    """Pass blocks through, checking for cancellation and reporting progress per block."""
    done = 0
    for block in blocks:
        raise_if_cancelled(ctx)
        yield block
        done += block.shape[1]
        on_progress(min(done / total_frames, 1.0))
    raise_if_cancelled(ctx)


def _finite_or_none(value: float | None) -> float | None:
    # JSON has no infinity: a silent input's loudness is reported as null
    if value is None or not math.isfinite(value):
        return None
    return round(value, 3)
