"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from audiomill import __version__
from audiomill.api.compat import demucs_api
from audiomill.api.errors import BodySizeLimit, install_error_handlers
from audiomill.api.routes import health, jobs
from audiomill.config import Settings, get_settings
from audiomill.jobs.executors.local import LocalExecutor
from audiomill.runtime import Runtime, build_runtime

log = logging.getLogger(__name__)

DESCRIPTION = """Self-hosted audio AI: upload audio, get a job, watch it, download the result.

`/api/v1` is the primary API. The routes without that prefix keep older systems' APIs
working unchanged (see the README)."""

# Multipart framing around the file(s) is small; this slack keeps a file exactly at the
# limit acceptable while refusing anything clearly larger before it is read.
MULTIPART_SLACK_BYTES = 64 * 1024


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = runtime or build_runtime(settings)
        if rt.executor is None:
            rt.executor = LocalExecutor(rt, settings.worker_concurrency)
        app.state.runtime = rt
        rt.executor.start()
        try:
            yield
        finally:
            rt.executor.stop()
            if runtime is None:
                rt.db.dispose()

    app = FastAPI(title="audiomill", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.add_middleware(BodySizeLimit, max_body_bytes=settings.max_upload_bytes + MULTIPART_SLACK_BYTES)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(jobs.router)
    app.include_router(demucs_api.router)
    return app
