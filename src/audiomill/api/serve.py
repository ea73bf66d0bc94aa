"""Serving the API: one process, or N API processes on one port (``audiomill serve --workers N``).

With N > 1, uvicorn's supervisor spawns N processes that share the listening socket and
each build the app through :func:`worker_app`. The local executor's job workers must still
run once per machine (one warm model per worker, one queue rebuilt from the database at
start-up), so with ``executor = "local"`` this parent process runs them, with the reaper
and the clean-up, and the API processes hand each new job id to it over a Unix datagram
socket in a private folder (:class:`HandOffExecutor`). With ``executor = "celery"``
every API process submits to the broker itself and nothing runs here.

    from audiomill.api.serve import serve
    serve(get_settings(), api_workers=4)

or, without the CLI: ``python -m audiomill.api.serve --workers 4``.
"""

from __future__ import annotations

import argparse
import logging
import gc
import os
import shutil
import socket
import tempfile
import threading
from pathlib import Path

from fastapi import FastAPI

from audiomill.config import Settings, get_settings
from audiomill.runtime import Executor, Runtime, build_runtime

log = logging.getLogger(__name__)

# Clients that poll every few seconds on one keep-alive connection (the seeds' examples
# poll every 5 s) must not race uvicorn's default 5 s idle close: keep idle ones longer.
KEEP_ALIVE_SECONDS = 75
# Where API processes find the parent's job hand-off socket (set by serve() for its children).
HANDOFF_SOCKET_ENV = "AUDIOMILL_INTERNAL_JOB_SOCKET"
_DATAGRAM_BYTES = 512
# uvicorn kills an API process that does not answer its supervisor's ping within this;
# its default (5 s) is shorter than an import of the app on a busy 2-core machine, which
# made the supervisor kill and respawn the processes forever.
WORKER_HEALTHCHECK_SECONDS = 60


def serve(settings: Settings | None = None, api_workers: int | None = None) -> None:
    """Serve the API on ``settings.host:settings.port`` until interrupted (blocks)."""
    import uvicorn

    from audiomill.logs import uvicorn_log_config

    from audiomill.api.app import check_binding, create_app

    settings = settings or get_settings()
    workers = api_workers or settings.api_workers
    check_binding(settings)  # refuse an unsafe binding before anything starts
    if workers <= 1:
        app = create_app(settings)
        freeze_startup_objects()
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            access_log=settings.access_log,
            log_config=uvicorn_log_config(),
        )
        return

    runtime = build_runtime(settings)  # migrates once, before any API process starts
    host = JobHost(runtime) if settings.executor == "local" else None
    if host is not None:
        host.start()
        os.environ[HANDOFF_SOCKET_ENV] = str(host.socket_path)
    try:
        uvicorn.run(
            "audiomill.api.serve:worker_app",
            factory=True,
            workers=workers,
            host=settings.host,
            port=settings.port,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            access_log=settings.access_log,
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
            log_config=uvicorn_log_config(),
        )
    finally:
        os.environ.pop(HANDOFF_SOCKET_ENV, None)
        if host is not None:
            host.stop()
        runtime.db.dispose()


def freeze_startup_objects() -> None:
    """Move what start-up built (modules, routes, schemas: it lives as long as the process)
    out of the garbage collector's sight. A full collection under load otherwise walks all
    of it, tens of ms each time: the worst request of every p99."""
    gc.collect()
    gc.freeze()


def worker_app() -> FastAPI:
    """The app factory each of the N API processes calls (``uvicorn --factory``)."""
    from audiomill.api.app import create_app

    settings = get_settings()
    runtime = build_runtime(settings, migrate=False)  # the parent migrated
    socket_path = os.environ.get(HANDOFF_SOCKET_ENV)
    if settings.executor == "local":
        if not socket_path:
            raise RuntimeError(
                "audiomill.api.serve:worker_app runs under `audiomill serve --workers N`, which runs the "
                "local executor's job workers once, in its own process"
            )
        runtime.executor = HandOffExecutor(Path(socket_path))
    app = create_app(settings, runtime)
    freeze_startup_objects()
    return app


class HandOffExecutor:
    """An API process's executor: passes job ids to the process that runs the job workers."""

    def __init__(self, socket_path: Path) -> None:
        self._socket_path = str(socket_path)
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._lock = threading.Lock()

    def start(self) -> None:
        pass  # the job workers run in the serving parent

    def submit(self, job_id: int, kind: str) -> None:
        # A local datagram is delivered or refused, never half-sent; a refusal raises, so
        # the job stays un-enqueued and the reaper hands it over again.
        message = f"{job_id} {kind}".encode()
        with self._lock:
            self._socket.sendto(message, self._socket_path)

    def stop(self) -> None:
        self._socket.close()


class JobHost:
    """In the serving parent: the local executor, the reaper and the clean-up, fed job ids
    by the API processes."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._folder = Path(tempfile.mkdtemp(prefix="audiomill-jobs-"))  # 0700: ours alone
        self.socket_path = self._folder / "submit.sock"
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind(str(self.socket_path))
        self._listener = threading.Thread(target=self._listen, name="audiomill-job-handoff", daemon=True)
        self._background: list = []  # type: ignore[type-arg]

    def start(self) -> None:
        from audiomill.jobs.cleanup import cleanup_scheduler
        from audiomill.jobs.executors import make_executor
        from audiomill.jobs.reaper import reaper

        self._listener.start()  # before the executor: its start-up re-submits pending jobs
        if self._runtime.executor is None:
            self._runtime.executor = make_executor(self._runtime)
        self._runtime.executor.start()
        self._background = [cleanup_scheduler(self._runtime), reaper(self._runtime)]
        for task in self._background:
            task.start()

    def _listen(self) -> None:
        executor: Executor | None
        while True:
            try:
                message = self._socket.recv(_DATAGRAM_BYTES)
            except OSError:
                return  # closed: stopping
            if not message:
                return  # shut down: stopping
            try:
                job_id_text, kind = message.decode().split(" ", 1)
                executor = self._runtime.executor
                if executor is not None:
                    executor.submit(int(job_id_text), kind)
            except Exception:  # a garbled message must not stop the hand-off
                log.exception("job hand-off: could not submit %r", message[:100])

    def stop(self) -> None:
        for task in self._background:
            task.stop()
        if self._runtime.executor is not None:
            self._runtime.executor.stop()
        try:
            self._socket.shutdown(socket.SHUT_RDWR)  # wakes the listener's recv
        except OSError:
            pass
        self._socket.close()
        shutil.rmtree(self._folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m audiomill.api.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=None, help="API processes (AUDIOMILL_API_WORKERS)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(get_settings(), args.workers)


if __name__ == "__main__":
    main()
