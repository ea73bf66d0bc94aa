"""engines/denoise.py through LocalContext: both models, alignment, rates, boost, cancel."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
from scipy.signal import correlate

from audiomill.audio import loudness, resample
from audiomill.engines import denoise
from audiomill.engines.base import LocalContext
from audiomill.errors import InvalidInput, JobCancelled, UnsupportedMedia
from audiomill.models import cache as model_cache
from audiomill.params.denoise import DenoiseParams
from tests.audio_samples import write_wav

MODELS = ["deepfilternet3", "rnnoise"]
# Measured on flite speech at 16 kHz (0 dB SNR): DFN3 white +9.7 / pink +10.6 dB,
# RNNoise +9.8 / +8.0; at 5 dB SNR a few dB less. The bar leaves room for other voices.
MIN_SI_SDR_GAIN_DB = 3.0
MAX_LAG_FRAMES = 3


# ---------------------------------------------------------------------- test data


def synthesize_speech(tmp_dir: Path, text: str, voice: str) -> tuple[np.ndarray, int]:
    """Real recorded-voice speech from Debian's flite, else espeak-ng; mono float32."""
    path = tmp_dir / f"{voice}.wav"
    if shutil.which("flite"):
        command = ["flite", "-voice", voice, "-t", text, "-o", str(path)]
    elif shutil.which("espeak-ng"):
        command = ["espeak-ng", "-v", "en-us", "-w", str(path), text]
    elif os.environ.get("CI") == "true":
        pytest.fail("CI needs flite or espeak-ng to synthesize test speech")
    else:
        pytest.skip("neither flite nor espeak-ng is installed to synthesize test speech")
    subprocess.run(command, check=True, capture_output=True, timeout=30)
    audio, sample_rate = soundfile.read(path, dtype="float32")
    return audio, sample_rate


