"""The local executor's worker processes: engines run outside the API process, a worker
that dies costs only its job (one retry, then a failure naming the signal), models stay
warm, stop leaves no process behind, and the API process never imports torch."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from audiomill.api.app import create_app
from audiomill.config import Settings
from audiomill.engines import base as engines_base
from audiomill.jobs import service
from audiomill.jobs.executors.local import LocalExecutor, describe_exit
from audiomill.runtime import build_runtime
from tests.audio_samples import sine, write_wav
from tests.conftest import BASE_URL, wait_for
from tests.fixtures.engines.params import fixture_spec

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def tone_wav(tmp_path: Path) -> Path:
    return write_wav(tmp_path / "tone.wav", sine(440.0, 0.5, 22050), 22050)


def submit(client: TestClient, kind: str, path: Path, params: dict | None = None) -> dict:
    with path.open("rb") as handle:
        response = client.post(
            "/api/v1/jobs",
            data={"kind": kind, "params": json.dumps(params or {})},
            files={"file": (path.name, handle, "audio/wav")},
        )
    assert response.status_code == 201, response.text
    return response.json()


def wait_healthy_until(
    client: TestClient,
    job_id: str,
    statuses: set[str],
    timeout_seconds: float = 90.0,
) -> dict:
    """Poll the job and /health together: the API must answer throughout."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        assert client.get("/health").status_code == 200
        body = client.get(f"/api/v1/jobs/{job_id}").json()
        if body["status"] in statuses:
            return body
        assert time.monotonic() < deadline, f"job {job_id} still {body['status']}: {body}"
        time.sleep(0.05)


