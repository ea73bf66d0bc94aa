"""Seed 002, "Music AI Generator Backend": its paths, fields and status words, unchanged.

    POST /music/generate            {prompt (1-500), duration (5-300, default 30)} -> track
    GET  /music/status/{track_id}   progress of a track
    GET  /music/download/{track_id} the finished track (wav), once completed
    GET  /music/                    service information

A track id is ``track_`` + the first 8 hex digits of the job's UUID; it is looked up among
the caller's own ``generate`` jobs (no schema change; were two of one user's jobs ever to
share those 8 digits, the newest wins). Where the seed's own generator only pretended to
make progress, here a real job composes the music (the embedded composer, offline), and
``estimated_processing_time`` comes from how fast this service's recent generate jobs
actually ran.
"""

from __future__ import annotations

import math
import re
import threading
from datetime import datetime, timedelta
from typing import Literal

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from audiomill.api.deps import CurrentUser, RuntimeDep, SessionDep
from audiomill.api.files import file_response
from audiomill.api.schemas import as_utc
from audiomill.jobs import service
from audiomill.jobs.states import JobStatus
from audiomill.params import OutputFormat
from audiomill.params.generate import GenerateParams
from audiomill.store.tables import Job

router = APIRouter(prefix="/music", tags=["seed 002: Music AI Generator"])

KIND = "generate"
TRACK_PREFIX = "track_"
_TRACK_ID = re.compile(r"^track_([0-9a-f]{8})$")
# Until this service has finished a few tracks: seconds of work per second of music, plus
# a fixed start-up cost (measured on 2 CPU cores with the default SoundFont).
PRIOR_SECONDS_PER_AUDIO_SECOND = 0.25
PRIOR_OVERHEAD_SECONDS = 3.0
_RECENT_JOBS = 20

SeedTrackStatus = Literal["processing", "completed", "failed"]


class GenerateRequest(BaseModel):
    prompt: str = Field(min_length=1, max_length=500, description="natural language description of the music")
    duration: int = Field(default=30, ge=5, le=300, description="track duration in seconds (5-300)")


class GenerateResponse(BaseModel):
    success: bool
    message: str
    track_id: str
    prompt: str
    duration: int
    estimated_processing_time: int
    status: SeedTrackStatus
    download_url: str | None


class TrackStatus(BaseModel):
    track_id: str
    status: SeedTrackStatus
    progress: int
    prompt: str
    duration: int
    created_at: str
    estimated_completion: str | None
    download_url: str | None


class ServiceInfo(BaseModel):
    service: str
    status: str
    version: str
    supported_formats: list[str]
    min_duration: int
    max_duration: int
    max_prompt_length: int
    models: list[str]
    endpoints: dict[str, str]


def track_id_for(job: Job) -> str:
    return TRACK_PREFIX + job.uuid.replace("-", "")[:8]


def find_track(session: Session, owner_id: int, track_id: str) -> Job:
    match = _TRACK_ID.match(track_id.strip().lower())
    if match is None:
        raise HTTPException(404, f"Track not found: {track_id}")
    job = session.scalar(
        select(Job)
        .where(Job.owner_id == owner_id, Job.kind == KIND, Job.uuid.like(match.group(1) + "%"))
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(1)
    )
    if job is None:
        raise HTTPException(404, f"Track not found: {track_id}")
    return job


def estimate_processing_seconds(session: Session, duration_seconds: float) -> int:
    """Seconds a track of this length should take, from how fast the last finished
    composer jobs ran (any user's: it is the machine's speed), else the prior."""
    rows = session.execute(
        select(Job.started_at, Job.finished_at, Job.params)
        .where(Job.kind == KIND, Job.status == JobStatus.completed.value, Job.started_at.is_not(None))
        .order_by(Job.finished_at.desc())
        .limit(_RECENT_JOBS)
    ).all()
    work_seconds = audio_seconds_done = 0.0
    for started, finished, params in rows:
        audio_seconds = float(params.get("duration_seconds", 0)) * int(params.get("variations", 1))
        if finished is None or audio_seconds <= 0 or params.get("model", "composer") != "composer":
            continue
        work_seconds += (finished - started).total_seconds()
        audio_seconds_done += audio_seconds
    if audio_seconds_done == 0:
        return max(1, math.ceil(PRIOR_OVERHEAD_SECONDS + PRIOR_SECONDS_PER_AUDIO_SECOND * duration_seconds))
    # seconds of work per second of music over those jobs together: long tracks weigh
    # more than short ones, whose fixed costs (a first job loads the prompt model) dominate
    return max(1, math.ceil(work_seconds / audio_seconds_done * duration_seconds))


