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
from sqlalchemy.orm import Session, selectinload

from audiomill import audio
from audiomill import images
from audiomill.engines.base import kind_spec
from audiomill.errors import (
    AudiomillError,
    Conflict,
    DurationTooLong,
    InvalidInput,
    NotFound,
    QuotaExceeded,
    RateLimited,
    UnsupportedMedia,
)
from audiomill.jobs import lifecycle, states
from audiomill.kinds import InputMedia, InputSpec
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
        name = stem.encode("utf-8")[: 200 - len(ext) - 1].decode("utf-8", "ignore") + (f".{ext}" if ext else "")
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
            f"{'.'.join(str(p) for p in err['loc']) or 'params'}: {err['msg']}" for err in exc.errors()
        )
        raise InvalidInput(f"invalid parameters for {kind}: {problems}") from None


def _stage_upload(
    runtime: Runtime, upload: Upload, kind: str | None, media: InputMedia | None = "audio"
) -> tuple[StagedFile, MediaInfo]:
    """Store an upload in scratch space and find what it is by its content.

    ``media`` None accepts audio or an image, whichever the bytes are."""
    settings = runtime.settings
    limit_bytes = settings.max_upload_bytes
    if media == "image":  # photos have their own, smaller limit
        limit_bytes = min(limit_bytes, settings.max_photo_bytes)
    staged = runtime.blobs.stage_stream(upload.stream, limit_bytes, settings.upload_chunk_bytes)
    try:
        if staged.size_bytes == 0:
            raise UnsupportedMedia("the uploaded file is empty")
        info = _probe_media(staged, upload, media)
        limit = settings.max_duration_for(kind) if kind else settings.max_duration_seconds
        if info.duration_seconds is not None and info.duration_seconds > limit:
            raise DurationTooLong(
                f"{safe_filename(upload.filename)} lasts {info.duration_seconds:.0f} s; "
                f"{kind or 'a'} job{'s' if kind else ''} take{'' if kind else 's'} at most {limit:g} s of audio"
            )
        shortest = kind_spec(kind).min_duration_seconds if kind else 0.0
        if info.duration_seconds is not None and info.duration_seconds < shortest:
            raise InvalidInput(
                f"{safe_filename(upload.filename)} holds only {info.duration_seconds:.4f} s of "
                f"audio ({round(info.duration_seconds * (info.sample_rate or 0))} samples); {kind} "
                f"jobs need at least {shortest:g} s"
            )
    except BaseException:
        runtime.blobs.discard(staged)
        raise
    return staged, info


@dataclass(frozen=True)
class MediaInfo:
    """What an upload turned out to be, from its bytes."""

    media_type: str
    duration_seconds: float | None = None
    sample_rate: int | None = None
    channels: int | None = None


# FFmpeg demuxer name -> media type: an upload is served as what it is, whatever its name.
_MEDIA_TYPE_BY_CONTAINER = {
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "mov,mp4,m4a,3gp,3g2,mj2": "audio/mp4",
    "aac": "audio/aac",
    "matroska,webm": "audio/webm",
    "aiff": "audio/aiff",
}


def _probe_media(staged: StagedFile, upload: Upload, media: InputMedia | None) -> MediaInfo:
    name = safe_filename(upload.filename)
    if media in ("audio", None):
        try:
            info = audio.probe_complete(staged.path)  # 415 for truncated files too
            # served as what it is, whatever its name says
            media_type = _MEDIA_TYPE_BY_CONTAINER.get(info.container, audio.media_type_for(name))
            return MediaInfo(media_type, info.duration_seconds, info.sample_rate, info.channels)
        except UnsupportedMedia:
            if media == "audio":
                raise
    image_type = images.image_media_type(staged.path)
    if image_type is None:
        raise UnsupportedMedia(
            f"{name} is neither audio nor an image we can decode "
            f"(images over {images.MAX_IMAGE_PIXELS:,} pixels are refused unread)"
        )
    return MediaInfo(image_type)


def _asset_from(staged: StagedFile, info: MediaInfo, owner_id: int, filename: str, uploaded: bool = False) -> Asset:
    return Asset(
        owner_id=owner_id,
        sha256=staged.sha256,
        filename=filename,
        media_type=info.media_type,
        size_bytes=staged.size_bytes,
        duration_seconds=info.duration_seconds,
        sample_rate=info.sample_rate,
        channels=info.channels,
        uploaded=uploaded,
    )


