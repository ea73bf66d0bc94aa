"""Seed 000 (Demucs separation API) end to end, on a tiny random-weight HTDemucs."""

from __future__ import annotations

import io
import os
import re
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from audiomill import audio
from audiomill.config import Settings
from tests.audio_samples import stereo_chords, write_mp3
from tests.outside_material import shared_file
from tests.conftest import stored_files, wait_for

SEED_DOCUMENT = "seeds/000_834f2fd134204783.txt"  # read through shared_file: absent beside a user's clone
STEMS = ["bass.mp3", "drums.mp3", "other.mp3", "vocals.mp3"]
SEED_FIELDS = {"job_id", "status", "filename", "created_at", "completed_at", "error", "download_url"}


@pytest.fixture
def song_mp3(tmp_path: Path) -> Path:
    return write_mp3(tmp_path / "song.mp3", stereo_chords(6.0), 44100)


def check_stems_zip(content: bytes, tmp_path: Path, expected_seconds: float) -> None:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert sorted(archive.namelist()) == STEMS
        for name in STEMS:
            path = tmp_path / f"stem-{name}"
            path.write_bytes(archive.read(name))
            samples, rate = audio.decode(path)
            assert rate == 44100  # the model's sample rate
            assert samples.shape[0] == 2
            assert abs(samples.shape[1] / rate - expected_seconds) < 0.06, (name, samples.shape)


def test_seed_flow_upload_poll_download(
    client: TestClient, tiny_htdemucs: Path, song_mp3: Path, tmp_path: Path
) -> None:
    assert client.get("/").status_code == 200
    with song_mp3.open("rb") as handle:
        response = client.post("/upload", files={"file": ("song.mp3", handle, "audio/mpeg")})
    assert response.status_code == 200, response.text
    job = response.json()
    assert set(job) == SEED_FIELDS
    assert job["status"] == "pending" or job["status"] == "processing"
    assert job["filename"] == "song.mp3" and job["download_url"] is None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", job["created_at"])

    done = wait_for(client, job["job_id"], {"completed", "failed"}, 120, path="/status/{id}")
    assert done["status"] == "completed", done
    assert done["download_url"] == f"/download/{job['job_id']}" and done["error"] is None
    assert done["completed_at"] is not None

    download = client.get(done["download_url"])
    assert download.status_code == 200
    assert download.headers["content-disposition"] == 'attachment; filename="song (stems).zip"'
    check_stems_zip(download.content, tmp_path, 6.0)
    head = client.head(done["download_url"])
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-disposition"] == download.headers["content-disposition"]

    listed = client.get("/jobs").json()
    assert [j["job_id"] for j in listed] == [job["job_id"]]
    assert set(listed[0]) == SEED_FIELDS

    deleted = client.delete(f"/job/{job['job_id']}")
    assert deleted.status_code == 200 and deleted.json()["job_id"] == job["job_id"]
    assert client.get(f"/status/{job['job_id']}").status_code == 404
    assert client.get(f"/download/{job['job_id']}").status_code == 404
    assert client.delete(f"/job/{job['job_id']}").status_code == 404
    assert client.get("/jobs").json() == []


def test_seed_download_before_completion_is_refused(client: TestClient, tiny_htdemucs: Path, song_mp3: Path) -> None:
    runtime = client.app.state.runtime
    runtime.executor.stop()  # nothing runs: the job stays pending
    with song_mp3.open("rb") as handle:
        job = client.post("/upload", files={"file": ("song.mp3", handle)}).json()
    response = client.get(f"/download/{job['job_id']}")
    assert response.status_code == 400 and "not completed" in response.json()["detail"]


def test_v1_separation_flow(client: TestClient, tiny_htdemucs: Path, song_mp3: Path, tmp_path: Path) -> None:
    with song_mp3.open("rb") as handle:
        response = client.post(
            "/api/v1/jobs",
            data={"kind": "separate", "params": '{"two_stems": "vocals", "output_format": "flac"}'},
            files={"file": ("song.mp3", handle)},
        )
    assert response.status_code == 201, response.text
    done = wait_for(client, response.json()["id"], {"completed", "failed"}, 120)
    assert done["status"] == "completed", done
    names = sorted(o["name"] for o in done["outputs"])
    assert names == ["no_vocals", "vocals"]
    for output in done["outputs"]:
        assert output["filename"].endswith(".flac") and output["sample_rate"] == 44100
        assert abs(output["duration_seconds"] - 6.0) < 0.06
    four = client.get(f"/api/v1/jobs/{done['id']}/archive")
    with zipfile.ZipFile(io.BytesIO(four.content)) as archive:
        assert sorted(archive.namelist()) == ["no_vocals.flac", "vocals.flac"]


@pytest.mark.no_demucs_weights
def test_missing_weights_are_refused_at_upload_with_where_to_put_them(
    client: TestClient, song_mp3: Path, settings: Settings
) -> None:
    # Downloads off and no weights: known at submission, so no job is created to fail later.
    with song_mp3.open("rb") as handle:
        response = client.post("/upload", files={"file": ("song.mp3", handle)})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert "htdemucs" in detail and str(settings.models_dir) in detail and "955717e8" in detail
    assert client.get("/api/v1/jobs").json()["count"] == 0


def _free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RuntimeError("no free port")


def _seed_example_client() -> str:
    text = shared_file(SEED_DOCUMENT).read_text()
    section = text[text.index("## Example Workflow") :]
    return section.split("```python", 1)[1].split("```", 1)[0]


@pytest.mark.slow
def test_seed_example_client_runs_unchanged_against_the_server(
    tmp_path: Path, tiny_htdemucs: Path, models_dir: Path
) -> None:
    code = _seed_example_client()  # first: skips before a server starts when the seed is absent
    port = _free_port(8000)
    env = {
        **os.environ,
        "AUDIOMILL_DATA_DIR": str(tmp_path / "data"),
        "AUDIOMILL_MODELS_DIR": str(models_dir),
        "AUDIOMILL_MODELS_DOWNLOAD": "false",
        "AUDIOMILL_PORT": str(port),
        "AUDIOMILL_TORCH_THREADS": "1",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "audiomill.cli", "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        _wait_until_serving(port, server)
        write_mp3(tmp_path / "song.mp3", stereo_chords(4.0), 44100)
        if port != 8000:  # only when 8000 is taken on this machine
            code = code.replace("localhost:8000", f"localhost:{port}")
        result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Download complete!" in result.stdout
        check_stems_zip((tmp_path / "separated_tracks.zip").read_bytes(), tmp_path, 4.0)
    finally:
        server.terminate()
        server.wait(timeout=20)


def _wait_until_serving(port: int, server: subprocess.Popen[bytes]) -> None:
    import urllib.request

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(server.stdout.read().decode() if server.stdout else "server exited")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("server did not start")


def test_bad_uploads_store_nothing(client: TestClient, settings: Settings, song_mp3: Path, tiny_htdemucs: Path) -> None:
    cases = {
        "empty.mp3": b"",
        "text.mp3": b"this is not audio at all\n" * 20,
        "truncated.mp3": song_mp3.read_bytes()[:300],
        "noise.xyz": os.urandom(4000),
    }
    for name, content in cases.items():
        response = client.post("/upload", files={"file": (name, content)})
        assert response.status_code == 415, (name, response.status_code, response.text)
        assert isinstance(response.json()["detail"], str) and response.json()["detail"]
    assert client.get("/jobs").json() == []
    assert stored_files(settings) == []
