"""Seed 003 (BeatFlow) audio routes: analysis, stem separation, hum-to-beat, upload and
download, with the seed's paths and shapes.

    POST /api/ai/analyze-audio?file_path=…   synchronous: {bpm: int, key_signature: "A Minor",
                                             duration: float, …the whole analysis}
    POST /api/ai/separate-stems              {file_path, output_dir?} -> {task_id, status: "pending"}
    POST /api/ai/hum-to-beat                 multipart file_upload; query bpm 60-300 (120), mood
                                             ("neutral") -> {task_id, status: "pending", message}
    POST /api/audio/upload                   multipart file -> {filename, path, size}
    GET  /api/audio/download/{filename}      the caller's file of that name

Task status is GET /api/ai/status/{task_id} (beatflow_generate.py); the results of
separate and hum_to_beat jobs are registered here.

The seed took server paths. Here ``file_path`` resolves only to a URL this service handed
to the caller (``/static/audio/<uuid>/<name>``, ``/media/…``) or to the name of one of
their uploads (``/static/audio/upload_<name>``); anything else (``../``, an absolute
path, someone else's file) is 404, and the string never reaches the file system.
``output_dir`` is accepted and ignored: results stay in the service's store.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import APIRouter, File, Query, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from audiomill.api.compat.beatflow_tasks import (
    STATIC_AUDIO_PREFIX,
    register_result,
    static_audio_url,
)
from audiomill.api.deps import CurrentUser, RuntimeDep, SessionDep
from audiomill.api.files import file_response
from audiomill.api.routes.media import asset_for_client_path
from audiomill.errors import NotFound
from audiomill.jobs import service, uploads
from audiomill.store.tables import Asset, Job

router = APIRouter(tags=["seed 003: BeatFlow audio"])

SEPARATE_KIND = "separate"
HUM_KIND = "hum_to_beat"
STEM_NAMES = ("drums", "bass", "other", "vocals")
_GENERATED_NAME = re.compile(r"^gen_([0-9a-f]{12})\.(wav|mp3)$")


class StemSeparationRequest(BaseModel):
    file_path: str = Field(..., max_length=2000, description="a /static/audio/… URL this service gave you")
    output_dir: str | None = Field(None, max_length=2000, description="accepted for compatibility; ignored")


class StemSeparationResponse(BaseModel):
    task_id: str
    status: str = "pending"


class HumToBeatResponse(BaseModel):
    task_id: str
    status: str = "pending"
    message: str


class UploadResponse(BaseModel):
    filename: str
    path: str
    size: int


def _by_name(session, owner_id: int, name: str) -> Asset:  # type: ignore[no-untyped-def]
    """The caller's file by its seed-style name: an upload ("upload_x.wav") or a
    generation ("gen_<12 hex>.wav" / ".mp3", the names beatflow_generate hands out)."""
    if not name or name != PurePosixPath(name).name or name in (".", ".."):
        raise NotFound("file not found")
    generated = _GENERATED_NAME.match(name)
    if generated:
        prefix, extension = generated.groups()
        for job in session.scalars(select(Job).where(Job.owner_id == owner_id, Job.kind == "generate")):
            if job.uuid.replace("-", "").startswith(prefix):
                wanted = "mix" if extension == "wav" else "preview"
                asset = service.output_files(job).get(wanted)
                if asset is not None:
                    return asset
        raise NotFound("file not found")
    asset = uploads.newest_asset_named(session, owner_id, name)
    if asset is None:
        raise NotFound("file not found")
    return asset


def resolve_file_path(session, owner_id: int, file_path: str) -> Asset:  # type: ignore[no-untyped-def]
    """A client's ``file_path`` -> the caller's asset, or NotFound."""
    decoded = unquote(file_path.strip())
    if decoded.startswith(STATIC_AUDIO_PREFIX):
        rest = decoded[len(STATIC_AUDIO_PREFIX) :]
        if rest and "/" not in rest:
            return _by_name(session, owner_id, rest)
    return asset_for_client_path(session, owner_id, file_path)


def _blob_upload(runtime, asset: Asset) -> service.Upload:  # type: ignore[no-untyped-def]
    return service.Upload(open(runtime.blobs.path(asset.sha256), "rb"), asset.filename)


# -- analysis --------------------------------------------------------------------------


@router.post("/api/ai/analyze-audio", responses={404: {"description": "no such file (or not yours)"}})
def analyze_audio(
    runtime: RuntimeDep,
    session: SessionDep,
    user: CurrentUser,
    file_path: Annotated[str, Query(max_length=2000, description="a /static/audio/… URL this service gave you")],
) -> dict[str, Any]:
    """Analyse one of your files now (seconds for a song): the seed's {bpm, key_signature,
    duration} and the whole analysis (beats, meter, key confidence, loudness, waveform)."""
    from audiomill.analysis import analyze_file

    asset = resolve_file_path(session, user.id, file_path)
    analysis = analyze_file(runtime.blobs.path(asset.sha256)).as_dict()
    return {
        **analysis,
        "bpm": round(analysis["bpm"]),  # the seed's integer; the measured value is bpm_exact
        "bpm_exact": analysis["bpm"],
        "key_signature": analysis["key_signature"],
        "duration": round(float(analysis["duration_seconds"]), 3),
        "file_path": file_path,
    }


# -- stem separation -------------------------------------------------------------------


@router.post(
    "/api/ai/separate-stems",
    response_model=StemSeparationResponse,
    responses={404: {"description": "no such file (or not yours)"}},
)
def separate_stems(
    request: StemSeparationRequest, runtime: RuntimeDep, session: SessionDep, user: CurrentUser
) -> StemSeparationResponse:
    asset = resolve_file_path(session, user.id, request.file_path)
    upload = _blob_upload(runtime, asset)
    try:
        job = service.create_job(runtime, user.id, SEPARATE_KIND, {"output_format": "wav"}, [upload])
    finally:
        upload.stream.close()
    return StemSeparationResponse(task_id=job.uuid, status="pending")


def separate_result(job: Job) -> dict[str, Any]:
    outputs = service.output_files(job)
    stems = {name: asset for name, asset in outputs.items() if name in STEM_NAMES or ":" not in name}
    return {
        "status": "success",
        "stems_path": f"/api/v1/jobs/{job.uuid}/archive",
        "stem_urls": {name: static_audio_url(asset) for name, asset in stems.items()},
        "stem_files": [asset.filename for asset in stems.values()],
        "model": (job.result or {}).get("model", job.params.get("model")),
    }


register_result(SEPARATE_KIND, separate_result)


# -- hum to beat -----------------------------------------------------------------------


@router.post("/api/ai/hum-to-beat", response_model=HumToBeatResponse)
def hum_to_beat(
    runtime: RuntimeDep,
    user: CurrentUser,
    file_upload: Annotated[UploadFile, File(description="the hummed melody (mp3, wav, m4a, flac, ogg)")],
    bpm: Annotated[int, Query(ge=60, le=300)] = 120,
    mood: Annotated[str, Query(min_length=1, max_length=100)] = "neutral",
) -> HumToBeatResponse:
    params = {"bpm": bpm, "mood": mood, "output_format": "wav"}
    job = service.create_job(
        runtime, user.id, HUM_KIND, params, [service.Upload(file_upload.file, file_upload.filename)]
    )
    return HumToBeatResponse(task_id=job.uuid, status="pending", message="Melody-to-beat generation queued")


def hum_to_beat_result(job: Job) -> dict[str, Any]:
    outputs = service.output_files(job)
    result = job.result or {}
    name = "hum_" + job.uuid.replace("-", "")[:12]
    return {
        "status": "success",
        "file_path": static_audio_url(outputs["mix"], f"{name}.wav") if "mix" in outputs else None,
        "bpm": result.get("bpm", job.params.get("bpm")),
        "mood": result.get("mood", job.params.get("mood")),
        "key": result.get("key"),
        "notes": result.get("notes", []),
        "melody_midi_path": static_audio_url(outputs["melody_midi"]) if "melody_midi" in outputs else None,
        "midi_path": static_audio_url(outputs["midi"]) if "midi" in outputs else None,
        "stems": {n.split(":", 1)[1]: static_audio_url(a) for n, a in outputs.items() if n.startswith("stem:")},
        "output_filename": f"{name}.wav",
    }


register_result(HUM_KIND, hum_to_beat_result)


# -- upload and download ---------------------------------------------------------------


@router.post("/api/audio/upload", response_model=UploadResponse)
def upload_audio(
    runtime: RuntimeDep, user: CurrentUser, file: Annotated[UploadFile, File(description="an audio file")]
) -> UploadResponse:
    # safe_filename again on the whole name: the prefix must not push it past the length limit
    filename = service.safe_filename("upload_" + service.safe_filename(file.filename, default="audio"))
    asset = uploads.store_upload(runtime, user.id, service.Upload(file.file, file.filename), filename)
    return UploadResponse(filename=filename, path=static_audio_url(asset, filename), size=asset.size_bytes)


@router.get(
    "/api/audio/download/{filename}",
    response_class=FileResponse,
    responses={404: {"description": "no such file (or not yours)"}},
)
def download_audio(filename: str, runtime: RuntimeDep, session: SessionDep, user: CurrentUser) -> FileResponse:
    return file_response(runtime, _by_name(session, user.id, filename))
