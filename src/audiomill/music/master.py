"""Mastering the mix to a loudness target, and the stems with it so they still sum to it.

The one loudness planner and true-peak limiter of audiomill (audio/loudness.py) masters
the mix. The limiter's gain changes over time, and the stems must get exactly the gain the
mix got: the limiter hands out the per-sample gain it applied (static x limiter, float32),
so each stem times that curve sums to the mastered mix to within float32 rounding.

The mix is oversampled for its true peak once, while it is measured (during rendering):
the limiter reads its peaks from that measurement rather than oversampling it again.
Only the mastered mix is measured a second time, for the loudness and peak it reports.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

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
    limiter = TruePeakLimiter(sample_rate, CHANNELS, plan.gain_db, ceiling_dbtp, measured=measured.stats)
    gain = np.empty(mix.frames, np.float32)
    # The limiter's output is measured while the limiter runs on (a second thread: both
    # spend their time in numpy/scipy, which release the GIL), so the two passes overlap.
    after = LoudnessMeter(sample_rate, CHANNELS)
    with ThreadPoolExecutor(max_workers=1) as measuring:
        pending: Future[None] | None = None
        position = 0
        for out, out_gain in _limited(limiter, (block.T for block in mix.blocks(_BLOCK_FRAMES))):
            count = out.shape[1]
            gain[position : position + count] = out_gain
            position += count
            if pending is not None:
                pending.result()  # blocks reach the meter in order
            pending = measuring.submit(after.add, out)
        if pending is not None:
            pending.result()
    return Mastering(gain, plan, limiter.max_reduction_db, after.finish())


def _limited(limiter: TruePeakLimiter, blocks: Iterator[np.ndarray]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(output, gain) of every block through the limiter, then its flush; non-empty only."""
    for block in blocks:
        out, gain = limiter.process_with_gain(block)
        if out.shape[1]:
            yield out, gain
    out, gain = limiter.flush_with_gain()
    if out.shape[1]:
        yield out, gain
