"""Finds jobs no live worker is running and hands them to the executor again.

- A processing job whose attempt has not heartbeat for ``worker_silence_seconds`` belongs
  to a dead worker (kill -9, lost machine): it goes back to pending and is re-submitted,
  whatever the broker does with the dead worker's unacknowledged message.
- A pending job never handed to the executor (the API died between writing the row and
  enqueueing it) is submitted.
Duplicate submissions are harmless: only one attempt can claim a job.
Every process may run a reaper; the conditional updates let exactly one win each job.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select

from audiomill.jobs import states
from audiomill.jobs.periodic import Periodic
from audiomill.jobs.states import JobStatus
from audiomill.runtime import Runtime
from audiomill.store.tables import Job, utc_now

log = logging.getLogger(__name__)

# A pending row younger than this may still be on its way to the executor.
UNQUEUED_GRACE_SECONDS = 5.0


def reap(runtime: Runtime) -> list[int]:
    """One pass; returns the ids re-submitted."""
    now = utc_now()
    silent_since = now - timedelta(seconds=runtime.settings.worker_silence_seconds)
    resubmit: list[tuple[int, str]] = []
    with runtime.db.session() as session:
        stale = session.execute(
            select(Job.id, Job.kind).where(Job.status == JobStatus.processing.value, Job.heartbeat_at < silent_since)
        ).all()
        for row in stale:
            if states.requeue(session, row.id, "its worker went silent", silent_since=silent_since):
                log.warning("job %s: worker silent since before %s, re-queued", row.id, silent_since)
                resubmit.append((row.id, row.kind))
        unqueued = session.execute(
            select(Job.id, Job.kind).where(
                Job.status == JobStatus.pending.value,
                Job.enqueued_at.is_(None),
                Job.updated_at < now - timedelta(seconds=UNQUEUED_GRACE_SECONDS),
            )
        ).all()
        resubmit.extend((row.id, row.kind) for row in unqueued if (row.id, row.kind) not in resubmit)
    for job_id, kind in resubmit:
        runtime.submit(job_id, kind)
    return [job_id for job_id, _ in resubmit]


def reaper(runtime: Runtime) -> Periodic:
    """Runs reap() every heartbeat interval."""
    return Periodic("reaper", lambda: runtime.settings.heartbeat_interval_seconds, lambda: reap(runtime))
