"""engines/boost.py through LocalContext: loudness targets, boost levels, the ceiling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
from pydantic import ValidationError

from audiomill.audio import loudness
from audiomill.engines import boost
from audiomill.engines.base import LocalContext
from audiomill.errors import JobCancelled, UnsupportedMedia
from audiomill.params.boost import BoostParams
from tests.audio_samples import chord, write_wav
from tests.test_loudness import scaled_to_lufs, speechlike

TOLERANCE_LU = 0.5
CEILING_DBTP = -1.0
# the planner aims the loudest peak's gain reduction at the cap exactly; the limiter's
# smoothing of neighbouring peaks may add a few hundredths of a dB
LIMITING_SLACK_DB = 0.05


def run_boost(
    tmp_path: Path, audio: np.ndarray, sample_rate: int, **params: Any
) -> tuple[np.ndarray, int, dict[str, Any], LocalContext[BoostParams]]:
    source = write_wav(tmp_path / "in.wav", audio, sample_rate, subtype="FLOAT")
    ctx = LocalContext(BoostParams(**params), {"audio": source}, tmp_path / "out")
    boost.run(ctx)
    path, filename = ctx.outputs["audio"]
    out, out_rate = soundfile.read(path, dtype="float32", always_2d=True)
    return out.T, out_rate, ctx.result, ctx


def assert_under_ceiling(out: np.ndarray, sample_rate: int) -> None:
    report = loudness.measure(out, sample_rate)
    assert report.true_peak_dbtp <= CEILING_DBTP
    assert np.abs(out).max() < 1.0


@pytest.fixture(scope="module")
def speech_44k() -> np.ndarray:
    left = speechlike(4.0, 44100, seed=1)[0]
    right = speechlike(4.0, 44100, seed=2)[0]
    return np.stack([left, 0.8 * right])


@pytest.mark.parametrize("target_lufs", [-14.0, -16.0, -23.0])
@pytest.mark.parametrize("input_lufs", [-38.0, -20.0])
def test_target_lufs_is_reached_under_the_ceiling(
    tmp_path: Path, speech_44k: np.ndarray, target_lufs: float, input_lufs: float
) -> None:
    audio = scaled_to_lufs(speech_44k, 44100, input_lufs)
    out, out_rate, result, _ = run_boost(tmp_path, audio, 44100, target_lufs=target_lufs)
    measured = loudness.measure(out, out_rate)
    assert measured.integrated_lufs == pytest.approx(target_lufs, abs=TOLERANCE_LU)
    assert_under_ceiling(out, out_rate)
    assert result["target_reached"] is True
    assert result["loudness_before_lufs"] == pytest.approx(input_lufs, abs=0.01)
    assert result["loudness_after_lufs"] == pytest.approx(measured.integrated_lufs, abs=0.05)
    assert result["true_peak_after_dbtp"] <= CEILING_DBTP


@pytest.mark.parametrize(("level", "gain_db"), [("2x", 6.0), ("3x", 9.5), ("4x", 12.0), ("5x", 14.0)])
def test_boost_levels_raise_a_quiet_input_by_their_gain(
    tmp_path: Path, speech_44k: np.ndarray, level: str, gain_db: float
) -> None:
    audio = scaled_to_lufs(speech_44k, 44100, -36.0)
    out, out_rate, result, _ = run_boost(tmp_path, audio, 44100, boost_level=level)
    measured = loudness.measure(out, out_rate)
    assert measured.integrated_lufs - (-36.0) == pytest.approx(gain_db, abs=TOLERANCE_LU)
    assert_under_ceiling(out, out_rate)
    assert result["target_reached"] is True
    assert result["boost_level"] == level and result["boost_db"] == gain_db


@pytest.mark.parametrize("level", ["2x", "5x"])
def test_loud_input_holds_the_ceiling_and_reports_what_it_reached(
    tmp_path: Path, speech_44k: np.ndarray, level: str
) -> None:
    audio = speech_44k * (10 ** (-0.5 / 20) / np.abs(speech_44k).max())  # peaks at -0.5 dBFS
    before = loudness.measure(audio, 44100).integrated_lufs
    out, out_rate, result, _ = run_boost(tmp_path, audio, 44100, boost_level=level)
    assert_under_ceiling(out, out_rate)
    measured = loudness.measure(out, out_rate)
    assert result["target_reached"] is False
    assert result["target_lufs"] == pytest.approx(before + result["boost_db"], abs=0.01)
    assert result["loudness_after_lufs"] == pytest.approx(measured.integrated_lufs, abs=0.05)
    assert result["loudness_after_lufs"] > before + 1.0  # it did get louder
    # ... but only as far as 3 dB of limiting (the default max_limiting_db) allows
    assert 2.0 < result["limiter_max_reduction_db"] <= 3.0 + LIMITING_SLACK_DB
    assert "reached" in result["note"] and "max_limiting_db" in result["note"]


def loud_pop_master(duration_seconds: float, sample_rate: int) -> np.ndarray:
    """A dense, already limited master: chords, bass and noise-burst drums every 125 ms,
    soft-clipped, then brickwall-limited to -0.3 dBTP at about -10 LUFS (a loud pop
    master's crest factor, under 10 dB)."""
    frames = round(duration_seconds * sample_rate)
    time_seconds = np.arange(frames) / sample_rate
    generator = np.random.default_rng(7)
    music = chord([110.0, 220.0, 277.18, 329.63, 440.0], duration_seconds, sample_rate, 2, 1.0)
    music = music + 0.6 * np.sin(2 * np.pi * 55.0 * time_seconds)[None, :]
    hits = (np.floor(time_seconds * 8) % 2 == 0) * np.exp(-40 * (time_seconds % 0.125))
    music = music + 1.5 * hits[None, :] * generator.standard_normal((2, frames))
    clipped = np.tanh(2.5 * music / np.abs(music).max()).astype(np.float32)
    gain_db = -6.0 - loudness.measure(clipped, sample_rate).integrated_lufs
    mastering = loudness.TruePeakLimiter(sample_rate, 2, gain_db, ceiling_dbtp=-0.3)
    return np.concatenate([mastering.process(clipped), mastering.flush()], axis=1)


def test_loud_master_5x_is_limited_within_the_cap_and_reported_honestly(tmp_path: Path) -> None:
    master = loud_pop_master(4.0, 44100)
    before = loudness.measure(master, 44100)
    assert before.integrated_lufs > -10.5 and before.true_peak_dbtp > -0.6  # really loud

    out, out_rate, result, _ = run_boost(tmp_path, master, 44100, boost_level="5x")
    after = loudness.measure(out, out_rate)
    assert_under_ceiling(out, out_rate)
    assert result["max_limiting_db"] == 3.0
    assert result["limiter_max_reduction_db"] <= 3.0 + LIMITING_SLACK_DB
    assert result["target_reached"] is False
    assert result["target_lufs"] == pytest.approx(before.integrated_lufs + 14.0, abs=0.01)
    # what it says it reached is what the file holds, and that is far short of +14 LU
    assert result["loudness_after_lufs"] == pytest.approx(after.integrated_lufs, abs=0.05)
    assert result["loudness_change_lu"] == pytest.approx(after.integrated_lufs - before.integrated_lufs, abs=0.05)
    assert 0.0 < result["loudness_change_lu"] < 4.0
    assert f"reached {after.integrated_lufs:.1f} LUFS" in result["note"]
    assert "max_limiting_db=3 dB" in result["note"]

    # a user who accepts more limiting gets more loudness, within what they allowed; that
    # 6 dB more off the peaks buys under 2 LU on such a master is why the cap is there
    _, _, harder, _ = run_boost(tmp_path, master, 44100, boost_level="5x", max_limiting_db=9.0)
    assert 6.0 < harder["limiter_max_reduction_db"] <= 9.0 + LIMITING_SLACK_DB
    gained_lu = harder["loudness_after_lufs"] - result["loudness_after_lufs"]
    assert 0.3 < gained_lu < 2.0


def test_loud_music_input_with_5x(tmp_path: Path) -> None:
    audio = chord([110.0, 165.0, 220.0, 440.0], 3.0, 48000, channels=2, amplitude=0.98)
    out, out_rate, result, _ = run_boost(tmp_path, audio, 48000, boost_level="5x")
    assert_under_ceiling(out, out_rate)
    assert result["target_reached"] is False


@pytest.mark.parametrize(("sample_rate", "channels"), [(16000, 1), (44100, 2), (8000, 1)])
def test_rate_channels_and_length_are_kept(tmp_path: Path, sample_rate: int, channels: int) -> None:
    audio = np.concatenate([speechlike(2.3, sample_rate, seed=s) for s in range(channels)]) * 0.1
    out, out_rate, result, ctx = run_boost(tmp_path, audio, sample_rate, boost_level="3x")
    assert out_rate == sample_rate
    assert out.shape == audio.shape
    assert ctx.outputs["audio"][1] == "boosted.wav"
    assert (result["sample_rate"], result["channels"]) == (sample_rate, channels)


def test_channels_stay_apart(tmp_path: Path) -> None:
    left = speechlike(2.0, 44100, seed=3)[0] * 0.1
    audio = np.stack([left, np.zeros_like(left)])
    out, _, _, _ = run_boost(tmp_path, audio, 44100, boost_level="2x")
    assert np.abs(out[1]).max() == 0.0
    gain = np.dot(out[0], left) / np.dot(left, left)
    assert gain == pytest.approx(10 ** (6 / 20), rel=0.05)


def test_mp3_output(tmp_path: Path, speech_44k: np.ndarray) -> None:
    audio = scaled_to_lufs(speech_44k[:, : 44100 * 3], 44100, -30.0)
    out, out_rate, result, ctx = run_boost(
        tmp_path, audio, 44100, target_lufs=-16.0, output_format="mp3", bitrate_kbps=192
    )
    assert ctx.outputs["audio"][1] == "boosted.mp3"
    # the encoder's own delay and overshoot aside, the loudness survives the codec
    assert loudness.measure(out, out_rate).integrated_lufs == pytest.approx(-16.0, abs=0.5)


def test_silent_input_is_left_alone(tmp_path: Path) -> None:
    audio = np.zeros((2, 44100), np.float32)
    out, _, result, _ = run_boost(tmp_path, audio, 44100, boost_level="5x")
    assert np.abs(out).max() == 0.0
    assert result["loudness_before_lufs"] is None
    assert result["gain_db"] == 0.0
    assert result["target_reached"] is False
    assert "silent" in result["note"]


def test_clip_shorter_than_a_gating_block(tmp_path: Path) -> None:
    audio = speechlike(0.25, 44100) * 0.05
    out, out_rate, result, _ = run_boost(tmp_path, audio, 44100, target_lufs=-20.0)
    assert out.shape == audio.shape
    assert loudness.measure(out, out_rate).integrated_lufs == pytest.approx(-20.0, abs=0.5)
    assert_under_ceiling(out, out_rate)


def test_progress_and_cancellation(tmp_path: Path, speech_44k: np.ndarray) -> None:
    source = write_wav(tmp_path / "in.wav", speech_44k, 44100)
    stages: list[tuple[float, str]] = []
    ctx = LocalContext(
        BoostParams(boost_level="2x"),
        {"audio": source},
        tmp_path / "out",
        on_progress=lambda fraction, stage: stages.append((fraction, stage)),
        is_cancelled=lambda: any(stage == "boosting" for _, stage in stages),
    )
    with pytest.raises(JobCancelled):
        boost.run(ctx)
    assert any(stage == "measuring loudness" for _, stage in stages)
    assert not (tmp_path / "out" / "boosted.wav").exists()  # no half-written file
    fractions = [fraction for fraction, _ in stages]
    assert fractions == sorted(fractions)


def test_not_audio_is_unsupported_media(tmp_path: Path) -> None:
    source = tmp_path / "notes.txt"
    source.write_text("not audio")
    ctx = LocalContext(BoostParams(), {"audio": source}, tmp_path / "out")
    with pytest.raises(UnsupportedMedia):
        boost.run(ctx)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"boost_level": "2x", "target_lufs": -14}, "not both"),
        ({"boost_level": "none"}, "'2x', '3x', '4x' or '5x'"),
        ({"boost_level": "10x"}, "'2x', '3x', '4x' or '5x'"),
        ({"target_lufs": -60}, "greater than or equal to -40"),
        ({"ceiling_dbtp": 0.5}, "less than or equal to 0"),
        ({"max_limiting_db": -1}, "greater than or equal to 0"),
    ],
)
def test_bad_params_say_what_is_wrong(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        BoostParams(**fields)


def test_default_is_3x() -> None:
    params = BoostParams()
    assert params.boost_level == "3x" and params.boost_gain_db() == 9.5
