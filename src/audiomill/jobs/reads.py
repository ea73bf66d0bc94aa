"""Read paths for what clients poll: a job with its files, a page of jobs.

The same answers as ``service.get_job`` / ``service.list_jobs`` but without ORM objects:
prebuilt Core statements (nothing to compile or build per request), plain rows, one
round trip for a job and its files. Under load the ORM's per-row and per-statement work
(building the query, the identity map, a lazy load for ``files``) cost a status read
~30 times the SQL itself. The views carry the attribute names of ``Job``, ``JobFile`` and
``Asset`` that the response builders read (``service.input_files`` works on them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, func, select
from sqlalchemy.orm import Session

from audiomill.errors import NotFound
from audiomill.jobs.states import JobStatus
from audiomill.store.tables import Asset, Job, JobFile


@dataclass(frozen=True, slots=True)
class AssetView:
    id: int
    uuid: str
    sha256: str
    filename: str
    media_type: str
    size_bytes: int
    duration_seconds: float | None
    sample_rate: int | None
    channels: int | None


@dataclass(frozen=True, slots=True)
class FileView:
    role: str
    name: str
    asset: AssetView


@dataclass(slots=True)
class JobView:
    id: int
    uuid: str
    kind: str
    owner_id: int
    status: str
    progress: float
    stage: str
    params: dict[str, Any]
    result: dict[str, Any]
    error: str | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    files: list[FileView] = field(default_factory=list)


_JOB_COLUMNS = (
    Job.id,
    Job.uuid,
    Job.kind,
    Job.owner_id,
    Job.status,
    Job.progress,
    Job.stage,
    Job.params,
    Job.result,
    Job.error,
    Job.attempts,
    Job.created_at,
    Job.started_at,
    Job.finished_at,
)
_FILE_COLUMNS = (
    JobFile.job_id,
    JobFile.role,
    JobFile.name,
    Asset.id,
    Asset.uuid,
    Asset.sha256,
    Asset.filename,
    Asset.media_type,
    Asset.size_bytes,
    Asset.duration_seconds,
    Asset.sample_rate,
    Asset.channels,
)
_N_JOB = len(_JOB_COLUMNS)

# A job and its files in one round trip (one row per file; a job without files: one row).
_JOB_WITH_FILES = (
    select(*_JOB_COLUMNS, *_FILE_COLUMNS[1:])
    .select_from(Job)
    .outerjoin(JobFile, JobFile.job_id == Job.id)
    .outerjoin(Asset, Asset.id == JobFile.asset_id)
    .order_by(JobFile.id)
)
_JOB_BY_UUID = _JOB_WITH_FILES.where(Job.uuid == bindparam("uuid"))
_JOB_BY_NUMBER = _JOB_WITH_FILES.where(Job.id == bindparam("number"))
_FILES_OF_JOBS = (
    select(*_FILE_COLUMNS)
    .join(Asset, Asset.id == JobFile.asset_id)
    .where(JobFile.job_id.in_(bindparam("job_ids", expanding=True)))
    .order_by(JobFile.id)
)


def _file(values: Sequence[Any]) -> FileView:
    role, name, *asset = values
    return FileView(role=role, name=name, asset=AssetView(*asset))


def get_job(session: Session, owner_id: int | None, job_uuid: str, kinds: Sequence[str] | None = None) -> JobView:
    """Like ``service.get_job``: someone else's job, or one of another kind, is not found."""
    rows = session.connection().execute(_JOB_BY_UUID, {"uuid": job_uuid}).all()
    return _visible_job(rows, owner_id, kinds, f"job {job_uuid} not found")


def get_job_by_number(session: Session, owner_id: int | None, job_id: int, kinds: Sequence[str]) -> JobView:
    """Like ``service.get_job_by_number`` (the seeds that number their files)."""
    rows = session.connection().execute(_JOB_BY_NUMBER, {"number": job_id}).all()
    return _visible_job(rows, owner_id, kinds, f"file {job_id} not found")


def _visible_job(
    rows: Sequence[Row[Any]], owner_id: int | None, kinds: Sequence[str] | None, not_found: str
) -> JobView:
    if not rows:
        raise NotFound(not_found)
    job = JobView(*rows[0][:_N_JOB])
    if (owner_id is not None and job.owner_id != owner_id) or (kinds and job.kind not in kinds):
        raise NotFound(not_found)
    job.files = [_file(row[_N_JOB:]) for row in rows if row[_N_JOB] is not None]
    return job


def list_jobs(
    session: Session,
    owner_id: int | None,
    kinds: Sequence[str] | None = None,
    status: JobStatus | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[JobView], int]:
    """Like ``service.list_jobs`` (newest first, and the total count): three queries
    whatever the page size (the page, its files, the count)."""
    conditions = []
    if owner_id is not None:
        conditions.append(Job.owner_id == owner_id)
    if kinds:
        conditions.append(Job.kind.in_(kinds))
    if status is not None:
        conditions.append(Job.status == status.value)
    connection = session.connection()
    page: Sequence[Row[Any]] = connection.execute(
        select(*_JOB_COLUMNS)
        .where(*conditions)
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    jobs = [JobView(*row) for row in page]  # type: ignore[call-arg]  # the columns, in field order
    if not jobs and offset == 0:
        return [], 0
    by_id = {job.id: job for job in jobs}
    for row in connection.execute(_FILES_OF_JOBS, {"job_ids": list(by_id)}):
        by_id[row[0]].files.append(_file(row[1:]))
    if jobs and offset == 0 and len(jobs) < limit:
        count = len(jobs)  # the whole result is on this page
    else:
        count = int(connection.execute(select(func.count()).select_from(Job).where(*conditions)).scalar_one())
    return jobs, count
