"""The per-user live feed: /api/v1/events and seed 001's /ws/processing/."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse, WebSocketTestSession

from audiomill.accounts import service as accounts
from audiomill.api.app import create_app
from audiomill.api.feed import event_type
from audiomill.api.schemas import JobPublic
from audiomill.config import Settings
from tests.audio_samples import sine, write_wav
from tests.conftest import BASE_URL, WS_BASE_URL, wait_for

TERMINAL = {"job.completed", "job.failed", "job.cancelled"}


@pytest.fixture
def tone_wav(tmp_path: Path) -> Path:
    return write_wav(tmp_path / "tone.wav", sine(440.0, 0.5, 22050), 22050)


def submit(client: TestClient, path: Path, kind: str, params: dict[str, Any], headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    with path.open("rb") as handle:
        response = client.post(
            "/api/v1/jobs",
            data={"kind": kind, "params": json.dumps(params)},
            files={"file": (path.name, handle, "audio/wav")},
            headers=headers or {},
        )
    assert response.status_code == 201, response.text
    return response.json()


def events_until_end(ws: WebSocketTestSession, job_id: str) -> list[dict[str, Any]]:
    """This job's events until its end (events of other jobs of the same user are kept out)."""
    seen = []
    while True:
        event = ws.receive_json()
        assert set(event) >= {"type", "job"}, event
        if event["job"]["id"] != job_id:
            continue
        seen.append(event)
        if event["type"] in TERMINAL:
            return seen


def test_feed_streams_a_jobs_life_as_typed_events(client: TestClient, tone_wav: Path) -> None:
    with client.websocket_connect(f"{WS_BASE_URL}/api/v1/events") as ws:
        job = submit(client, tone_wav, "test_slow", {"seconds": 1.6})
        events = events_until_end(ws, job["id"])
    types = [e["type"] for e in events]
    # created and started are two events unless the hub heard both within one look
    assert types[0] in {"job.created", "job.started"} and "job.started" in types, types
    assert types[-1] == "job.completed" and types.count("job.started") == 1, types
    progress = [e["job"]["progress"] for e in events if e["type"] == "job.progress"]
    assert len(progress) >= 2 and progress == sorted(progress), types
    assert all(e["job"]["status"] == "processing" for e in events if e["type"] == "job.progress")
    # The event carries the job as read when it is sent: on a busy machine the engine may
    # already have reported its first stage by then.
    assert next(e for e in events if e["type"] == "job.started")["job"]["status"] == "processing"
    # the event's job is the same JSON as GET /api/v1/jobs/{id}
    final = client.get(f"/api/v1/jobs/{job['id']}").json()
    assert events[-1]["job"] == final
    assert final["outputs"][0]["name"] == "report"
    JobPublic.model_validate(events[1]["job"])  # every event's job parses as the documented model


def test_feed_reports_failures_cancels_and_deletes(client: TestClient, tone_wav: Path) -> None:
    with client.websocket_connect(f"{WS_BASE_URL}/api/v1/events") as ws:
        broken = submit(client, tone_wav, "test_raises_in_run", {})
        failed = events_until_end(ws, broken["id"])
        slow = submit(client, tone_wav, "test_slow", {"seconds": 30})
        wait_for(client, slow["id"], {"processing"})
        assert client.post(f"/api/v1/jobs/{slow['id']}/cancel").status_code == 200
        cancelled = events_until_end(ws, slow["id"])
        assert client.delete(f"/api/v1/jobs/{broken['id']}").status_code == 204
        deleted = ws.receive_json()
        while deleted["job"]["id"] != broken["id"]:
            deleted = ws.receive_json()
    assert failed[-1]["type"] == "job.failed" and "divided by zero" in failed[-1]["job"]["error"]
    assert cancelled[-1]["type"] == "job.cancelled" and cancelled[-1]["job"]["status"] == "cancelled"
    assert deleted["type"] == "job.deleted" and deleted["job"]["status"] == "failed"


def test_seed_001_processing_socket_adds_the_integer_file_id(client: TestClient, tone_wav: Path) -> None:
    with client.websocket_connect(f"{WS_BASE_URL}/ws/processing/") as ws:
        job = submit(client, tone_wav, "test_copy", {})
        events = events_until_end(ws, job["id"])
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    from audiomill.jobs import service

    with runtime.db.session() as session:
        number = service.get_job(session, None, job["id"]).id
    assert events[-1]["type"] == "job.completed"
    assert {e["file_id"] for e in events} == {number}


@pytest.fixture
def required_client(settings: Settings, fixture_kinds: None) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"auth": "required"})), base_url=BASE_URL) as client:
        yield client


def _user_key(client: TestClient, name: str) -> dict[str, str]:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    with runtime.db.session() as session:
        user = accounts.create_user(session, name, "password-" + name)
        return {"Authorization": f"Bearer {accounts.create_api_key(session, user, 'test').secret}"}


