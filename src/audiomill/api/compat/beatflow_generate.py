"""Seed 003 (BeatFlow) generation routes, with its request and response shapes.

    POST /api/ai/generate          {prompt, bpm 60-300 (120), mood ("neutral"), duration 5-30 (15),
                                    repo_id?, commit_id?} -> {task_id, status: "pending", message}
    GET  /api/ai/status/{task_id}  any seed-003 task (see beatflow_tasks.py)
    POST /api/ai/batch-generate    [GenerationRequest, ...] -> {task_ids, count, message}
    GET  /static/audio/{uuid}/{name}  the caller's own files (generation results and others)

The seed queued MusicGen through Celery; here the job is a ``generate`` job (the embedded
composer by default, honouring the bpm exactly). Its result's ``file_path`` (wav) and
``preview_path`` (mp3) are ``/static/audio/<asset uuid>/gen_<id>.<ext>`` URLs served only
to their owner; the seed's other routes accept them back as ``file_path``.
"""

from __future__ import annotations

from uuid import UUID

from typing import Annotated, Any

from fastapi import APIRouter, Body
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from audiomill.api.compat.beatflow_tasks import (
    TaskStatus,
    register_result,
    static_audio_url,
    task_status,
)
from audiomill.api.deps import CurrentUser, RuntimeDep, SessionDep, in_session
from audiomill.api.files import file_response
from audiomill.api.routes.media import asset_for_media_path
from audiomill.errors import InvalidInput
from audiomill.jobs import reads, service
from audiomill.params import OutputFormat
from audiomill.store.tables import Job

router = APIRouter(tags=["seed 003: BeatFlow generation"])

KIND = "generate"
MAX_BATCH = 16


class GenerationRequest(BaseModel):
    # The generator's own bounds, checked here so a bad prompt is the framework's usual 422.
    prompt: str = Field(..., min_length=1, max_length=500, pattern=r"\S", description="Music description")
    bpm: int = Field(120, ge=60, le=300, description="Beats per minute")
    mood: str = Field("neutral", max_length=100, description="Musical mood/style")
    duration: int = Field(15, ge=5, le=30, description="Duration in seconds")
    # UUIDs, checked here so a bad id is the framework's usual 422 like every other field
    repo_id: UUID | None = None
    commit_id: UUID | None = None


class GenerationResponse(BaseModel):
    task_id: str
    status: str = "pending"
    message: str


class BatchResponse(BaseModel):
    task_ids: list[str]
    count: int
    message: str


def _params(request: GenerationRequest) -> BaseModel:
    """The generate job's params; InvalidInput (422) names a bad field (e.g. a repo_id
    that is not a UUID, an empty prompt)."""
    return service.validate_params(
        KIND,
        {
            "prompt": request.prompt,
            "bpm": request.bpm,
            "mood": None if request.mood == "neutral" else request.mood,
            "duration_seconds": request.duration,
            "repo_id": str(request.repo_id) if request.repo_id else None,
            "commit_id": str(request.commit_id) if request.commit_id else None,
            "output_format": OutputFormat.wav.value,
            "preview": True,
        },
    )


def generate_result(job: Job) -> dict[str, Any]:
    """The seed's result of a finished generation."""
    outputs = service.output_files(job)
    name = "gen_" + job.uuid.replace("-", "")[:12]
    result = job.result or {}
    answer: dict[str, Any] = {
        "status": "success",
        "file_path": static_audio_url(outputs["mix"], f"{name}.wav") if "mix" in outputs else None,
        "preview_path": static_audio_url(outputs["preview"], f"{name}.mp3") if "preview" in outputs else None,
        "duration": _number(result.get("duration_seconds", job.params.get("duration_seconds"))),
        "bpm": _number(result.get("bpm", job.params.get("bpm"))),
        "mood": job.params.get("mood") or "neutral",
        "prompt": job.params.get("prompt"),
        "output_filename": f"{name}.wav",
        # beyond the seed: what the composer decided, and where the stems and MIDI are
        "key": result.get("key"),
        "style": result.get("style"),
        "seed": result.get("seed"),
        "stems": {n.split(":", 1)[1]: static_audio_url(a) for n, a in outputs.items() if n.startswith("stem:")},
        "midi_path": static_audio_url(outputs["midi"]) if "midi" in outputs else None,
    }
    if job.params.get("repo_id"):
        answer["repo_id"], answer["commit_id"] = job.params.get("repo_id"), job.params.get("commit_id")
    return answer


def _number(value: Any) -> Any:
    """15.0 -> 15: the seed's fields are integers where ours happen to be whole."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


register_result(KIND, generate_result)


@router.post("/api/ai/generate", response_model=GenerationResponse)
def generate_music(request: GenerationRequest, runtime: RuntimeDep, user: CurrentUser) -> GenerationResponse:
    job = service.create_job(runtime, user.id, KIND, _params(request), [])
    return GenerationResponse(
        task_id=job.uuid,
        status="pending",
        message="Generation task queued. Poll the status endpoint to check progress.",
    )


@router.get("/api/ai/status/{task_id}", response_model=TaskStatus)
async def get_generation_status(task_id: str, runtime: RuntimeDep, user: CurrentUser) -> TaskStatus:
    # Polled: the ORM-free read path, one thread hop.
    return await in_session(runtime, lambda session: task_status(reads.get_job(session, user.id, task_id)))  # type: ignore[arg-type]


@router.post("/api/ai/batch-generate", response_model=BatchResponse)
def batch_generate(
    requests: Annotated[list[GenerationRequest], Body(max_length=MAX_BATCH)], runtime: RuntimeDep, user: CurrentUser
) -> BatchResponse:
    if len(requests) > MAX_BATCH:
        raise InvalidInput(f"a batch holds at most {MAX_BATCH} requests, got {len(requests)}")
    params = [_params(request) for request in requests]  # all valid before any job starts
    task_ids = [service.create_job(runtime, user.id, KIND, p, []).uuid for p in params]
    return BatchResponse(task_ids=task_ids, count=len(task_ids), message="Batch generation queued")


@router.get(
    "/static/audio/{path:path}",
    response_class=FileResponse,
    responses={404: {"description": "no such file (or not yours)"}},
)
def static_audio(path: str, runtime: RuntimeDep, session: SessionDep, user: CurrentUser) -> FileResponse:
    return file_response(runtime, asset_for_media_path(session, user.id, path))
