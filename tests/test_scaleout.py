"""Scale-out on real services: PostgreSQL, Redis/RabbitMQ brokers, several worker
processes and API processes, with kill -9 and restarts. No job is lost or run twice."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from audiomill.config import Settings
from tests.audio_samples import sine, write_wav
from tests.conftest import FIXTURE_KINDS
from tests.scaleout import (
    RABBITMQ_URL,
    REDIS_URL,
    Processes,
    create_database,
    drop_database,
    flush_redis,
    free_port,
    job_rows,
    private_queues,
    require_services,
    settings_env,
    wait_for_workers,
)

BROKERS = {"redis": REDIS_URL, "rabbitmq": RABBITMQ_URL}


@pytest.fixture
def processes(tmp_path: Path):  # type: ignore[no-untyped-def]
    running = Processes(tmp_path)
    yield running
    running.stop_all()


def cluster_settings(tmp_path: Path, broker: str, request: pytest.FixtureRequest) -> Settings:
    require_services("postgres", "redis", "rabbitmq")
    url = create_database()
    request.addfinalizer(lambda: drop_database(url))
    flush_redis()
    if broker == "rabbitmq":
        _purge_rabbitmq_queues()
    return Settings(
        data_dir=tmp_path / "shared-data",
        database_url=url,
        executor="celery",
        broker_url=BROKERS[broker],
        events_url=REDIS_URL,
        heartbeat_interval_seconds=0.5,
        worker_silence_seconds=4.0,
        extra_kinds=FIXTURE_KINDS,
        models_download=False,
        device="cpu",
        torch_threads=1,
        rate_limit_per_minute=0,
        max_active_jobs_per_user=0,
        worker_concurrency=1,
        **private_queues(),
    )


def _purge_rabbitmq_queues() -> None:
    from kombu import Connection

    with Connection(RABBITMQ_URL) as connection:
        channel = connection.channel()
        for queue in ("gpu", "cpu"):  # left by runs before queues were private to a test
            try:
                channel.queue_purge(queue)
            except Exception:  # not declared
                channel = connection.channel()


def submit_many(base_url: str, tone: Path, count: int, seconds: float) -> list[str]:
    ids = []
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for _ in range(count):
            with tone.open("rb") as handle:
                response = client.post(
                    "/api/v1/jobs",
                    data={"kind": "test_slow", "params": f'{{"seconds": {seconds}}}'},
                    files={"file": ("tone.wav", handle)},
                )
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
    return ids


def wait_all_ended(base_url: str, ids: list[str], timeout_seconds: float) -> dict[str, dict]:
    deadline = time.monotonic() + timeout_seconds
    with httpx.Client(base_url=base_url, timeout=30) as client:
        while True:
            jobs = {job_id: client.get(f"/api/v1/jobs/{job_id}").json() for job_id in ids}
            if all(j["status"] in {"completed", "failed", "cancelled"} for j in jobs.values()):
                return jobs
            if time.monotonic() > deadline:
                raise AssertionError({k: v["status"] for k, v in jobs.items()})
            time.sleep(0.3)


@pytest.fixture
def tone(tmp_path: Path) -> Path:
    return write_wav(tmp_path / "tone.wav", sine(440.0, 0.5, 16000), 16000)


def assert_each_completed_once(settings: Settings, ids: list[str]) -> list[dict]:
    rows = [r for r in job_rows(settings) if r["uuid"] in ids]
    assert len(rows) == len(ids)
    for row in rows:
        assert row["status"] == "completed", row
        assert len(row["outputs"]) == 1, row  # one output set: never two attempts' outputs mixed
    return rows


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_two_workers_complete_twenty_jobs_each_exactly_once(
    tmp_path: Path, tone: Path, processes: Processes, broker: str, request: pytest.FixtureRequest
) -> None:
    settings = cluster_settings(tmp_path, broker, request)
    env = settings_env(settings)
    port = free_port()
    processes.server(env, port)
    processes.worker(env, "worker-1")
    processes.worker(env, "worker-2")
    wait_for_workers(settings, 2)
    base = f"http://127.0.0.1:{port}"
    ids = submit_many(base, tone, 20, 0.3)
    wait_all_ended(base, ids, 90)
    rows = assert_each_completed_once(settings, ids)
    assert all(r["attempts"] == 1 for r in rows)
    ran = [processes.log(name).count("succeeded in") for name in ("worker-1", "worker-2")]
    assert sum(ran) == 20 and min(ran) >= 1, ran  # both workers took jobs, 20 runs in all


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_kill_9_of_a_worker_mid_job_loses_nothing(
    tmp_path: Path, tone: Path, processes: Processes, broker: str, request: pytest.FixtureRequest
) -> None:
    settings = cluster_settings(tmp_path, broker, request)
    env = settings_env(settings)
    port = free_port()
    processes.server(env, port)
    workers = {processes.worker(env, "worker-1").pid, processes.worker(env, "worker-2").pid}
    wait_for_workers(settings, 2)
    base = f"http://127.0.0.1:{port}"
    ids = submit_many(base, tone, 20, 1.0)

    victim_job, victim_pid = _a_running_job(settings, workers)
    os.kill(victim_pid, signal.SIGKILL)

    wait_all_ended(base, ids, 120)
    rows = assert_each_completed_once(settings, ids)
    by_uuid = {r["uuid"]: r for r in rows}
    assert by_uuid[victim_job]["attempts"] == 2  # redelivered once, then completed
    assert all(r["attempts"] == 1 for u, r in by_uuid.items() if u != victim_job)
    assert all(r["result"] == {"steps": 20} for r in rows)  # outputs valid: full runs only
    with httpx.Client(base_url=base) as client:
        report = client.get(f"/api/v1/jobs/{victim_job}/outputs/report")
        assert report.status_code == 200 and report.text == "worked 20 steps\n"


def _a_running_job(settings: Settings, worker_pids: set[int]) -> tuple[str, int]:
    """A job in the middle of its run, and the pid of the worker running it."""
    from sqlalchemy import select

    from audiomill.store.db import Database
    from audiomill.store.tables import Job

    db = Database(settings.resolved_database_url)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            with db.session() as session:
                for job in session.scalars(select(Job).where(Job.status == "processing", Job.progress >= 20)):
                    pid = int(job.attempt_token.split("/")[0].rsplit(":", 1)[1])
                    if pid in worker_pids:
                        return job.uuid, pid
            time.sleep(0.05)
    finally:
        db.dispose()
    raise AssertionError("no job got to its middle")


def test_restarting_the_api_mid_job_loses_nothing(
    tmp_path: Path, tone: Path, processes: Processes, request: pytest.FixtureRequest
) -> None:
    settings = cluster_settings(tmp_path, "redis", request)
    env = settings_env(settings)
    port = free_port()
    server = processes.server(env, port, "server-1")
    processes.worker(env, "worker-1", concurrency=2)
    wait_for_workers(settings, 1)
    base = f"http://127.0.0.1:{port}"
    ids = submit_many(base, tone, 6, 1.5)
    time.sleep(1.0)
    os.killpg(server.pid, signal.SIGKILL)  # the API dies; the jobs are in the DB and the broker
    server.wait()
    processes.server(env, port, "server-2")
    jobs = wait_all_ended(base, ids, 90)  # a client polling the new API process sees them finish
    assert all(j["status"] == "completed" for j in jobs.values())
    assert_each_completed_once(settings, ids)


def test_progress_from_a_worker_reaches_websocket_clients_of_an_api_process(
    tmp_path: Path, tone: Path, processes: Processes, request: pytest.FixtureRequest
) -> None:
    import json

    from websockets.sync.client import connect

    settings = cluster_settings(tmp_path, "redis", request)
    env = settings_env(settings)
    port = free_port()
    processes.server(env, port)
    processes.worker(env)
    wait_for_workers(settings, 1)
    (job_id,) = submit_many(f"http://127.0.0.1:{port}", tone, 1, 3.0)
    events = []
    with connect(f"ws://127.0.0.1:{port}/api/v1/jobs/{job_id}/events") as ws:
        while True:
            event = json.loads(ws.recv(timeout=30))
            events.append(event)
            if event["status"] in {"completed", "failed", "cancelled"}:
                break
    assert events[-1]["status"] == "completed"
    progress_events = [e for e in events if e.get("type") == "progress"]
    assert len(progress_events) >= 3  # pushed through Redis, not only the 2-second DB re-reads


def test_metrics_report_jobs_queues_and_live_workers(
    tmp_path: Path, tone: Path, processes: Processes, request: pytest.FixtureRequest
) -> None:
    settings = cluster_settings(tmp_path, "redis", request)
    env = settings_env(settings)
    port = free_port()
    processes.server(env, port)
    processes.worker(env, "worker-1")
    processes.worker(env, "worker-2")
    wait_for_workers(settings, 2)
    base = f"http://127.0.0.1:{port}"
    ids = submit_many(base, tone, 3, 0.2)
    wait_all_ended(base, ids, 60)
    text = httpx.get(f"{base}/metrics").text
    assert 'audiomill_jobs{kind="test_slow",status="completed"} 3.0' in text
    assert "audiomill_workers_live 2.0" in text
    assert 'audiomill_job_duration_seconds_count{kind="test_slow"} 3.0' in text
