"""Bad input over /api/v1: every refusal is a JSON 4xx naming the problem, and nothing is left stored."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from audiomill.config import Settings
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
        ("no_such_kind", None, "unknown job kind"),
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
def test_bad_parameters_are_422(client: TestClient, settings: Settings, good_mp3: Path, kind: str, params: str | None, needle: str) -> None:
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
