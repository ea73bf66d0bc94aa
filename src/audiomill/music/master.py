"""Mastering the mix to a loudness target, and the stems with it so they still sum to it.

The one loudness planner and true-peak limiter of audiomill (audio/loudness.py) masters
the mix. The limiter's gain changes over time, and the stems must get exactly the gain
the mix got, so the gain curve is read off the limiter itself: the mix runs through it
with one extra "pilot" channel holding a constant 2**-20 (-120 dBFS, far below anything
that could make the limiter act, so it does not change the limiter's decisions; channels
share one gain). The limiter multiplies that channel by the same gain as the music, and a
power of two times a float32 is exact, so pilot_out / 2**-20 *is* the gain applied to each
sample of the mix. Each stem times that curve then sums to the mastered mix up to
float32 rounding.
"""

from __future__ import annotations

from collections.abc import Iterator
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
_PILOT = np.float32(2.0**-20)
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
    limiter = TruePeakLimiter(sample_rate, channels + 1, plan.gain_db, ceiling_dbtp)
    gain = np.empty(frames, np.float32)
    after = LoudnessMeter(sample_rate, channels)
    position = 0
    for out in run_stage(limiter, _with_pilot(mix)):
        count = out.shape[1]
        gain[position : position + count] = out[channels] / _PILOT
        after.add(out[:channels])
        position += count
    return Mastering(gain, plan, limiter.max_reduction_db, after.finish())


def _blocks(mix: np.ndarray) -> Iterator[np.ndarray]:
    for start in range(0, mix.shape[0], _BLOCK_FRAMES):
        yield mix[start : start + _BLOCK_FRAMES]


def _with_pilot(mix: np.ndarray) -> Iterator[np.ndarray]:
    for block in _blocks(mix):
        pilot = np.full((1, block.shape[0]), _PILOT, np.float32)
        yield np.concatenate([block.T, pilot], axis=0)
