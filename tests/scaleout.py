"""Real services for the scale-out tests: PostgreSQL, Redis, RabbitMQ, and processes of
`audiomill worker` / `audiomill serve` run exactly as a user would run them.

Without the servers the tests skip with the reason; under CI=true they must run, so an
unreachable server fails them instead.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from audiomill.config import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
POSTGRES_ADMIN_URL = os.environ.get("AUDIOMILL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# One Redis database per pytest-xdist worker (gw0 -> 9, gw1 -> 10, ...): the tests flush it,
# and a flush must not take the queued jobs of a test running on the other worker.
_XDIST_WORKER_INDEX = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
REDIS_URL = os.environ.get("AUDIOMILL_TEST_REDIS_URL", f"redis://127.0.0.1:6379/{9 + _XDIST_WORKER_INDEX % 7}")
RABBITMQ_URL = os.environ.get("AUDIOMILL_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def require_services(*names: str) -> None:
    ports = {"postgres": 5432, "redis": 6379, "rabbitmq": 5672}
    missing = [n for n in names if not _reachable("127.0.0.1", ports[n])]
    if not missing:
        return
    message = f"scale-out services not reachable on 127.0.0.1: {', '.join(missing)}"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: these tests must run)")
    pytest.skip(message)


def create_database() -> str:
    """A fresh PostgreSQL database for one test session; returns its URL."""
    from sqlalchemy import create_engine, text

    name = f"audiomill_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str) -> None:
    from sqlalchemy import create_engine, text

    name = url.rsplit("/", 1)[1]
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def flush_redis(url: str = REDIS_URL) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def settings_env(settings: Settings) -> dict[str, str]:
    """The same settings as AUDIOMILL_* environment variables, for child processes."""
    # This tree's sources first: an installed (editable) audiomill elsewhere must not stand in.
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "src"), str(REPO_ROOT)]),
        "PYTHONUNBUFFERED": "1",
    }
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        key = f"AUDIOMILL_{name.upper()}"
        if isinstance(value, (dict, list)):
            env[key] = json.dumps(value)
        elif isinstance(value, bool):
            env[key] = "true" if value else "false"
        else:
            env[key] = str(value)
    return env


def private_queues() -> dict[str, object]:
    """Queue names of this test only: a stray worker of another run can never take its jobs."""
    tag = uuid.uuid4().hex[:8]
    return {"queue_by_kind": {"separate": f"gpu-{tag}", "vocals": f"gpu-{tag}"}, "default_queue": f"cpu-{tag}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Processes:
    """Child processes of one test, stopped (or killed) at the end."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}.log").open("ab")
        child = subprocess.Popen(
            [sys.executable, "-m", "audiomill.cli", *args],
            env=env,
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.children.append(child)
        return child

    def worker(self, env: dict[str, str], name: str = "worker", concurrency: int = 1) -> subprocess.Popen[bytes]:
        queues = ",".join(
            sorted(set(json.loads(env["AUDIOMILL_QUEUE_BY_KIND"]).values()) | {env["AUDIOMILL_DEFAULT_QUEUE"]})
        )
        return self.start(name, ["worker", "--concurrency", str(concurrency), "--queues", queues], env)

    def server(self, env: dict[str, str], port: int, name: str = "server") -> subprocess.Popen[bytes]:
        child = self.start(name, ["serve", "--port", str(port)], env)
        wait_until_serving(port, child)
        return child

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for child in self.children:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in self.children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()


def wait_until_serving(port: int, child: subprocess.Popen[bytes], timeout_seconds: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise AssertionError(f"server exited with {child.returncode}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("server did not start")


def wait_for_workers(settings: Settings, count: int, timeout_seconds: float = 60) -> None:
    """Until `count` workers registered and their consumers are attached."""
    from sqlalchemy import func, select

    from audiomill.store.db import Database
    from audiomill.store.tables import Worker

    db = Database(settings.resolved_database_url)
    deadline = time.monotonic() + timeout_seconds
    try:
        while time.monotonic() < deadline:
            with db.session() as session:
                if (session.scalar(select(func.count()).select_from(Worker)) or 0) >= count:
                    time.sleep(1.0)  # registered just before consuming: give it a moment
                    return
            time.sleep(0.2)
    finally:
        db.dispose()
    raise AssertionError(f"{count} workers did not register in {timeout_seconds}s")


def job_rows(settings: Settings) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from audiomill.store.db import Database
    from audiomill.store.tables import Job

    db = Database(settings.resolved_database_url)
    try:
        with db.session() as session:
            return [
                {
                    "id": j.id,
                    "uuid": j.uuid,
                    "status": j.status,
                    "attempts": j.attempts,
                    "result": j.result,
                    "outputs": [f.asset.sha256 for f in j.files if f.role == "output"],
                    "error": j.error,
                }
                for j in session.scalars(select(Job).order_by(Job.id))
            ]
    finally:
        db.dispose()


class CeleryCluster:
    """A session-wide PostgreSQL database + Redis broker + two worker processes; reset()
    empties the database and the data folder between tests (the workers stay up)."""

    def __init__(self, settings: Settings, database_url: str, processes: Processes) -> None:
        self.settings = settings
        self.database_url = database_url
        self.processes = processes

    @classmethod
    def start(cls, folder: Path, extra_kinds: dict[str, str]) -> CeleryCluster:
        require_services("postgres", "redis")
        url = create_database()
        from audiomill.store.db import migrate

        migrate(url)
        settings = Settings(
            data_dir=folder / "data",
            models_dir=folder / "models",
            models_cache_dir=folder / "model-cache",
            models_download=False,
            database_url=url,
            executor="celery",
            broker_url=REDIS_URL,
            events_url=REDIS_URL,
            heartbeat_interval_seconds=0.5,
            worker_silence_seconds=4.0,
            extra_kinds=extra_kinds,
            max_upload_bytes=5 * 1024 * 1024,
            device="cpu",
            torch_threads=1,
            worker_concurrency=1,
            rate_limit_per_minute=0,
            **private_queues(),
        )
        (folder / "models").mkdir()
        processes = Processes(folder)
        env = settings_env(settings)
        try:
            processes.worker(env, "worker-1")
            processes.worker(env, "worker-2")
            wait_for_workers(settings, 2)
        except BaseException:
            processes.stop_all()
            drop_database(url)
            raise
        return cls(settings, url, processes)

    def reset(self) -> None:
        import shutil

        from sqlalchemy import create_engine, text

        engine = create_engine(self.database_url)
        with engine.begin() as connection:
            connection.execute(
                text("TRUNCATE job_files, jobs, assets, api_keys, auth_sessions, users RESTART IDENTITY CASCADE")
            )
        engine.dispose()
        for child in ("blobs", "work"):
            shutil.rmtree(self.settings.data_dir / child, ignore_errors=True)

    def stop(self) -> None:
        self.processes.stop_all()
        drop_database(self.database_url)