def alive(pid: int) -> bool:
    """Running (a zombie nobody reaped yet has exited: it counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def test_exit_descriptions_name_the_signal() -> None:
    assert describe_exit(-6) == "SIGABRT (signal 6)"
    assert describe_exit(-9) == "SIGKILL (signal 9)"
    assert describe_exit(-11) == "SIGSEGV (signal 11)"
    assert describe_exit(3) == "exit code 3"


def test_an_aborting_engine_fails_its_job_after_one_retry_and_the_service_carries_on(
    client: TestClient,
    tone_wav: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO")
    executor = client.app.state.runtime.executor
    job = submit(client, "test_aborts", tone_wav)
    failed = wait_healthy_until(client, job["id"], {"failed", "completed"})
    assert failed["status"] == "failed" and failed["attempts"] == 2, failed
    assert failed["error"] == "worker process died: SIGABRT (signal 6)"
    assert failed["outputs"] == []
    # Exactly one retry, logged with its reason.
    retries = [r for r in caplog.records if getattr(r, "event", None) == "retried" and r.job_id == job["id"]]
    assert len(retries) == 1 and "SIGABRT" in retries[0].getMessage()
    # The next job completes, in a freshly spawned worker.
    ok = submit(client, "test_copy", tone_wav)
    assert wait_healthy_until(client, ok["id"], {"completed", "failed"})["status"] == "completed"
    assert len(executor.worker_pids()) == 2


def test_a_worker_killed_mid_run_costs_only_its_job(client: TestClient, tone_wav: Path) -> None:
    executor = client.app.state.runtime.executor
    job = submit(client, "test_slow", tone_wav, {"seconds": 30})
    for attempt in (1, 2):
        running = wait_healthy_until(client, job["id"], {"processing"})
        while running["attempts"] != attempt or running["progress"] <= 0:
            running = wait_healthy_until(client, job["id"], {"processing"})
        (pid,) = [pid for pid, jobs in executor.running_jobs().items() if jobs]
        os.kill(pid, signal.SIGKILL)
        if attempt == 1:  # retried once, in another worker
            again = wait_healthy_until(client, job["id"], {"processing", "pending"})
            assert again["status"] in {"pending", "processing"}
    failed = wait_healthy_until(client, job["id"], {"failed", "completed"})
    assert failed["status"] == "failed" and failed["attempts"] == 2
    assert failed["error"] == "worker process died: SIGKILL (signal 9)"
    assert not alive(pid)
    ok = submit(client, "test_copy", tone_wav)
    assert wait_healthy_until(client, ok["id"], {"completed", "failed"})["status"] == "completed"


def test_models_stay_warm_between_jobs(
    settings: Settings, fixture_kinds: None, tone_wav: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Registered here, in the test process only: the executor hands the spec to its worker.
    monkeypatch.setitem(
        engines_base.KINDS,
        "test_counts_setup",
        fixture_spec("test_counts_setup", "tests.fixtures.engines.counts_setup"),
    )
    one_worker = settings.model_copy(update={"worker_concurrency": 1})
    with TestClient(create_app(one_worker), base_url=BASE_URL) as client:
        results = []
        for _ in range(2):
            job = submit(client, "test_counts_setup", tone_wav)
            done = wait_for(client, job["id"], {"completed", "failed"})
            assert done["status"] == "completed", done
            results.append(done["result"])
    assert results[0]["pid"] == results[1]["pid"] != os.getpid()  # one worker, not the API
    assert [r["setup_calls"] for r in results] == [1, 1]  # set up once for both jobs


def test_a_batching_kind_runs_several_jobs_in_one_worker(
    settings: Settings, fixture_kinds: None, tone_wav: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = fixture_spec("test_slow", "tests.fixtures.engines.slow")
    monkeypatch.setitem(engines_base.KINDS, "test_slow", dataclasses.replace(spec, batch_slots=2))
    one_worker = settings.model_copy(update={"worker_concurrency": 1})
    with TestClient(create_app(one_worker), base_url=BASE_URL) as client:
        executor = client.app.state.runtime.executor
        jobs = [submit(client, "test_slow", tone_wav, {"seconds": 3})["id"] for _ in range(3)]
        deadline = time.monotonic() + 60
        most_at_once = 0
        while time.monotonic() < deadline and most_at_once < 2:
            most_at_once = max([len(ids) for ids in executor.running_jobs().values()] + [most_at_once])
            time.sleep(0.02)
        assert most_at_once == 2  # two slots in the one worker, never three
        for job_id in jobs:
            assert wait_for(client, job_id, {"completed", "failed"})["status"] == "completed"


def test_stop_leaves_no_process_and_a_running_job_reruns_at_next_start(
    settings: Settings,
    fixture_kinds: None,
    tone_wav: Path,
) -> None:
    runtime = build_runtime(settings)
    with runtime.db.session() as session:
        owner = service.ensure_local_user(session).id
    executor = LocalExecutor(runtime, 2, stop_grace_seconds=0.5)
    runtime.executor = executor
    executor.start()
    with tone_wav.open("rb") as handle:
        job = service.create_job(runtime, owner, "test_slow", {"seconds": 60}, [service.Upload(handle, "t.wav")])
    deadline = time.monotonic() + 60
    while not any(executor.running_jobs().values()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    pids = executor.worker_pids()
    assert len(pids) == 2 and os.getpid() not in pids
    started = time.monotonic()
    executor.stop()
    assert time.monotonic() - started < 10
    assert not [pid for pid in pids if alive(pid)]
    with runtime.db.session() as session:
        assert service.get_job(session, None, job.uuid).status == "processing"  # left for recovery

    # The next start re-runs it (a short one this time).
    with runtime.db.session() as session:
        service.get_job(session, None, job.uuid).params = {"seconds": 0.1}
    again = LocalExecutor(runtime, 1)
    runtime.executor = again
    again.start()
    try:
        deadline = time.monotonic() + 60
        while True:
            with runtime.db.session() as session:
                row = service.get_job(session, None, job.uuid)
            if row.status in {"completed", "failed"}:
                break
            assert time.monotonic() < deadline, row.status
            time.sleep(0.05)
        assert row.status == "completed" and row.attempts == 2
    finally:
        pids = again.worker_pids()
        again.stop()
    assert not [pid for pid in pids if alive(pid)]


def test_the_api_process_never_imports_torch(tmp_path: Path, tone_wav: Path) -> None:
    # A fresh interpreter: this test process has torch loaded by other tests.
    script = textwrap.dedent(f"""
        import json, sys, time
        import audiomill.api.app as app_module
        from audiomill.config import Settings
        from fastapi.testclient import TestClient
        heavy = ("torch", "onnxruntime")
        assert not [m for m in heavy if m in sys.modules], "imported with the app"
        settings = Settings(data_dir={str(tmp_path / "data")!r}, worker_concurrency=1, rate_limit_per_minute=0)
        app = app_module.create_app(settings)
        assert not [m for m in heavy if m in sys.modules], "imported by create_app"
        with TestClient(app, base_url="http://127.0.0.1") as client:
            with open({str(tone_wav)!r}, "rb") as handle:
                response = client.post("/api/v1/jobs", data={{"kind": "test_copy", "params": "{{}}"}},
                                  files={{"file": ("t.wav", handle, "audio/wav")}})
            assert response.status_code == 201, response.text
            job = response.json()
            deadline = time.monotonic() + 90
            while client.get("/api/v1/jobs/" + job["id"]).json()["status"] not in ("completed", "failed"):
                assert time.monotonic() < deadline
                time.sleep(0.05)
            final = client.get("/api/v1/jobs/" + job["id"]).json()
            print(json.dumps({{"status": final["status"], "heavy": [m for m in heavy if m in sys.modules]}}))
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    # Kinds from other packages come from the environment, in the API and in its workers.
    env["AUDIOMILL_EXTRA_KINDS"] = json.dumps({"test_copy": "tests.fixtures.engines.copy_audio"})
    env.pop("AUDIOMILL_DEVICE", None)  # device selection (torch) happens in workers, if at all
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome == {"status": "completed", "heavy": []}


def test_workers_do_not_outlive_a_killed_service(tmp_path: Path) -> None:
    # The service process dies without stopping anything (kill -9): its workers notice
    # their pipe closing and exit instead of lingering as orphans.
    script = textwrap.dedent(f"""
        import time
        from audiomill.config import Settings
        from audiomill.jobs.executors.local import LocalExecutor
        from audiomill.runtime import build_runtime
        runtime = build_runtime(Settings(data_dir={str(tmp_path / "data")!r}))
        executor = LocalExecutor(runtime, 2)
        executor.start()
        print(" ".join(str(pid) for pid in executor.worker_pids()), flush=True)
        time.sleep(600)
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    service_process = subprocess.Popen(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert service_process.stdout is not None
        pids = [int(pid) for pid in service_process.stdout.readline().split()]
        assert len(pids) == 2
    finally:
        service_process.kill()
        service_process.wait()
    deadline = time.monotonic() + 60  # a worker still importing notices once it reads the pipe
    while [pid for pid in pids if alive(pid)]:
        assert time.monotonic() < deadline, [pid for pid in pids if alive(pid)]
        time.sleep(0.1)
