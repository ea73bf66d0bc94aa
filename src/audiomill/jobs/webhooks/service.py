"""Registering, listing and deleting a user's webhook endpoints; listing their deliveries."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audiomill.errors import Conflict, InvalidInput, NotFound
from audiomill.jobs.webhooks import addresses
from audiomill.jobs.webhooks.enqueue import WEBHOOK_EVENTS
from audiomill.jobs.webhooks.signing import new_secret
from audiomill.store.tables import Job, Webhook, WebhookDelivery


def create_webhook(
    session: Session,
    owner_id: int,
    url: str,
    events: Sequence[str] | None,
    job_uuid: str | None,
    description: str,
    allow_private: bool,
    max_per_user: int,
) -> Webhook:
    """A new endpoint; its ``secret`` is readable on the returned row (show it once)."""
    addresses.check(url, allow_private)  # blocking (DNS): callers run this off the event loop
    chosen = list(dict.fromkeys(events)) if events else list(WEBHOOK_EVENTS)
    unknown = [e for e in chosen if e not in WEBHOOK_EVENTS]
    if unknown:
        raise InvalidInput(f"unknown webhook events {unknown}; choose from {list(WEBHOOK_EVENTS)}")
    if job_uuid is not None:
        found = session.scalar(select(Job.id).where(Job.uuid == job_uuid, Job.owner_id == owner_id))
        if found is None:
            raise InvalidInput(f"job_id {job_uuid!r}: you have no such job")
    count = session.scalar(select(func.count()).where(Webhook.owner_id == owner_id)) or 0
    if count >= max_per_user:
        raise Conflict(f"you have {count} webhooks, the most allowed; delete one first")
    webhook = Webhook(
        owner_id=owner_id, url=url, events=chosen, job_uuid=job_uuid, description=description, secret=new_secret()
    )
    session.add(webhook)
    session.flush()
    return webhook


def get_webhook(session: Session, owner_id: int, webhook_uuid: str) -> Webhook:
    webhook = session.scalar(select(Webhook).where(Webhook.uuid == webhook_uuid, Webhook.owner_id == owner_id))
    if webhook is None:
        raise NotFound(f"webhook {webhook_uuid} not found")
    return webhook


def list_webhooks(session: Session, owner_id: int) -> list[Webhook]:
    return list(
        session.scalars(select(Webhook).where(Webhook.owner_id == owner_id).order_by(Webhook.created_at, Webhook.id))
    )


def delete_webhook(session: Session, owner_id: int, webhook_uuid: str) -> None:
    """The endpoint and its deliveries (pending ones are never sent)."""
    session.delete(get_webhook(session, owner_id, webhook_uuid))
    session.flush()


def list_deliveries(
    session: Session, owner_id: int, webhook_uuid: str, limit: int = 50, offset: int = 0
) -> tuple[list[WebhookDelivery], int]:
    """Newest first, each with its tries."""
    webhook = get_webhook(session, owner_id, webhook_uuid)
    condition = WebhookDelivery.webhook_id == webhook.id
    count = session.scalar(select(func.count()).where(condition)) or 0
    deliveries = session.scalars(
        select(WebhookDelivery)
        .where(condition)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(deliveries), count
