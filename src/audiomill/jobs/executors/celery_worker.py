"""`audiomill worker`: a Celery worker process that runs jobs from its queues.

Jobs run in threads inside one process (Celery's thread pool), so a model loaded once stays
warm for every later job and torch computes without the GIL. The process registers itself
in the workers table and heartbeats there; its reaper re-queues jobs of dead workers.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid

from sqlalchemy import delete, select

from audiomill.numba_cache import claim_numba_cache_dir
from audiomill.config import Settings
from audiomill.engines.base import check_extra_kinds
from audiomill.jobs.executors.celery_executor import TASK_NAME, CeleryExecutor, make_celery_app
from audiomill.jobs.periodic import Periodic
from audiomill.jobs.reaper import reaper as make_reaper
from audiomill.jobs.runner import run_job
from audiomill.runtime import build_runtime
from audiomill.store.tables import Worker, utc_now

log = logging.getLogger(__name__)


class WorkerRegistration:
    """The workers-table row of this process, kept fresh while it lives."""

    def __init__(self, runtime, queues: list[str], concurrency: int) -> None:  # type: ignore[no-untyped-def]
        self._runtime = runtime
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._queues = ",".join(queues)
        self._concurrency = concurrency
        self._beating = Periodic("worker-heartbeat", lambda: runtime.settings.heartbeat_interval_seconds, self._beat)

    def start(self) -> None:
        self._beat()
        self._beating.start()

    def stop(self) -> None:
        self._beating.stop()
        with self._runtime.db.session() as session:
            session.execute(delete(Worker).where(Worker.id == self.worker_id))

    def _beat(self) -> None:
        with self._runtime.db.session() as session:
            row = session.scalar(select(Worker).where(Worker.id == self.worker_id))
            if row is None:
                session.add(
                    Worker(
                        id=self.worker_id,
                        hostname=socket.gethostname(),
                        pid=os.getpid(),
                        queues=self._queues,
                        concurrency=self._concurrency,
                    )
                )
            else:
                row.heartbeat_at = utc_now()


def run_worker(settings: Settings, queues: list[str], concurrency: int) -> None:
    claim_numba_cache_dir()  # one cache folder per live process: see audiomill.numba_cache
    check_extra_kinds()
    runtime = build_runtime(settings)
    runtime.executor = CeleryExecutor(settings)  # the reaper re-submits through the broker
    app = make_celery_app(settings)

    @app.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True)  # type: ignore[untyped-decorator]
    def run_job_task(self, job_id: int) -> str | None:  # type: ignore[no-untyped-def]
        status = run_job(runtime, job_id)
        return status.value if status else None

    registration = WorkerRegistration(runtime, queues, concurrency)
    reaper = make_reaper(runtime)
    registration.start()
    reaper.start()
    try:
        app.worker_main(
            [
                "worker",
                "--pool=threads",
                f"--concurrency={concurrency}",
                f"--queues={','.join(queues)}",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                f"--hostname=audiomill@{registration.worker_id}",
            ]
        )
    finally:
        reaper.stop()
        registration.stop()
