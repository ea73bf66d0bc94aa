"""Loudness boost (job kind ``boost``): gain toward a loudness target, true-peak limited.

Two streamed passes, so memory does not grow with the file (beyond the meter's
1.56 ms statistics, about 18 MB per hour, see audio/loudness.py):

1. measure: integrated loudness and true peak of the input;
2. plan the static gain (audio/loudness.py's ``plan_loudness``, the one planner boost,
   denoise and extract_speaker share: target - measured, raised where the limiter would
   take loudness back, held where the limiter would take more than ``max_limiting_db``
   off the peaks), then decode again, apply the gain through the look-ahead
   true-peak limiter and encode; the output is measured on its way out.

Any sample rate and channel count in, the same out, with the same number of frames.
The "after" figures are measured on the samples handed to the encoder: a lossy output
(mp3, m4a) can decode with true peaks a few tenths of a dB higher, which is what the
default -1 dBTP ceiling leaves room for.
The result says what was reached: when the target cannot be reached cleanly (a loud
master asked for '5x') the gain stops where the limiter would take ``max_limiting_db``
off the peaks, ``target_reached`` is false and ``note`` says why, with the loudness
reached.

Denoise ends with the same two steps (``measure_stream`` / ``write_boosted``): one way
to boost.
"""

from __future__ import annotations

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
    finite_or_none,
    plan_loudness,
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
    plan = plan_loudness(meter.stats, params)
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
    note = _shortfall_note(before, after, plan, params) if not reached else None
    return {
        "boost_level": params.boost_level if params.target_lufs is None else None,
        "boost_db": params.boost_gain_db(),
        "target_lufs": finite_or_none(plan.target_lufs),
        "ceiling_dbtp": params.ceiling_dbtp,
        "loudness_before_lufs": finite_or_none(before.integrated_lufs),
        "loudness_after_lufs": finite_or_none(after.integrated_lufs),
        "loudness_change_lu": finite_or_none(after.integrated_lufs - before.integrated_lufs),
        "true_peak_before_dbtp": finite_or_none(before.true_peak_dbtp),
        "true_peak_after_dbtp": finite_or_none(after.true_peak_dbtp),
        "sample_peak_after_dbfs": finite_or_none(after.sample_peak_dbfs),
        "gain_db": round(plan.gain_db, 3),
        "limiter_max_reduction_db": round(-limiter.max_reduction_db, 3),
        "max_limiting_db": params.max_limiting_db,
        "target_reached": reached,
        "note": note,
        "duration_seconds": before.duration_seconds,
        "sample_rate": limiter.sample_rate,
        "channels": limiter.channels,
    }


def _shortfall_note(
    before: LoudnessReport, after: LoudnessReport, plan: GainPlan, params: LoudnessFields
) -> str:
    """Why the output is not as loud as asked, in plain words."""
    if plan.target_lufs is None:
        return "the input is silent (below the -70 LUFS gate): nothing to boost"
    reached = f"reached {after.integrated_lufs:.1f} LUFS of the {plan.target_lufs:.1f} LUFS asked for"
    if plan.held_back_by == "max_limiting_db":
        return (
            f"{reached} ({after.integrated_lufs - before.integrated_lufs:+.1f} LU): going "
            f"further would take more than max_limiting_db={params.max_limiting_db:g} dB off "
            f"the input's peaks ({before.true_peak_dbtp:.1f} dBTP) to hold them under the "
            f"{params.ceiling_dbtp:g} dBTP ceiling; raise max_limiting_db to trade clean "
            "peaks for loudness"
        )
    if plan.held_back_by == "max_gain_db":
        return f"{reached}: more gain would mostly raise the noise floor"
    return f"{reached}: the limiter took back more loudness than planned"


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
