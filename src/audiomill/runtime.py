"""The per-process wiring: settings, database, blob store, event bus and executor.

Built once by whoever starts the process (the API app, the CLI, a worker) and passed
down explicitly; nothing here is created at import time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from audiomill.config import Settings
from audiomill.jobs.events import LocalEventBus, make_event_bus
from audiomill.limits import RateLimiter
from audiomill.store.blobs import BlobStore, LocalBlobStore
from audiomill.store.db import Database


class Executor(Protocol):
    def start(self) -> None: ...

    def submit(self, job_id: int, kind: str) -> None: ...

    def stop(self) -> None: ...


@dataclass
class Runtime:
    settings: Settings
    db: Database
    blobs: BlobStore
    events: LocalEventBus = field(default_factory=LocalEventBus)
    executor: Executor | None = None
    rate_limiter: RateLimiter = field(default_factory=lambda: RateLimiter(0))

    def live_local_workers(self) -> int:
        """Workers of this process's own executor alive now (the local executor's pool).

        Celery workers are not counted here: they heartbeat into the workers table, which
        /metrics counts separately. An executor says how many of its workers are alive
        with a ``live_workers() -> int`` method; one without it has none in this process.
        """
        live_workers = getattr(self.executor, "live_workers", None)
        return int(live_workers()) if callable(live_workers) else 0

    def submit(self, job_id: int, kind: str) -> None:
        """Hand a job to the executor and record that it has it (see jobs.reaper)."""
        if self.executor is None:
            return
        self.executor.submit(job_id, kind)
        from audiomill.jobs import states  # the state machine imports nothing of ours

        with self.db.session() as session:
            states.mark_enqueued(session, job_id)


def build_runtime(settings: Settings, migrate: bool = True) -> Runtime:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url)
    if migrate:
        db.migrate()
    blobs = build_blob_store(settings)
    return Runtime(
        settings=settings,
        db=db,
        blobs=blobs,
        events=make_event_bus(settings.resolved_events_url),
        rate_limiter=RateLimiter(settings.rate_limit_per_minute),
    )


def build_blob_store(settings: Settings) -> BlobStore:
    scratch_dir = settings.work_dir / "uploads"
    if settings.blob_store == "s3":
        from audiomill.store.blobs_s3 import S3BlobStore  # boto3 only where S3 is used

        return S3BlobStore.from_settings(settings, settings.work_dir / "blob-cache", scratch_dir)
    return LocalBlobStore(settings.blobs_dir, scratch_dir)
