"""Seed 001, "Audio Processing Services": denoise, vocal split, boost and speaker
extraction under /api/denoise/, /api/vocal/, /api/boost/ and /api/speaker/, with that
document's paths, form fields, integer ids, JSON shapes and status values.

The four services share one set of handlers (start, list, status, delete); ``SERVICES``
is the table of everything in which they differ: paths, form fields, kind, URL
categories, the seed's words and bodies, extra fields.

Errors under these prefixes use the seed's ``{"status": "error", "message": …}`` shape
(registered with the API's error handlers), and a missing file is the seed's 400 body.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from inspect import Parameter, Signature
from pathlib import PurePath
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, UploadFile
from fastapi.responses import JSONResponse

from sqlalchemy.orm import Session

from audiomill.api.deps import CurrentUser, RuntimeDep, in_session
from audiomill.api.errors import register_error_shape
from audiomill.api.routes.media import media_url
from audiomill.api.schemas import as_utc
from audiomill.jobs import reads, service
from audiomill.jobs.states import JobStatus
from audiomill.store.tables import Job

router = APIRouter(tags=["seed 001: audio processing services"])
FileId = Annotated[int, Path(ge=1, le=2**62, description="the file's integer id")]
FILE_ID = "file_id"  # the path parameter's name, as validation errors spell it

UNSUPPORTED_MESSAGE = "Unsupported file type. Please upload MP3, WAV, M4A, or FLAC files."
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


@dataclass(frozen=True)
class Original:
    """An uploaded file as the seed lists it: ``<field>filename`` and ``<field>_url``."""

    form_field: str  # the multipart field it arrives in
    input_name: str  # the kind's input it becomes
    field: str  # "" -> "filename" / "original_url"; "conversation" -> "conversation_filename" / "conversation_url"
    category: str  # the descriptive part of its media URL


@dataclass(frozen=True)
class Output:
    """A result file as the seed lists it: ``<suffix>_url``, named ``<upload stem>_<suffix>``."""

    name: str  # the job's output
    suffix: str  # "denoised", "vocals", ...
    category: str  # the descriptive part of its media URL


@dataclass(frozen=True)
class Service:
    """Everything in which the seed's four services differ; the handlers below are shared."""

    prefix: str  # /api/<prefix>/
    kind: str
    start_path: str  # POST /api/<prefix>/<start_path>/ starts a job
    originals: tuple[Original, ...]  # in the kind's input order
    outputs: tuple[Output, ...]
    failed_status: str  # the seed's word for a failed job
    missing_body: dict[str, str]  # 400 when a file is missing
    started_message: str
    deleted_body: dict[str, str]
    boost_default: str | None = None  # the boost_level form field's default; None: no such field
    started_echoes_filename: bool = False  # the start answer also carries "filename"
    duration_of: str = "audio"  # the input whose length is "duration"
    extra: Callable[[Job], dict[str, Any]] = lambda job: {}  # fields only this service lists


def _loudness(job: Job) -> dict[str, Any]:
    figures = {k: v for k, v in job.result.items() if "lufs" in k or "dbtp" in k or k == "gain_db"}
    return {"loudness": figures or None}


_ORIGINAL = Original("audio_file", "audio", "", "original")
SERVICES = (
    Service(
        prefix="denoise",
        kind="denoise",
        start_path="upload",
        originals=(_ORIGINAL,),
        outputs=(Output("audio", "denoised", "denoised"),),
        failed_status="failed",
        missing_body={"status": "error", "message": "No audio file provided"},
        started_message="File uploaded successfully. Processing started.",
        deleted_body={"status": "success", "message": "File deleted successfully"},
        boost_default="none",
        started_echoes_filename=True,
    ),
    Service(
        prefix="vocal",
        kind="vocals",
        start_path="separate",
        originals=(replace(_ORIGINAL, category="vocal_separation/original"),),
        outputs=(
            Output("vocals", "vocals", "vocal_separation/vocals"),
            Output("instrumental", "instrumental", "vocal_separation/instrumental"),
        ),
        failed_status="error",
        missing_body={"error": "No file provided"},
        started_message="Vocal separation started",
        deleted_body={"status": "success"},
    ),
    Service(
        prefix="boost",
        kind="boost",
        start_path="upload",
        originals=(replace(_ORIGINAL, category="audio_boost/original"),),
        outputs=(Output("audio", "boosted", "audio_boost/boosted"),),
        failed_status="failed",
        missing_body={"error": "No file provided"},
        started_message="Audio boost started",
        deleted_body={"status": "success"},
        boost_default="3x",
        extra=_loudness,
    ),
    Service(
        prefix="speaker",
        kind="extract_speaker",
        start_path="extract",
        originals=(
            Original("conversation_file", "conversation", "conversation", "speaker_extraction/conversations"),
            Original("target_speaker_file", "target", "target", "speaker_extraction/targets"),
        ),
        outputs=(Output("audio", "extracted", "speaker_extraction/extracted"),),
        failed_status="failed",
        missing_body={"status": "error", "message": "Both conversation file and target speaker file are required"},
        started_message="Speaker extraction started",
        deleted_body={"status": "success", "message": "File deleted successfully"},
        boost_default="none",
        duration_of="conversation",
        extra=lambda job: {"similarity_score": job.result.get("similarity_score")},
    ),
)
PREFIXES = tuple(f"/api/{svc.prefix}/" for svc in SERVICES)
for _prefix in PREFIXES:
    register_error_shape(_prefix, _seed_error)


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


