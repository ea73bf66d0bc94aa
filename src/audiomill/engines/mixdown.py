"""Mixdown (job kind ``mixdown``): stems summed with gain, balance and mute, then mastered.

Each stem is decoded to stereo at the mix's sample rate (a mono stem sits in both
channels), scaled by its gain and balance (-1 left only, 0 both untouched, +1 right only:
a balance, not a constant-power pan, so a centred stem enters the mix unchanged and an
unmastered mix is exactly the sum of the gained stems), and added; shorter stems end in
silence. Mastering is the same loudness target + true-peak limiter every kind uses
(audiomill.audio.loudness: meter, plan_gain, true-peak limiter). Decoding, summing,
limiting and encoding go block by block, into and out of the one full-length mix.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from audiomill import audio
from audiomill.audio.loudness import MASTER_MAX_LIMITING_DB, LoudnessMeter, limit_stream, plan_gain
from audiomill.engines.base import EngineContext, raise_if_cancelled
from audiomill.errors import InvalidInput
from audiomill.params.mixdown import MixdownParams, StemMix

MIX_CHANNELS = 2


def setup() -> None:
    """Nothing to load: mixing is plain DSP."""


def balance_gains(gain_db: float, pan: float) -> tuple[float, float]:
    """(left, right) linear gains for a stem's gain and balance."""
    gain = 10.0 ** (gain_db / 20.0)
    return gain * min(1.0, 1.0 - pan), gain * min(1.0, 1.0 + pan)


# Stems are decoded and summed, and the mix is limited and encoded, in blocks of this many
# frames: each step touches a block while it is in cache, and nothing holds a second
# whole-song copy (the mix itself is the one full-length array, which metering needs).
BLOCK_FRAMES = 1 << 16


def _pieces(mix: np.ndarray) -> Iterator[np.ndarray]:
    """The mix in BLOCK_FRAMES views (no copies)."""
    for start in range(0, mix.shape[1], BLOCK_FRAMES):
        yield mix[:, start : start + BLOCK_FRAMES]


def _sum_stems(ctx: EngineContext[MixdownParams]) -> np.ndarray:
    """The stems, gained and balanced, added into one float32 (2, frames) array in place."""
    params = ctx.params
    mix = np.zeros((MIX_CHANNELS, 0), np.float32)
    length = 0
    for index, name in enumerate(params.stems):
        raise_if_cancelled(ctx)
        ctx.progress(0.7 * index / len(params.stems), f"mixing {name}")
        settings = params.mix.get(name, StemMix())
        gains = [np.float32(g) for g in balance_gains(settings.gain_db, settings.pan)]
        position = 0
        # a muted stem is still decoded: its length is part of the mix's
        for block in audio.iter_decode(ctx.input_path(name), params.sample_rate, MIX_CHANNELS, BLOCK_FRAMES):
            end = position + block.shape[1]
            if end > mix.shape[1]:  # geometric growth: a few copies while the first stem comes in
                mix = np.pad(mix, ((0, 0), (0, max(end, mix.shape[1] * 3 // 2) - mix.shape[1])))
            if not settings.mute:
                for channel, gain in enumerate(gains):
                    if gain == 1.0:
                        mix[channel, position:end] += block[channel]
                    elif gain != 0.0:
                        mix[channel, position:end] += block[channel] * gain
            position = end
        length = max(length, position)
    return mix[:, :length]


def _master(mix: np.ndarray, params: MixdownParams) -> tuple[Iterator[np.ndarray], float]:
    """Gain to target_lufs through the true-peak limiter: one metering pass, one limiting
    pass (loudness_normalize would meter the output again; the plan's prediction is what
    the limiter lands on, within its documented tolerance). The limited blocks stream
    straight to the encoder."""
    meter = LoudnessMeter(params.sample_rate, mix.shape[0])
    for piece in _pieces(mix):  # block by block: the filters' state stays in cache (2-3x less CPU)
        meter.add(piece)
    measured = meter.finish().integrated_lufs
    if not np.isfinite(measured):
        return _pieces(mix), measured  # silence: nothing to bring up
    plan = plan_gain(meter.stats, params.target_lufs, params.ceiling_dbtp, max_limiting_db=MASTER_MAX_LIMITING_DB)
    # The meter saw these very samples: the limiter reuses its true peaks (no second pass).
    blocks = limit_stream(
        _pieces(mix), params.sample_rate, mix.shape[0], plan.gain_db, params.ceiling_dbtp, measured=meter.stats
    )
    return blocks, plan.predicted_lufs


def _write(path: Path, blocks: Iterable[np.ndarray], params: MixdownParams) -> tuple[int, float]:
    """Encode the blocks; (frames written, sample peak)."""
    frames, peak = 0, 0.0
    with audio.AudioWriter(path, params.sample_rate, MIX_CHANNELS, params) as writer:
        for block in blocks:
            if block.shape[1]:
                peak = max(peak, float(block.max()), -float(block.min()))
                frames += block.shape[1]
                writer.write(block)
    return frames, peak


def run(ctx: EngineContext[MixdownParams]) -> None:
    params = ctx.params
    if not params.stems:
        raise InvalidInput("mixdown needs at least one stem")
    mix = _sum_stems(ctx)
    if mix.shape[1] == 0:
        raise InvalidInput("the stems hold no audio samples")
    raise_if_cancelled(ctx)
    loudness_lufs: float | None = None
    true_peak_dbtp: float | None = None
    blocks: Iterable[np.ndarray] = _pieces(mix)
    if params.master:
        ctx.progress(0.75, "mastering")
        blocks, loudness_lufs = _master(mix, params)
        true_peak_dbtp = params.ceiling_dbtp  # the limiter's guarantee
    else:
        ctx.progress(0.9, "encoding")
    extension = audio.extension_for(params.output_format)
    frames, peak = _write(ctx.output_path("mix", f"mixdown.{extension}"), blocks, params)
    ctx.set_result(
        stems_mixed=[n for n in params.stems if not params.mix.get(n, StemMix()).mute],
        duration_seconds=round(frames / params.sample_rate, 3),
        integrated_lufs=round(loudness_lufs, 2) if loudness_lufs is not None and np.isfinite(loudness_lufs) else None,
        true_peak_dbtp=true_peak_dbtp,
        sample_peak_dbfs=round(20 * np.log10(peak), 2) if peak > 0 else None,
        mastered=params.master,
    )
