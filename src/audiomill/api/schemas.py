"""Response shapes of /api/v1 (request shapes are the params models in audiomill.params)."""

from __future__ import annotations

from datetime import datetime, UTC
from typing import Any

from pydantic import BaseModel, Field

from audiomill.jobs import service
from audiomill.jobs.states import JobStatus
from audiomill.store.tables import Asset, Job


class FilePublic(BaseModel):
    name: str
    asset_id: str  # usable as another job's input ("inputs": {"audio": asset_id})
    filename: str
    media_type: str
    size_bytes: int
    duration_seconds: float | None
    sample_rate: int | None
    channels: int | None
    url: str | None = None


class JobPublic(BaseModel):
    # The job's only public id is its UUID: the integer row id stays inside (seed 001's
    # integer file ids are that seed's own compat surface, not /api/v1's).
    id: str = Field(description="the job's id (a UUID), used in every /api/v1/jobs/{job_id} route")
    kind: str
    status: JobStatus
    progress: float = Field(description="percent done, 0-100 (engines report a fraction 0-1; the runner converts)")
    stage: str
    eta_seconds: float | None
    params: dict[str, Any]
    result: dict[str, Any]
    error: str | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    inputs: list[FilePublic]
    outputs: list[FilePublic]
    archive_url: str | None


class JobsPublic(BaseModel):
    data: list[JobPublic]
    count: int


class HealthPublic(BaseModel):
    status: str
    version: str
    executor: str
    database: str


def as_utc(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def eta_seconds(job: Job) -> float | None:
    """Remaining time extrapolated from the progress made since the job started."""
    return eta_from(job.status, job.started_at, job.progress)


def eta_from(status: str, started_at: datetime | None, progress_percent: float) -> float | None:
    started = as_utc(started_at)
    if status != JobStatus.processing or started is None or progress_percent < 1.0:
        return None
    elapsed = (datetime.now(UTC) - started).total_seconds()
    return round(elapsed * (100.0 - progress_percent) / progress_percent, 1)


def _file_public(name: str, asset: Asset, url: str | None) -> FilePublic:
    return FilePublic(
        name=name,
        asset_id=asset.uuid,
        filename=asset.filename,
        media_type=asset.media_type,
        size_bytes=asset.size_bytes,
        duration_seconds=asset.duration_seconds,
        sample_rate=asset.sample_rate,
        channels=asset.channels,
        url=url,
    )


def job_public(job: Job) -> JobPublic:
    base = f"/api/v1/jobs/{job.uuid}"
    outputs = service.output_files(job)
    return JobPublic(
        id=job.uuid,
        kind=job.kind,
        status=JobStatus(job.status),
        progress=round(job.progress, 1),
        stage=job.stage,
        eta_seconds=eta_seconds(job),
        params=job.params,
        result=job.result,
        error=job.error,
        attempts=job.attempts,
        created_at=as_utc(job.created_at),  # type: ignore[arg-type]
        started_at=as_utc(job.started_at),
        finished_at=as_utc(job.finished_at),
        inputs=[_file_public(n, a, None) for n, a in service.input_files(job).items()],
        outputs=[_file_public(n, a, f"{base}/outputs/{n}") for n, a in outputs.items()],
        archive_url=f"{base}/archive" if outputs else None,
    )
