"""Expiry: finished jobs go after their TTL, with every blob no longer referenced.

Deletes exactly what is expired or unreferenced and nothing else: a blob is removed only
when no asset row names it, and only once it is old enough that it cannot belong to an
upload whose row is still being written.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from audiomill.accounts.service import purge_expired_sessions
from audiomill.jobs import service
from audiomill.jobs.periodic import Periodic
from audiomill.jobs.states import TERMINAL
from audiomill.runtime import Runtime
from audiomill.store.tables import Asset, Job, JobFile, utc_now

log = logging.getLogger(__name__)

# A blob younger than this may be an upload whose asset row is not committed yet.
ORPHAN_GRACE_SECONDS = 3600.0
SCRATCH_MAX_AGE_SECONDS = 24 * 3600.0


@dataclass(frozen=True)
class CleanupReport:
    jobs_deleted: int
    assets_deleted: int
    blobs_deleted: int
    sessions_deleted: int


def cleanup_expired(runtime: Runtime, now: datetime | None = None) -> CleanupReport:
    now = now or utc_now()
    cutoff = now - timedelta(seconds=runtime.settings.job_ttl_seconds)
    with runtime.db.session() as session:
        expired = session.scalars(
            select(Job).where(Job.status.in_([s.value for s in TERMINAL]), Job.finished_at < cutoff)
        ).all()
        asset_ids = [f.asset_id for job in expired for f in job.files]
        for job in expired:
            session.delete(job)
        session.flush()
        # Assets no job uses (e.g. standalone uploads) expire on the same clock.
        loose = session.scalars(
            select(Asset.id).where(Asset.created_at < cutoff, ~Asset.id.in_(select(JobFile.asset_id)))
        ).all()
        digests = service.release_assets(session, asset_ids + list(loose))
        assets_deleted = len(digests)
        sessions_deleted = purge_expired_sessions(session)
    with runtime.db.session() as session:
        before = sum(1 for d in set(digests) if runtime.blobs.exists(d))
        service.delete_unreferenced_blobs(runtime, session, digests)
        blobs_deleted = before - sum(1 for d in set(digests) if runtime.blobs.exists(d))
        blobs_deleted += _delete_orphan_blobs(runtime, session)
    _delete_old_scratch(runtime)
    report = CleanupReport(len(expired), assets_deleted, blobs_deleted, sessions_deleted)
    log.info("cleanup: %s", report)
    return report


def _delete_orphan_blobs(runtime: Runtime, session) -> int:  # type: ignore[no-untyped-def]
    """Blobs no asset names (left by a crash between storing bytes and writing the row)."""
    known = set(session.scalars(select(Asset.sha256).distinct()))
    deleted = 0
    for digest in list(runtime.blobs.all_digests()):
        if digest in known:
            continue
        if time.time() - runtime.blobs.modified_at(digest) < ORPHAN_GRACE_SECONDS:
            continue
        runtime.blobs.delete(digest)
        deleted += 1
    return deleted


def _delete_old_scratch(runtime: Runtime) -> None:
    for folder in (runtime.settings.work_dir / "uploads", runtime.settings.work_dir / "archives"):
        if not folder.exists():
            continue
        for path in folder.iterdir():
            if path.is_file() and time.time() - path.stat().st_mtime > SCRATCH_MAX_AGE_SECONDS:
                path.unlink(missing_ok=True)


def cleanup_scheduler(runtime: Runtime) -> Periodic:
    """Runs cleanup_expired every cleanup_interval_seconds."""
    return Periodic("cleanup", lambda: runtime.settings.cleanup_interval_seconds, lambda: cleanup_expired(runtime))


__all__ = ["CleanupReport", "cleanup_expired", "cleanup_scheduler"]
