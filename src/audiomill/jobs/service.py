"""Creating, finding, cancelling and deleting jobs and their files.

Routers (HTTP, seeds) and the CLI call these; they hold no business logic of their own.
Every lookup is scoped to an owner: someone else's job is simply "not found".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any, BinaryIO

from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audiomill import audio
from audiomill.engines.base import kind_spec
from audiomill.errors import (
    AudiomillError,
    DurationTooLong,
    InvalidInput,
    NotFound,
    QuotaExceeded,
    RateLimited,
    UnsupportedMedia,
)
from audiomill.jobs import states
from audiomill.jobs.states import JobStatus
from audiomill.runtime import Runtime
from audiomill.store.blobs import StagedFile
from audiomill.store.tables import Asset, Commit, Job, JobFile, Stem, User

LOCAL_USERNAME = "local"
_UNSAFE_FILENAME_CHARS = re.compile(r"[\x00-\x1f\x7f/\\]")


@dataclass(frozen=True)
class Upload:
    """One file a client sent: its stream and the name it gave."""

    stream: BinaryIO
    filename: str | None


def ensure_local_user(session: Session) -> User:
    user = session.scalar(select(User).where(User.username == LOCAL_USERNAME))
    if user is None:
        user = User(username=LOCAL_USERNAME, is_admin=False)
        session.add(user)
        session.flush()
    return user


def safe_filename(raw: str | None, default: str = "upload") -> str:
    """A display name only (never a path): last path component, no control characters."""
    if not raw:
        return default
    name = PureWindowsPath(PurePosixPath(raw).name).name
    name = unicodedata.normalize("NFC", name)
    name = _UNSAFE_FILENAME_CHARS.sub("_", name).strip().lstrip(".")
    if len(name.encode("utf-8")) > 200:
        stem, dot, ext = name.rpartition(".")
        ext = ext[:16] if dot else ""
        name = stem.encode("utf-8")[: 200 - len(ext) - 1].decode("utf-8", "ignore") + (
            f".{ext}" if ext else ""
        )
    return name or default


def validate_params(kind: str, params: Mapping[str, Any] | BaseModel | None) -> BaseModel:
    model = kind_spec(kind).params
    if isinstance(params, model):
        return params
    raw = params.model_dump() if isinstance(params, BaseModel) else dict(params or {})
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'params'}: {err['msg']}"
            for err in exc.errors()
        )
        raise InvalidInput(f"invalid parameters for {kind}: {problems}") from None


def _stage_upload(runtime: Runtime, upload: Upload, kind: str) -> tuple[StagedFile, audio.AudioInfo]:
    settings = runtime.settings
    staged = runtime.blobs.stage_stream(
        upload.stream, settings.max_upload_bytes, settings.upload_chunk_bytes
    )
    try:
        if staged.size_bytes == 0:
            raise UnsupportedMedia("the uploaded file is empty")
        info = audio.probe(staged.path)
        limit = settings.max_duration_for(kind)
        if info.duration_seconds > limit:
            raise DurationTooLong(
                f"{safe_filename(upload.filename)} lasts {info.duration_seconds:.0f} s; "
                f"{kind} jobs take at most {limit:g} s of audio"
            )
    except BaseException:
        runtime.blobs.discard(staged)
        raise
    return staged, info


def _asset_from(staged: StagedFile, info: audio.AudioInfo, owner_id: int, filename: str) -> Asset:
    return Asset(
        owner_id=owner_id,
        sha256=staged.sha256,
        filename=filename,
        media_type=audio.media_type_for(filename),
        size_bytes=staged.size_bytes,
        duration_seconds=info.duration_seconds,
        sample_rate=info.sample_rate,
        channels=info.channels,
    )


def create_job(
    runtime: Runtime,
    owner_id: int,
    kind: str,
    params: Mapping[str, Any] | BaseModel | None,
    uploads: Sequence[Upload],
) -> Job:
    """Validate, store the inputs, write the job row, hand its id to the executor."""
    validated = validate_params(kind, params)
    input_names = kind_spec(kind).input_names
    with runtime.db.session() as session:
        _check_active_jobs(runtime, session, owner_id)
    if len(uploads) != len(input_names):
        raise InvalidInput(
            f"{kind} takes {len(input_names)} file(s) ({', '.join(input_names)}), got {len(uploads)}"
        )
    staged_files: list[tuple[StagedFile, audio.AudioInfo, str]] = []
    try:
        for upload in uploads:
            staged, info = _stage_upload(runtime, upload, kind)
            staged_files.append((staged, info, safe_filename(upload.filename)))
        with runtime.db.session() as session:
            _check_quota(runtime, session, owner_id, sum(s.size_bytes for s, _, _ in staged_files))
    except BaseException:
        for staged, _, _ in staged_files:
            runtime.blobs.discard(staged)
        raise

    committed: list[str] = []
    try:
        with runtime.db.session() as session:
            job = Job(kind=kind, owner_id=owner_id, params=validated.model_dump(mode="json"))
            session.add(job)
            for name, (staged, info, filename) in zip(input_names, staged_files):
                committed.append(runtime.blobs.commit(staged))
                asset = _asset_from(staged, info, owner_id, filename)
                session.add(asset)
                session.flush()
                job.files.append(JobFile(role="input", name=name, asset_id=asset.id))
            session.flush()
            session.refresh(job)
    except BaseException:
        for staged, _, _ in staged_files:
            runtime.blobs.discard(staged)
        with runtime.db.session() as session:
            delete_unreferenced_blobs(runtime, session, committed)
        raise
    runtime.submit(job.id, kind)
    return job


def _check_active_jobs(runtime: Runtime, session: Session, owner_id: int) -> None:
    limit = runtime.settings.max_active_jobs_per_user
    if limit <= 0:
        return
    active = session.scalar(
        select(func.count()).where(
            Job.owner_id == owner_id,
            Job.status.in_([JobStatus.pending.value, JobStatus.processing.value]),
        )
    ) or 0
    if active >= limit:
        raise RateLimited(f"you have {active} jobs pending or running; the limit is {limit}", 10)


def storage_used_bytes(session: Session, owner_id: int) -> int:
    return int(session.scalar(select(func.coalesce(func.sum(Asset.size_bytes), 0)).where(Asset.owner_id == owner_id)) or 0)


def _check_quota(runtime: Runtime, session: Session, owner_id: int, new_bytes: int) -> None:
    quota = runtime.settings.storage_quota_bytes
    if quota <= 0:
        return
    used = storage_used_bytes(session, owner_id)
    if used + new_bytes > quota:
        raise QuotaExceeded(
            f"storage quota exceeded: {used} bytes used + {new_bytes} new > quota of {quota} bytes; "
            "delete some jobs first"
        )


def get_job(
    session: Session, owner_id: int | None, job_uuid: str, kinds: Sequence[str] | None = None
) -> Job:
    """owner_id None means any owner (admins, internal use); kinds limits to those kinds."""
    query = select(Job).where(Job.uuid == job_uuid)
    if kinds:
        query = query.where(Job.kind.in_(kinds))
    if owner_id is not None:
        query = query.where(Job.owner_id == owner_id)
    job = session.scalar(query)
    if job is None:
        raise NotFound(f"job {job_uuid} not found")
    return job


def get_job_by_number(session: Session, owner_id: int | None, job_id: int, kinds: Sequence[str]) -> Job:
    query = select(Job).where(Job.id == job_id, Job.kind.in_(kinds))
    if owner_id is not None:
        query = query.where(Job.owner_id == owner_id)
    job = session.scalar(query)
    if job is None:
        raise NotFound(f"file {job_id} not found")
    return job


def list_jobs(
    session: Session,
    owner_id: int | None,
    kinds: Sequence[str] | None = None,
    status: JobStatus | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Job], int]:
    query = select(Job)
    if owner_id is not None:
        query = query.where(Job.owner_id == owner_id)
    if kinds:
        query = query.where(Job.kind.in_(kinds))
    if status is not None:
        query = query.where(Job.status == status.value)
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    jobs = session.scalars(
        query.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit).offset(offset)
    ).all()
    return list(jobs), count


def cancel_job(runtime: Runtime, owner_id: int | None, job_uuid: str) -> Job:
    with runtime.db.session() as session:
        job = get_job(session, owner_id, job_uuid)
        if JobStatus(job.status).is_terminal:
            return job
        # A running job is marked cancelled at once; its engine sees that between chunks
        # and stops, and whatever it produced is discarded.
        states.cancel(session, job.id)
        session.commit()
        session.refresh(job)
    runtime.events.publish(job.uuid, job_event(job))
    return job


def output_files(job: Job) -> dict[str, Asset]:
    return {f.name: f.asset for f in job.files if f.role == "output"}


def input_files(job: Job) -> dict[str, Asset]:
    return {f.name: f.asset for f in job.files if f.role == "input"}


def delete_job(runtime: Runtime, owner_id: int | None, job_uuid: str) -> None:
    with runtime.db.session() as session:
        job = get_job(session, owner_id, job_uuid)
        if job.status == JobStatus.processing:
            states.cancel(session, job.id)
        asset_ids = [f.asset_id for f in job.files]
        session.delete(job)
        session.flush()
        digests = release_assets(session, asset_ids)
    with runtime.db.session() as session:
        delete_unreferenced_blobs(runtime, session, digests)


def release_assets(session: Session, asset_ids: Sequence[int]) -> list[str]:
    """Delete asset rows no job refers to any more; return their digests."""
    digests: list[str] = []
    for asset_id in set(asset_ids):
        still_used = session.scalar(select(func.count()).where(JobFile.asset_id == asset_id))
        if still_used or _held_by_music_projects(session, asset_id):
            continue
        asset = session.get(Asset, asset_id)
        if asset is not None:
            digests.append(asset.sha256)
            session.delete(asset)
    session.flush()
    return digests


def _held_by_music_projects(session: Session, asset_id: int) -> bool:
    """A commit's stem or render keeps its asset (and so its bytes) however old it is."""
    return bool(
        session.scalar(select(func.count()).where(Stem.asset_id == asset_id))
        or session.scalar(select(func.count()).where(Commit.render_asset_id == asset_id))
    )


