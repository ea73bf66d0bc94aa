"""`audiomill denoise | boost | vocals | extract-speaker` as a user runs them (no server),
on generated speech and music, judged by measuring what they wrote."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyloudnorm

from audiomill import audio
from tests.audio_samples import stereo_chords, write_wav
from tests.test_cli import run_cli
from tests.test_denoise_engine import colored_noise, mix_at_snr, si_sdr_db, synthesize_speech
from tests.test_extract_speaker import RATE, Voices, voices  # noqa: F401  (voices: a fixture)


def test_denoise_improves_si_sdr_of_each_file(tmp_path: Path, models_dir: Path) -> None:
    clean, rate = synthesize_speech(tmp_path, "The birch canoe slid on the smooth planks of the lake.", "rms")
    clean = (0.3 * clean / np.abs(clean).max()).astype(np.float32)
    noisy = {kind: mix_at_snr(clean, colored_noise(clean.size, kind, seed=3), 5.0) for kind in ("white", "pink")}
    files = [
        str(write_wav(tmp_path / f"{kind}.wav", signal[None], rate, subtype="FLOAT")) for kind, signal in noisy.items()
    ]

    result = run_cli(["denoise", *files, "--bit-depth", "32", "-o", "out"], models_dir, tmp_path)
    assert result.returncode == 0, result.stderr
    for kind, signal in noisy.items():
        denoised, out_rate = audio.decode(tmp_path / "out" / "denoised" / kind / "denoised.wav")
        assert out_rate == rate and denoised.shape == (1, clean.size)
        gain = si_sdr_db(denoised[0], clean) - si_sdr_db(signal, clean)
        assert gain >= 3.0, f"{kind}: SI-SDR gain {gain:.1f} dB"
    assert "Traceback" not in result.stderr


def test_boost_reaches_the_target_lufs_under_the_ceiling(tmp_path: Path, models_dir: Path, voices: Voices) -> None:
    talk = voices.conversation("slt", "awb", turns=1).audio
    quiet = write_wav(tmp_path / "quiet.wav", (0.05 * talk / np.abs(talk).max())[None], RATE, subtype="FLOAT")

    result = run_cli(
        ["boost", str(quiet), "--target-lufs", "-16", "--bit-depth", "24", "-o", "out"], models_dir, tmp_path
    )
    assert result.returncode == 0, result.stderr
    boosted, rate = audio.decode(tmp_path / "out" / "boosted" / "quiet" / "boosted.wav")
    assert rate == RATE and boosted.shape == (1, talk.size)
    loudness = pyloudnorm.Meter(rate).integrated_loudness(boosted[0].astype(np.float64))
    assert abs(loudness - -16.0) <= 0.5, loudness
    assert np.abs(boosted).max() <= 10 ** (-1 / 20) + 1e-3  # the default -1 dBTP ceiling
    assert "loudness_after_lufs=" in result.stderr  # the result is printed


def test_vocals_writes_vocals_and_instrumental_that_sum_to_the_mix(
    tmp_path: Path, tiny_htdemucs: Path, models_dir: Path
) -> None:
    mix = stereo_chords(3.0) * 0.5
    song = write_wav(tmp_path / "song.wav", mix, 44100, subtype="FLOAT")

    result = run_cli(["vocals", str(song), "--bit-depth", "32", "-o", "out"], models_dir, tmp_path)
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "out" / "vocals" / "song"
    assert sorted(p.name for p in folder.iterdir()) == ["instrumental.wav", "vocals.wav"]
    vocals, rate = audio.decode(folder / "vocals.wav")
    instrumental, _ = audio.decode(folder / "instrumental.wav")
    assert rate == 44100 and vocals.shape == instrumental.shape == mix.shape
    error = vocals + instrumental - mix
    assert 10 * np.log10(np.sum(error**2) / np.sum(mix**2)) < -60


def test_extract_speaker_prints_the_similarity_score(tmp_path: Path, models_dir: Path, voices: Voices) -> None:
    talk = voices.conversation("rms", "slt", turns=1)

    result = run_cli(["extract-speaker", str(talk.path), str(voices.sample("rms")), "-o", "out"], models_dir, tmp_path)
    assert result.returncode == 0, result.stderr
    found = re.search(r"similarity_score=(\d+(?:\.\d+)?)", result.stderr)
    assert found, result.stderr
    assert 70 <= float(found.group(1)) <= 100
    extracted, rate = audio.decode(tmp_path / "out" / "extracted" / talk.path.stem / "extracted.wav")
    assert rate == RATE and extracted.shape == (1, talk.audio.size)
    other = talk.regions["slt"]
    dropped_db = 10 * np.log10(np.sum(talk.audio[other] ** 2) / (np.sum(extracted[0, other] ** 2) + 1e-20))
    assert dropped_db >= 15
