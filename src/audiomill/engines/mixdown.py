"""Mixdown (job kind ``mixdown``): stems summed with gain, balance and mute, then mastered.

Each stem is decoded to stereo at the mix's sample rate (a mono stem sits in both
channels), scaled by its gain and balance (-1 left only, 0 both untouched, +1 right only:
a balance, not a constant-power pan, so a centred stem enters the mix unchanged and an
unmastered mix is exactly the sum of the gained stems), and added; shorter stems end in
silence. Mastering is the same loudness target + true-peak limiter every kind uses
(audiomill.audio.loudness: meter, plan_gain, true-peak limiter).
"""

from __future__ import annotations

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


def _master(mix: np.ndarray, params: MixdownParams) -> tuple[np.ndarray, float]:
    """Gain to target_lufs through the true-peak limiter: one metering pass, one limiting
    pass (loudness_normalize would meter the output again; the plan's prediction is what
    the limiter lands on, within its documented tolerance)."""
    meter = LoudnessMeter(params.sample_rate, mix.shape[0])
    meter.add(mix)
    if not np.isfinite(meter.finish().integrated_lufs):
        return mix, meter.finish().integrated_lufs  # silence: nothing to bring up
    plan = plan_gain(meter.stats, params.target_lufs, params.ceiling_dbtp, max_limiting_db=MASTER_MAX_LIMITING_DB)
    blocks = limit_stream([mix], params.sample_rate, mix.shape[0], plan.gain_db, params.ceiling_dbtp)
    return np.concatenate(list(blocks), axis=1), plan.predicted_lufs


def run(ctx: EngineContext[MixdownParams]) -> None:
    params = ctx.params
    if not params.stems:
        raise InvalidInput("mixdown needs at least one stem")
    mix = np.zeros((MIX_CHANNELS, 0), dtype=np.float32)
    for index, name in enumerate(params.stems):
        raise_if_cancelled(ctx)
        ctx.progress(0.7 * index / len(params.stems), f"mixing {name}")
        settings = params.mix.get(name, StemMix())
        samples, _ = audio.decode(ctx.input_path(name), params.sample_rate, MIX_CHANNELS)
        if samples.shape[1] > mix.shape[1]:
            mix = np.pad(mix, ((0, 0), (0, samples.shape[1] - mix.shape[1])))
        if settings.mute:
            continue
        left, right = balance_gains(settings.gain_db, settings.pan)
        mix[0, : samples.shape[1]] += samples[0] * np.float32(left)
        mix[1, : samples.shape[1]] += samples[1] * np.float32(right)
    if mix.shape[1] == 0:
        raise InvalidInput("the stems hold no audio samples")
    raise_if_cancelled(ctx)
    loudness_lufs: float | None = None
    true_peak_dbtp: float | None = None
    if params.master:
        ctx.progress(0.75, "mastering")
        mix, loudness_lufs = _master(mix, params)
        true_peak_dbtp = params.ceiling_dbtp  # the limiter's guarantee
    peak = float(np.abs(mix).max())
    ctx.progress(0.9, "encoding")
    extension = audio.extension_for(params.output_format)
    audio.encode(ctx.output_path("mix", f"mixdown.{extension}"), mix, params.sample_rate, params)
    ctx.set_result(
        stems_mixed=[n for n in params.stems if not params.mix.get(n, StemMix()).mute],
        duration_seconds=round(mix.shape[1] / params.sample_rate, 3),
        integrated_lufs=round(loudness_lufs, 2) if loudness_lufs is not None and np.isfinite(loudness_lufs) else None,
        true_peak_dbtp=true_peak_dbtp,
        sample_peak_dbfs=round(20 * np.log10(peak), 2) if peak > 0 else None,
        mastered=params.master,
    )
