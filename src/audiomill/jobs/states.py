"""The job state machine: the only code that writes a job's ``status``.

    pending ──▶ processing ──▶ completed
       │  ▲         │  │
       │  └─────────┘  ├─────▶ failed
       │   (requeue)   └─────▶ cancelled
       ├──────────────────────▶ cancelled
       └──────────────────────▶ failed

Every transition is one conditional UPDATE (``WHERE status IN allowed``), so two workers
or an API process and a worker can race and exactly one wins; the loser learns it from
the row count and backs off.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import update
from sqlalchemy.orm import Session

from audiomill.store.tables import Job, utc_now


class JobStatus(StrEnum):
    pending = "pending"
    processing = "processing"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({JobStatus.completed, JobStatus.failed, JobStatus.cancelled})

ALLOWED_FROM: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.processing: frozenset({JobStatus.pending}),
    JobStatus.pending: frozenset({JobStatus.processing}),  # requeue after a crash
    JobStatus.completed: frozenset({JobStatus.processing}),
    JobStatus.failed: frozenset({JobStatus.pending, JobStatus.processing}),
    JobStatus.cancelled: frozenset({JobStatus.pending, JobStatus.processing}),
}


def _transition(session: Session, job_id: int, to: JobStatus, **values: object) -> bool:
    statement = (
        update(Job)
        .where(Job.id == job_id, Job.status.in_([s.value for s in ALLOWED_FROM[to]]))
        .values(status=to.value, updated_at=utc_now(), **values)
        .execution_options(synchronize_session=False)
    )
    return session.execute(statement).rowcount == 1


def claim(session: Session, job_id: int) -> bool:
    """pending → processing for one worker; False if someone else has it or it ended."""
    return _transition(
        session, job_id, JobStatus.processing,
        started_at=utc_now(), finished_at=None, attempts=Job.attempts + 1,
        progress=0.0, stage="starting", error=None,
    )


def requeue(session: Session, job_id: int, reason: str) -> bool:
    """processing → pending, after the worker running it died or the service restarted."""
    return _transition(session, job_id, JobStatus.pending, progress=0.0, stage=f"requeued: {reason}")


def complete(session: Session, job_id: int, result: dict[str, object]) -> bool:
    return _transition(
        session, job_id, JobStatus.completed,
        result=result, progress=100.0, stage="done", finished_at=utc_now(), error=None,
    )


def fail(session: Session, job_id: int, error: str) -> bool:
    return _transition(
        session, job_id, JobStatus.failed, error=error, stage="failed", finished_at=utc_now()
    )


def cancel(session: Session, job_id: int) -> bool:
    return _transition(
        session, job_id, JobStatus.cancelled, stage="cancelled", finished_at=utc_now(),
        cancel_requested=True,
    )


def report_progress(session: Session, job_id: int, progress_percent: float, stage: str) -> bool:
    """Progress only moves while processing; returns False once the job left that state."""
    statement = (
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.processing.value)
        .values(progress=progress_percent, stage=stage[:200], updated_at=utc_now())
        .execution_options(synchronize_session=False)
    )
    return session.execute(statement).rowcount == 1