def delete_unreferenced_blobs(runtime: Runtime, session: Session, digests: Sequence[str]) -> None:
    for digest in set(digests):
        if not session.scalar(select(func.count()).where(Asset.sha256 == digest)):
            runtime.blobs.delete(digest)


def job_event(job: Job) -> dict[str, Any]:
    return {
        "type": "job",
        "job_id": job.uuid,
        "status": job.status,
        "progress": round(job.progress, 1),
        "stage": job.stage,
        "error": job.error,
    }


def recover_interrupted(runtime: Runtime) -> list[tuple[int, str]]:
    """At start-up of the in-process executor (the only one running this database's jobs):
    jobs a crash left processing go back to pending; return every pending (id, kind)."""
    with runtime.db.session() as session:
        stuck = session.scalars(select(Job.id).where(Job.status == JobStatus.processing.value)).all()
        for job_id in stuck:
            states.requeue(session, job_id, "service restarted")
        session.commit()
        pending = session.execute(
            select(Job.id, Job.kind).where(Job.status == JobStatus.pending.value).order_by(Job.created_at, Job.id)
        ).all()
    return [(row.id, row.kind) for row in pending]


__all__ = [
    "AudiomillError",
    "Upload",
    "cancel_job",
    "create_job",
    "delete_job",
    "ensure_local_user",
    "get_job",
    "get_job_by_number",
    "input_files",
    "list_jobs",
    "output_files",
    "recover_interrupted",
    "safe_filename",
    "validate_params",
]