def test_another_users_jobs_never_reach_you(required_client: TestClient, tone_wav: Path) -> None:
    client = required_client
    alice, bob = _user_key(client, "alice"), _user_key(client, "bob")
    with pytest.raises(WebSocketDenialResponse) as denied:
        with client.websocket_connect(f"{WS_BASE_URL}/api/v1/events"):
            pass
    assert denied.value.status_code == 401
    with (
        client.websocket_connect(f"{WS_BASE_URL}/api/v1/events", headers=alice) as alice_ws,
        client.websocket_connect(f"{WS_BASE_URL}/ws/processing/", headers=bob) as bob_ws,
    ):
        alices = submit(client, tone_wav, "test_slow", {"seconds": 0.5}, alice)
        assert events_until_end(alice_ws, alices["id"])[-1]["type"] == "job.completed"
        bobs = submit(client, tone_wav, "test_copy", {}, bob)
        received = []
        while not received or received[-1]["type"] not in TERMINAL:
            received.append(bob_ws.receive_json())
        bob_ws.send_text('{"type": "ping"}')
        assert bob_ws.receive_json() == {"type": "pong"}  # and nothing else was waiting
    assert {e["job"]["id"] for e in received} == {bobs["id"]}, received


def test_a_cookie_session_listens_only_from_its_own_origin(required_client: TestClient, tone_wav: Path) -> None:
    client = required_client
    _user_key(client, "carol")
    assert client.post("/api/v1/auth/login", json={"username": "carol", "password": "password-carol"}).is_success
    with pytest.raises(WebSocketDenialResponse) as denied:
        with client.websocket_connect(f"{WS_BASE_URL}/api/v1/events", headers={"Origin": "http://evil.example"}):
            pass
    assert denied.value.status_code == 403 and "cross-origin" in denied.value.json()["detail"]
    with client.websocket_connect(f"{WS_BASE_URL}/api/v1/events", headers={"Origin": "http://127.0.0.1"}) as ws:
        job = submit(client, tone_wav, "test_copy", {}, {"X-CSRFToken": client.cookies["csrftoken"]})
        assert events_until_end(ws, job["id"])[-1]["type"] == "job.completed"


def test_feed_learns_from_the_database_what_another_process_did(
    client: TestClient, settings: Settings, tone_wav: Path
) -> None:
    """A job created, run and deleted by another process (its own event bus, which this one
    never hears) still reaches the socket: the hub reads the rows that changed."""
    from audiomill.jobs import service, states
    from audiomill.runtime import build_runtime

    other = build_runtime(settings, migrate=False)  # no executor: nothing runs it but this test
    local_user = client.get("/api/v1/auth/me").json()["id"]
    with client.websocket_connect(f"{WS_BASE_URL}/api/v1/events") as ws:
        with tone_wav.open("rb") as handle:
            job = service.create_job(other, local_user, "test_copy", {}, [service.Upload(handle, "tone.wav")])
        assert ws.receive_json()["type"] == "job.created"
        with other.db.session() as session:
            assert states.claim(session, job.id, "elsewhere/1")
        assert ws.receive_json()["type"] == "job.started"
        with other.db.session() as session:
            assert states.report_progress(session, job.id, 42.0, "halfway", "elsewhere/1")
        progress = ws.receive_json()
        assert progress["type"] == "job.progress" and progress["job"]["progress"] == 42.0
        assert progress["job"]["stage"] == "halfway" and progress["job"]["eta_seconds"] is not None
        with other.db.session() as session:
            assert states.complete(session, job.id, {"answer": 42}, "elsewhere/1")
        completed = ws.receive_json()
        assert completed["type"] == "job.completed" and completed["job"]["result"] == {"answer": 42}
        service.delete_job(other, local_user, job.uuid)
        deleted = ws.receive_json()
        assert deleted["type"] == "job.deleted" and deleted["job"]["id"] == job.uuid
    other.db.dispose()


def _job(status: str, progress: float = 0.0, stage: str = "queued") -> JobPublic:
    return JobPublic.model_validate(
        {
            "id": "j",
            "kind": "k",
            "status": status,
            "progress": progress,
            "stage": stage,
            "eta_seconds": None,
            "params": {},
            "result": {},
            "error": None,
            "attempts": 1,
            "created_at": "2026-01-01T00:00:00Z",
            "started_at": None,
            "finished_at": None,
            "inputs": [],
            "outputs": [],
            "archive_url": None,
        }
    )


def test_event_types_follow_the_state_machine() -> None:
    pending, started = _job("pending"), _job("processing", 0.0, "starting")
    working = _job("processing", 40.0, "working")
    assert event_type(None, pending) == "job.created"
    assert event_type(pending, started) == "job.started"
    assert event_type(started, working) == "job.progress"
    assert event_type(working, working) is None  # unchanged rows are not news
    assert event_type(working, _job("pending", 0.0, "requeued: worker died")) == "job.progress"
    assert event_type(working, _job("completed", 100.0, "done")) == "job.completed"
    assert event_type(pending, _job("cancelled", 0.0, "cancelled")) == "job.cancelled"
    assert event_type(None, _job("failed", 10.0, "failed")) == "job.failed"
    assert event_type(None, working, hint="progress") == "job.progress"
