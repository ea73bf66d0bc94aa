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

from audiomill.audio import run_stage
from audiomill.audio.loudness import (
    MASTER_MAX_LIMITING_DB,
    GainPlan,
    LoudnessMeter,
    LoudnessReport,
    TruePeakLimiter,
    plan_gain,
)
from audiomill.music.render import CHANNELS, StemFile

TARGET_LUFS = -14.0
CEILING_DBTP = -1.0
_BLOCK_FRAMES = 1 << 16


@dataclass(frozen=True)
class Mastering:
    gain: np.ndarray  # (frames,) float32: static gain x limiter gain, per sample
    plan: GainPlan
    max_reduction_db: float
    report: LoudnessReport  # of the mastered mix


def master(
    mix: StemFile,
    sample_rate: int,
    measured: LoudnessMeter | None = None,
    target_lufs: float = TARGET_LUFS,
    ceiling_dbtp: float = CEILING_DBTP,
) -> Mastering:
    """Plan and apply loudness + true-peak limiting to the mix on disk; returns the
    per-sample gain and the mastered mix's measurements. ``measured``: a finished meter
    that already saw the whole mix (e.g. while it was rendered); else it is measured here."""
    if measured is None:
        measured = LoudnessMeter(sample_rate, CHANNELS)
        for block in mix.blocks(_BLOCK_FRAMES):
            measured.add(block.T)
    before = measured.finish()
    if np.isfinite(before.integrated_lufs):
        plan = plan_gain(measured.stats, target_lufs, ceiling_dbtp, max_limiting_db=MASTER_MAX_LIMITING_DB)
    else:
        plan = GainPlan(0.0, None, before.integrated_lufs)
    limiter = TruePeakLimiter(sample_rate, CHANNELS, plan.gain_db, ceiling_dbtp)
    gain = np.empty(mix.frames, np.float32)
    # The limiter's output is measured while the limiter runs on (a second thread: both
    # spend their time in numpy/scipy, which release the GIL), so the two passes overlap.
    after = LoudnessMeter(sample_rate, CHANNELS)
    sources = _Remembered(block.T for block in mix.blocks(_BLOCK_FRAMES))
    with ThreadPoolExecutor(max_workers=1) as measuring:
        pending: Future[None] | None = None
        position = 0
        for out in run_stage(limiter, sources):
            count = out.shape[1]
            gain[position : position + count] = _gain_of(sources.take(count), out)
            position += count
            if pending is not None:
                pending.result()  # blocks reach the meter in order
            pending = measuring.submit(after.add, out)
        if pending is not None:
            pending.result()
    _fill_zeros(gain, 10.0 ** (plan.gain_db / 20.0))
    return Mastering(gain, plan, limiter.max_reduction_db, after.finish())


class _Remembered:
    """The input blocks of a stage, kept until the stage's (delayed) output catches up."""

    def __init__(self, blocks: Iterator[np.ndarray]) -> None:
        self._blocks = blocks
        self._kept: list[np.ndarray] = []

    def __iter__(self) -> Iterator[np.ndarray]:
        for block in self._blocks:
            self._kept.append(block)
            yield block

    def take(self, count: int) -> np.ndarray:
        joined = np.concatenate(self._kept, axis=1) if len(self._kept) > 1 else self._kept[0]
        self._kept = [joined[:, count:]]
        return joined[:, :count]


def _gain_of(source: np.ndarray, limited: np.ndarray) -> np.ndarray:
    """Per-sample gain the limiter applied: output / input on the louder channel; NaN
    where the input is exactly zero."""
    louder = np.argmax(np.abs(source), axis=0)
    columns = np.arange(source.shape[1])
    before = source[louder, columns].astype(np.float64)
    after = limited[louder, columns].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(before != 0.0, after / before, np.nan)


def _fill_zeros(gain: np.ndarray, fallback: float) -> None:
    """Interpolate the gain (in place) where the input was exactly zero."""
    missing = np.isnan(gain)
    if not missing.any():
        return
    known = np.flatnonzero(~missing)
    if known.size == 0:
        gain[:] = fallback
        return
    gain[missing] = np.interp(np.flatnonzero(missing), known, gain[known])
