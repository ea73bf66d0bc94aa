"""Seed 003 (BeatFlow) task status: our jobs in Celery's words, for every kind, in one place.

``GET /api/ai/status/{task_id}`` answers for any job created through seed 003's routes
(generate, hum-to-beat, separate-stems, ...). The state words are the same for all kinds:

    pending                      -> "pending"
    processing, nothing done yet -> "started"
    processing, some progress    -> "progress"   (progress: {current, total: 100, status})
    completed                    -> "success"    (result: the kind's seed result, below)
    failed / cancelled           -> "failure"    (error: the message)

What ``result`` holds depends on the kind: register a builder per kind with
:func:`register_result` (``generate`` is registered in beatflow_generate.py). A kind with
no builder reports the job's own JSON result plus ``status: "success"``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel

from audiomill.jobs import service
from audiomill.jobs.states import JobStatus
from audiomill.store.tables import Asset, Job

TaskState = Literal["pending", "started", "progress", "success", "failure"]
ResultBuilder = Callable[[Job], dict[str, Any]]

STATIC_AUDIO_PREFIX = "/static/audio/"
_RESULT_BUILDERS: dict[str, ResultBuilder] = {}


class TaskStatus(BaseModel):
    task_id: str
    status: TaskState
    result: dict[str, Any] | None = None
    progress: dict[str, Any] | None = None
    error: str | None = None


def register_result(kind: str, builder: ResultBuilder) -> None:
    """How a completed job of ``kind`` is shown as seed 003's ``result``."""
    _RESULT_BUILDERS[kind] = builder


def static_audio_url(asset: Asset, filename: str | None = None) -> str:
    """A ``/static/audio/...`` URL for one of the caller's files: the asset's UUID then a
    display name. Only the UUID is looked up (owner-scoped), never a file-system path."""
    return f"{STATIC_AUDIO_PREFIX}{asset.uuid}/{quote(filename or asset.filename, safe='')}"


def task_state(job: Job) -> TaskState:
    status = JobStatus(job.status)
    if status == JobStatus.completed:
        return "success"
    if status in (JobStatus.failed, JobStatus.cancelled):
        return "failure"
    if status == JobStatus.pending:
        return "pending"
    return "progress" if (job.progress or 0) > 0 else "started"


def task_status(job: Job) -> TaskStatus:
    state = task_state(job)
    answer = TaskStatus(task_id=job.uuid, status=state)
    if state in ("started", "progress"):
        answer.progress = {"current": int(job.progress or 0), "total": 100, "status": job.stage}
    elif state == "success":
        builder = _RESULT_BUILDERS.get(job.kind, _default_result)
        answer.result = builder(job)
    elif state == "failure":
        answer.error = job.error or ("job was cancelled" if job.status == JobStatus.cancelled.value else "failed")
    return answer


def _default_result(job: Job) -> dict[str, Any]:
    outputs = {name: static_audio_url(asset) for name, asset in service.output_files(job).items()}
    return {"status": "success", **(job.result or {}), "files": outputs}
