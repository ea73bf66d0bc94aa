"""A loudness boost over a stream: measure, plan (the one planner), limit, encode, report.

The second half of every kind that ends louder (boost, denoise with a boost): pass 1
measures the audio with :func:`measure_stream`; pass 2 hands the same audio again to
:func:`write_boosted`, which applies the planned gain through the true-peak limiter,
encodes it and returns the job's result values. The gain comes from
audio/loudness.py's ``plan_loudness``, so every kind boosts the same way and says the
same things about it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from audiomill.audio._blocks import run_stage
from audiomill.audio._encode import AudioWriter
from audiomill.audio.loudness import (
    GainPlan,
    LoudnessMeter,
    LoudnessReport,
    TruePeakLimiter,
    finite_or_none,
    plan_loudness,
)
from audiomill.params.boost import LoudnessFields

# how close to the target counts as reached (the acceptance tolerance of the service)
TARGET_TOLERANCE_LU = 0.5


def measure_stream(blocks: Iterable[np.ndarray], sample_rate: int, channels: int) -> LoudnessMeter:
    """Pass 1: a finished meter over the blocks (its stats feed the planner)."""
    meter = LoudnessMeter(sample_rate, channels)
    for block in blocks:
        meter.add(block)
    meter.finish()
    return meter


def write_boosted(
    source: Iterable[np.ndarray],
    destination: Path,
    meter: LoudnessMeter,
    params: LoudnessFields,
) -> dict[str, object]:
    """Pass 2: gain + limit ``source`` (the audio ``meter`` measured in pass 1, again)
    into ``destination``. Returns the job's result values.
    """
    before = meter.finish()
    plan = plan_loudness(meter.stats, params)
    sample_rate, channels = meter.sample_rate, meter.channels
    limiter = TruePeakLimiter(sample_rate, channels, plan.gain_db, params.ceiling_dbtp)
    after_meter = LoudnessMeter(sample_rate, channels)
    with AudioWriter(destination, sample_rate, channels, params) as writer:
        for block in run_stage(limiter, source):
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
    reached = plan.target_lufs is not None and (abs(after.integrated_lufs - plan.target_lufs) <= TARGET_TOLERANCE_LU)
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
    before: LoudnessReport,
    after: LoudnessReport,
    plan: GainPlan,
    params: LoudnessFields,
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