@pytest.fixture(scope="module")
def speech_16k(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    audio, sample_rate = synthesize_speech(
        tmp_path_factory.mktemp("speech"),
        "The quick brown fox jumps over the lazy dog, and then it runs away.",
        "slt",
    )
    audio = resample(audio[None, :], sample_rate, 16000)[0]
    return (0.5 * audio / np.abs(audio).max()).astype(np.float32)


@pytest.fixture(scope="module")
def other_speech_16k(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    audio, sample_rate = synthesize_speech(
        tmp_path_factory.mktemp("speech2"),
        "Peter Piper picked a peck of pickled peppers from the garden.",
        "rms",
    )
    audio = resample(audio[None, :], sample_rate, 16000)[0]
    return (0.5 * audio / np.abs(audio).max()).astype(np.float32)


def colored_noise(frames: int, kind: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    white = rng.standard_normal(frames)
    if kind == "white":
        return white
    spectrum = np.fft.rfft(white)
    bins = np.arange(spectrum.size)
    bins[0] = 1
    return np.fft.irfft(spectrum / np.sqrt(bins), frames)  # 1/f power: pink


def mix_at_snr(clean: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    noise = noise * np.sqrt(np.mean(clean**2) / np.mean(noise**2)) / 10 ** (snr_db / 20)
    return (clean + noise).astype(np.float32)


def si_sdr_db(estimate: np.ndarray, reference: np.ndarray) -> float:
    estimate = estimate.astype(np.float64) - estimate.mean()
    reference = reference.astype(np.float64) - reference.mean()
    target = np.dot(estimate, reference) / np.dot(reference, reference) * reference
    return float(10 * np.log10(np.sum(target**2) / np.sum((estimate - target) ** 2)))


def lag_frames(output: np.ndarray, reference: np.ndarray) -> int:
    correlation = correlate(output, reference, mode="full", method="fft")
    return int(np.argmax(correlation)) - (reference.size - 1)


def run_denoise(
    tmp_path: Path, audio: np.ndarray, sample_rate: int, **params: Any
) -> tuple[np.ndarray, int, dict[str, Any], LocalContext[DenoiseParams]]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    source = write_wav(tmp_path / "noisy.wav", audio, sample_rate, subtype="FLOAT")
    params.setdefault("wav_bit_depth", 32)
    ctx = LocalContext(DenoiseParams(**params), {"audio": source}, tmp_path / "out")
    denoise.run(ctx)
    out, out_rate = soundfile.read(ctx.outputs["audio"][0], dtype="float32", always_2d=True)
    return out.T, out_rate, ctx.result, ctx


# ---------------------------------------------------------------------- quality


@pytest.mark.parametrize("snr_db", [0.0, 5.0])
@pytest.mark.parametrize("noise_kind", ["white", "pink"])
@pytest.mark.parametrize("model", MODELS)
def test_denoise_improves_si_sdr_and_stays_aligned(
    tmp_path: Path, speech_16k: np.ndarray, model: str, noise_kind: str, snr_db: float
) -> None:
    noise = colored_noise(speech_16k.size, noise_kind, seed=int(snr_db) + 7)
    noisy = mix_at_snr(speech_16k, noise, snr_db)
    out, out_rate, result, _ = run_denoise(tmp_path, noisy[None, :], 16000, model=model)
    assert out_rate == 16000 and out.shape == (1, noisy.size)
    gain_db = si_sdr_db(out[0], speech_16k) - si_sdr_db(noisy, speech_16k)
    assert gain_db >= MIN_SI_SDR_GAIN_DB, f"{model} {noise_kind} {snr_db} dB: +{gain_db:.1f} dB"
    assert abs(lag_frames(out[0], speech_16k)) <= MAX_LAG_FRAMES
    assert result["model"] == model


def test_stereo_44k_stays_stereo_44k_with_channels_apart(
    tmp_path: Path, speech_16k: np.ndarray, other_speech_16k: np.ndarray
) -> None:
    frames = min(speech_16k.size, other_speech_16k.size)
    clean = resample(np.stack([speech_16k[:frames], other_speech_16k[:frames]]), 16000, 44100)
    noisy = np.stack(
        [mix_at_snr(channel, colored_noise(channel.size, "pink", seed), 0.0) for seed, channel in enumerate(clean)]
    )
    out, out_rate, result, _ = run_denoise(tmp_path, noisy, 44100)
    assert out_rate == 44100 and out.shape == noisy.shape
    assert (result["sample_rate"], result["channels"]) == (44100, 2)
    for channel in range(2):
        before_db = si_sdr_db(noisy[channel], clean[channel])
        assert si_sdr_db(out[channel], clean[channel]) - before_db >= MIN_SI_SDR_GAIN_DB
        assert abs(lag_frames(out[channel], clean[channel])) <= MAX_LAG_FRAMES
    # each output channel is its own speaker, not the other one
    assert si_sdr_db(out[0], clean[1]) < 0


@pytest.mark.parametrize("model", MODELS)
def test_odd_rate_and_short_input_keep_their_length(tmp_path: Path, model: str) -> None:
    audio = colored_noise(22050 // 3 + 17, "white", 1)[None, :].astype(np.float32) * 0.1
    out, out_rate, _, _ = run_denoise(tmp_path, audio, 22050, model=model)
    assert out_rate == 22050 and out.shape == audio.shape


@pytest.mark.parametrize("model", MODELS)
def test_attenuation_limit_caps_how_much_noise_is_removed(tmp_path: Path, model: str) -> None:
    # white noise: both models remove it almost entirely, so the limit alone decides
    noise = (0.05 * colored_noise(48000 * 2, "white", 3))[None, :].astype(np.float32)
    middle = slice(24000, 72000)  # away from start-up

    def reduction_db(**params: Any) -> float:
        out, _, _, _ = run_denoise(tmp_path, noise, 48000, model=model, **params)
        return float(10 * np.log10(np.mean(noise[0, middle] ** 2) / np.mean(out[0, middle] ** 2)))

    assert reduction_db(attenuation_limit_db=6.0) == pytest.approx(6.0, abs=1.0)
    assert reduction_db(attenuation_limit_db=12.0) == pytest.approx(12.0, abs=1.0)
    assert reduction_db() > 25.0


# ---------------------------------------------------------------------- boost, pool, errors


def test_denoise_then_boost(tmp_path: Path, speech_16k: np.ndarray) -> None:
    noisy = mix_at_snr(speech_16k, colored_noise(speech_16k.size, "pink", 5), 10.0) * 0.1
    out, out_rate, result, ctx = run_denoise(tmp_path, noisy[None, :], 16000, boost_level="2x")
    assert ctx.outputs["audio"][1] == "denoised.wav"
    assert result["boost_db"] == 6.0 and result["target_reached"] is True
    measured = loudness.measure(out, out_rate)
    assert measured.integrated_lufs == pytest.approx(result["loudness_before_lufs"] + 6.0, abs=0.5)
    assert measured.true_peak_dbtp <= -1.0
    assert out.shape == (1, noisy.size)
    assert not list((tmp_path / "out").glob(".denoise-*"))  # scratch removed


def test_denoise_to_a_loudness_target(tmp_path: Path, speech_16k: np.ndarray) -> None:
    noisy = mix_at_snr(speech_16k, colored_noise(speech_16k.size, "white", 6), 10.0)
    out, out_rate, result, _ = run_denoise(tmp_path, noisy[None, :], 16000, model="rnnoise", target_lufs=-16.0)
    assert loudness.measure(out, out_rate).integrated_lufs == pytest.approx(-16.0, abs=0.5)
    assert result["target_lufs"] == -16.0


def test_a_pooled_model_carries_nothing_from_the_previous_job(tmp_path: Path) -> None:
    loud = (0.5 * colored_noise(48000, "white", 9))[None, :].astype(np.float32)
    run_denoise(tmp_path / "a", loud, 48000)
    silent = np.zeros((1, 48000), np.float32)
    out, _, _, _ = run_denoise(tmp_path / "b", silent, 48000)
    assert np.abs(out).max() < 1e-4
    assert ("deepfilternet3", "pool") in model_cache.loaded_keys()


@pytest.mark.parametrize("model", MODELS)
def test_same_input_twice_gives_the_same_output(tmp_path: Path, speech_16k: np.ndarray, model: str) -> None:
    noisy = mix_at_snr(speech_16k, colored_noise(speech_16k.size, "pink", 11), 5.0)[None, :]
    first, _, _, _ = run_denoise(tmp_path / "a", noisy, 16000, model=model)
    run_denoise(tmp_path / "other", noisy[:, ::-1].copy(), 16000, model=model)
    second, _, _, _ = run_denoise(tmp_path / "b", noisy, 16000, model=model)
    # every job gets fresh model states: the job in between leaves no trace
    np.testing.assert_array_equal(second, first)


def test_cancellation_between_blocks(tmp_path: Path, speech_16k: np.ndarray) -> None:
    long_input = np.tile(speech_16k, 4)[None, :]
    source = write_wav(tmp_path / "long.wav", long_input, 16000)
    stages: list[str] = []
    ctx = LocalContext(
        DenoiseParams(),
        {"audio": source},
        tmp_path / "out",
        on_progress=lambda fraction, stage: stages.append(stage),
        is_cancelled=lambda: stages.count("denoising") >= 1,
    )
    with pytest.raises(JobCancelled):
        denoise.run(ctx)
    assert not (tmp_path / "out" / "denoised.wav").exists()
    assert "denoising" in stages


def test_empty_input_is_refused(tmp_path: Path) -> None:
    with pytest.raises((InvalidInput, UnsupportedMedia), match="no (decodable )?audio"):
        run_denoise(tmp_path, np.zeros((1, 0), np.float32), 16000)


def test_params_reject_two_loudness_goals() -> None:
    with pytest.raises(ValueError, match="not both"):
        DenoiseParams(boost_level="3x", target_lufs=-14)
    assert not DenoiseParams().wants_boost()
