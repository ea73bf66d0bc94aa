"""/api/v1/jobs: create, list, get, cancel, delete, download, events."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, JSONResponse, Response
from sqlalchemy.orm import Session

from audiomill.api.deps import CurrentUser, RuntimeDep, SessionDep, authenticate, in_session
from audiomill.api.files import file_response, zip_response
from audiomill.api.schemas import JobPublic, JobsPublic, job_public
from audiomill.api.guard import is_same_origin
from audiomill.errors import AudiomillError, InvalidInput, NotFound
from audiomill.jobs import reads, service
from audiomill.jobs.states import JobStatus

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such job (or not yours)"},
    413: {"description": "Upload over the size limit"},
    415: {"description": "Not audio we can decode"},
    422: {"description": "Invalid kind or parameters"},
}


def _parse_params(raw: str | None) -> dict[str, Any]:
    if raw is None or not raw.strip():
        return {}
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"params must be a JSON object: {exc.msg} at position {exc.pos}") from None
    if not isinstance(parsed, dict):
        raise InvalidInput("params must be a JSON object")
    return parsed


@router.post("", status_code=201, response_model=JobPublic, responses=ERRORS)
def create_job(
    runtime: RuntimeDep,
    user: CurrentUser,
    kind: Annotated[str, Form(description="job kind, e.g. separate")],
    file: Annotated[list[UploadFile], File(description="input file(s), in the kind's input order")],
    params: Annotated[str | None, Form(description='JSON object of parameters, e.g. {"two_stems": "vocals"}')] = None,
) -> JobPublic:
    uploads = [service.Upload(stream=f.file, filename=f.filename) for f in file]
    job = service.create_job(runtime, user.id, kind, _parse_params(params), uploads)
    with runtime.db.session() as session:
        return job_public(service.get_job(session, user.id, job.uuid))


@router.get("", response_model=JobsPublic)
async def list_jobs(
    runtime: RuntimeDep,
    user: CurrentUser,
    kind: str | None = None,
    status: JobStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    all_users: Annotated[bool, Query(alias="all", description="admins: every user's jobs")] = False,
) -> JobsPublic:
    owner_id = None if all_users and user.is_admin else user.id

    def read(session: Session) -> JobsPublic:
        jobs, count = reads.list_jobs(session, owner_id, [kind] if kind else None, status, limit, offset)
        return JobsPublic(data=[job_public(job) for job in jobs], count=count)  # type: ignore[arg-type]

    return await in_session(runtime, read)  # clients poll: one thread hop for the whole read


@router.get("/{job_id}", response_model=JobPublic, responses=ERRORS)
async def get_job(job_id: str, runtime: RuntimeDep, user: CurrentUser) -> JobPublic:
    return await in_session(
        runtime, lambda session: job_public(reads.get_job(session, user.id, job_id))  # type: ignore[arg-type]
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


@router.get("/{job_id}/outputs/{name}", response_class=FileResponse, responses=ERRORS)
def download_output(job_id: str, name: str, runtime: RuntimeDep, session: SessionDep, user: CurrentUser) -> FileResponse:
    job = service.get_job(session, user.id, job_id)
    asset = service.output_files(job).get(name)
    if asset is None:
        raise NotFound(f"job {job_id} has no output {name!r}")
    return file_response(runtime, asset)


@router.get("/{job_id}/archive", response_class=FileResponse, responses=ERRORS)
def download_archive(job_id: str, runtime: RuntimeDep, session: SessionDep, user: CurrentUser) -> FileResponse:
    job = service.get_job(session, user.id, job_id)
    outputs = service.output_files(job)
    if not outputs:
        raise NotFound(f"job {job_id} has no outputs yet (status: {job.status})")
    return zip_response(runtime, outputs, f"{job.kind}-{job.uuid}.zip")


@router.websocket("/{job_id}/events")
async def job_events(websocket: WebSocket, job_id: str) -> None:
    """Sends the job's state, then every change, and closes once the job has ended."""
    runtime = websocket.app.state.runtime
    try:
        caller = await asyncio.to_thread(authenticate, websocket, runtime)
        origin = websocket.headers.get("origin")
        if caller.via == "session" and origin and not is_same_origin(
            origin, websocket.headers.get("host", ""), runtime.settings.cors_origins
        ):  # a cookie must not let another site's page listen in
            raise NotFound(f"job {job_id} not found")
    except AudiomillError as exc:
        await websocket.send_denial_response(JSONResponse(status_code=exc.http_status, content={"detail": exc.message}))
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
