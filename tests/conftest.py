"""Shared fixtures: an isolated data folder per test, the app on it, fixture engines."""

from __future__ import annotations

from audiomill.numba_cache import claim_numba_cache_dir

# Before anything imports librosa: this test process (or xdist worker) compiles into a cache
# folder of its own (see audiomill.numba_cache).
claim_numba_cache_dir()

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from audiomill.api.app import create_app
from audiomill.config import Settings
from audiomill.engines import base as engines_base
from tests.fixtures.engines.params import fixture_spec

# Local mode only answers loopback Host names (DNS-rebinding guard), so tests talk to 127.0.0.1.
BASE_URL = "http://127.0.0.1"
WS_BASE_URL = "ws://127.0.0.1"

FIXTURE_KINDS = {
    "test_copy": "tests.fixtures.engines.copy_audio",
    "test_raises_in_setup": "tests.fixtures.engines.raises_in_setup",
    "test_raises_in_run": "tests.fixtures.engines.raises_in_run",
    "test_slow": "tests.fixtures.engines.slow",
    "test_aborts": "tests.fixtures.engines.aborts",
}


@pytest.fixture(autouse=True)
def _no_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing in the suite may reach a model hub.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_htdemucs_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight htdemucs, written once per session, copied where needed."""
    from tests.fixtures.tiny_demucs import write_tiny_htdemucs

    folder = tmp_path_factory.mktemp("tiny-htdemucs")
    write_tiny_htdemucs(folder)
    return folder


@pytest.fixture
def models_dir(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """AUDIOMILL_MODELS_DIR of a test. Separation requests are checked for weights at
    submission, so a tiny htdemucs is there unless the test is marked no_demucs_weights."""
    path = tmp_path / "models"
    path.mkdir()
    if request.node.get_closest_marker("no_demucs_weights") is None:
        for file in request.getfixturevalue("tiny_htdemucs_folder").iterdir():
            shutil.copy2(file, path / file.name)
    return path


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """Where jobs run: "local" (SQLite + in-process workers) unless a test module
    parametrizes it with "celery" (PostgreSQL + Redis + two `audiomill worker` processes)."""
    return getattr(request, "param", "local")


@pytest.fixture
def settings(tmp_path: Path, models_dir: Path, backend: str, request: pytest.FixtureRequest) -> Settings:
    if backend == "celery":
        cluster = request.getfixturevalue("celery_cluster")
        cluster.reset()
        return cluster.settings
    return Settings(
        data_dir=tmp_path / "data",
        models_dir=models_dir,
        models_cache_dir=tmp_path / "model-cache",
        models_download=False,
        worker_concurrency=2,
        max_upload_bytes=5 * 1024 * 1024,
        device="cpu",
        torch_threads=1,
        rate_limit_per_minute=0,  # tests poll fast; the rate-limit test sets its own
    )


@pytest.fixture(scope="session")
def celery_cluster(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One PostgreSQL database, a Redis broker and two worker processes for a session."""
    from tests.scaleout import CeleryCluster

    cluster = CeleryCluster.start(tmp_path_factory.mktemp("celery-cluster"), FIXTURE_KINDS)
    yield cluster
    cluster.stop()


@pytest.fixture
def fixture_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    for kind, module in FIXTURE_KINDS.items():
        monkeypatch.setitem(engines_base.KINDS, kind, fixture_spec(kind, module))


@pytest.fixture
def tiny_htdemucs(models_dir: Path) -> Path:
    from tests.fixtures.tiny_demucs import write_tiny_htdemucs

    return write_tiny_htdemucs(models_dir)


@pytest.fixture
def client(settings: Settings, fixture_kinds: None) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url=BASE_URL) as test_client:
        yield test_client


def wait_for(
    client: TestClient, job_id: str, statuses: set[str], timeout_seconds: float = 60.0, path: str = "/api/v1/jobs/{id}"
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_seconds
    while True:
        body = client.get(path.format(id=job_id)).json()
        if body["status"] in statuses:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {body['status']} after {timeout_seconds}s: {body}")
        time.sleep(0.05)


def stored_files(settings: Settings) -> list[Path]:
    """Everything left in the blob store and upload scratch space."""
    roots = [settings.blobs_dir, settings.work_dir / "uploads"]
    return sorted(p for root in roots if root.exists() for p in root.rglob("*") if p.is_file())


WaitFor = Callable[..., dict[str, Any]]
