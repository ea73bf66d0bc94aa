"""Seed 000, "Demucs Audio Separation API": its paths, fields and status values, unchanged.

    GET /                 health check
    POST /upload          multipart field ``file`` → job (4 stems as mp3)
    GET /status/{job_id}  job
    GET /download/{job_id} zip of bass.mp3 drums.mp3 other.mp3 vocals.mp3
    GET /jobs             every job of this kind
    DELETE /job/{job_id}
Errors keep FastAPI's ``{"detail": "..."}`` shape, as the seed's FastAPI service had.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, File, HTTPException, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from audiomill import __version__
from audiomill.api.deps import CurrentUser, RuntimeDep, SessionDep, in_session
from audiomill.api.files import archive_name, zip_response
from audiomill.api.schemas import as_utc
from audiomill.jobs import reads, service
from audiomill.jobs.states import JobStatus
from audiomill.params import OutputFormat, SeparateParams
from audiomill.store.tables import Job

router = APIRouter(tags=["seed 000: Demucs separation API"])

KIND = "separate"
# The seed promises four mp3 stems from Demucs' default model.
SEED_PARAMS = SeparateParams(model="htdemucs", output_format=OutputFormat.mp3, bitrate_kbps=320)
SeedStatus = Literal["pending", "processing", "completed", "failed"]


class SeedJob(BaseModel):
    job_id: str
    status: SeedStatus
    filename: str
    created_at: str
    completed_at: str | None
    error: str | None
    download_url: str | None


class SeedRoot(BaseModel):
    # The shape of seed 003's root (seed 000 documents no body for its health check).
    message: str
    status: str
    version: str
    endpoints: dict[str, str]


class SeedDeleted(BaseModel):
    message: str
    job_id: str


def _timestamp(moment: datetime | None) -> str | None:
    # The seed shows naive ISO seconds ("2025-12-27T10:30:00"); ours are UTC.
    utc = as_utc(moment)
    return utc.replace(tzinfo=None).isoformat(timespec="seconds") if utc else None


def seed_job(job: Job) -> SeedJob:
    status = JobStatus(job.status)
    error = job.error
    if status == JobStatus.cancelled:  # the seed has no "cancelled": report it as a failure
        seed_status: SeedStatus = "failed"
        error = error or "job was cancelled"
    else:
        seed_status = status.value  # type: ignore[assignment]
    inputs = service.input_files(job)
    filename = inputs["audio"].filename if "audio" in inputs else ""
    return SeedJob(
        job_id=job.uuid,
        status=seed_status,
        filename=filename,
        created_at=_timestamp(job.created_at) or "",
        completed_at=_timestamp(job.finished_at) if status == JobStatus.completed else None,
        error=error,
        download_url=f"/download/{job.uuid}" if status == JobStatus.completed else None,
    )


@router.get("/", response_model=SeedRoot)
def health_check() -> SeedRoot:
    return SeedRoot(
        message="audiomill",
        status="operational",
        version=__version__,
        endpoints={"docs": "/docs", "redoc": "/redoc", "health": "/health"},
    )


@router.post("/upload", response_model=SeedJob)
def upload(runtime: RuntimeDep, user: CurrentUser, file: Annotated[UploadFile, File()]) -> SeedJob:
    job = service.create_job(runtime, user.id, KIND, SEED_PARAMS, [service.Upload(file.file, file.filename)])
    with runtime.db.session() as session:
        return seed_job(service.get_job(session, user.id, job.uuid))


@router.get("/status/{job_id}", response_model=SeedJob)
async def status(job_id: str, runtime: RuntimeDep, user: CurrentUser) -> SeedJob:
    # Clients poll this: the whole read is one hop to the thread pool (api.deps.in_session).
    return await in_session(
        runtime,
        lambda session: seed_job(reads.get_job(session, user.id, job_id, [KIND])),  # type: ignore[arg-type]
    )


@router.head("/download/{job_id}", include_in_schema=False)
@router.get("/download/{job_id}", response_class=FileResponse)
def download(job_id: str, runtime: RuntimeDep, session: SessionDep, user: CurrentUser) -> FileResponse:
    job = service.get_job(session, user.id, job_id, [KIND])
    if job.status != JobStatus.completed:
        # 400, as the seed's own service answered a download before completion
        raise HTTPException(400, f"job {job_id} is not completed (status: {seed_job(job).status})")
    return zip_response(runtime, service.output_files(job), archive_name(job))


@router.get("/jobs", response_model=list[SeedJob])
async def list_jobs(runtime: RuntimeDep, user: CurrentUser) -> list[SeedJob]:
    def read(session: Session) -> list[SeedJob]:
        jobs, _ = reads.list_jobs(session, user.id, [KIND], limit=10_000)
        return [seed_job(job) for job in jobs]  # type: ignore[arg-type]

    return await in_session(runtime, read)


@router.delete("/job/{job_id}", response_model=SeedDeleted)
def delete_job(job_id: str, runtime: RuntimeDep, session: SessionDep, user: CurrentUser) -> SeedDeleted:
    service.get_job(session, user.id, job_id, [KIND])
    service.delete_job(runtime, user.id, job_id)
    return SeedDeleted(message="Job deleted successfully", job_id=job_id)