def upload_asset(runtime: Runtime, owner_id: int, upload: Upload, media: InputMedia | None = None) -> Asset:
    """Store a file on its own, for any number of later jobs or commits; the same bytes
    uploaded again by the same owner return the asset they already have. ``media`` None
    takes audio or an image, whichever the bytes are."""
    staged, info = _stage_upload(runtime, upload, None, media)
    filename = safe_filename(upload.filename)
    try:
        with runtime.db.session() as session:
            existing = session.scalar(
                select(Asset).where(Asset.owner_id == owner_id, Asset.sha256 == staged.sha256, Asset.uploaded)
            )
            if existing is not None:
                runtime.blobs.discard(staged)
                session.expunge(existing)
                return existing
            _check_quota(runtime, session, owner_id, staged.size_bytes)
            runtime.blobs.commit(staged)
            asset = _asset_from(staged, info, owner_id, filename, uploaded=True)
            session.add(asset)
            session.flush()
            session.refresh(asset)
            session.expunge(asset)
            return asset
    except BaseException:
        runtime.blobs.discard(staged)
        raise


def get_asset(session: Session, owner_id: int | None, asset_uuid: str) -> Asset:
    query = select(Asset).where(Asset.uuid == asset_uuid)
    if owner_id is not None:
        query = query.where(Asset.owner_id == owner_id)
    asset = session.scalar(query)
    if asset is None:
        raise NotFound(f"asset {asset_uuid} not found")
    return asset


def list_assets(session: Session, owner_id: int, limit: int = 50, offset: int = 0) -> tuple[list[Asset], int]:
    query = select(Asset).where(Asset.owner_id == owner_id, Asset.uploaded)
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Asset.created_at.desc(), Asset.id.desc()).limit(limit).offset(offset))
    return list(rows), count


def delete_asset(runtime: Runtime, owner_id: int, asset_uuid: str) -> None:
    """Forget an uploaded asset; jobs that used it keep their input until they are deleted."""
    with runtime.db.session() as session:
        asset = get_asset(session, owner_id, asset_uuid)
        if not asset.uploaded:
            raise NotFound(f"asset {asset_uuid} not found")
        asset.uploaded = False
        session.flush()
        digests = release_assets(session, [asset.id])
    with runtime.db.session() as session:
        delete_unreferenced_blobs(runtime, session, digests)


def _check_input_asset(asset: Asset, spec: InputSpec, kind: str) -> None:
    is_audio = asset.duration_seconds is not None
    if spec.media == "audio" and not is_audio:
        raise UnsupportedMedia(f"input {spec.name!r} of {kind} must be audio; asset {asset.uuid} is {asset.media_type}")
    if spec.media == "image" and not asset.media_type.startswith("image/"):
        raise UnsupportedMedia(
            f"input {spec.name!r} of {kind} must be an image; asset {asset.uuid} is {asset.media_type}"
        )


def _assign_inputs(
    kind: str, uploads: Sequence[Upload] | Mapping[str, Upload], input_assets: Mapping[str, str]
) -> dict[str, Upload]:
    """Which upload fills which named input: named uploads by name, a plain list in the
    kind's input order (skipping inputs given as assets)."""
    spec = kind_spec(kind)
    names = spec.input_names
    if "*" in names:  # a family of inputs named by the caller (mixdown's stems)
        assigned_family = dict(uploads) if isinstance(uploads, Mapping) else {}
        if not isinstance(uploads, Mapping) and uploads:
            raise InvalidInput(f"{kind} takes its inputs by name (one per stem); send them under their names")
        if not assigned_family and not input_assets:
            raise InvalidInput(f"{kind} needs at least one input")
        return assigned_family
    unknown = sorted(set(input_assets) - set(names))
    if isinstance(uploads, Mapping):
        unknown += sorted(set(uploads) - set(names))
    if unknown:
        accepted = ", ".join(names) if names else "none (a text-only kind)"
        raise InvalidInput(f"{kind} has no input named {', '.join(map(repr, unknown))}; its inputs: {accepted}")
    if isinstance(uploads, Mapping):
        both = sorted(set(uploads) & set(input_assets))
        if both:
            raise InvalidInput(f"input {both[0]!r} was given both as a file and as an asset")
        assigned = dict(uploads)
    else:
        free = [n for n in names if n not in input_assets]
        if len(uploads) > len(free):
            raise InvalidInput(
                f"{kind} takes {len(names)} file(s) ({', '.join(names) or 'none'}), got {len(uploads) + len(input_assets)}"
            )
        assigned = dict(zip(free, uploads))
    missing = [s.name for s in spec.inputs if s.required and s.name not in assigned and s.name not in input_assets]
    if missing:
        raise InvalidInput(
            f"{kind} needs {len(spec.inputs)} input(s) ({', '.join(names)}); missing: {', '.join(missing)}"
        )
    return assigned


