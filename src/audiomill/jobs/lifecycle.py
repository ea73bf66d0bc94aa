"""The job lifecycle in the log: one line per created / started / stage / completed /
failed / retried / cancelled, naming the job (its public UUID) and its kind.

Each line carries structured fields (``event``, ``job_id``, ``kind``, and ``seconds``,
``error``, ``stage``, ``reason``, ``attempt`` where they apply) that the JSON log format
(audiomill.logs) turns into keys. Lines about a status change are written once its
transaction commits, so the log never reports a change the database rolled back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger("audiomill.jobs")

_PENDING_KEY = "audiomill.lifecycle.pending"


def _emit(level: int, what: str, job_uuid: str, kind: str, detail: str = "", **fields: Any) -> None:
    """One line: "job <uuid> (<kind>) <what><detail>"."""
    message = f"job {job_uuid} ({kind}) {what}{detail}"
    log.log(level, message, extra={"event": what, "job_id": job_uuid, "kind": kind, **fields})


def created(job_uuid: str, kind: str) -> None:
    _emit(logging.INFO, "created", job_uuid, kind)


def started(job_uuid: str, kind: str, attempt: int) -> None:
    _emit(logging.INFO, "started", job_uuid, kind, f" (attempt {attempt})", attempt=attempt)


def stage(job_uuid: str, kind: str, stage_text: str, progress_percent: float) -> None:
    _emit(
        logging.INFO,
        "stage",
        job_uuid,
        kind,
        f": {stage_text} ({progress_percent:.0f}%)",
        stage=stage_text,
        progress=progress_percent,
    )


def completed(job_uuid: str, kind: str, seconds: float | None) -> None:
    # One rounding for both the text and the field, so they always agree.
    rounded = round(seconds, 3) if seconds is not None else None
    detail = f" in {rounded:.2f} s" if rounded is not None else ""
    _emit(logging.INFO, "completed", job_uuid, kind, detail, seconds=rounded)


def failed(job_uuid: str, kind: str, error: str, seconds: float | None) -> None:
    _emit(
        logging.WARNING,
        "failed",
        job_uuid,
        kind,
        f": {error}",
        error=error,
        seconds=round(seconds, 3) if seconds is not None else None,
    )


def retried(job_uuid: str, kind: str, reason: str, attempt: int) -> None:
    _emit(
        logging.WARNING,
        "retried",
        job_uuid,
        kind,
        f": {reason} (after attempt {attempt})",
        reason=reason,
        attempt=attempt,
    )


def cancelled(job_uuid: str, kind: str) -> None:
    _emit(logging.INFO, "cancelled", job_uuid, kind)


def seconds_since(started_at: datetime | None, now: datetime) -> float | None:
    if started_at is None:
        return None
    if started_at.tzinfo is None:  # SQLite hands back naive datetimes; we store UTC
        started_at = started_at.replace(tzinfo=UTC)
    return max(0.0, (now - started_at).total_seconds())


def after_commit(session: Session, line: Callable[[], None]) -> None:
    """Write ``line`` once ``session`` commits; forget it if the session rolls back."""
    pending: list[Callable[[], None]] | None = session.info.get(_PENDING_KEY)
    if pending is None:
        pending = session.info[_PENDING_KEY] = []

        def flush(_session: Session) -> None:
            lines = list(session.info.get(_PENDING_KEY) or ())
            session.info[_PENDING_KEY] = []
            for write in lines:
                write()

        def forget(_session: Session, *_previous_transaction: object) -> None:
            session.info[_PENDING_KEY] = []

        event.listen(session, "after_commit", flush)
        event.listen(session, "after_soft_rollback", forget)
    session.info[_PENDING_KEY].append(line)
