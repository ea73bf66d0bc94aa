"""Bad input over /api/v1: every refusal is a JSON 4xx naming the problem, and nothing is left stored."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from audiomill import audio
from audiomill.config import Settings
from audiomill.kinds import KINDS
from tests.audio_samples import sine, write_mp3, write_png, write_video_only, write_wav
from tests.conftest import stored_files


@pytest.fixture
def good_mp3(tmp_path: Path) -> Path:
    return write_mp3(tmp_path / "good.mp3", sine(440.0, 2.0, 44100, 2), 44100)


def post_job(client: TestClient, files: list[tuple[str, bytes]], kind: str = "test_copy", params: str | None = None):  # type: ignore[no-untyped-def]
    data = {"kind": kind}
    if params is not None:
        data["params"] = params
    return client.post("/api/v1/jobs", data=data, files=[("file", (name, content)) for name, content in files])


def assert_nothing_stored(client: TestClient, settings: Settings) -> None:
    assert client.get("/api/v1/jobs").json()["count"] == 0
    assert stored_files(settings) == []


def test_undecodable_files_are_415(client: TestClient, settings: Settings, good_mp3: Path, tmp_path: Path) -> None:
    cases = {
        "empty.mp3": b"",
        "text.mp3": b"definitely not audio\n" * 50,
        "truncated.mp3": good_mp3.read_bytes()[:300],
        "random.xyz": os.urandom(5000),
        "picture.wav": write_png(tmp_path / "p.png").read_bytes(),
        "silent-film.mp4": write_video_only(tmp_path / "v.mp4").read_bytes(),
    }
    for name, content in cases.items():
        response = post_job(client, [(name, content)])
        assert response.status_code == 415, (name, response.status_code, response.text)
        detail = response.json()["detail"]
        assert isinstance(detail, str) and len(detail) > 10, (name, detail)
    assert_nothing_stored(client, settings)


def wav_header(sample_rate: int, channels: int, frames: int) -> bytes:
    """A 16-bit PCM WAV header claiming ``frames`` frames (whatever follows it)."""
    data_bytes = frames * channels * 2
    fmt = struct.pack("<IHHIIHH", 16, 1, channels, sample_rate, sample_rate * channels * 2, channels * 2, 16)
    return b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVEfmt " + fmt + b"data" + struct.pack("<I", data_bytes)


def test_a_wav_truncated_to_a_few_samples_is_refused_naming_the_problem(client: TestClient, settings: Settings) -> None:
    # the header claims 1 s; 5 samples follow it
    content = wav_header(44100, 1, 44100) + struct.pack("<5h", 1000, 2000, 3000, 2000, 1000)
    response = post_job(client, [("cut.wav", content)])
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == (
        "cut.wav holds only 0.0001 s of audio (5 samples); test_copy jobs need at least 0.1 s"
    )
    assert_nothing_stored(client, settings)


@pytest.mark.parametrize("extension", ["mp3", "flac", "m4a"])
def test_a_file_holding_far_less_than_its_container_claims_is_415(
    client: TestClient, settings: Settings, tmp_path: Path, extension: str
) -> None:
    whole = tmp_path / f"whole.{extension}"
    audio.encode(whole, sine(440.0, 3.0, 44100, 2), 44100)
    content = whole.read_bytes()
    response = post_job(client, [(f"cut.{extension}", content[: len(content) // 3])])
    assert response.status_code == 415, response.text
    detail = response.json()["detail"]
    assert detail.startswith("the file is truncated: its ") and "header says 3.000 s of audio but only" in detail
    assert post_job(client, [(f"whole.{extension}", content)]).status_code == 201  # the whole file is fine


def test_each_kind_has_a_minimum_duration(client: TestClient, settings: Settings, tmp_path: Path) -> None:
    assert all(spec.min_duration_seconds > 0 for spec in KINDS.values())
    short = write_wav(tmp_path / "short.wav", sine(440.0, 0.5, 16000), 16000)
    response = client.post(
        "/api/v1/jobs",
        data={"kind": "extract_speaker"},
        files=[("file", ("talk.wav", short.read_bytes())), ("file", ("voice.wav", short.read_bytes()))],
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == (
        "talk.wav holds only 0.5000 s of audio (8000 samples); extract_speaker jobs need at least 1 s"
    )
    assert_nothing_stored(client, settings)


def test_a_wav_with_the_wrong_extension_is_accepted(client: TestClient, tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "x.wav", sine(330.0, 1.0, 22050), 22050)
    response = post_job(client, [("actually-a-wav.xyz", wav.read_bytes())])
    assert response.status_code == 201, response.text
    assert response.json()["inputs"][0]["sample_rate"] == 22050


def test_oversize_upload_is_413(client: TestClient, settings: Settings) -> None:
    too_big = b"\0" * (settings.max_upload_bytes + 1)
    response = post_job(client, [("big.wav", too_big)])
    assert response.status_code == 413, response.text
    assert "limit" in response.json()["detail"]
    huge = b"\0" * (settings.max_upload_bytes + 200_000)  # refused before the body is read
    response = post_job(client, [("huge.wav", huge)])
    assert response.status_code == 413
    assert_nothing_stored(client, settings)


@pytest.mark.parametrize(
    ("kind", "params", "needle"),
    [
        ("no_such_kind", None, "is not a job kind"),
        ("test_copy", "{not json", "JSON"),
        ("test_copy", "[1, 2]", "JSON object"),
        ("test_copy", '{"gain": 99}', "gain"),
        ("test_copy", '{"surprise": 1}', "surprise"),
        ("separate", '{"shifts": -1}', "shifts"),
        ("separate", '{"output_format": "wma"}', "output_format"),
        ("separate", '{"model": "../../etc/passwd"}', "model"),
        ("separate", '{"two_stems": "kazoo"}', "two_stems"),
        ("separate", '{"overlap": 1.5}', "overlap"),
    ],
)
def test_bad_parameters_are_422(
    client: TestClient, settings: Settings, good_mp3: Path, kind: str, params: str | None, needle: str
) -> None:
    response = post_job(client, [("good.mp3", good_mp3.read_bytes())], kind=kind, params=params)
    assert response.status_code == 422, response.text
    assert needle in json.dumps(response.json()["detail"])
    assert_nothing_stored(client, settings)


def test_wrong_number_of_files_is_422(client: TestClient, settings: Settings, good_mp3: Path) -> None:
    content = good_mp3.read_bytes()
    response = post_job(client, [("a.mp3", content), ("b.mp3", content)])
    assert response.status_code == 422 and "takes 1 file" in response.json()["detail"]
    response = client.post("/api/v1/jobs", data={"kind": "test_copy"})
    assert response.status_code == 422
    assert_nothing_stored(client, settings)


def test_a_bad_upload_does_not_touch_existing_jobs(client: TestClient, settings: Settings, good_mp3: Path) -> None:
    from tests.conftest import wait_for

    ok = post_job(client, [("good.mp3", good_mp3.read_bytes())]).json()
    wait_for(client, ok["id"], {"completed"})
    before = stored_files(settings)
    assert post_job(client, [("bad.mp3", b"nope" * 100)]).status_code == 415
    assert post_job(client, [("good.mp3", good_mp3.read_bytes())], params='{"gain": -1}').status_code == 422
    assert stored_files(settings) == before
    assert client.get(f"/api/v1/jobs/{ok['id']}/outputs/copy").status_code == 200


@pytest.mark.parametrize("name", ["../../etc/passwd", "a\x00b.mp3", "x" * 1000 + ".mp3", "..", "C:\\evil\\song.mp3"])
def test_odd_filenames_become_safe_display_names(client: TestClient, good_mp3: Path, name: str) -> None:
    response = post_job(client, [(name, good_mp3.read_bytes())])
    assert response.status_code == 201, response.text
    filename = response.json()["inputs"][0]["filename"]
    assert "/" not in filename and "\\" not in filename and "\x00" not in filename
    assert not filename.startswith(".") and len(filename.encode()) <= 200
