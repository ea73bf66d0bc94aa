"""/api/v1/jobs: create, list, get, cancel, delete, download, events."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response
from sqlalchemy.orm import Session

from audiomill.api import job_requests
from audiomill.api.deps import CurrentUser, RuntimeDep, SessionDep, in_session, websocket_caller
from audiomill.api.files import archive_name, file_response, zip_response
from audiomill.api.schemas import JobPublic, JobsPublic, job_public
from audiomill.errors import Conflict, Forbidden, InvalidInput, NotFound, UnsupportedMedia
from audiomill.jobs import reads, service
from audiomill.jobs.states import JobStatus
from audiomill.kinds import KindSpec
from audiomill.runtime import Runtime
from audiomill.store.tables import Job

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such job (or not yours)"},
    409: {"description": "The job's status does not allow this (e.g. not finished yet)"},
    413: {"description": "Upload over the size limit"},
    415: {"description": "Not audio we can decode"},
    422: {"description": "Invalid kind or parameters"},
}


def _specs(runtime: Runtime) -> tuple[KindSpec, ...]:
    return job_requests.all_specs(runtime.settings.extra_kinds)


async def _read_request(request: Request, runtime: Runtime) -> job_requests.JobRequest:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    specs = _specs(runtime)
    if content_type == "application/json":
        try:
            body = await request.json()
        except ValueError as exc:
            raise InvalidInput(f"the body is not valid JSON: {exc}") from None
        return job_requests.parse_json(body, specs)
    if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return job_requests.parse_form(await request.form(), specs)
    raise UnsupportedMedia(
        "send the job as application/json ({kind, params, inputs}) or as multipart/form-data "
        f"(kind, params, file); got {content_type or 'no content type'}"
    )


@router.post(
    "",
    status_code=201,
    response_model=JobPublic,
    responses=ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{job_requests.JOB_CREATE_SCHEMA}"}},
                "multipart/form-data": {"schema": {"$ref": "#/components/schemas/JobCreateMultipart"}},
            },
        }
    },
)
async def create_job(request: Request, runtime: RuntimeDep, user: CurrentUser) -> JobPublic:
    """Create a job. As JSON: `{"kind", "params", "inputs": {name: asset_id}}` (inputs uploaded
    before with `POST /api/v1/assets`; none for text-only kinds). As multipart: `kind`,
    `params` (JSON) and the file(s). Every kind's parameters are in the JobCreate schema."""
    parsed = await _read_request(request, runtime)

    def create() -> JobPublic:
        job = service.create_job(runtime, user.id, parsed.kind, parsed.params, parsed.uploads, parsed.input_assets)
        with runtime.db.session() as session:
            return job_public(service.get_job(session, user.id, job.uuid))

    return await run_in_threadpool(create)


@router.get("", response_model=JobsPublic, responses={403: {"description": "all=true from a non-admin"}})
async def list_jobs(
    runtime: RuntimeDep,
    user: CurrentUser,
    kind: str | None = None,
    status: JobStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    all_users: Annotated[bool, Query(alias="all", description="admins: every user's jobs")] = False,
) -> JobsPublic:
    if all_users and not user.is_admin:
        raise Forbidden("all=true lists every user's jobs and is for admins only; leave it out to list your own jobs")
    owner_id = None if all_users else user.id

    def read(session: Session) -> JobsPublic:
        jobs, count = reads.list_jobs(session, owner_id, [kind] if kind else None, status, limit, offset)
        return JobsPublic(data=[job_public(job) for job in jobs], count=count)  # type: ignore[arg-type]

    return await in_session(runtime, read)  # clients poll: one thread hop for the whole read


@router.get("/{job_id}", response_model=JobPublic, responses=ERRORS)
async def get_job(job_id: str, runtime: RuntimeDep, user: CurrentUser) -> JobPublic:
    return await in_session(
        runtime,
        lambda session: job_public(reads.get_job(session, user.id, job_id)),  # type: ignore[arg-type]
    )