def _output_url(job: Job, output: Output, upload_stem: str) -> str | None:
    asset = service.output_files(job).get(output.name)
    if job.status != JobStatus.completed or asset is None:
        return None
    extension = PurePath(asset.filename).suffix
    return media_url(output.category, asset, f"{upload_stem}_{output.suffix}{extension}")


def _item(job: Job, svc: Service) -> dict[str, Any]:
    """One job as the seed lists it, status and list alike."""
    inputs = service.input_files(job)
    item: dict[str, Any] = {
        "id": job.id,
        "status": _status(job, svc),
        "progress": round(job.progress),  # percent, as the job row keeps it
        "uploaded_at": _timestamp(job.created_at),
        "processed_at": _timestamp(job.finished_at) if job.status == JobStatus.completed else None,
        "error_message": job.error,
    }
    for original in svc.originals:
        asset = inputs[original.input_name]
        item[f"{original.field}_filename" if original.field else "filename"] = asset.filename
        item[f"{original.field}_url" if original.field else "original_url"] = media_url(original.category, asset)
    if svc.boost_default is not None:
        item["boost_level"] = job.params.get("boost_level", svc.boost_default)
    item["duration"] = _duration(inputs[svc.duration_of].duration_seconds)
    upload_stem = PurePath(inputs[svc.originals[0].input_name].filename).stem or "audio"
    for output in svc.outputs:
        item[f"{output.suffix}_url"] = _output_url(job, output, upload_stem)
    item.update(svc.extra(job))
    return item


# -- the four services' routes, one set of handlers ---------------------------------------


def _start_handler(svc: Service) -> Callable[..., Any]:
    def start(runtime: RuntimeDep, user: CurrentUser, **form: Any) -> Any:
        uploads: list[UploadFile | None] = [form[o.form_field] for o in svc.originals]
        if any(upload is None for upload in uploads):
            return JSONResponse(status_code=400, content=svc.missing_body)
        files = [service.Upload(u.file, u.filename) for u in uploads if u is not None]
        params: dict[str, Any] = {"output_format": _output_format(files[0].filename or "")}
        if svc.boost_default is not None:
            params["boost_level"] = form["boost_level"]
        job = service.create_job(runtime, user.id, svc.kind, params, files)
        body: dict[str, Any] = {"status": "success", "message": svc.started_message, "file_id": job.id}
        if svc.started_echoes_filename:
            body["filename"] = service.safe_filename(files[0].filename)
        return body

    # FastAPI reads the form fields from the signature: one optional file per upload,
    # then boost_level where the service takes it
    fields = [
        Parameter(o.form_field, Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[UploadFile | None, File()])
        for o in svc.originals
    ]
    if svc.boost_default is not None:
        fields.append(
            Parameter(
                "boost_level", Parameter.KEYWORD_ONLY, default=svc.boost_default, annotation=Annotated[str, Form()]
            )
        )
    start.__signature__ = Signature(  # type: ignore[attr-defined]
        [
            Parameter("runtime", Parameter.KEYWORD_ONLY, annotation=RuntimeDep),
            Parameter("user", Parameter.KEYWORD_ONLY, annotation=CurrentUser),
            *fields,
        ],
        return_annotation=Any,
    )
    return start


# Clients poll these two: one thread hop each, on the ORM-free read path (jobs.reads).
def _list_handler(svc: Service) -> Callable[..., Any]:
    async def files(runtime: RuntimeDep, user: CurrentUser) -> dict[str, Any]:
        def read(session: Session) -> dict[str, Any]:
            jobs, _ = reads.list_jobs(session, user.id, [svc.kind], limit=10_000)
            return {"files": [_item(job, svc) for job in jobs]}  # type: ignore[arg-type]

        return await in_session(runtime, read)

    return files


def _status_handler(svc: Service) -> Callable[..., Any]:
    async def status(file_id: FileId, runtime: RuntimeDep, user: CurrentUser) -> dict[str, Any]:
        return await in_session(
            runtime,
            lambda session: _item(reads.get_job_by_number(session, user.id, file_id, [svc.kind]), svc),  # type: ignore[arg-type]
        )

    return status


def _delete_handler(svc: Service) -> Callable[..., Any]:
    def delete(file_id: FileId, runtime: RuntimeDep, user: CurrentUser) -> dict[str, Any]:
        with runtime.db.session() as session:
            job_uuid = service.get_job_by_number(session, user.id, file_id, [svc.kind]).uuid
        service.delete_job(runtime, user.id, job_uuid)
        return svc.deleted_body

    return delete


for _svc in SERVICES:
    _base = f"/api/{_svc.prefix}"
    router.add_api_route(
        f"{_base}/{_svc.start_path}/", _start_handler(_svc), methods=["POST"], name=f"{_svc.prefix}_{_svc.start_path}"
    )
    router.add_api_route(f"{_base}/files/", _list_handler(_svc), methods=["GET"], name=f"{_svc.prefix}_files")
    router.add_api_route(
        f"{_base}/files/{{file_id}}/status/", _status_handler(_svc), methods=["GET"], name=f"{_svc.prefix}_status"
    )
    router.add_api_route(
        f"{_base}/files/{{file_id}}/delete/", _delete_handler(_svc), methods=["DELETE"], name=f"{_svc.prefix}_delete"
    )