def create_job(
    runtime: Runtime,
    owner_id: int,
    kind: str,
    params: Mapping[str, Any] | BaseModel | None,
    uploads: Sequence[Upload] | Mapping[str, Upload] = (),
    input_assets: Mapping[str, str] | None = None,
) -> Job:
    """Validate, store the inputs, write the job row, hand its id to the executor.

    Inputs come as uploads (a list in the kind's input order, or by name) and/or as ids of
    assets the owner uploaded before (``input_assets``: input name -> asset uuid)."""
    spec = kind_spec(kind)
    validated = validate_params(kind, params)
    if spec.check is not None:
        spec.check(validated, runtime.settings)
    input_assets = dict(input_assets or {})
    assigned = _assign_inputs(kind, uploads, input_assets)
    input_specs = {s.name: s for s in spec.inputs}
    if "*" in input_specs:
        family = input_specs["*"]
        input_specs = {name: family for name in [*assigned, *input_assets]}
    with runtime.db.session() as session:
        _check_active_jobs(runtime, session, owner_id)
        reused: dict[str, int] = {}
        for name, asset_uuid in input_assets.items():
            asset = get_asset(session, owner_id, str(asset_uuid))
            _check_input_asset(asset, input_specs[name], kind)
            reused[name] = asset.id
    staged_files: list[tuple[str, StagedFile, MediaInfo, str]] = []
    try:
        for name, upload in assigned.items():
            staged, info = _stage_upload(runtime, upload, kind, input_specs[name].media)
            staged_files.append((name, staged, info, safe_filename(upload.filename)))
        with runtime.db.session() as session:
            _check_quota(runtime, session, owner_id, sum(s.size_bytes for _, s, _, _ in staged_files))
    except BaseException:
        for _, staged, _, _ in staged_files:
            runtime.blobs.discard(staged)
        raise

    committed: list[str] = []
    try:
        with runtime.db.session() as session:
            job = Job(kind=kind, owner_id=owner_id, params=validated.model_dump(mode="json"))
            session.add(job)
            for name, (staged, info, filename) in ((n, (s, i, f)) for n, s, i, f in staged_files):
                committed.append(runtime.blobs.commit(staged))
                asset = _asset_from(staged, info, owner_id, filename)
                session.add(asset)
                session.flush()
                job.files.append(JobFile(role="input", name=name, asset_id=asset.id))
            for name, asset_id in reused.items():
                job.files.append(JobFile(role="input", name=name, asset_id=asset_id))
            session.flush()
            session.refresh(job)
            states.created(session, job)
    except BaseException:
        for _, staged, _, _ in staged_files:
            runtime.blobs.discard(staged)
        with runtime.db.session() as session:
            delete_unreferenced_blobs(runtime, session, committed)
        raise
    lifecycle.created(job.uuid, kind)
    runtime.events.publish(job.uuid, job_event(job))  # before the executor can start it
    runtime.submit(job.id, kind)
    return job


def _check_active_jobs(runtime: Runtime, session: Session, owner_id: int) -> None:
    limit = runtime.settings.max_active_jobs_per_user
    if limit <= 0:
        return
    active = (
        session.scalar(
            select(func.count()).where(
                Job.owner_id == owner_id,
                Job.status.in_([JobStatus.pending.value, JobStatus.processing.value]),
            )
        )
        or 0
    )
    if active >= limit:
        raise RateLimited(f"you have {active} jobs pending or running; the limit is {limit}", 10)


def storage_used_bytes(session: Session, owner_id: int) -> int:
    return int(
        session.scalar(select(func.coalesce(func.sum(Asset.size_bytes), 0)).where(Asset.owner_id == owner_id)) or 0
    )


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


def get_job(session: Session, owner_id: int | None, job_uuid: str, kinds: Sequence[str] | None = None) -> Job:
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
        # Files (and their assets) in one more query, not one per job listed.
        query.order_by(Job.created_at.desc(), Job.id.desc())
        .limit(limit)
        .offset(offset)
        .options(selectinload(Job.files))
    ).all()
    return list(jobs), count


def cancel_job(runtime: Runtime, owner_id: int | None, job_uuid: str) -> Job:
    """Cancel a pending or processing job; Conflict (409) when it has already ended."""
    with runtime.db.session() as session:
        job = get_job(session, owner_id, job_uuid)
        # A running job is marked cancelled at once; its engine sees that between chunks
        # and stops, and whatever it produced is discarded. One that has already ended
        # (perhaps a moment ago, in a worker) cannot be: say so rather than answer as if
        # it had been.
        if JobStatus(job.status).is_terminal or not states.cancel(session, job.id):
            session.rollback()
            session.refresh(job)
            raise Conflict(
                f"job {job_uuid} has already ended (status: {job.status}); only pending or "
                "processing jobs can be cancelled"
            )
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
        gone = {
            **job_event(job),
            "type": "deleted",
            "kind": job.kind,
            "owner_id": job.owner_id,
            "file_id": job.id,
            "created_at": job.created_at.isoformat(),
        }
        session.delete(job)
        session.flush()
        digests = release_assets(session, asset_ids)
    runtime.events.publish(job_uuid, gone)  # the per-user feed cannot read a deleted row
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
        if asset is not None and not asset.uploaded:
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
    "delete_asset",
    "get_asset",
    "list_assets",
    "upload_asset",
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
