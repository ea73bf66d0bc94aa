"""The job state machine: the only code that writes a job's ``status``.

    pending ──▶ processing ──▶ completed
       │  ▲         │  │
       │  └─────────┘  ├─────▶ failed
       │   (requeue)   └─────▶ cancelled
       ├──────────────────────▶ cancelled
       └──────────────────────▶ failed

Every transition is one conditional UPDATE (``WHERE status IN allowed``), so two workers
or an API process and a worker can race and exactly one wins; the loser learns it from
the row count and backs off. A claim hands out an attempt token; ending a processing job
(complete, fail, progress, heartbeat) needs that token, so an attempt that was presumed
dead and replaced can never end the job its replacement is running.

Every change is written to the log (audiomill.jobs.lifecycle) once its transaction commits.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Row, or_, update
from sqlalchemy.orm import Session

from audiomill.jobs import hooks, lifecycle
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


def _transition(
    session: Session, job_id: int, to: JobStatus, *conditions: ColumnElement[bool], **values: object
) -> Row[str, str, datetime | None, int, int] | None:
    """The one conditional UPDATE; the changed row's (uuid, kind, started_at, attempts,
    owner_id), or None when the job was not in a state it may leave for ``to``.

    Each change is handed to the transition hooks (webhooks), which run when it commits."""
    statement = (
        update(Job)
        .where(Job.id == job_id, Job.status.in_([s.value for s in ALLOWED_FROM[to]]), *conditions)
        .values(status=to.value, updated_at=utc_now(), **values)
        .returning(Job.uuid, Job.kind, Job.started_at, Job.attempts, Job.owner_id)
        .execution_options(synchronize_session=False)
    )
    row = session.execute(statement).first()
    if row is not None:
        hooks.transitioned(session, hooks.Transition(job_id, row.uuid, row.owner_id, row.kind, to.value))
    return row


def created(session: Session, job: Job) -> None:
    """A new job's row was written (pending): the machine's entry, for the transition hooks."""
    transition = hooks.Transition(job.id, job.uuid, job.owner_id, job.kind, JobStatus.pending.value, created=True)
    hooks.transitioned(session, transition)


def _held_by(attempt_token: str | None, job_uuid: str | None = None) -> tuple[ColumnElement[bool], ...]:
    """A processing job may be ended only by its attempt (pending ones by anyone). With
    ``job_uuid``, only that job: SQLite hands a deleted job's integer id to the next job, and
    a runner still winding down the deleted one must not end its successor."""
    same_job = () if job_uuid is None else (Job.uuid == job_uuid,)
    if attempt_token is None:
        return same_job
    return (or_(Job.status != JobStatus.processing.value, Job.attempt_token == attempt_token), *same_job)


def claim(session: Session, job_id: int, attempt_token: str) -> bool:
    """pending → processing for one attempt; False if someone else has it or it ended."""
    now = utc_now()
    row = _transition(
        session,
        job_id,
        JobStatus.processing,
        started_at=now,
        heartbeat_at=now,
        finished_at=None,
        attempts=Job.attempts + 1,
        attempt_token=attempt_token,
        progress=0.0,
        stage="starting",
        error=None,
    )
    if row is not None:
        lifecycle.after_commit(session, lambda: lifecycle.started(row.uuid, row.kind, row.attempts))
    return row is not None


def requeue(
    session: Session,
    job_id: int,
    reason: str,
    silent_since: datetime | None = None,
    attempt_token: str | None = None,
) -> bool:
    """processing → pending, after the worker running it died or the service restarted.

    With ``silent_since``, only if the attempt has not heartbeat since then; with
    ``attempt_token``, only if that attempt still holds the job."""
    conditions: tuple[ColumnElement[bool], ...] = (
        () if silent_since is None else (or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < silent_since),)
    )
    if attempt_token is not None:
        conditions += (Job.attempt_token == attempt_token,)
    row = _transition(
        session,
        job_id,
        JobStatus.pending,
        *conditions,
        progress=0.0,
        stage=f"requeued: {reason}"[:200],
        attempt_token=None,
        heartbeat_at=None,
        enqueued_at=None,
    )
    if row is not None:
        lifecycle.after_commit(session, lambda: lifecycle.retried(row.uuid, row.kind, reason, row.attempts))
    return row is not None


def complete(
    session: Session,
    job_id: int,
    result: dict[str, object],
    attempt_token: str | None = None,
    job_uuid: str | None = None,
) -> bool:
    now = utc_now()
    row = _transition(
        session,
        job_id,
        JobStatus.completed,
        *_held_by(attempt_token, job_uuid),
        result=result,
        progress=100.0,
        stage="done",
        finished_at=now,
        error=None,
    )
    if row is not None:
        seconds = lifecycle.seconds_since(row.started_at, now)
        lifecycle.after_commit(session, lambda: lifecycle.completed(row.uuid, row.kind, seconds))
    return row is not None


def fail(
    session: Session, job_id: int, error: str, attempt_token: str | None = None, job_uuid: str | None = None
) -> bool:
    now = utc_now()
    row = _transition(
        session,
        job_id,
        JobStatus.failed,
        *_held_by(attempt_token, job_uuid),
        error=error,
        stage="failed",
        finished_at=now,
    )
    if row is not None:
        seconds = lifecycle.seconds_since(row.started_at, now)
        lifecycle.after_commit(session, lambda: lifecycle.failed(row.uuid, row.kind, error, seconds))
    return row is not None


def cancel(session: Session, job_id: int, job_uuid: str | None = None) -> bool:
    row = _transition(
        session,
        job_id,
        JobStatus.cancelled,
        *_held_by(None, job_uuid),
        stage="cancelled",
        finished_at=utc_now(),
        cancel_requested=True,
    )
    if row is not None:
        lifecycle.after_commit(session, lambda: lifecycle.cancelled(row.uuid, row.kind))
    return row is not None


def _update_running(session: Session, job_id: int, attempt_token: str | None, **values: object) -> bool:
    conditions = [Job.id == job_id, Job.status == JobStatus.processing.value]
    if attempt_token is not None:
        conditions.append(Job.attempt_token == attempt_token)
    statement = update(Job).where(*conditions).values(**values).execution_options(synchronize_session=False)
    return cast(CursorResult[Any], session.execute(statement)).rowcount == 1


def report_progress(
    session: Session, job_id: int, progress_percent: float, stage: str, attempt_token: str | None = None
) -> bool:
    """Progress only moves while this attempt runs; False once the job left it."""
    now = utc_now()
    return _update_running(
        session,
        job_id,
        attempt_token,
        progress=progress_percent,
        stage=stage[:200],
        updated_at=now,
        heartbeat_at=now,
    )


def heartbeat(session: Session, job_id: int, attempt_token: str) -> bool:
    """The attempt is alive; False once the job left it (cancelled, deleted, replaced)."""
    return _update_running(session, job_id, attempt_token, heartbeat_at=utc_now())


def mark_enqueued(session: Session, job_id: int) -> None:
    """Record that the executor has the job id (not a status change)."""
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.pending.value)
        .values(enqueued_at=utc_now())
        .execution_options(synchronize_session=False)
    )
