"""Mastering the mix to a loudness target, and the stems with it so they still sum to it.

The one loudness planner and true-peak limiter of audiomill (audio/loudness.py) masters
the mix. The limiter's gain changes over time, and the stems must get exactly the gain the
mix got, so the gain curve is read back from the limiter's own output: it multiplies every
channel of a sample by one float32 gain, so output / input is that gain to float32
precision (~1e-7) at every sample where the input is not exactly zero; at the exact zeros
(digital silence, a rare zero crossing in both channels) the gain, which moves smoothly
(a 5 ms attack, a 40 dB/s release), is interpolated from its neighbours. Each stem times
that curve then sums to the mastered mix to within float32 rounding.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from audiomill.audio.loudness import (
    GainPlan,
    LoudnessMeter,
    LoudnessReport,
    TruePeakLimiter,
    plan_gain,
)
from audiomill.audio import run_stage

TARGET_LUFS = -14.0
CEILING_DBTP = -1.0
_BLOCK_FRAMES = 1 << 16


@dataclass(frozen=True)
class Mastering:
    gain: np.ndarray  # (frames,) float32: static gain x limiter gain, per sample
    plan: GainPlan
    max_reduction_db: float
    report: LoudnessReport  # of the mastered mix


def master(mix: np.ndarray, sample_rate: int, target_lufs: float = TARGET_LUFS, ceiling_dbtp: float = CEILING_DBTP) -> Mastering:
    """Plan and apply loudness + true-peak limiting to ``mix`` ((frames, channels) float32,
    not modified); returns the per-sample gain and the mastered mix's measurements."""
    frames, channels = mix.shape
    meter = LoudnessMeter(sample_rate, channels)
    for block in _blocks(mix):
        meter.add(block.T)
    before = meter.finish()
    if np.isfinite(before.integrated_lufs):
        plan = plan_gain(meter.stats, target_lufs, ceiling_dbtp)
    else:
        plan = GainPlan(0.0, None, before.integrated_lufs)
    limiter = TruePeakLimiter(sample_rate, channels, plan.gain_db, ceiling_dbtp)
    gain = np.empty(frames, np.float64)
    # The mastered mix is measured while the limiter runs (a second thread: both spend
    # their time in numpy/scipy, which release the GIL), so the two passes overlap.
    after = LoudnessMeter(sample_rate, channels)
    with ThreadPoolExecutor(max_workers=1) as measuring:
        pending: Future[None] | None = None
        position = 0
        for out in run_stage(limiter, (block.T for block in _blocks(mix))):
            count = out.shape[1]
            gain[position : position + count] = _gain_of(mix[position : position + count].T, out)
            position += count
            if pending is not None:
                pending.result()  # blocks reach the meter in order
            pending = measuring.submit(after.add, out)
        if pending is not None:
            pending.result()
    gain = _fill_zeros(gain, 10.0 ** (plan.gain_db / 20.0)).astype(np.float32)
    return Mastering(gain, plan, limiter.max_reduction_db, after.finish())


def _gain_of(source: np.ndarray, limited: np.ndarray) -> np.ndarray:
    """Per-sample gain the limiter applied: output / input on the louder channel; NaN
    where the input is exactly zero."""
    louder = np.argmax(np.abs(source), axis=0)
    columns = np.arange(source.shape[1])
    before = source[louder, columns].astype(np.float64)
    after = limited[louder, columns].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(before != 0.0, after / before, np.nan)


def _fill_zeros(gain: np.ndarray, fallback: float) -> np.ndarray:
    missing = np.isnan(gain)
    if not missing.any():
        return gain
    known = np.flatnonzero(~missing)
    if known.size == 0:
        return np.full_like(gain, fallback)
    gain[missing] = np.interp(np.flatnonzero(missing), known, gain[known])
    return gain


def _blocks(mix: np.ndarray) -> Iterator[np.ndarray]:
    for start in range(0, mix.shape[0], _BLOCK_FRAMES):
        yield mix[start : start + _BLOCK_FRAMES]