@router.post("/{job_id}/cancel", response_model=JobPublic, responses=ERRORS)
def cancel_job(job_id: str, runtime: RuntimeDep, user: CurrentUser) -> JobPublic:
    service.cancel_job(runtime, user.id, job_id)
    with runtime.db.session() as session:
        return job_public(service.get_job(session, user.id, job_id))


@router.delete("/{job_id}", status_code=204, responses=ERRORS)
def delete_job(job_id: str, runtime: RuntimeDep, user: CurrentUser) -> Response:
    service.delete_job(runtime, user.id, job_id)
    return Response(status_code=204)


@router.head("/{job_id}/outputs/{name}", include_in_schema=False)
@router.get("/{job_id}/outputs/{name}", response_class=FileResponse, responses=ERRORS)
def download_output(
    job_id: str, name: str, runtime: RuntimeDep, session: SessionDep, user: CurrentUser
) -> FileResponse:
    job = service.get_job(session, user.id, job_id)
    asset = service.output_files(job).get(name)
    if asset is None:
        _refuse_unfinished(job)
        raise NotFound(f"job {job_id} has no output {name!r}")
    return file_response(runtime, asset)


@router.head("/{job_id}/archive", include_in_schema=False)
@router.get("/{job_id}/archive", response_class=FileResponse, responses=ERRORS)
def download_archive(job_id: str, runtime: RuntimeDep, session: SessionDep, user: CurrentUser) -> FileResponse:
    job = service.get_job(session, user.id, job_id)
    _refuse_unfinished(job)
    outputs = service.output_files(job)
    if not outputs:
        raise NotFound(f"job {job_id} completed without output files (its result is in the job)")
    return zip_response(runtime, outputs, archive_name(job))


def _refuse_unfinished(job: Job) -> None:
    """409 for a job whose outputs do not exist because of its status, saying which."""
    status = JobStatus(job.status)
    if status in (JobStatus.pending, JobStatus.processing):
        raise Conflict(
            f"job {job.uuid} is not finished (status: {status.value}); "
            "its outputs can be downloaded once it has completed"
        )
    if status in (JobStatus.failed, JobStatus.cancelled):
        raise Conflict(f"job {job.uuid} has no outputs: it {_ended(status)}")


def _ended(status: JobStatus) -> str:
    return "was cancelled" if status == JobStatus.cancelled else "failed (see its error)"


@router.websocket("/{job_id}/events")
async def job_events(websocket: WebSocket, job_id: str) -> None:
    """Sends the job's state, then every change, and closes once the job has ended."""
    runtime = websocket.app.state.runtime
    caller = await websocket_caller(websocket, runtime, NotFound(f"job {job_id} not found"))
    if caller is None:
        return
    user = caller.user

    def snapshot() -> dict[str, Any] | None:
        with runtime.db.session() as session:
            try:
                return service.job_event(service.get_job(session, user.id, job_id))
            except NotFound:
                return None

    current = await asyncio.to_thread(snapshot)
    if current is None:
        await websocket.send_denial_response(
            JSONResponse(status_code=404, content={"detail": f"job {job_id} not found"})
        )
        return
    await websocket.accept()
    listener = runtime.events.subscribe(job_id)
    try:
        await websocket.send_json(current)
        while not JobStatus(current["status"]).is_terminal:
            try:
                event = await asyncio.wait_for(listener.queue.get(), timeout=2.0)
            except TimeoutError:
                # Nothing heard: the job may run in another process; read the row.
                event = await asyncio.to_thread(snapshot) or {**current, "status": "cancelled"}
                if event == current:
                    continue
            current = {**current, **event}
            await websocket.send_json(event)
        await websocket.close()
    except WebSocketDisconnect:
        pass
    finally:
        runtime.events.unsubscribe(job_id, listener)
