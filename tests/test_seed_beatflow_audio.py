"""Seed 003 (BeatFlow) audio routes: upload/download, analyze-audio, separate-stems,
hum-to-beat; file_path accepts only the caller's own handed-out URLs."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from audiomill import audio
from audiomill.api.app import create_app
from audiomill.config import Settings
from tests.conftest import BASE_URL
from tests.hum_samples import SAMPLE_RATE, melody_on_grid, render_hum
from tests.music_renders import STYLES, SongSpec, render_song
from tests.test_auth import bearer, make_user

pytest.importorskip("tinysoundfont", reason="tinysoundfont renders the test songs")


@pytest.fixture
def authed(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"auth": "required"})), base_url=BASE_URL) as client:
        yield client


@pytest.fixture(scope="module")
def song_wav(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("song") / "song.wav"
    audio.encode(path, render_song(SongSpec(9, "minor", 120.0, 4, 6, STYLES[1], seed=1)), 44100)
    return path.read_bytes()


def poll(client: TestClient, task_id: str, headers: dict[str, str], timeout_seconds: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_seconds
    while True:
        body = client.get(f"/api/ai/status/{task_id}", headers=headers).json()
        if body["status"] in ("success", "failure") or time.monotonic() > deadline:
            return body
        time.sleep(0.1)


def test_upload_download_and_analyze(authed: TestClient, song_wav: bytes) -> None:
    alice, bob = bearer(make_user(authed, "alice")), bearer(make_user(authed, "bob"))
    uploaded = authed.post(
        "/api/audio/upload", headers=alice, files={"file": ("My Song.wav", song_wav, "application/octet-stream")}
    )
    assert uploaded.status_code == 200, uploaded.text
    body = uploaded.json()
    assert set(body) == {"filename", "path", "size"}
    assert body["filename"] == "upload_My Song.wav" and body["size"] == len(song_wav)
    assert body["path"].startswith("/static/audio/") and body["path"].endswith("/upload_My%20Song.wav")

    download = authed.get("/api/audio/download/upload_My Song.wav", headers=alice)
    assert download.status_code == 200 and download.content == song_wav
    assert download.headers["content-type"] == "audio/wav"  # from the content, not the name
    assert authed.get(body["path"], headers=alice).content == song_wav  # the handed-out URL serves it
    for bad_name in ("upload_My Song.wav",):
        assert authed.get(f"/api/audio/download/{bad_name}", headers=bob).status_code == 404  # not bob's
    for bad_name in ("..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "nothing.wav", "gen_000000000000.wav"):
        assert authed.get(f"/api/audio/download/{bad_name}", headers=alice).status_code == 404, bad_name
    assert authed.get("/api/audio/download/upload_My Song.wav").status_code == 401

    for file_path in (body["path"], "/static/audio/upload_My Song.wav", "/static/audio/upload_My%20Song.wav"):
        analysed = authed.post("/api/ai/analyze-audio", headers=alice, params={"file_path": file_path})
        assert analysed.status_code == 200, analysed.text
        result = analysed.json()
        assert isinstance(result["bpm"], int) and abs(result["bpm"] - 120) <= 1
        assert result["key_signature"] == "A Minor"
        assert result["duration"] == pytest.approx(6 * 2.0 + 1.0, abs=0.05)
        assert result["time_signature"] == "4/4" and result["loudness"]["integrated_lufs"] < 0
        assert len(result["waveform"]["max"]) == 2000


@pytest.mark.parametrize(
    "file_path",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "/static/audio/../../../etc/passwd",
        "/static/audio/%2e%2e/%2e%2e/etc/passwd",
        "/static/audio/upload_nothing.wav",
        "C:\\Windows\\win.ini",
        "/media/uploads/x/not-a-uuid/a.wav",
        "",
    ],
)
def test_bad_file_paths_are_404(authed: TestClient, file_path: str) -> None:
    alice = bearer(make_user(authed, "alice"))
    assert authed.post("/api/ai/analyze-audio", headers=alice, params={"file_path": file_path}).status_code == 404
    assert authed.post("/api/ai/separate-stems", headers=alice, json={"file_path": file_path}).status_code == 404


def test_other_users_urls_are_404(authed: TestClient, song_wav: bytes) -> None:
    alice, bob = bearer(make_user(authed, "alice")), bearer(make_user(authed, "bob"))
    path = authed.post("/api/audio/upload", headers=alice, files={"file": ("a.wav", song_wav)}).json()["path"]
    assert authed.post("/api/ai/analyze-audio", headers=bob, params={"file_path": path}).status_code == 404
    assert (
        authed.post(
            "/api/ai/analyze-audio", headers=bob, params={"file_path": "/static/audio/upload_a.wav"}
        ).status_code
        == 404
    )
    assert authed.post("/api/ai/separate-stems", headers=bob, json={"file_path": path}).status_code == 404


def test_upload_refuses_what_is_not_audio(authed: TestClient) -> None:
    alice = bearer(make_user(authed, "alice"))
    response = authed.post("/api/audio/upload", headers=alice, files={"file": ("x.wav", b"not audio at all" * 10)})
    assert response.status_code == 415


def test_separate_stems_from_an_upload(authed: TestClient, song_wav: bytes, tiny_htdemucs: Path) -> None:
    alice = bearer(make_user(authed, "alice"))
    path = authed.post("/api/audio/upload", headers=alice, files={"file": ("song.wav", song_wav)}).json()["path"]
    queued = authed.post(
        "/api/ai/separate-stems", headers=alice, json={"file_path": path, "output_dir": "/tmp/ignored"}
    )
    assert queued.status_code == 200, queued.text
    assert set(queued.json()) == {"task_id", "status"} and queued.json()["status"] == "pending"
    done = poll(authed, queued.json()["task_id"], alice)
    assert done["status"] == "success", done
    result = done["result"]
    assert result["status"] == "success"
    assert set(result["stem_urls"]) == {"drums", "bass", "other", "vocals"}
    assert sorted(result["stem_files"]) == sorted(f"{n}.wav" for n in ("drums", "bass", "other", "vocals"))
    assert authed.get(result["stem_urls"]["drums"], headers=alice).status_code == 200
    assert authed.get(result["stems_path"], headers=alice).headers["content-type"] == "application/zip"


def test_hum_to_beat_route(authed: TestClient, tmp_path: Path) -> None:
    alice = bearer(make_user(authed, "alice"))
    truth = melody_on_grid(100, beats=8, seed=2, tonic=62)
    hum = tmp_path / "hum.wav"
    audio.encode(hum, render_hum(truth, seed=2)[None, :], SAMPLE_RATE)
    for bad in ({"bpm": 59}, {"bpm": 301}, {"mood": ""}):
        assert (
            authed.post(
                "/api/ai/hum-to-beat", headers=alice, params=bad, files={"file_upload": ("hum.wav", hum.read_bytes())}
            ).status_code
            == 422
        )
    assert authed.post("/api/ai/hum-to-beat", headers=alice).status_code == 422  # no file
    queued = authed.post(
        "/api/ai/hum-to-beat",
        headers=alice,
        params={"bpm": 100, "mood": "happy"},
        files={"file_upload": ("hum.wav", io.BytesIO(hum.read_bytes()))},
    )
    assert queued.status_code == 200, queued.text
    body = queued.json()
    assert set(body) == {"task_id", "status", "message"} and body["status"] == "pending"
    done = poll(authed, body["task_id"], alice)
    assert done["status"] == "success", done
    result = done["result"]
    assert result["bpm"] == 100 and result["mood"] == "happy" and result["key"]
    assert [n["pitch"] for n in result["notes"]] == [n.pitch for n in truth]
    assert result["file_path"].startswith("/static/audio/") and "melody" in result["stems"]
    assert authed.get(result["melody_midi_path"], headers=alice).status_code == 200