# The seed promises progress that never goes down. A job's own progress restarts if a dead
# worker's job is re-queued; the highest value shown so far is remembered per track.
_shown_progress: dict[str, int] = {}
_shown_lock = threading.Lock()


def _progress(job: Job, status: SeedTrackStatus) -> int:
    value = 100 if status == "completed" else min(99, int(job.progress or 0))
    with _shown_lock:
        shown = max(value, _shown_progress.get(job.uuid, 0))
        if status == "processing":
            _shown_progress[job.uuid] = shown
        else:
            _shown_progress.pop(job.uuid, None)
    return shown


def _seed_status(job: Job) -> SeedTrackStatus:
    status = JobStatus(job.status)
    if status == JobStatus.completed:
        return "completed"
    if status in (JobStatus.failed, JobStatus.cancelled):
        return "failed"
    return "processing"


def _iso(moment: datetime | None) -> str | None:
    utc = as_utc(moment)
    return utc.replace(tzinfo=None).isoformat(timespec="seconds") if utc else None


def track_status(session: Session, job: Job) -> TrackStatus:
    status = _seed_status(job)
    duration = round(float(job.params.get("duration_seconds", 0)))
    if status == "completed":
        estimated = job.finished_at
    elif status == "failed":
        estimated = None
    else:
        start = job.started_at or job.created_at
        estimated = start + timedelta(seconds=estimate_processing_seconds(session, duration))
    track_id = track_id_for(job)
    return TrackStatus(
        track_id=track_id,
        status=status,
        progress=_progress(job, status),
        prompt=str(job.params.get("prompt", "")),
        duration=duration,
        created_at=_iso(job.created_at) or "",
        estimated_completion=_iso(estimated),
        download_url=f"/music/download/{track_id}" if status == "completed" else None,
    )


@router.post("/generate", response_model=GenerateResponse)
def generate(request: GenerateRequest, runtime: RuntimeDep, user: CurrentUser) -> GenerateResponse:
    if not request.prompt.strip():
        raise HTTPException(400, "Prompt cannot be empty")
    params = GenerateParams(prompt=request.prompt, duration_seconds=request.duration, output_format=OutputFormat.wav)
    job = service.create_job(runtime, user.id, KIND, params, [])
    with runtime.db.session() as session:
        estimate = estimate_processing_seconds(session, request.duration)
    return GenerateResponse(
        success=True,
        message=f"Music generation started for prompt: '{request.prompt}'",
        track_id=track_id_for(job),
        prompt=request.prompt,
        duration=request.duration,
        estimated_processing_time=estimate,
        status="processing",
        download_url=None,
    )


@router.get("/status/{track_id}", response_model=TrackStatus)
def status(track_id: str, session: SessionDep, user: CurrentUser) -> TrackStatus:
    return track_status(session, find_track(session, user.id, track_id))


@router.get("/download/{track_id}", response_class=FileResponse)
def download(track_id: str, runtime: RuntimeDep, session: SessionDep, user: CurrentUser) -> FileResponse:
    job = find_track(session, user.id, track_id)
    if JobStatus(job.status) != JobStatus.completed:
        raise HTTPException(400, f"Track {track_id} is not completed yet (status: {_seed_status(job)})")
    mix = service.output_files(job).get("mix")
    if mix is None:
        raise HTTPException(404, f"Track not found: {track_id} has no audio")
    return file_response(runtime, mix)


@router.get("/", response_model=ServiceInfo)
def info() -> ServiceInfo:
    from audiomill import __version__

    return ServiceInfo(
        service="Music AI Generator",
        status="active",
        version=__version__,
        supported_formats=["wav"],
        min_duration=5,
        max_duration=300,
        max_prompt_length=500,
        models=["composer"],
        endpoints={
            "generate": "POST /music/generate",
            "status": "GET /music/status/{track_id}",
            "download": "GET /music/download/{track_id}",
            "info": "GET /music/",
        },
    )
