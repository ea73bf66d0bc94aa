"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline

from audiomill import __version__
from audiomill.api import job_requests
from audiomill.api.compat import (
    audio_services,
    beatflow_audio,
    beatflow_generate,
    beatflow_vcs,
    demucs_api,
    music_generator,
    photo_video,
)
from audiomill.api.concurrency import ConcurrencyLimit
from audiomill.api.errors import BodySizeLimit, install_error_handlers
from audiomill.api.guard import LocalModeGuard
from audiomill.api.routes import assets, auth, events, health, jobs, kinds, media, metrics, page, repos, webhooks
from audiomill.config import Settings, get_settings
from audiomill.engines.base import check_extra_kinds
from audiomill.errors import AudiomillError
from audiomill.jobs.cleanup import cleanup_scheduler
from audiomill.jobs.executors import make_executor
from audiomill.jobs.reaper import reaper
from audiomill.jobs.periodic import Periodic
from audiomill.jobs.webhooks.delivery import WebhookDispatcher, webhook_dispatcher
from audiomill.runtime import Runtime, build_runtime

log = logging.getLogger(__name__)

DESCRIPTION = """Self-hosted audio AI: upload audio, get a job, watch it, download the result.

`/api/v1` is the primary API. The routes without that prefix keep older systems' APIs
working unchanged (see the README). Authenticate with `Authorization: Bearer <API key>`,
or log in at `/api/v1/auth/login` for a `sessionid` cookie (then send `X-CSRFToken` on
POST/DELETE). Bound to a loopback address without `AUDIOMILL_AUTH=required`, requests
without credentials act as the built-in local user.

Live updates of all your jobs: the WebSocket `/api/v1/events` (messages: the `JobFeedEvent`
schema below). Signed webhooks: `/api/v1/webhooks` (bodies: the `webhooks` section)."""

# Multipart framing around the file(s) is small; this slack keeps a file exactly at the
# limit acceptable while refusing anything clearly larger before it is read.
MULTIPART_SLACK_BYTES = 64 * 1024


class InsecureBinding(AudiomillError):
    pass


def check_binding(settings: Settings) -> None:
    """Refuse to serve anonymous users as the local user on a non-loopback address."""
    if settings.auth == "auto" and not settings.is_loopback_bind and not settings.insecure_no_auth:
        raise InsecureBinding(
            f"refusing to serve on {settings.host} without authentication: set AUDIOMILL_AUTH=required "
            "(and create users with `audiomill users create`), or pass --insecure-no-auth to let anyone "
            "who reaches this address act as the local user"
        )


def install_job_schemas(app: FastAPI, settings: Settings) -> None:
    """Put every kind's request shape (JobCreate, a union on ``kind``) into OpenAPI, so
    /docs documents each kind's parameters with their defaults, ranges and choices."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            specs = job_requests.all_specs(settings.extra_kinds)
            job_create, definitions = job_requests.openapi_components(specs)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(definitions)
            components[job_requests.JOB_CREATE_SCHEMA] = job_create
            components["JobCreateMultipart"] = job_requests.multipart_schema(specs)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or get_settings()
    check_binding(settings)
    check_extra_kinds()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = runtime or build_runtime(settings)
        if rt.executor is None:
            rt.executor = make_executor(rt)
        app.state.runtime = rt
        rt.executor.start()
        background: list[Periodic | WebhookDispatcher] = [cleanup_scheduler(rt), reaper(rt), webhook_dispatcher(rt)]
        for task in background:
            task.start()
        try:
            yield
        finally:
            for task in background:
                task.stop()
            rt.executor.stop()
            if runtime is None:
                rt.db.dispose()

    # FastAPIOffline serves Swagger UI and ReDoc from assets inside its wheel: /docs and
    # /redoc work on a machine with no internet.
    app = FastAPIOffline(title="audiomill", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    install_job_schemas(app, settings)
    events.document_events(app)
    webhooks.document_webhooks(app)
    # Outermost last: the size limit and the local-mode guard see requests before anything else.
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    if settings.auth == "auto" and settings.is_loopback_bind:
        app.add_middleware(LocalModeGuard, settings=settings)
    app.add_middleware(BodySizeLimit, max_body_bytes=settings.max_upload_bytes + MULTIPART_SLACK_BYTES)
    # Outermost of all: a request over the concurrency limit costs nothing but its 503.
    app.add_middleware(
        ConcurrencyLimit,
        max_concurrent=settings.max_concurrent_requests,
        max_queued=settings.max_queued_requests,
        queue_timeout_seconds=settings.request_queue_timeout_seconds,
    )
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(auth.router)
    app.include_router(kinds.router)
    app.include_router(assets.router)
    app.include_router(jobs.router)
    app.include_router(events.router)
    app.include_router(webhooks.router)
    app.include_router(media.router)
    # Before seed 000's JSON root: browsers asking / for HTML get the page, others that JSON.
    app.include_router(page.router)
    app.mount("/web", page.page_files(), name="web")
    app.include_router(demucs_api.router)
    app.include_router(audio_services.router)
    app.include_router(music_generator.router)
    app.include_router(beatflow_generate.router)
    app.include_router(repos.router)
    app.include_router(beatflow_vcs.router)

    app.include_router(beatflow_audio.router)
    app.include_router(photo_video.router)
    return app
