"""The `audiomill` command as a user runs it: separate without a server, list models."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from audiomill import audio
from tests.audio_samples import stereo_chords, write_mp3, write_wav


def run_cli(args: list[str], models_dir: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AUDIOMILL_MODELS_DIR": str(models_dir),
        "AUDIOMILL_MODELS_DOWNLOAD": "false",
        "AUDIOMILL_DATA_DIR": str(tmp_path / "data"),
        "AUDIOMILL_TORCH_THREADS": "1",
        "AUDIOMILL_MODELS_CACHE_DIR": str(tmp_path / "cache"),
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "audiomill.cli", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_separate_two_stems_to_mp3_without_a_server(tmp_path: Path, tiny_htdemucs: Path, models_dir: Path) -> None:
    song = write_mp3(tmp_path / "song.mp3", stereo_chords(5.0), 44100)
    result = run_cli(
        ["separate", str(song), "--two-stems", "vocals", "--format", "mp3", "-o", "out"], models_dir, tmp_path
    )
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "out" / "htdemucs" / "song"
    assert sorted(p.name for p in folder.iterdir()) == ["no_vocals.mp3", "vocals.mp3"]
    for path in folder.iterdir():
        samples, rate = audio.decode(path)
        assert rate == 44100 and abs(samples.shape[1] / rate - 5.0) < 0.06
    assert "100%" in result.stderr  # the progress bar ran to its end


def test_separate_with_residual_sums_back_to_the_mix(tmp_path: Path, tiny_htdemucs: Path, models_dir: Path) -> None:
    mix = stereo_chords(4.0) * 0.5
    song = write_wav(tmp_path / "mix.wav", mix, 44100, subtype="FLOAT")
    result = run_cli(
        ["separate", str(song), "--residual", "--bit-depth", "32", "--clip-mode", "none", "-o", "out"],
        models_dir,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    stems = [audio.decode(p)[0] for p in sorted((tmp_path / "out" / "htdemucs" / "mix").iterdir())]
    assert len(stems) == 4
    original, _ = audio.decode(song)
    error = np.sum(stems, axis=0) - original
    assert 10 * np.log10(np.sum(error**2) / np.sum(original**2)) < -60


@pytest.mark.no_demucs_weights
def test_missing_model_is_a_clear_error(tmp_path: Path, models_dir: Path) -> None:
    song = write_mp3(tmp_path / "song.mp3", stereo_chords(1.0), 44100)
    result = run_cli(["separate", str(song)], models_dir, tmp_path)
    assert result.returncode == 1
    assert "htdemucs" in result.stderr and str(models_dir) in result.stderr.replace("\n", "")
    assert "Traceback" not in result.stderr


def test_models_lists_what_is_present_and_where(tmp_path: Path, tiny_htdemucs: Path, models_dir: Path) -> None:
    result = run_cli(["models"], models_dir, tmp_path)
    assert result.returncode == 0, result.stderr
    line = next(row for row in result.stdout.splitlines() if " htdemucs " in f" {row} ")
    assert "yes" in line and str(models_dir)[:20] in result.stdout
    ft = next(row for row in result.stdout.splitlines() if "htdemucs_ft" in row)
    assert "no" in ft
