"""Seed 001, "Audio Processing Services": denoise, vocal split, boost and speaker
extraction under /api/denoise/, /api/vocal/, /api/boost/ and /api/speaker/, with that
document's paths, form fields, integer ids, JSON shapes and status values.

Errors under these prefixes use the seed's ``{"status": "error", "message": …}`` shape
(registered with the API's error handlers), and a missing file is the seed's 400 body.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, UploadFile
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from audiomill.api.deps import CurrentUser, RuntimeDep, SessionDep
from audiomill.api.errors import register_error_shape
from audiomill.api.routes.media import media_url
from audiomill.api.schemas import as_utc
from audiomill.jobs import service
from audiomill.jobs.states import JobStatus
from audiomill.store.tables import Asset, Job

router = APIRouter(tags=["seed 001: audio processing services"])
FileId = Annotated[int, Path(ge=1, le=2**62, description="the file's integer id")]
FILE_ID = "file_id"  # the path parameter's name, as validation errors spell it

UNSUPPORTED_MESSAGE = "Unsupported file type. Please upload MP3, WAV, M4A, or FLAC files."
PREFIXES = ("/api/denoise/", "/api/vocal/", "/api/boost/", "/api/speaker/")
# Outputs keep the input's format where it is one we encode, as the seed's examples do.
ENCODABLE = {"mp3", "wav", "flac", "m4a"}


def _seed_error(status: int, message: str) -> tuple[int, dict[str, Any]]:
    if status == 415:
        message = UNSUPPORTED_MESSAGE
    elif status == 404:
        message = "File not found"
    elif status == 422 and message.startswith(f"invalid request: {FILE_ID}:"):
        # a file id that cannot exist (0, -1, "abc", past 2**62) names no file, as an
        # unknown one does (Django's <int:file_id> URL pattern would not match it either)
        return 404, {"status": "error", "message": "File not found"}
    elif status == 422:  # the seed's clients expect 400 for invalid parameters
        status = 400
    return status, {"status": "error", "message": message}


for _prefix in PREFIXES:
    register_error_shape(_prefix, _seed_error)


@dataclass(frozen=True)
class Service:
    kind: str
    output_category: str  # the descriptive part of the output's media URL
    failed_status: str  # the seed's word for a failed job in this service


DENOISE = Service("denoise", "denoised", "failed")
VOCAL = Service("vocals", "vocal_separation", "error")
BOOST = Service("boost", "audio_boost/boosted", "failed")
SPEAKER = Service("extract_speaker", "speaker_extraction/extracted", "failed")


def _timestamp(moment: datetime | None) -> str | None:
    utc = as_utc(moment)
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ") if utc else None


def _duration(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    whole = int(round(seconds))
    return f"{whole // 60:02d}:{whole % 60:02d}"


def _status(job: Job, svc: Service) -> str:
    status = JobStatus(job.status)
    if status in (JobStatus.failed, JobStatus.cancelled):
        return svc.failed_status
    return status.value


def _output_format(filename: str) -> str:
    suffix = PurePath(filename).suffix.lower().lstrip(".")
    return suffix if suffix in ENCODABLE else "wav"


def _output_url(job: Job, svc: Service, output: str, input_name: str, suffix: str) -> str | None:
    asset = service.output_files(job).get(output)
    if job.status != JobStatus.completed or asset is None:
        return None
    stem = PurePath(service.input_files(job)[input_name].filename).stem or "audio"
    extension = PurePath(asset.filename).suffix
    return media_url(f"{svc.output_category}/{suffix}" if svc is VOCAL else svc.output_category, asset,
                     f"{stem}_{suffix}{extension}")


def _original_url(asset: Asset, category: str) -> str:
    return media_url(category, asset)


def _common(job: Job, svc: Service) -> dict[str, Any]:
    return {
        "id": job.id,
        "status": _status(job, svc),
        "progress": round(job.progress),
        "uploaded_at": _timestamp(job.created_at),
        "processed_at": _timestamp(job.finished_at) if job.status == JobStatus.completed else None,
        "error_message": job.error,
    }


def _denoise_item(job: Job) -> dict[str, Any]:
    original = service.input_files(job)["audio"]
    return {
        **_common(job, DENOISE), "filename": original.filename,
        "boost_level": job.params.get("boost_level", "none"), "duration": _duration(original.duration_seconds),
        "original_url": _original_url(original, "original"),
        "denoised_url": _output_url(job, DENOISE, "audio", "audio", "denoised"),
    }


def _vocal_item(job: Job) -> dict[str, Any]:
    original = service.input_files(job)["audio"]
    return {
        **_common(job, VOCAL), "filename": original.filename, "duration": _duration(original.duration_seconds),
        "original_url": _original_url(original, "vocal_separation/original"),
        "vocals_url": _output_url(job, VOCAL, "vocals", "audio", "vocals"),
        "instrumental_url": _output_url(job, VOCAL, "instrumental", "audio", "instrumental"),
    }


def _boost_item(job: Job) -> dict[str, Any]:
    original = service.input_files(job)["audio"]
    return {
        **_common(job, BOOST), "filename": original.filename,
        "boost_level": job.params.get("boost_level"), "duration": _duration(original.duration_seconds),
        "original_url": _original_url(original, "audio_boost/original"),
        "boosted_url": _output_url(job, BOOST, "audio", "audio", "boosted"),
        "loudness": {k: v for k, v in job.result.items() if "lufs" in k or "dbtp" in k or k == "gain_db"} or None,
    }


def _speaker_item(job: Job) -> dict[str, Any]:
    inputs = service.input_files(job)
    conversation, target = inputs["conversation"], inputs["target"]
    return {
        **_common(job, SPEAKER),
        "conversation_filename": conversation.filename, "target_filename": target.filename,
        "boost_level": job.params.get("boost_level", "none"),
        "similarity_score": job.result.get("similarity_score"),
        "duration": _duration(conversation.duration_seconds),
        "conversation_url": _original_url(conversation, "speaker_extraction/conversations"),
        "target_url": _original_url(target, "speaker_extraction/targets"),
        "extracted_url": _output_url(job, SPEAKER, "audio", "conversation", "extracted"),
    }


def _start(runtime, user, svc: Service, params: dict[str, Any], uploads: list[UploadFile]) -> Job:  # type: ignore[no-untyped-def]
    files = [service.Upload(u.file, u.filename) for u in uploads]
    return service.create_job(runtime, user.id, svc.kind, params, files)


def _files(session: Session, user_id: int, svc: Service, item) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    jobs, _ = service.list_jobs(session, user_id, [svc.kind], limit=10_000)
    return {"files": [item(job) for job in jobs]}


def _missing(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(status_code=400, content=body)


# -- denoise ---------------------------------------------------------------------------

@router.post("/api/denoise/upload/")
def denoise_upload(
    runtime: RuntimeDep, user: CurrentUser,
    audio_file: Annotated[UploadFile | None, File()] = None,
    boost_level: Annotated[str, Form()] = "none",
) -> Any:
    if audio_file is None:
        return _missing({"status": "error", "message": "No audio file provided"})
    params = {"boost_level": boost_level, "output_format": _output_format(audio_file.filename or "")}
    job = _start(runtime, user, DENOISE, params, [audio_file])
    return {"status": "success", "message": "File uploaded successfully. Processing started.",
            "file_id": job.id, "filename": service.safe_filename(audio_file.filename)}


@router.get("/api/denoise/files/")
def denoise_files(session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    return _files(session, user.id, DENOISE, _denoise_item)


@router.get("/api/denoise/files/{file_id}/status/")
def denoise_status(file_id: FileId, session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    return _denoise_item(service.get_job_by_number(session, user.id, file_id, [DENOISE.kind]))


@router.delete("/api/denoise/files/{file_id}/delete/")
def denoise_delete(file_id: FileId, runtime: RuntimeDep, user: CurrentUser) -> dict[str, Any]:
    _delete(runtime, user.id, file_id, DENOISE)
    return {"status": "success", "message": "File deleted successfully"}


# -- vocal separation ------------------------------------------------------------------

@router.post("/api/vocal/separate/")
def vocal_separate(runtime: RuntimeDep, user: CurrentUser, audio_file: Annotated[UploadFile | None, File()] = None) -> Any:
    if audio_file is None:
        return _missing({"error": "No file provided"})
    job = _start(runtime, user, VOCAL, {"output_format": _output_format(audio_file.filename or "")}, [audio_file])
    return {"status": "success", "message": "Vocal separation started", "file_id": job.id}


@router.get("/api/vocal/files/")
def vocal_files(session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    return _files(session, user.id, VOCAL, _vocal_item)


@router.get("/api/vocal/files/{file_id}/status/")
def vocal_status(file_id: FileId, session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    return _vocal_item(service.get_job_by_number(session, user.id, file_id, [VOCAL.kind]))


@router.delete("/api/vocal/files/{file_id}/delete/")
def vocal_delete(file_id: FileId, runtime: RuntimeDep, user: CurrentUser) -> dict[str, Any]:
    _delete(runtime, user.id, file_id, VOCAL)
    return {"status": "success"}


# -- boost -----------------------------------------------------------------------------

@router.post("/api/boost/upload/")
def boost_upload(
    runtime: RuntimeDep, user: CurrentUser,
    audio_file: Annotated[UploadFile | None, File()] = None,
    boost_level: Annotated[str, Form()] = "3x",
) -> Any:
    if audio_file is None:
        return _missing({"error": "No file provided"})
    params = {"boost_level": boost_level, "output_format": _output_format(audio_file.filename or "")}
    job = _start(runtime, user, BOOST, params, [audio_file])
    return {"status": "success", "message": "Audio boost started", "file_id": job.id}


@router.get("/api/boost/files/")
def boost_files(session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    return _files(session, user.id, BOOST, _boost_item)


@router.get("/api/boost/files/{file_id}/status/")
def boost_status(file_id: FileId, session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    return _boost_item(service.get_job_by_number(session, user.id, file_id, [BOOST.kind]))


@router.delete("/api/boost/files/{file_id}/delete/")
def boost_delete(file_id: FileId, runtime: RuntimeDep, user: CurrentUser) -> dict[str, Any]:
    _delete(runtime, user.id, file_id, BOOST)
    return {"status": "success"}


# -- speaker extraction ----------------------------------------------------------------

@router.post("/api/speaker/extract/")
def speaker_extract(
    runtime: RuntimeDep, user: CurrentUser,
    conversation_file: Annotated[UploadFile | None, File()] = None,
    target_speaker_file: Annotated[UploadFile | None, File()] = None,
    boost_level: Annotated[str, Form()] = "none",
) -> Any:
    if conversation_file is None or target_speaker_file is None:
        return _missing({"status": "error", "message": "Both conversation file and target speaker file are required"})
    params = {"boost_level": boost_level, "output_format": _output_format(conversation_file.filename or "")}
    job = _start(runtime, user, SPEAKER, params, [conversation_file, target_speaker_file])
    return {"status": "success", "message": "Speaker extraction started", "file_id": job.id}


@router.get("/api/speaker/files/")
def speaker_files(session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    return _files(session, user.id, SPEAKER, _speaker_item)


@router.get("/api/speaker/files/{file_id}/status/")
def speaker_status(file_id: FileId, session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    return _speaker_item(service.get_job_by_number(session, user.id, file_id, [SPEAKER.kind]))


@router.delete("/api/speaker/files/{file_id}/delete/")
def speaker_delete(file_id: FileId, runtime: RuntimeDep, user: CurrentUser) -> dict[str, Any]:
    _delete(runtime, user.id, file_id, SPEAKER)
    return {"status": "success", "message": "File deleted successfully"}


def _delete(runtime, owner_id: int, file_id: FileId, svc: Service) -> None:  # type: ignore[no-untyped-def]
    with runtime.db.session() as session:
        job_uuid = service.get_job_by_number(session, owner_id, file_id, [svc.kind]).uuid
    service.delete_job(runtime, owner_id, job_uuid)
