"""Seed 004, "AuraTune": a photo from smart glasses -> a music video, with the seed's paths,
fields and status words.

    POST /upload-photo             JSON with the photo in base64 (a data: URL or bare, under
                                   photo | image | image_base64 | photo_data | data), or
                                   multipart ``file`` -> {task_id, status: "uploaded", message}
    POST /photos/upload            multipart ``file`` (the glasses app: photo_<ms>.jpg), the same
    GET  /photos/{task_id}/status  {task_id, status, progress 0-100, message, error_message}
    GET  /photos/{task_id}/download  the mp4 (processed_video_<task_id>.mp4); 400 before done
    GET  /photos                   {videos: [...newest first], total_count, total_size_mb}
    GET  /photos/{task_id}         one entry of that list

Status words: uploaded (queued), converting (the photo being understood), generating (the
music), merging (the video being encoded with it), done, error. A task is a ``photo_video``
job; the words come from its state and stage. Where the seed called two paid APIs and a
system ffmpeg, the job runs offline (see engines/photo_video.py). Optional extras: JSON
fields (or multipart form fields) ``duration_seconds`` (5-120, default 30), ``prompt``,
``style``. Errors keep FastAPI's ``{"detail": "..."}`` shape, as the seed's service had.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import time
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as StarletteUploadFile

from audiomill.api.deps import CurrentUser, RuntimeDep, SessionDep
from audiomill.api.files import attachment
from audiomill.api.schemas import as_utc
from audiomill.errors import InvalidInput, PayloadTooLarge
from audiomill.jobs import service
from audiomill.jobs.states import JobStatus
from audiomill.runtime import Runtime
from audiomill.store.tables import Job

router = APIRouter(tags=["seed 004: AuraTune photo to music video"])

KIND = "photo_video"
BASE64_FIELDS = ("photo", "image", "image_base64", "photo_data", "data")
EXTRA_FIELDS = ("duration_seconds", "prompt", "style")
STAGE_WORDS = ("converting", "generating", "merging")
# Room for the JSON around a base64 photo (and its 4/3 growth) before the body is refused.
_JSON_SLACK_BYTES = 64 * 1024
_MEGABYTE = 1024 * 1024

SeedStatus = Literal["uploaded", "converting", "generating", "merging", "done", "error"]


class PhotoUploaded(BaseModel):
    task_id: str
    status: SeedStatus = "uploaded"
    message: str


class PhotoStatus(BaseModel):
    task_id: str
    status: SeedStatus
    progress: int
    message: str
    error_message: str | None


class VideoEntry(BaseModel):
    task_id: str
    filename: str
    file_size: int
    file_size_mb: float
    created_at: str
    modified_at: str
    download_url: str | None
    status: SeedStatus
    progress: int


class VideoList(BaseModel):
    videos: list[VideoEntry]
    total_count: int
    total_size_mb: float


def _seed_status(job: Job) -> SeedStatus:
    status = JobStatus(job.status)
    if status == JobStatus.completed:
        return "done"
    if status in (JobStatus.failed, JobStatus.cancelled):
        return "error"
    if status == JobStatus.pending:
        return "uploaded"
    word = (job.stage or "").split(":", 1)[0].strip()
    if word in STAGE_WORDS:
        return word  # type: ignore[return-value]
    # "done" is the engine's last word before the job is stored as completed; anything
    # else (the runner's "starting") comes before the photo is understood.
    return "merging" if word == "done" else "converting"


def _message(job: Job, status: SeedStatus) -> str:
    if status == "uploaded":
        return "Photo uploaded; processing starts shortly"
    if status == "done":
        return "Video ready for download"
    if status == "error":
        return "Processing failed"
    return job.stage or status


def _progress(job: Job, status: SeedStatus) -> int:
    if status == "done":
        return 100
    return max(0, min(99, int(job.progress or 0)))


def _iso(moment: datetime | None) -> str:
    utc = as_utc(moment)
    return utc.replace(tzinfo=None).isoformat(timespec="seconds") if utc else ""


def seed_status(job: Job) -> PhotoStatus:
    status = _seed_status(job)
    error = None
    if status == "error":
        error = job.error or ("cancelled" if job.status == JobStatus.cancelled else "processing failed")
    return PhotoStatus(
        task_id=job.uuid,
        status=status,
        progress=_progress(job, status),
        message=_message(job, status),
        error_message=error,
    )


def video_entry(job: Job) -> VideoEntry:
    status = _seed_status(job)
    video = service.output_files(job).get("video") if status == "done" else None
    size = video.size_bytes if video is not None else 0
    return VideoEntry(
        task_id=job.uuid,
        filename=f"processed_video_{job.uuid}.mp4",
        file_size=size,
        file_size_mb=round(size / _MEGABYTE, 2),
        created_at=_iso(job.created_at),
        modified_at=_iso(job.finished_at or job.started_at or job.created_at),
        download_url=f"/photos/{job.uuid}/download" if video is not None else None,
        status=status,
        progress=_progress(job, status),
    )


def _params(fields: dict[str, Any]) -> dict[str, Any]:
    params = {name: fields[name] for name in EXTRA_FIELDS if fields.get(name) not in (None, "")}
    if "duration" in fields and "duration_seconds" not in params:
        params["duration_seconds"] = fields["duration"]
    return params


def _create(runtime: Runtime, owner_id: int, photo: service.Upload, fields: dict[str, Any]) -> PhotoUploaded:
    job = service.create_job(runtime, owner_id, KIND, _params(fields), {"photo": photo})
    return PhotoUploaded(task_id=job.uuid, status="uploaded", message="Photo uploaded; making the music video")


def decode_base64_photo(text: str) -> bytes:
    """A data: URL or bare base64 (standard or URL-safe alphabet, padding optional)."""
    value = text.strip()
    if value.startswith("data:"):
        header, comma, value = value.partition(",")
        if not comma or ";base64" not in header:
            raise InvalidInput("the photo's data: URL must be base64 (data:image/jpeg;base64,...)")
    value = "".join(value.split())
    if not value:
        raise InvalidInput("the photo is empty")
    if "-" in value or "_" in value:
        value = value.replace("-", "+").replace("_", "/")
    value += "=" * (-len(value) % 4)
    try:
        photo = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("the photo is not valid base64") from None
    if not photo:
        raise InvalidInput("the photo is empty")
    return photo


async def _json_fields(request: Request, max_photo_bytes: int) -> dict[str, Any]:
    cap = max_photo_bytes * 4 // 3 + _JSON_SLACK_BYTES
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise PayloadTooLarge(f"the photo is larger than the limit of {max_photo_bytes} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > cap:
            raise PayloadTooLarge(f"the photo is larger than the limit of {max_photo_bytes} bytes")
    try:
        fields = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidInput("the request body is not JSON: send the photo in base64 under 'photo'") from None
    if not isinstance(fields, dict):
        raise InvalidInput("the request body must be a JSON object with the photo under 'photo'")
    return fields


_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "the photo in base64 (bare or a data: URL) under one of " + ", ".join(BASE64_FIELDS),
                    "properties": {
                        **{name: {"type": "string", "format": "byte"} for name in BASE64_FIELDS},
                        "duration_seconds": {"type": "number", "minimum": 5, "maximum": 120, "default": 30},
                        "prompt": {"type": "string", "maxLength": 500},
                        "style": {"type": "string", "maxLength": 100},
                    },
                }
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "duration_seconds": {"type": "number", "minimum": 5, "maximum": 120, "default": 30},
                        "prompt": {"type": "string", "maxLength": 500},
                        "style": {"type": "string", "maxLength": 100},
                    },
                }
            },
        },
    }
}
_REFUSALS: dict[int | str, dict[str, Any]] = {
    413: {"description": "the photo is over AUDIOMILL_MAX_PHOTO_BYTES (10 MB by default)"},
    415: {"description": "not an image we can decode (judged by its content), or a decompression bomb"},
    422: {"description": "no photo, empty or invalid base64, or a bad parameter"},
}


@router.post("/upload-photo", response_model=PhotoUploaded, openapi_extra=_UPLOAD_BODY, responses=_REFUSALS)
async def upload_photo(request: Request, runtime: RuntimeDep, user: CurrentUser) -> PhotoUploaded:
    """The photo as base64 JSON (the seed's document) or as multipart ``file``."""
    content_type = request.headers.get("content-type", "").lower()
    fields: dict[str, Any]
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        file = form.get("file")
        if not isinstance(file, StarletteUploadFile):
            raise InvalidInput("send the photo as the multipart field 'file'")
        fields = {name: form.get(name) for name in (*EXTRA_FIELDS, "duration") if isinstance(form.get(name), str)}
        upload = service.Upload(file.file, file.filename)
    else:
        fields = await _json_fields(request, runtime.settings.max_photo_bytes)
        name = next((n for n in BASE64_FIELDS if fields.get(n) is not None), None)
        if name is None:
            raise InvalidInput(f"no photo: send it in base64 under one of {', '.join(BASE64_FIELDS)}")
        if not isinstance(fields[name], str):
            raise InvalidInput(f"'{name}' must be a base64 string")
        photo = decode_base64_photo(fields[name])
        if len(photo) > runtime.settings.max_photo_bytes:
            raise PayloadTooLarge(f"the photo is larger than the limit of {runtime.settings.max_photo_bytes} bytes")
        filename = fields.get("filename") if isinstance(fields.get("filename"), str) else None
        upload = service.Upload(io.BytesIO(photo), filename or f"photo_{int(time.time() * 1000)}.jpg")
    return await run_in_threadpool(_create, runtime, user.id, upload, fields)


@router.post("/photos/upload", response_model=PhotoUploaded, responses=_REFUSALS)
def upload_photo_file(
    runtime: RuntimeDep,
    user: CurrentUser,
    file: Annotated[UploadFile, File(description="the photo (the glasses app sends photo_<ms>.jpg)")],
) -> PhotoUploaded:
    return _create(runtime, user.id, service.Upload(file.file, file.filename), {})


def _job(session: Session, owner_id: int, task_id: str) -> Job:
    return service.get_job(session, owner_id, task_id, [KIND])


@router.get("/photos/{task_id}/status", response_model=PhotoStatus, responses={404: {"description": "no such task"}})
def photo_status(task_id: str, session: SessionDep, user: CurrentUser) -> PhotoStatus:
    return seed_status(_job(session, user.id, task_id))


@router.head("/photos/{task_id}/download", include_in_schema=False)
@router.get(
    "/photos/{task_id}/download",
    response_class=FileResponse,
    responses={400: {"description": "Video not ready yet"}, 404: {"description": "no such task"}},
)
def download_video(task_id: str, runtime: RuntimeDep, session: SessionDep, user: CurrentUser) -> FileResponse:
    job = _job(session, user.id, task_id)
    video = service.output_files(job).get("video") if job.status == JobStatus.completed else None
    if video is None:
        raise HTTPException(400, "Video not ready yet")
    return FileResponse(
        runtime.blobs.path(video.sha256),
        media_type="video/mp4",
        headers={"content-disposition": attachment(f"processed_video_{job.uuid}.mp4")},
    )


@router.get("/photos", response_model=VideoList)
def list_videos(session: SessionDep, user: CurrentUser) -> VideoList:
    jobs, count = service.list_jobs(session, user.id, [KIND], limit=10_000)
    videos = [video_entry(job) for job in jobs]
    total = sum(video.file_size for video in videos)
    return VideoList(videos=videos, total_count=count, total_size_mb=round(total / _MEGABYTE, 2))


@router.get("/photos/{task_id}", response_model=VideoEntry, responses={404: {"description": "no such task"}})
def video_info(task_id: str, session: SessionDep, user: CurrentUser) -> VideoEntry:
    return video_entry(_job(session, user.id, task_id))
