"""The job core over /api/v1: lifecycle, failures, cancel, delete, listing, events, recovery."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from audiomill import audio
from audiomill.api.app import create_app
from audiomill.config import Settings
from audiomill.jobs import service, states
from audiomill.jobs.states import JobStatus
from audiomill.runtime import build_runtime
from audiomill.store.tables import Job
from tests.audio_samples import sine, write_wav
from tests.conftest import BASE_URL, WS_BASE_URL, stored_files, wait_for


# The same job tests on SQLite + the in-process executor and on PostgreSQL + Celery workers.
pytestmark = pytest.mark.parametrize("backend", ["local", "celery"], indirect=True)


@pytest.fixture
def tone_wav(tmp_path: Path) -> Path:
    return write_wav(tmp_path / "tone.wav", sine(440.0, 1.0, 44100, channels=2), 44100)


def submit(client: TestClient, kind: str, path: Path, params: dict | None = None) -> dict:
    with path.open("rb") as handle:
        response = client.post(
            "/api/v1/jobs",
            data={"kind": kind, "params": json.dumps(params or {})},
            files={"file": (path.name, handle, "application/octet-stream")},
        )
    assert response.status_code == 201, response.text
    return response.json()


def test_job_runs_to_completion_and_serves_its_output(client: TestClient, tone_wav: Path, tmp_path: Path) -> None:
    job = submit(client, "test_copy", tone_wav, {"gain": 0.5})
    assert job["status"] in {"pending", "processing", "completed"}
    assert job["inputs"][0]["filename"] == "tone.wav"
    assert job["inputs"][0]["sample_rate"] == 44100 and job["inputs"][0]["channels"] == 2
    done = wait_for(client, job["id"], {"completed", "failed"})
    assert done["status"] == "completed", done
    assert done["progress"] == 100.0 and done["attempts"] == 1
    assert done["result"] == {"frames": 44100, "sample_rate": 44100}
    (output,) = done["outputs"]
    assert output["name"] == "copy" and output["media_type"] == "audio/wav"

    response = client.get(output["url"])
    assert response.status_code == 200
    path = tmp_path / "copy.wav"
    path.write_bytes(response.content)
    copied, rate = audio.decode(path)
    original, _ = audio.decode(tone_wav)
    assert rate == 44100
    np.testing.assert_allclose(copied, original * 0.5, atol=2e-4)

    partial = client.get(output["url"], headers={"Range": "bytes=0-99"})
    assert partial.status_code == 206
    assert partial.content == response.content[:100]
    assert partial.headers["content-range"] == f"bytes 0-99/{len(response.content)}"


def test_failures_are_recorded_with_a_message(client: TestClient, tone_wav: Path) -> None:
    in_setup = submit(client, "test_raises_in_setup", tone_wav)
    in_run = submit(client, "test_raises_in_run", tone_wav)
    failed_setup = wait_for(client, in_setup["id"], {"failed", "completed"})
    failed_run = wait_for(client, in_run["id"], {"failed", "completed"})
    assert failed_setup["status"] == "failed"
    assert "fixture model weights missing" in failed_setup["error"]
    assert failed_run["status"] == "failed"
    assert failed_run["error"] == "internal error: ZeroDivisionError: fixture engine divided by zero"
    assert failed_run["outputs"] == [] and failed_run["archive_url"] is None
    # The service survives a crashing engine: the next job still runs.
    ok = submit(client, "test_copy", tone_wav)
    assert wait_for(client, ok["id"], {"completed", "failed"})["status"] == "completed"


def test_cancel_stops_a_running_job_and_keeps_no_output(client: TestClient, tone_wav: Path) -> None:
    job = submit(client, "test_slow", tone_wav, {"seconds": 30})
    running = wait_for(client, job["id"], {"processing"})
    deadline = time.monotonic() + 10
    while running["progress"] <= 0 and time.monotonic() < deadline:
        running = client.get(f"/api/v1/jobs/{job['id']}").json()
    assert running["progress"] > 0 and running["stage"] == "working"
    assert running["eta_seconds"] is not None and running["eta_seconds"] > 0
    started = time.monotonic()
    cancelled = client.post(f"/api/v1/jobs/{job['id']}/cancel").json()
    assert cancelled["status"] == "cancelled"
    # the worker notices and frees itself: a new job runs promptly on the 2 workers
    quick = [submit(client, "test_copy", tone_wav) for _ in range(2)]
    for q in quick:
        assert wait_for(client, q["id"], {"completed"}, timeout_seconds=10)["status"] == "completed"
    assert time.monotonic() - started < 10
    final = client.get(f"/api/v1/jobs/{job['id']}").json()
    assert final["status"] == "cancelled" and final["outputs"] == []
    # cancelling an ended job changes nothing, and says so
    again = client.post(f"/api/v1/jobs/{job['id']}/cancel")
    assert again.status_code == 409
    assert "already ended (status: cancelled)" in again.json()["detail"]
    # nothing to download from a cancelled job, and no "yet" about it
    archive = client.get(f"/api/v1/jobs/{job['id']}/archive")
    assert archive.status_code == 409 and archive.json()["detail"].endswith("has no outputs: it was cancelled")


def test_cancelling_a_completed_job_is_a_conflict_naming_its_status(client: TestClient, tone_wav: Path) -> None:
    job = submit(client, "test_copy", tone_wav)
    wait_for(client, job["id"], {"completed"})
    response = client.post(f"/api/v1/jobs/{job['id']}/cancel")
    assert response.status_code == 409
    assert response.json()["detail"] == (
        f"job {job['id']} has already ended (status: completed); only pending or processing jobs can be cancelled"
    )
    assert client.get(f"/api/v1/jobs/{job['id']}").json()["status"] == "completed"


def test_listing_every_users_jobs_is_refused_to_a_non_admin(client: TestClient) -> None:
    response = client.get("/api/v1/jobs", params={"all": "true"})
    assert response.status_code == 403
    assert "admins only" in response.json()["detail"]
    assert client.get("/api/v1/jobs", params={"all": "false"}).status_code == 200


def test_delete_removes_files_but_keeps_shared_blobs(client: TestClient, settings: Settings, tone_wav: Path) -> None:
    first = submit(client, "test_copy", tone_wav, {"gain": 0.5})
    second = submit(client, "test_copy", tone_wav, {"gain": 0.5})  # same bytes: one blob for both inputs
    for job in (first, second):
        wait_for(client, job["id"], {"completed"})
    # input + output are shared by content, so two blobs serve both jobs
    assert len(stored_files(settings)) == 2
    assert client.delete(f"/api/v1/jobs/{first['id']}").status_code == 204
    assert client.get(f"/api/v1/jobs/{first['id']}").status_code == 404
    assert len(stored_files(settings)) == 2
    out = client.get(f"/api/v1/jobs/{second['id']}/outputs/copy")
    assert out.status_code == 200 and len(out.content) > 1000
    assert client.delete(f"/api/v1/jobs/{second['id']}").status_code == 204
    assert stored_files(settings) == []


def test_list_filters_and_paginates(client: TestClient, tone_wav: Path) -> None:
    ids = [submit(client, "test_copy", tone_wav)["id"] for _ in range(3)]
    failing = submit(client, "test_raises_in_run", tone_wav)["id"]
    for job_id in ids + [failing]:
        wait_for(client, job_id, {"completed", "failed"})
    page = client.get("/api/v1/jobs", params={"limit": 2}).json()
    assert page["count"] == 4 and len(page["data"]) == 2
    rest = client.get("/api/v1/jobs", params={"limit": 2, "offset": 2}).json()
    assert {j["id"] for j in page["data"] + rest["data"]} == set(ids + [failing])
    assert client.get("/api/v1/jobs", params={"status": "failed"}).json()["count"] == 1
    assert client.get("/api/v1/jobs", params={"kind": "test_copy"}).json()["count"] == 3
    assert client.get("/api/v1/jobs", params={"status": "bogus"}).status_code == 422
    assert client.get("/api/v1/jobs", params={"limit": 0}).status_code == 422


def test_archive_zips_all_outputs(client: TestClient, tone_wav: Path) -> None:
    import io
    import zipfile

    job = submit(client, "test_copy", tone_wav)
    wait_for(client, job["id"], {"completed"})
    response = client.get(f"/api/v1/jobs/{job['id']}/archive")
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    # named after the upload, not the job's uuid
    assert response.headers["content-disposition"] == 'attachment; filename="tone (test copy).zip"'
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.namelist() == ["copy.wav"]


def test_head_answers_wherever_get_serves_a_file(client: TestClient, tone_wav: Path) -> None:
    job = submit(client, "test_copy", tone_wav)
    done = wait_for(client, job["id"], {"completed"})
    (output,) = done["outputs"]
    for url in (output["url"], done["archive_url"]):
        got, head = client.get(url), client.head(url)
        assert head.status_code == 200, (url, head.text)
        assert head.content == b""
        for header in ("content-type", "content-length", "content-disposition"):
            assert head.headers[header] == got.headers[header], (url, header)
        assert int(head.headers["content-length"]) == len(got.content)


def test_non_ascii_upload_names_reach_the_download_intact(client: TestClient, tmp_path: Path) -> None:
    path = write_wav(tmp_path / "Björk: Jóga?.wav", sine(440.0, 1.0, 44100), 44100)
    job = submit(client, "test_copy", path)
    wait_for(client, job["id"], {"completed"})
    disposition = client.get(f"/api/v1/jobs/{job['id']}/archive").headers["content-disposition"]
    # an ASCII fallback for old clients, the exact (safe) name as RFC 5987 filename*
    assert disposition == (
        'attachment; filename="Bj_rk_ J_ga_ (test copy).zip"; '
        "filename*=UTF-8''Bj%C3%B6rk_%20J%C3%B3ga_%20%28test%20copy%29.zip"
    )


def test_websocket_streams_progress_until_the_end(client: TestClient, tone_wav: Path) -> None:
    job = submit(client, "test_slow", tone_wav, {"seconds": 1.5})
    events = []
    with client.websocket_connect(f"{WS_BASE_URL}/api/v1/jobs/{job['id']}/events") as ws:
        while True:
            event = ws.receive_json()
            events.append(event)
            if event["status"] in {"completed", "failed", "cancelled"}:
                break
    assert events[-1]["status"] == "completed"
    progress = [e["progress"] for e in events if e["status"] == "processing"]
    assert len(progress) >= 2 and progress == sorted(progress)


def test_websocket_for_unknown_job_is_refused(client: TestClient) -> None:
    from starlette.testclient import WebSocketDenialResponse

    with pytest.raises(WebSocketDenialResponse) as denied:
        with client.websocket_connect(f"{WS_BASE_URL}/api/v1/jobs/nope/events"):
            pass
    assert denied.value.status_code == 404


def test_state_machine_allows_only_its_transitions(settings: Settings) -> None:
    runtime = build_runtime(settings)
    with runtime.db.session() as session:
        user = service.ensure_local_user(session)
        job = Job(kind="test_copy", owner_id=user.id, params={})
        session.add(job)
        session.flush()
        assert not states.complete(session, job.id, {})  # pending cannot complete
        assert states.claim(session, job.id, "worker-a/1")
        assert not states.claim(session, job.id, "worker-b/1")  # a second worker loses the race
        assert states.report_progress(session, job.id, 50.0, "half", "worker-a/1")
        assert not states.report_progress(session, job.id, 60.0, "not mine", "worker-b/1")
        assert not states.complete(session, job.id, {"ok": False}, "worker-b/1")  # only the holder ends it
        assert states.complete(session, job.id, {"ok": True}, "worker-a/1")
        for transition in (states.cancel, lambda s, i: states.fail(s, i, "x"), lambda s, i: states.requeue(s, i, "x")):
            assert not transition(session, job.id)  # completed is terminal
        assert not states.report_progress(session, job.id, 10.0, "late")
        session.commit()
        session.refresh(job)
        assert job.status == JobStatus.completed
    assert all(s.is_terminal for s in (JobStatus.completed, JobStatus.failed, JobStatus.cancelled))


def test_jobs_left_processing_by_a_crash_are_rerun_at_start(
    settings: Settings, fixture_kinds: None, tone_wav: Path
) -> None:
    # A first service stores the job and "crashes" right after a worker claimed it.
    runtime = build_runtime(settings)
    with tone_wav.open("rb") as handle:
        job = service.create_job(
            runtime, _local_user_id(runtime), "test_copy", {}, [service.Upload(handle, "tone.wav")]
        )
    with runtime.db.session() as session:
        assert states.claim(session, job.id, "crashed-worker/1")
    runtime.db.dispose()

    with TestClient(create_app(settings), base_url=BASE_URL) as client:
        done = wait_for(client, job.uuid, {"completed", "failed"})
    assert done["status"] == "completed" and done["attempts"] == 2


def _local_user_id(runtime) -> int:  # type: ignore[no-untyped-def]
    with runtime.db.session() as session:
        return service.ensure_local_user(session).id


def test_concurrent_status_polls_while_jobs_run(client: TestClient, tone_wav: Path) -> None:
    jobs = [submit(client, "test_slow", tone_wav, {"seconds": 0.5})["id"] for _ in range(4)]
    errors: list[str] = []

    def poll() -> None:
        for _ in range(40):
            for job_id in jobs:
                response = client.get(f"/api/v1/jobs/{job_id}")
                if response.status_code != 200:
                    errors.append(response.text)

    threads = [threading.Thread(target=poll) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for job_id in jobs:
        assert wait_for(client, job_id, {"completed"})["status"] == "completed"


def test_health_and_docs(client: TestClient) -> None:
    health = client.get("/health").json()
    assert health["status"] == "healthy" and health["database"] in {"sqlite", "postgresql"}
    assert client.get("/docs").status_code == 200
    assert client.get("/redoc").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/api/v1/jobs" in spec["paths"] and "/upload" in spec["paths"]


def test_unknown_ids_are_404_json(client: TestClient) -> None:
    for method, path in [
        ("get", "/api/v1/jobs/00000000-0000-0000-0000-000000000000"),
        ("post", "/api/v1/jobs/nope/cancel"),
        ("delete", "/api/v1/jobs/nope"),
        ("get", "/api/v1/jobs/nope/outputs/vocals"),
        ("get", "/api/v1/jobs/nope/archive"),
    ]:
        response = getattr(client, method)(path)
        assert response.status_code == 404, (path, response.text)
        assert "not found" in response.json()["detail"]


def test_unfinished_job_has_no_outputs_to_download(client: TestClient, tone_wav: Path) -> None:
    job = submit(client, "test_slow", tone_wav, {"seconds": 5})
    for url in (f"/api/v1/jobs/{job['id']}/outputs/report", f"/api/v1/jobs/{job['id']}/archive"):
        response = client.get(url)
        # not a 404 like an unknown job: it exists, it is not finished
        assert response.status_code == 409, response.text
        assert f"job {job['id']} is not finished (status: " in response.json()["detail"]
    client.post(f"/api/v1/jobs/{job['id']}/cancel")


def test_job_rows_are_the_truth(settings: Settings, client: TestClient, tone_wav: Path) -> None:
    job = submit(client, "test_copy", tone_wav)
    wait_for(client, job["id"], {"completed"})
    runtime = client.app.state.runtime
    with runtime.db.session() as session:
        row = session.scalar(select(Job).where(Job.uuid == job["id"]))
        assert row.status == "completed" and row.finished_at is not None


def test_a_silent_attempt_is_requeued_and_cannot_finish_after_its_replacement(
    settings: Settings, fixture_kinds: None, tone_wav: Path, backend: str
) -> None:
    if backend == "celery":
        pytest.skip("drives the reaper by hand; with live workers theirs would race it (test_scaleout covers that)")
    from datetime import timedelta

    from audiomill.jobs.reaper import reap
    from audiomill.store.tables import utc_now

    runtime = build_runtime(settings.model_copy(update={"worker_silence_seconds": 60}))
    with tone_wav.open("rb") as handle:
        job = service.create_job(
            runtime, _local_user_id(runtime), "test_copy", {}, [service.Upload(handle, "tone.wav")]
        )
    with runtime.db.session() as session:
        assert states.claim(session, job.id, "dead-worker/1")
    assert reap(runtime) == []  # it heartbeat just now: alive
    with runtime.db.session() as session:
        session.get(Job, job.id).heartbeat_at = utc_now() - timedelta(seconds=120)
    assert reap(runtime) == [job.id]  # silent for 2 minutes: back to pending, submitted again
    with runtime.db.session() as session:
        row = session.get(Job, job.id)
        assert row.status == "pending" and row.attempt_token is None and row.enqueued_at is None
        assert states.claim(session, job.id, "new-worker/2")
        # the old attempt wakes up: it can neither report nor finish
        assert not states.heartbeat(session, job.id, "dead-worker/1")
        assert not states.fail(session, job.id, "zombie", "dead-worker/1")
        assert states.complete(session, job.id, {}, "new-worker/2")


def test_a_job_never_handed_to_the_executor_is_submitted_by_the_reaper(
    settings: Settings, fixture_kinds: None, tone_wav: Path, backend: str
) -> None:
    if backend == "celery":
        pytest.skip("drives the reaper by hand; with live workers theirs would race it (test_scaleout covers that)")
    from datetime import timedelta

    from audiomill.jobs.reaper import reap
    from audiomill.store.tables import utc_now

    runtime = build_runtime(settings)  # no executor: the row is written, nothing enqueued
    with tone_wav.open("rb") as handle:
        job = service.create_job(
            runtime, _local_user_id(runtime), "test_copy", {}, [service.Upload(handle, "tone.wav")]
        )
    with runtime.db.session() as session:
        session.get(Job, job.id).updated_at = utc_now() - timedelta(seconds=30)

    submitted: list[tuple[int, str]] = []

    class Recorder:
        def start(self) -> None: ...
        def stop(self) -> None: ...
        def submit(self, job_id: int, kind: str) -> None:
            submitted.append((job_id, kind))

    runtime.executor = Recorder()
    assert reap(runtime) == [job.id] and submitted == [(job.id, "test_copy")]
    assert reap(runtime) == []  # enqueued now: not submitted twice


def test_metrics_count_the_workers_that_run_jobs(client: TestClient, backend: str) -> None:
    text = client.get("/metrics").text
    # two workers either way: the local executor's pool in this process, or two Celery
    # workers heartbeating into the database
    assert "audiomill_workers_live 2.0" in text, text
