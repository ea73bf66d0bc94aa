"""/api/v1/webhooks: register, list and delete signed webhook endpoints; see their deliveries.

Each delivery is a POST of ``{"type": "job.completed", "timestamp": "...", "data": <job>}``
(``data``: the same JSON as ``GET /api/v1/jobs/{id}``) signed the Standard Webhooks way:
headers ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature: v1,<base64 HMAC-SHA256
of "{id}.{timestamp}.{body}">`` keyed with the base64-decoded part of the ``whsec_`` secret
returned once at registration. A 2xx answer ends a delivery; otherwise it is tried again
after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Response
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

from audiomill.api.deps import CurrentUser, RuntimeDep
from audiomill.api.schemas import JobPublic, as_utc
from audiomill.jobs.webhooks import service
from audiomill.jobs.webhooks.enqueue import WebhookEventType
from audiomill.store.tables import Webhook, WebhookDelivery

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such webhook (or not yours)"},
    409: {"description": "Too many webhooks"},
    422: {"description": "Invalid URL (or one that resolves to a non-public address), events or job_id"},
}


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        min_length=1, max_length=2000, description="http(s) URL to POST events to; must resolve to public addresses"
    )
    events: list[WebhookEventType] | None = Field(
        default=None, max_length=5, description="the events to send; default: all of them"
    )
    job_id: str | None = Field(default=None, max_length=36, description="only this job's events (default: every job)")
    description: str = Field(default="", max_length=200)


class WebhookPublic(BaseModel):
    id: str
    url: str
    events: list[WebhookEventType]
    job_id: str | None
    description: str
    created_at: datetime


class WebhookCreated(WebhookPublic):
    secret: str = Field(
        description="whsec_<base64>: verifies the webhook-signature header; shown only now, keep it safe"
    )


class WebhooksPublic(BaseModel):
    data: list[WebhookPublic]
    count: int


class WebhookAttemptPublic(BaseModel):
    number: int
    attempted_at: datetime
    response_status: int | None = Field(description="the receiver's HTTP status; null when nothing was answered")
    response_body: str = Field(description="the start of the receiver's answer (at most 1000 characters)")
    error: str | None = Field(description="why no answer came (timeout, refused address...)")
    duration_ms: int


class WebhookDeliveryPublic(BaseModel):
    id: str = Field(description="the webhook-id header: the same on every try of this event")
    event_type: WebhookEventType
    job_id: str
    status: str = Field(description="pending (tries left), succeeded (a 2xx answer) or failed (every try failed)")
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    finished_at: datetime | None
    payload: str = Field(description="the exact body sent (and signed) on every try")
    tries: list[WebhookAttemptPublic]


class WebhookDeliveriesPublic(BaseModel):
    data: list[WebhookDeliveryPublic]
    count: int


class WebhookEvent(BaseModel):
    """The body of every delivery."""

    type: WebhookEventType
    timestamp: datetime
    data: JobPublic = Field(description="the job as GET /api/v1/jobs/{id} showed it when the event happened")


def _public(webhook: Webhook) -> dict[str, Any]:
    return {
        "id": webhook.uuid,
        "url": webhook.url,
        "events": webhook.events,
        "job_id": webhook.job_uuid,
        "description": webhook.description,
        "created_at": as_utc(webhook.created_at),
    }


def _delivery(delivery: WebhookDelivery) -> WebhookDeliveryPublic:
    return WebhookDeliveryPublic(
        id=delivery.message_id,
        event_type=delivery.event_type,  # type: ignore[arg-type]  # written from the same Literal
        job_id=delivery.job_uuid,
        status=delivery.status,
        attempts=delivery.attempts,
        next_attempt_at=as_utc(delivery.next_attempt_at),
        created_at=as_utc(delivery.created_at),  # type: ignore[arg-type]
        finished_at=as_utc(delivery.finished_at),
        payload=delivery.payload,
        tries=[
            WebhookAttemptPublic(
                number=t.number,
                attempted_at=as_utc(t.attempted_at),  # type: ignore[arg-type]
                response_status=t.response_status,
                response_body=t.response_body,
                error=t.error,
                duration_ms=t.duration_ms,
            )
            for t in delivery.tries
        ],
    )


@router.post("", status_code=201, response_model=WebhookCreated, responses=ERRORS)
def create_webhook(body: WebhookCreate, runtime: RuntimeDep, user: CurrentUser) -> WebhookCreated:
    """Register an endpoint. The answer holds its signing secret: the only time it is shown."""
    settings = runtime.settings
    with runtime.db.session() as session:
        webhook = service.create_webhook(
            session,
            user.id,
            body.url,
            body.events,
            body.job_id,
            body.description,
            allow_private=settings.webhook_allow_private,
            max_per_user=settings.max_webhooks_per_user,
        )
        return WebhookCreated(**_public(webhook), secret=webhook.secret)


@router.get("", response_model=WebhooksPublic)
def list_webhooks(runtime: RuntimeDep, user: CurrentUser) -> WebhooksPublic:
    with runtime.db.session() as session:
        webhooks = service.list_webhooks(session, user.id)
        return WebhooksPublic(data=[WebhookPublic(**_public(w)) for w in webhooks], count=len(webhooks))


@router.get("/{webhook_id}", response_model=WebhookPublic, responses=ERRORS)
def get_webhook(webhook_id: str, runtime: RuntimeDep, user: CurrentUser) -> WebhookPublic:
    with runtime.db.session() as session:
        return WebhookPublic(**_public(service.get_webhook(session, user.id, webhook_id)))


@router.delete("/{webhook_id}", status_code=204, responses=ERRORS)
def delete_webhook(webhook_id: str, runtime: RuntimeDep, user: CurrentUser) -> Response:
    """Delete an endpoint with its deliveries (pending ones are not sent)."""
    with runtime.db.session() as session:
        service.delete_webhook(session, user.id, webhook_id)
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries", response_model=WebhookDeliveriesPublic, responses=ERRORS)
def list_deliveries(
    webhook_id: str,
    runtime: RuntimeDep,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> WebhookDeliveriesPublic:
    """The endpoint's deliveries, newest first, each with every try and the receiver's answer."""
    with runtime.db.session() as session:
        deliveries, count = service.list_deliveries(session, user.id, webhook_id, limit, offset)
        return WebhookDeliveriesPublic(data=[_delivery(d) for d in deliveries], count=count)


def document_webhooks(app: FastAPI) -> None:
    """The deliveries in OpenAPI's ``webhooks`` section, one entry per event type."""
    for event in ("job.created", "job.started", "job.completed", "job.failed", "job.cancelled"):

        def receive(body: WebhookEvent) -> None:
            """POSTed to your URL, signed (webhook-id, webhook-timestamp, webhook-signature);
            answer 2xx within 10 s, or it is tried again later."""

        app.webhooks.post(event, summary=f"{event} (signed, Standard Webhooks)")(receive)
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            extra = get_openapi(title=app.title, version=app.version, routes=[], webhooks=app.webhooks.routes)
            schema["webhooks"] = extra.get("webhooks", {})
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for name, definition in extra.get("components", {}).get("schemas", {}).items():
                components.setdefault(name, definition)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
