"""audio/loudness.py: BS.1770-4 meter, true peak, the true-peak limiter, gain planning."""

from __future__ import annotations

import math

import numpy as np
import pyloudnorm
import pytest
from scipy.signal import resample

from audiomill.audio import loudness
from audiomill.errors import InvalidInput
from tests.audio_samples import chord, noise, sine, stereo_chords, sweep


def speechlike(duration_seconds: float, sample_rate: int, seed: int = 0) -> np.ndarray:
    """Voiced syllables with pauses and fricative bursts: a speech-like peak-to-loudness
    ratio (about 15 dB) without needing a synthesizer."""
    rng = np.random.default_rng(seed)
    frames = round(duration_seconds * sample_rate)
    time_seconds = np.arange(frames) / sample_rate
    pitch_hz = 150 + 30 * np.sin(2 * np.pi * 0.7 * time_seconds)
    phase = 2 * np.pi * np.cumsum(pitch_hz) / sample_rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    syllables = np.clip(np.sin(2 * np.pi * 4.0 * time_seconds), 0, None) ** 2
    pauses = np.repeat(rng.random(int(duration_seconds * 2) + 1) > 0.25, sample_rate // 2)
    envelope = syllables * pauses[:frames]
    fricative = rng.standard_normal(frames) * (np.sin(2 * np.pi * 1.3 * time_seconds) > 0.95)
    signal = envelope * voiced + 0.3 * fricative
    return (0.5 * signal / np.abs(signal).max()).astype(np.float32)[None, :]


def scaled_to_lufs(audio: np.ndarray, sample_rate: int, lufs: float) -> np.ndarray:
    current = loudness.measure(audio, sample_rate).integrated_lufs
    return (audio * 10 ** ((lufs - current) / 20)).astype(np.float32)


def ideal_peak_dbtp(audio: np.ndarray, edge_frames: int = 400) -> float:
    """An independent reading: the ideal band-limited reconstruction (FFT, 16x), away from
    the edges where the FFT's wrap-around rings."""
    oversampled = resample(audio.astype(np.float64), audio.shape[1] * 16, axis=-1)
    return 20 * math.log10(np.abs(oversampled[:, 16 * edge_frames : -16 * edge_frames]).max())


# ---------------------------------------------------------------------- meter


@pytest.mark.parametrize("sample_rate", [16000, 22050, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
def test_integrated_loudness_matches_pyloudnorm(sample_rate: int, channels: int) -> None:
    audio = noise(3.25, sample_rate, channels, amplitude=0.1, seed=channels)
    audio[:, : sample_rate // 2] *= 0.01  # a quiet start, so the gates have work to do
    expected = pyloudnorm.Meter(sample_rate).integrated_loudness(audio.T.astype(np.float64))
    report = loudness.measure(audio, sample_rate)
    assert report.gated
    assert report.integrated_lufs == pytest.approx(expected, abs=0.05)


def test_full_scale_997_hz_sine_reads_minus_3_lufs_per_bs1770() -> None:
    report = loudness.measure(sine(997.0, 2.0, 48000, amplitude=1.0), 48000)
    assert report.integrated_lufs == pytest.approx(-3.01, abs=0.05)
    assert report.sample_peak_dbfs == pytest.approx(0.0, abs=0.01)


def test_streaming_meter_equals_whole_array() -> None:
    audio = stereo_chords(2.7, 44100) + noise(2.7, 44100, 2, 0.05)
    whole = loudness.measure(audio, 44100)
    meter = loudness.LoudnessMeter(44100, 2)
    rng = np.random.default_rng(1)
    position = 0
    while position < audio.shape[1]:
        size = int(rng.integers(1, 9000))
        meter.add(audio[:, position : position + size])
        position += size
    streamed = meter.finish()
    assert streamed.integrated_lufs == pytest.approx(whole.integrated_lufs, abs=1e-6)
    # float32 FFT interpolation: blocks cut elsewhere round differently (~3e-7 relative)
    assert streamed.true_peak_dbtp == pytest.approx(whole.true_peak_dbtp, abs=1e-5)
    assert streamed.duration_seconds == pytest.approx(2.7, abs=1e-4)


def test_true_peak_finds_the_peak_between_samples() -> None:
    # fs/4 at 45 degrees: every sample sits at 0.707 of the peak, the waveform reaches 1.0
    sample_rate = 48000
    time_index = np.arange(sample_rate)
    tone = np.sin(2 * np.pi * 0.25 * time_index + np.pi / 4)[None, :].astype(np.float32)
    fade = np.minimum(1.0, np.minimum(time_index, time_index[::-1]) / 2000)  # no edge ringing
    report = loudness.measure(0.5 * tone * fade, sample_rate)
    assert report.sample_peak_dbfs == pytest.approx(-9.03, abs=0.01)
    assert report.true_peak_dbtp == pytest.approx(-6.02, abs=0.05)


@pytest.mark.parametrize("frequency_ratio", [0.1, 0.3, 0.45])
def test_true_peak_agrees_with_an_ideal_reconstruction(frequency_ratio: float) -> None:
    sample_rate = 44100
    frames = np.arange(sample_rate)
    fade = np.minimum(1.0, np.minimum(frames, frames[::-1]) / 3000)
    tone = 0.5 * np.sin(2 * np.pi * frequency_ratio * frames + 1.3) * fade
    audio = tone[None, :].astype(np.float32)
    report = loudness.measure(audio, sample_rate)
    assert report.true_peak_dbtp == pytest.approx(ideal_peak_dbtp(audio), abs=0.03)


def test_silence_is_minus_infinity() -> None:
    report = loudness.measure(np.zeros((2, 48000), np.float32), 48000)
    assert report.integrated_lufs == -math.inf
    assert report.true_peak_dbtp == -math.inf
    assert report.sample_peak_dbfs == -math.inf


def test_noise_below_the_absolute_gate_is_silent() -> None:
    report = loudness.measure(noise(1.0, 48000, amplitude=1e-5), 48000)
    assert report.integrated_lufs == -math.inf
    assert math.isfinite(report.true_peak_dbtp)


def test_clip_shorter_than_a_gating_block_is_measured_whole() -> None:
    long_tone = loudness.measure(sine(1000.0, 2.0, 44100, amplitude=0.3), 44100)
    short_tone = loudness.measure(sine(1000.0, 0.2, 44100, amplitude=0.3), 44100)
    assert long_tone.gated and not short_tone.gated
    assert short_tone.integrated_lufs == pytest.approx(long_tone.integrated_lufs, abs=0.1)
    empty = loudness.measure(np.zeros((1, 0), np.float32), 44100)
    assert empty.integrated_lufs == -math.inf and empty.duration_seconds == 0


def test_meter_refuses_absurd_sample_rates() -> None:
    with pytest.raises(InvalidInput, match="sample_rate"):
        loudness.LoudnessMeter(100, 1)


# ---------------------------------------------------------------------- limiter


def run_limiter(audio: np.ndarray, sample_rate: int, gain_db: float, block: int) -> np.ndarray:
    limiter = loudness.TruePeakLimiter(sample_rate, audio.shape[0], gain_db, -1.0)
    pieces = [limiter.process(audio[:, i : i + block]) for i in range(0, audio.shape[1], block)]
    return np.concatenate([*pieces, limiter.flush()], axis=1)


# (signal, how far over the ceiling an ideal reconstruction may go): broadband noise
# reads up to ~0.3 dB high in an ideal DAC (see the loudness module's docstring)
LIMITER_CASES = {
    "bass sine": (lambda sr: sine(50.0, 1.0, sr, amplitude=0.9), 0.02),
    "sine near nyquist": (lambda sr: sine(0.45 * sr, 1.0, sr, amplitude=0.9), 0.02),
    "sine at fs/4": (lambda sr: sine(0.25 * sr, 1.0, sr, amplitude=0.9), 0.02),
    "square": (lambda sr: np.sign(sine(440.0, 1.0, sr)).astype(np.float32) * 0.9, 0.02),
    "chord": (lambda sr: chord([110.0, 220.0, 330.0, 1760.0], 1.0, sr, 2, 0.9), 0.02),
    "sweep": (lambda sr: sweep(1.0, sr, amplitude=0.9), 0.02),
    "stereo noise": (lambda sr: noise(1.0, sr, 2, amplitude=0.3), 0.35),
    "speech-like": (lambda sr: speechlike(2.0, sr), 0.35),
}


@pytest.mark.parametrize("case", sorted(LIMITER_CASES))
@pytest.mark.parametrize("sample_rate", [16000, 44100])
def test_limiter_holds_the_true_peak_ceiling(case: str, sample_rate: int) -> None:
    make_signal, ideal_tolerance_db = LIMITER_CASES[case]
    audio = make_signal(sample_rate)
    out = run_limiter(audio, sample_rate, gain_db=12.0, block=4099)
    assert out.shape == audio.shape
    report = loudness.measure(out, sample_rate)
    assert report.true_peak_dbtp <= -1.0
    assert report.sample_peak_dbfs <= -1.0
    assert ideal_peak_dbtp(out) <= -1.0 + ideal_tolerance_db


def test_limiter_output_is_aligned_and_untouched_below_the_ceiling() -> None:
    audio = noise(1.0, 48000, 2, amplitude=0.01, seed=3)
    out = run_limiter(audio, 48000, gain_db=6.0, block=1000)
    np.testing.assert_allclose(out, audio * 10 ** (6 / 20), atol=1e-6)


def test_limiter_is_the_same_whatever_the_block_size() -> None:
    audio = speechlike(1.5, 22050)
    one_block = run_limiter(audio, 22050, 18.0, audio.shape[1])
    small_blocks = run_limiter(audio, 22050, 18.0, 333)
    np.testing.assert_allclose(small_blocks, one_block, atol=1e-5)


def test_limiter_shorter_input_than_its_lookahead() -> None:
    audio = sine(1000.0, 0.002, 44100, amplitude=0.9)
    out = run_limiter(audio, 44100, 10.0, 7)
    assert out.shape == audio.shape
    assert np.abs(out).max() <= 10 ** (-1 / 20)


def test_limiter_refuses_a_ceiling_above_full_scale() -> None:
    with pytest.raises(InvalidInput, match="ceiling"):
        loudness.TruePeakLimiter(44100, 1, 0.0, ceiling_dbtp=0.5)


# ---------------------------------------------------------------------- normalize / boost


@pytest.mark.parametrize("target_lufs", [-14.0, -16.0, -23.0])
@pytest.mark.parametrize("input_lufs", [-40.0, -20.0])
def test_loudness_normalize_lands_on_target(target_lufs: float, input_lufs: float) -> None:
    audio = scaled_to_lufs(speechlike(4.0, 44100), 44100, input_lufs)
    # -14 LUFS under a -1 dBTP ceiling takes ~4 dB off this signal's peaks: allow 6
    out, outcome = loudness.loudness_normalize(audio, 44100, target_lufs, max_limiting_db=6.0)
    measured = loudness.measure(out, 44100)
    assert measured.integrated_lufs == pytest.approx(target_lufs, abs=0.5)
    assert measured.true_peak_dbtp <= -1.0
    assert outcome.after.integrated_lufs == pytest.approx(measured.integrated_lufs, abs=1e-6)


def test_boost_of_a_loud_input_holds_the_ceiling_and_falls_short() -> None:
    audio = chord([220.0, 330.0, 440.0], 3.0, 44100, channels=2, amplitude=0.95)
    out, outcome = loudness.boost_loudness(audio, 44100, boost_db=14.0)
    assert outcome.after.true_peak_dbtp <= -1.0
    assert np.abs(out).max() < 1.0
    achieved = outcome.after.integrated_lufs - outcome.before.integrated_lufs
    assert 0 < achieved < 14.0 - 0.5


def test_plan_gain_holds_the_limiting_to_its_cap_and_says_so() -> None:
    audio = scaled_to_lufs(speechlike(4.0, 44100), 44100, -30.0)
    meter = loudness.LoudnessMeter(44100, 1)
    meter.add(audio)
    report = meter.finish()
    for cap_db in (0.0, 3.0, 8.0):
        plan = loudness.plan_gain(meter.stats, -10.0, -1.0, max_limiting_db=cap_db)
        assert plan.held_back_by == "max_limiting_db"
        assert plan.predicted_limiting_db == pytest.approx(cap_db, abs=1e-9)
        assert plan.gain_db == pytest.approx(-1.1 - report.true_peak_dbtp + cap_db, abs=1e-9)
        limiter = loudness.TruePeakLimiter(44100, 1, plan.gain_db, -1.0)
        limiter.process(audio)
        limiter.flush()
        assert -limiter.max_reduction_db == pytest.approx(cap_db, abs=0.05)  # as predicted
    unlimited = loudness.plan_gain(meter.stats, -20.0, -1.0)  # 10 dB up: no limiting needed
    assert unlimited.held_back_by is None and unlimited.predicted_limiting_db == 0.0


def test_plan_gain_leaves_silence_alone() -> None:
    meter = loudness.LoudnessMeter(48000, 1)
    meter.add(np.zeros((1, 48000), np.float32))
    meter.finish()
    plan = loudness.plan_gain(meter.stats, -14.0)
    assert plan.gain_db == 0.0 and plan.target_lufs is None
