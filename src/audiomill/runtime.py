"""The per-process wiring: settings, database, blob store, event bus and executor.

Built once by whoever starts the process (the API app, the CLI, a worker) and passed
down explicitly; nothing here is created at import time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from audiomill.config import Settings
from audiomill.jobs.events import LocalEventBus
from audiomill.limits import RateLimiter
from audiomill.store.blobs import BlobStore, LocalBlobStore
from audiomill.store.db import Database


class Executor(Protocol):
    def start(self) -> None: ...

    def submit(self, job_id: int) -> None: ...

    def stop(self) -> None: ...


@dataclass
class Runtime:
    settings: Settings
    db: Database
    blobs: BlobStore
    events: LocalEventBus = field(default_factory=LocalEventBus)
    executor: Executor | None = None
    rate_limiter: RateLimiter = field(default_factory=lambda: RateLimiter(0))

    def submit(self, job_id: int) -> None:
        if self.executor is not None:
            self.executor.submit(job_id)


def build_runtime(settings: Settings, migrate: bool = True) -> Runtime:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url)
    if migrate:
        db.migrate()
    blobs = LocalBlobStore(settings.blobs_dir, settings.work_dir / "uploads")
    return Runtime(settings=settings, db=db, blobs=blobs, rate_limiter=RateLimiter(settings.rate_limit_per_minute))
