"""The fast paths of audio/loudness.py against the plain ones and against independent
readings: the meter's selective peak refinement, the limiter driven by the planning
meter's stats (``measured=``), its gain curve, and one huge block versus many small ones."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.signal import butter, resample_poly, sosfiltfilt

from audiomill.audio import loudness

pyloudnorm = pytest.importorskip("pyloudnorm")


def music_like(seconds: float, sample_rate: int, seed: int = 0) -> np.ndarray:
    """Stereo plucked tones with a noise burst on each (band-limited like a mix at these
    rates): transient peaks far above the loudness, like a fresh mix before mastering."""
    rng = np.random.default_rng(seed)
    frames = int(seconds * sample_rate)
    t = np.arange(frames) / sample_rate
    audio = np.zeros((2, frames))
    beat = int(0.25 * sample_rate)
    for start in range(0, frames, beat):
        length = min(beat, frames - start)
        decay = np.exp(-np.arange(length) / (0.12 * sample_rate))
        pitch = rng.choice([110.0, 146.8, 164.8, 220.0, 440.0, 880.0])
        for channel in range(2):
            tone = np.sin(2 * np.pi * pitch * (1 + 0.002 * channel) * t[start : start + length])
            accent = 2.5 if start % (4 * beat) == 0 else 1.0  # a drum hit on every bar
            audio[channel, start : start + length] += 0.5 * accent * decay * tone
            audio[channel, start : start + length] += 0.2 * decay * rng.standard_normal(length)
    # white noise right up to Nyquist has inter-sample peaks no 4x meter sees exactly (the
    # module docstring's 0.3 dB); real mixes have little there: keep below 0.4 fs
    audio = sosfiltfilt(butter(8, 0.8, output="sos"), audio, axis=-1)
    return (0.4 * audio).astype(np.float32)


def independent_true_peak_dbtp(audio: np.ndarray) -> float:
    """4x oversampling with scipy's own polyphase resampler (another filter than ours)."""
    return 20 * math.log10(float(np.abs(resample_poly(audio.astype(np.float64), 4, 1, axis=-1)).max()))


def test_meter_refines_every_sub_chunk_maximum_exactly() -> None:
    # the meter skips the parabola refinement where it cannot change a sub-chunk maximum;
    # the full per-sample envelope reduced per sub-chunk must give the same maxima
    sample_rate = 44100
    audio = music_like(3.0, sample_rate)
    audio[:, 20000:20400] += 0.6 * np.sin(2 * np.pi * 0.46 * np.arange(400)).astype(np.float32)  # near Nyquist
    meter = loudness.LoudnessMeter(sample_rate, 2)
    for start in range(0, audio.shape[1], 7001):
        meter.add(audio[:, start : start + 7001])
    meter.finish()
    envelope = loudness._TruePeakEnvelope(2)
    full = np.concatenate([envelope.process(audio), envelope.flush()])
    accumulator = loudness._SubChunkAccumulator(sample_rate, "max")
    accumulator.push(full)
    np.testing.assert_allclose(meter.stats.subchunk_true_peak, accumulator.finish(), rtol=2e-6, atol=1e-7)


def test_one_huge_block_equals_small_blocks() -> None:
    audio = music_like(4.0, 48000, seed=2)
    whole = loudness._TruePeakEnvelope(2)
    one = np.concatenate([whole.process(audio), whole.flush()])
    pieces = loudness._TruePeakEnvelope(2)
    many = np.concatenate([pieces.process(audio[:, i : i + 999]) for i in range(0, audio.shape[1], 999)])
    many = np.concatenate([many, pieces.flush()])
    assert one.shape == many.shape == (audio.shape[1],)
    # float32 FFTs cut elsewhere round differently; where two 4x points tie, that can flip
    # which one the parabola refines (a few samples in 10^5, by well under 1 %)
    close = np.isclose(one, many, rtol=3e-6, atol=1e-7)
    assert close.mean() > 0.9999
    np.testing.assert_allclose(one, many, rtol=1e-2)


TARGET_LUFS = -11.0  # loud enough that the limiter takes 2-4 dB off these peaks


@pytest.mark.parametrize("sample_rate", [22050, 44100, 48000])
def test_limiter_fed_the_meters_peaks_holds_the_ceiling_and_lands_on_target(sample_rate: int) -> None:
    audio = music_like(6.0, sample_rate, seed=sample_rate)
    meter = loudness.LoudnessMeter(sample_rate, 2)
    meter.add(audio)
    meter.finish()
    plan = loudness.plan_gain(meter.stats, TARGET_LUFS, -1.0, max_limiting_db=loudness.MASTER_MAX_LIMITING_DB)
    assert plan.predicted_limiting_db > 2.0  # the limiter has real work to do
    limiter = loudness.TruePeakLimiter(sample_rate, 2, plan.gain_db, -1.0, measured=meter.stats)
    outs, gains = [], []
    for start in range(0, audio.shape[1], 65536):
        out, gain = limiter.process_with_gain(audio[:, start : start + 65536])
        outs.append(out)
        gains.append(gain)
    out, gain = limiter.flush_with_gain()
    limited = np.concatenate([*outs, out], axis=1)
    curve = np.concatenate([*gains, gain])
    assert limited.shape == audio.shape and curve.shape == (audio.shape[1],)
    # the gain handed out is the gain applied, sample by sample
    np.testing.assert_array_equal(limited, audio * curve)
    assert independent_true_peak_dbtp(limited) <= -1.0
    assert loudness.measure(limited, sample_rate).true_peak_dbtp <= -1.0
    independent_lufs = pyloudnorm.Meter(sample_rate).integrated_loudness(limited.T.astype(np.float64))
    assert independent_lufs == pytest.approx(TARGET_LUFS, abs=0.5)
    assert independent_lufs == pytest.approx(plan.predicted_lufs, abs=0.1)


def test_limiter_fed_the_meters_peaks_limits_no_less_than_the_plain_one() -> None:
    sample_rate = 44100
    audio = music_like(4.0, sample_rate, seed=5)
    meter = loudness.LoudnessMeter(sample_rate, 2)
    meter.add(audio)
    meter.finish()
    gain_db = 12.0
    plain = loudness.TruePeakLimiter(sample_rate, 2, gain_db, -1.0)
    fast = loudness.TruePeakLimiter(sample_rate, 2, gain_db, -1.0, measured=meter.stats)
    _, plain_gain = (np.concatenate(x, axis=-1) for x in zip(plain.process_with_gain(audio), plain.flush_with_gain()))
    _, fast_gain = (np.concatenate(x, axis=-1) for x in zip(fast.process_with_gain(audio), fast.flush_with_gain()))
    # sub-chunk peaks are never below the per-sample ones: never more gain anywhere
    assert np.all(fast_gain <= plain_gain * (1 + 1e-6))
    assert -fast.max_reduction_db == pytest.approx(-plain.max_reduction_db, abs=0.05)


def test_limiter_fed_a_measurement_of_another_length_says_so() -> None:
    meter = loudness.LoudnessMeter(44100, 1)
    meter.add(np.full((1, 1000), 0.1, np.float32))
    meter.finish()
    limiter = loudness.TruePeakLimiter(44100, 1, 0.0, measured=meter.stats)
    with pytest.raises(RuntimeError, match="measured"):
        limiter.process(np.zeros((1, 2000), np.float32))
