"""Back-pressure and serving under load: a burst beyond the concurrency limit is answered
503 + Retry-After at once (not queued without end), the service answers promptly after it,
and `serve --workers N` runs several API processes with the job workers started once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from fastapi.testclient import TestClient

from audiomill.api.app import create_app
from audiomill.config import Settings
from tests.audio_samples import sine, write_wav
from tests.conftest import BASE_URL, FIXTURE_KINDS

REPO_DIR = Path(__file__).resolve().parent.parent


class Gate:
    """A route that holds its request until the test opens the gate."""

    def __init__(self) -> None:
        import threading

        self.open = threading.Event()

    def app(self, settings: Settings):  # type: ignore[no-untyped-def]
        app = create_app(settings)

        async def held() -> dict[str, str]:
            while not self.open.is_set():
                await asyncio.sleep(0.01)
            return {"held": "released"}

        app.add_api_route("/test-held", held)
        return app


def _timed(client: TestClient, path: str) -> tuple[int, float, dict[str, str]]:
    start = time.monotonic()
    response = client.get(path)
    return response.status_code, time.monotonic() - start, dict(response.headers)


def _wait_until(condition, timeout_seconds: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_burst_beyond_the_limit_gets_503_with_retry_after_then_prompt_answers(settings: Settings) -> None:
    limited = settings.model_copy(
        update={
            "max_concurrent_requests": 2,
            "max_queued_requests": 2,
            "request_queue_timeout_seconds": 60.0,
        }
    )
    gate = Gate()
    with TestClient(gate.app(limited), base_url=BASE_URL) as client:
        assert client.get("/health").status_code == 200
        with ThreadPoolExecutor(max_workers=10) as pool:
            futures = [pool.submit(_timed, client, "/test-held") for _ in range(10)]
            # 2 run and 2 wait while the gate is shut: the other 6 are answered now, not
            # after a slot frees (that would be a backlog).
            _wait_until(lambda: sum(f.done() for f in futures) == 6)
            time.sleep(0.2)
            assert sum(f.done() for f in futures) == 6
            refused = [f.result() for f in futures if f.done()]
            assert all(code == 503 and headers["retry-after"] == "1" for code, _, headers in refused), refused
            gate.open.set()
            burst = [f.result(timeout=20) for f in futures]
        assert sorted(code for code, _, _ in burst) == [200] * 4 + [503] * 6
        code, seconds, _ = _timed(client, "/health")
        assert code == 200 and seconds < 1.0, f"after the burst /health took {seconds:.2f} s"


def test_queued_requests_wait_at_most_the_queue_timeout(settings: Settings) -> None:
    limited = settings.model_copy(
        update={
            "max_concurrent_requests": 1,
            "max_queued_requests": 5,
            "request_queue_timeout_seconds": 0.3,
        }
    )
    gate = Gate()
    with TestClient(gate.app(limited), base_url=BASE_URL) as client:
        with ThreadPoolExecutor(max_workers=3) as pool:
            futures = [pool.submit(_timed, client, "/test-held") for _ in range(3)]
            _wait_until(lambda: sum(f.done() for f in futures) == 2)
            waited = [f.result() for f in futures if f.done()]
            assert [code for code, _, _ in waited] == [503, 503]
            assert all(seconds >= 0.25 for _, seconds, _ in waited), waited  # they did wait their turn
            gate.open.set()
            assert sorted(f.result(timeout=20)[0] for f in futures) == [200, 503, 503]
        assert client.get("/test-held").json() == {"held": "released"}  # the slot was handed back


def test_seed_error_shape_is_kept_for_503(settings: Settings) -> None:
    from audiomill.api.errors import shaped_error

    assert shaped_error("/api/v1/jobs", 503, "busy") == (503, {"detail": "busy"})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_worker_app_refuses_to_start_without_the_serving_parent(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from audiomill.api import serve
    from audiomill.config import reset_settings_cache

    monkeypatch.setenv("AUDIOMILL_DATA_DIR", str(settings.data_dir))
    monkeypatch.delenv(serve.HANDOFF_SOCKET_ENV, raising=False)
    reset_settings_cache()
    try:
        with pytest.raises(RuntimeError, match="--workers N"):
            serve.worker_app()
    finally:
        reset_settings_cache()


@pytest.mark.skipif(sys.platform == "win32", reason="the job hand-off uses a Unix datagram socket")
def test_serve_with_two_api_processes_runs_every_job_once(tmp_path: Path) -> None:
    port = _free_port()
    env = dict(os.environ)
    env.update(
        PYTHONPATH=os.pathsep.join([str(REPO_DIR / "src"), str(REPO_DIR)]),
        AUDIOMILL_DATA_DIR=str(tmp_path / "data"),
        AUDIOMILL_PORT=str(port),
        AUDIOMILL_EXTRA_KINDS=json.dumps(FIXTURE_KINDS),
        AUDIOMILL_RATE_LIMIT_PER_MINUTE="0",
        AUDIOMILL_WORKER_CONCURRENCY="1",
        AUDIOMILL_MODELS_DOWNLOAD="false",
        AUDIOMILL_DEVICE="cpu",
        AUDIOMILL_TORCH_THREADS="1",
        AUDIOMILL_ACCESS_LOG="false",
    )
    env.pop("AUDIOMILL_DATABASE_URL", None)
    log = tmp_path / "serve.log"
    with open(log, "wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "audiomill.api.serve", "--workers", "2"],
            env=env,
            cwd=tmp_path,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                if requests.get(base + "/health", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        if children.exists():  # Linux: the parent's API processes
            assert len(children.read_text().split()) >= 2
        wav = write_wav(tmp_path / "tone.wav", sine(440.0, 0.5, 16000), 16000).read_bytes()

        def submit(_: int) -> str:
            with requests.Session() as fresh:  # a new connection each: both processes take some
                response = fresh.post(
                    base + "/api/v1/jobs",
                    data={"kind": "test_copy"},
                    files={"file": ("tone.wav", wav, "audio/wav")},
                    timeout=30,
                )
            assert response.status_code == 201, response.text
            return str(response.json()["id"])

        with ThreadPoolExecutor(max_workers=4) as pool:
            job_ids = list(pool.map(submit, range(6)))
        for job_id in job_ids:
            deadline = time.monotonic() + 60
            while (body := requests.get(f"{base}/api/v1/jobs/{job_id}", timeout=10).json())["status"] != "completed":
                assert body["status"] in {"pending", "processing"}, body
                assert time.monotonic() < deadline, body
                time.sleep(0.1)
            assert body["attempts"] == 1, body  # handed over once, run once
        listed = requests.get(base + "/api/v1/jobs", params={"limit": 50}, timeout=10).json()
        assert listed["count"] == 6
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


def test_uploads_are_not_counted_against_the_limit() -> None:
    from audiomill.api.concurrency import UPLOAD_BYTES, _is_upload

    def scope(*headers: tuple[bytes, bytes]) -> dict[str, object]:
        return {"type": "http", "headers": list(headers)}

    assert not _is_upload(scope())
    assert not _is_upload(scope((b"content-length", b"200")))
    assert _is_upload(scope((b"content-length", str(UPLOAD_BYTES + 1).encode())))
    assert _is_upload(scope((b"transfer-encoding", b"chunked")))
    assert not _is_upload(scope((b"content-length", b"junk")))
