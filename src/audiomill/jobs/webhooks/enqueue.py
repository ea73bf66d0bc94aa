"""The transition hook: each change of a job becomes one delivery per endpoint that wants it.

It runs in the transaction that records the change (see audiomill.jobs.hooks), so a
change and its deliveries commit together: a crash can lose neither without the other.
The body is written once, here, and sent unchanged on every try: ``{"type", "timestamp",
"data"}`` with ``data`` the same JSON as ``GET /api/v1/jobs/{id}`` at that moment.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from sqlalchemy import select
from sqlalchemy.orm import Session

from audiomill.errors import NotFound
from audiomill.jobs import hooks, lifecycle
from audiomill.jobs.webhooks.signing import new_message_id
from audiomill.store.tables import Webhook, WebhookDelivery, utc_now

WebhookEventType = Literal["job.created", "job.started", "job.completed", "job.failed", "job.cancelled"]
WEBHOOK_EVENTS: tuple[str, ...] = get_args(WebhookEventType)

_STATUS_EVENTS: dict[str, WebhookEventType] = {
    "processing": "job.started",
    "completed": "job.completed",
    "failed": "job.failed",
    "cancelled": "job.cancelled",
}

# Dispatchers running in this process, woken when a commit brings them work (the others,
# in other processes, find it on their next look).
_wakers: list[Callable[[], None]] = []
_wakers_lock = threading.Lock()


def add_waker(wake: Callable[[], None]) -> None:
    with _wakers_lock:
        _wakers.append(wake)


def remove_waker(wake: Callable[[], None]) -> None:
    with _wakers_lock:
        if wake in _wakers:
            _wakers.remove(wake)


def _wake_all() -> None:
    with _wakers_lock:
        wakers = list(_wakers)
    for wake in wakers:
        wake()


def event_for(transition: hooks.Transition) -> WebhookEventType | None:
    """The webhook event a change is; None for one no event names (a requeue)."""
    if transition.created:
        return "job.created"
    return _STATUS_EVENTS.get(transition.status)


def job_json(session: Session, transition: hooks.Transition) -> dict[str, Any]:
    """The job as GET /api/v1/jobs/{id} shows it now (one builder for both)."""
    from audiomill.api.schemas import job_public
    from audiomill.jobs import reads

    try:
        view = reads.get_job(session, None, transition.job_uuid)
    except NotFound:  # deleted in this same transaction (a running job's deletion cancels it)
        return {"id": transition.job_uuid, "kind": transition.kind, "status": transition.status}
    return job_public(view).model_dump(mode="json")  # type: ignore[arg-type]  # a JobView reads like a Job


def body(event_type: str, data: dict[str, Any]) -> str:
    timestamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return json.dumps({"type": event_type, "timestamp": timestamp, "data": data}, separators=(",", ":"))


@hooks.on_transition
def enqueue_deliveries(session: Session, transitions: Sequence[hooks.Transition]) -> None:
    wanted = [(t, kind) for t in transitions if (kind := event_for(t)) is not None]
    if not wanted:
        return
    owners = {t.owner_id for t, _ in wanted}
    endpoints = session.scalars(select(Webhook).where(Webhook.owner_id.in_(owners))).all()
    if not endpoints:
        return
    now = utc_now()
    added = 0
    for transition, kind in wanted:
        matching = [
            w
            for w in endpoints
            if w.owner_id == transition.owner_id
            and kind in w.events
            and (w.job_uuid is None or w.job_uuid == transition.job_uuid)
        ]
        if not matching:
            continue
        text = body(kind, job_json(session, transition))
        for endpoint in matching:
            session.add(
                WebhookDelivery(
                    message_id=new_message_id(),
                    webhook_id=endpoint.id,
                    event_type=kind,
                    job_uuid=transition.job_uuid,
                    payload=text,
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                )
            )
            added += 1
    if added:
        session.flush()
        lifecycle.after_commit(session, _wake_all)


__all__ = ["WEBHOOK_EVENTS", "WebhookEventType", "add_waker", "enqueue_deliveries", "remove_waker"]
