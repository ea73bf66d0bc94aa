"""Seed 003 (BeatFlow) generation routes: generate, status, batch, /static/audio for owners."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from audiomill import audio
from audiomill.api.app import create_app
from audiomill.api.compat.beatflow_tasks import task_state
from audiomill.config import Settings
from audiomill.store.tables import Job
from tests.conftest import BASE_URL
from tests.test_auth import bearer, make_user


@pytest.fixture
def authed(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"auth": "required"})), base_url=BASE_URL) as client:
        yield client


def poll(
    client: TestClient, task_id: str, headers: dict[str, str], timeout_seconds: float = 120
) -> list[dict[str, Any]]:
    seen = []
    deadline = time.monotonic() + timeout_seconds
    while True:
        body = client.get(f"/api/ai/status/{task_id}", headers=headers).json()
        seen.append(body)
        if body["status"] in ("success", "failure") or time.monotonic() > deadline:
            return seen
        time.sleep(0.05)


def test_generate_status_and_files_for_their_owner_only(authed: TestClient, tmp_path: Path) -> None:
    alice, bob = bearer(make_user(authed, "alice")), bearer(make_user(authed, "bob"))
    response = authed.post(
        "/api/ai/generate",
        headers=alice,
        json={"prompt": "Upbeat electronic dance music", "bpm": 128, "mood": "energetic", "duration": 5},
    )
    assert response.status_code == 200, response.text
    queued = response.json()
    assert set(queued) == {"task_id", "status", "message"} and queued["status"] == "pending"

    seen = poll(authed, queued["task_id"], alice)
    done = seen[-1]
    assert done["status"] == "success", done
    assert {s["status"] for s in seen} <= {"pending", "started", "progress", "success"}
    for step in seen:
        assert set(step) == {"task_id", "status", "result", "progress", "error"}
        if step["status"] == "progress":
            assert step["progress"]["total"] == 100 and 0 <= step["progress"]["current"] <= 100
            assert isinstance(step["progress"]["status"], str)
    result = done["result"]
    assert result["status"] == "success" and result["bpm"] == 128 and result["mood"] == "energetic"
    assert result["prompt"] == "Upbeat electronic dance music" and result["duration"] == 5
    assert isinstance(result["bpm"], int) and isinstance(result["duration"], int)
    assert result["file_path"].startswith("/static/audio/") and result["file_path"].endswith(".wav")
    assert result["preview_path"].startswith("/static/audio/") and result["preview_path"].endswith(".mp3")
    assert result["file_path"].endswith("/" + result["output_filename"])

    wav = authed.get(result["file_path"], headers=alice)
    assert wav.status_code == 200
    (tmp_path / "gen.wav").write_bytes(wav.content)
    samples, rate = audio.decode(tmp_path / "gen.wav")
    assert samples.shape[1] == 5 * rate
    preview = authed.get(result["preview_path"], headers=alice)
    assert preview.status_code == 200 and preview.headers["content-type"] == "audio/mpeg"
    for path in (result["file_path"], result["preview_path"], result["stems"]["drums"]):
        assert authed.get(path, headers=bob).status_code == 404  # not bob's
        assert authed.get(path).status_code == 401
    assert authed.get(f"/api/ai/status/{queued['task_id']}", headers=bob).status_code == 404
    assert authed.get("/static/audio/../../etc/passwd", headers=alice).status_code == 404


def test_batch_and_validation(client: TestClient) -> None:
    client.app.state.runtime.executor.stop()  # the jobs stay pending: this is about the shapes
    batch = client.post("/api/ai/batch-generate", json=[{"prompt": "lofi beat"}, {"prompt": "jazz", "bpm": 140}])
    assert batch.status_code == 200, batch.text
    body = batch.json()
    assert body["count"] == 2 and len(body["task_ids"]) == 2 and body["message"] == "Batch generation queued"
    for task_id in body["task_ids"]:
        status = client.get(f"/api/ai/status/{task_id}").json()
        assert status == {"task_id": task_id, "status": "pending", "result": None, "progress": None, "error": None}
    with client.app.state.runtime.db.session() as session:
        jobs = session.query(Job).all()
        assert sorted(j.params["bpm"] for j in jobs) == [120, 140]  # the seed's default bpm
        assert {j.params["duration_seconds"] for j in jobs} == {15}  # and duration
    for bad in (
        {"prompt": "x", "bpm": 59},
        {"prompt": "x", "bpm": 301},
        {"prompt": "x", "duration": 31},
        {"prompt": "x", "duration": 4},
        {"bpm": 120},
        {"prompt": ""},
        {"prompt": "x", "repo_id": "nope"},
    ):
        assert client.post("/api/ai/generate", json=bad).status_code == 422, bad
    assert client.post("/api/ai/batch-generate", json=[{"prompt": "x"}] * 17).status_code == 422
    assert client.post("/api/ai/batch-generate", json=[{"prompt": "ok"}, {"prompt": "x", "bpm": 10}]).status_code == 422
    assert client.get("/api/ai/status/0b7c1f38-0000-4000-8000-000000000000").status_code == 404
    repo = "0b7c1f38-0000-4000-8000-00000000000a"
    made = client.post("/api/ai/generate", json={"prompt": "x", "repo_id": repo}).json()
    with client.app.state.runtime.db.session() as session:
        job = session.query(Job).filter(Job.uuid == made["task_id"]).one()
        assert job.params["repo_id"] == repo  # carried for the version-control routes


@pytest.mark.parametrize(
    ("status", "progress", "word"),
    [
        ("pending", 0.0, "pending"),
        ("processing", 0.0, "started"),
        ("processing", 12.0, "progress"),
        ("completed", 100.0, "success"),
        ("failed", 3.0, "failure"),
        ("cancelled", 3.0, "failure"),
    ],
)
def test_state_words(status: str, progress: float, word: str) -> None:
    assert task_state(Job(kind="separate", status=status, progress=progress)) == word
