"""The job lifecycle in the log: created / started / stage / completed (seconds) / failed
(error) / cancelled lines naming the job's UUID and kind, also from worker processes, and
the JSON format (AUDIOMILL_LOG_FORMAT=json) as one object per line."""

from __future__ import annotations

import io
import json
import logging
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from audiomill.config import Settings
from audiomill.jobs import lifecycle
from audiomill.logs import JsonFormatter, configure_logging
from tests.audio_samples import sine, write_wav
from tests.conftest import wait_for
from tests.test_worker_processes import submit


@pytest.fixture
def tone_wav(tmp_path: Path) -> Path:
    return write_wav(tmp_path / "tone.wav", sine(440.0, 0.5, 22050), 22050)


def lines_for(caplog: pytest.LogCaptureFixture, job_id: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "job_id", None) == job_id]


def wait_for_line(caplog: pytest.LogCaptureFixture, job_id: str, event: str, timeout_seconds: float = 10.0) -> None:
    # A worker's records reach this process a moment after the row changes.
    deadline = time.monotonic() + timeout_seconds
    while event not in [r.event for r in lines_for(caplog, job_id)]:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, [r.getMessage() for r in lines_for(caplog, job_id)]
        time.sleep(0.05)


def test_every_step_of_a_job_is_one_log_line(
    client: TestClient, tone_wav: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    ok = submit(client, "test_copy", tone_wav)
    bad = submit(client, "test_raises_in_run", tone_wav)
    slow = submit(client, "test_slow", tone_wav, {"seconds": 30})
    for job in (ok, bad):
        wait_for(client, job["id"], {"completed", "failed"})
    wait_for(client, slow["id"], {"processing"})
    client.post(f"/api/v1/jobs/{slow['id']}/cancel")
    wait_for_line(caplog, ok["id"], "completed")
    wait_for_line(caplog, bad["id"], "failed")
    wait_for_line(caplog, slow["id"], "cancelled")

    events = [r.event for r in lines_for(caplog, ok["id"])]  # type: ignore[attr-defined]
    assert events == ["created", "started", "stage", "completed"], events
    messages = [r.getMessage() for r in lines_for(caplog, ok["id"])]
    assert all(ok["id"] in m and "(test_copy)" in m for m in messages)
    assert messages[2].endswith("copying (50%)")
    completed = lines_for(caplog, ok["id"])[-1]
    assert completed.seconds >= 0 and f"completed in {completed.seconds:.2f} s" in completed.getMessage()  # type: ignore[attr-defined]
    assert completed.process != lines_for(caplog, ok["id"])[0].process  # run by a worker process

    failed = lines_for(caplog, bad["id"])[-1]
    assert failed.levelno == logging.WARNING
    assert failed.error == "internal error: ZeroDivisionError: fixture engine divided by zero"  # type: ignore[attr-defined]
    assert failed.getMessage().endswith(": internal error: ZeroDivisionError: fixture engine divided by zero")
    assert [r.event for r in lines_for(caplog, slow["id"])][-1] == "cancelled"  # type: ignore[attr-defined]


def test_json_format_writes_one_object_per_line(settings: Settings) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("audiomill.jobs")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        lifecycle.completed("1b7c0c4e-0000-4000-8000-000000000001", "separate", 12.3456)
        lifecycle.failed("1b7c0c4e-0000-4000-8000-000000000002", "boost", 'bad "input"\nsecond line', 0.5)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    first, second = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert first["event"] == "completed" and first["kind"] == "separate" and first["seconds"] == 12.346
    assert first["job_id"] == "1b7c0c4e-0000-4000-8000-000000000001" and first["level"] == "INFO"
    assert first["message"] == "job 1b7c0c4e-0000-4000-8000-000000000001 (separate) completed in 12.35 s"
    assert second["error"] == 'bad "input"\nsecond line' and second["level"] == "WARNING"
    assert first["time"].endswith("+00:00") and first["logger"] == "audiomill.jobs"


def test_configure_logging_follows_the_setting(settings: Settings) -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    try:
        for log_format in ("json", "text"):
            stream = io.StringIO()
            configure_logging(settings.model_copy(update={"log_format": log_format}), stream=stream)
            configure_logging(settings.model_copy(update={"log_format": log_format}), stream=stream)  # idempotent
            lifecycle.created("1b7c0c4e-0000-4000-8000-000000000003", "denoise")
            (line,) = stream.getvalue().splitlines()
            if log_format == "json":
                assert json.loads(line)["event"] == "created"
            else:
                assert line.endswith("INFO audiomill.jobs: job 1b7c0c4e-0000-4000-8000-000000000003 (denoise) created")
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved_handlers:
            root.addHandler(handler)
        root.setLevel(saved_level)


def test_the_log_format_setting_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDIOMILL_LOG_FORMAT", "json")
    assert Settings().log_format == "json"
    monkeypatch.setenv("AUDIOMILL_LOG_FORMAT", "xml")
    with pytest.raises(ValueError):
        Settings()
