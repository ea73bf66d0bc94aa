"""The dispatcher: sends due deliveries and records every try.

One thread claims deliveries that are due (a conditional UPDATE takes a lease, so any
number of API processes may run a dispatcher and each delivery is sent by one), hands
them to a few sender threads (httpx; the API's event loop never waits on a receiver),
and records the answer: 2xx ends the delivery; anything else (an error status, a
timeout, a refused address) schedules the next try after the next back-off delay, until
the schedule (``webhook_retry_delays_seconds``) ends and the delivery is marked failed.
A restart loses nothing: what is due is in the database, and a lease held by a process
that died runs out.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import httpx
from sqlalchemy import CursorResult, delete, or_, select, update

from audiomill import __version__
from audiomill.errors import InvalidInput
from audiomill.jobs.webhooks import addresses, signing
from audiomill.jobs.webhooks.enqueue import add_waker, remove_waker
from audiomill.runtime import Runtime
from audiomill.store.tables import Webhook, WebhookAttempt, WebhookDelivery, utc_now

log = logging.getLogger(__name__)

SENDERS = 4
RESPONSE_EXCERPT_CHARS = 1000
_READ_AT_MOST_BYTES = 8192  # of a receiver's answer: enough for the excerpt
USER_AGENT = f"audiomill/{__version__} (webhooks)"
PURGE_INTERVAL_SECONDS = 3600.0


@dataclass(frozen=True)
class _Claimed:
    delivery_id: int
    message_id: str
    payload: str
    attempts: int
    url: str
    secret: str
    lease: datetime  # the lease this dispatcher holds; recording needs it still


@dataclass(frozen=True)
class TryResult:
    response_status: int | None
    response_body: str
    error: str | None
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.response_status is not None and 200 <= self.response_status < 300


class WebhookDispatcher:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._free = SENDERS * 2  # deliveries in flight at most (claimed, not yet recorded)
        self._thread = threading.Thread(target=self._loop, name="audiomill-webhooks", daemon=True)
        self._senders = ThreadPoolExecutor(max_workers=SENDERS, thread_name_prefix="audiomill-webhook")
        # No proxies from the environment: a proxy would connect wherever it likes, after our checks.
        self._client = httpx.Client(
            timeout=runtime.settings.webhook_timeout_seconds, follow_redirects=False, trust_env=False
        )

    def start(self) -> None:
        add_waker(self.wake)
        self._thread.start()

    def stop(self) -> None:
        remove_waker(self.wake)
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)
        self._senders.shutdown(wait=True, cancel_futures=True)
        self._client.close()

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        interval = self._runtime.settings.webhook_poll_interval_seconds
        purge_due = time.monotonic() + PURGE_INTERVAL_SECONDS
        while not self._stop.is_set():
            if time.monotonic() >= purge_due:
                purge_due = time.monotonic() + PURGE_INTERVAL_SECONDS
                try:
                    purge_finished(self._runtime)
                except Exception:
                    log.exception("webhooks: purging old deliveries failed; trying again later")
            with self._lock:
                free = self._free
            claimed: list[_Claimed] = []
            if free:
                try:
                    claimed = self._claim(free)
                except Exception:  # the database is briefly away: look again later
                    log.exception("webhooks: claiming deliveries failed; trying again")
            for delivery in claimed:
                with self._lock:
                    self._free -= 1
                self._senders.submit(self._send_and_record, delivery)
            if not free or len(claimed) < free:
                self._wake.wait(interval)
                self._wake.clear()

    def _claim(self, limit: int) -> list[_Claimed]:
        now = utc_now()
        lease = now + timedelta(seconds=2 * self._runtime.settings.webhook_timeout_seconds + 30)
        free = or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until < now)
        claimed: list[_Claimed] = []
        with self._runtime.db.session() as session:
            due = session.scalars(
                select(WebhookDelivery.id)
                .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now, free)
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                .limit(limit)
            ).all()
            for delivery_id in due:
                row = session.execute(
                    update(WebhookDelivery)
                    .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == "pending", free)
                    .values(locked_until=lease)
                    .returning(
                        WebhookDelivery.message_id,
                        WebhookDelivery.payload,
                        WebhookDelivery.attempts,
                        WebhookDelivery.webhook_id,
                    )
                    .execution_options(synchronize_session=False)
                ).first()
                if row is None:
                    continue  # another dispatcher took it
                endpoint = session.execute(
                    select(Webhook.url, Webhook.secret).where(Webhook.id == row.webhook_id)
                ).first()
                if endpoint is not None:
                    claimed.append(
                        _Claimed(
                            delivery_id, row.message_id, row.payload, row.attempts, endpoint.url, endpoint.secret, lease
                        )
                    )
        return claimed

    def _send_and_record(self, delivery: _Claimed) -> None:
        try:
            attempted_at = utc_now()
            result = self.send(delivery.url, delivery.secret, delivery.message_id, delivery.payload)
            self._record(delivery, attempted_at, result)
        except Exception:
            log.exception("webhooks: delivery %s could not be recorded; its lease will run out", delivery.message_id)
        finally:
            with self._lock:
                self._free += 1
            self._wake.set()

    def send(self, url: str, secret: str, message_id: str, payload: str) -> TryResult:
        """One try: check where the URL points now, then POST the signed body there."""
        started = time.monotonic()
        status: int | None = None
        excerpt = ""
        error: str | None = None
        try:
            target = addresses.check(url, self._runtime.settings.webhook_allow_private)
            headers = {
                "content-type": "application/json",
                "user-agent": USER_AGENT,
                **signing.headers(secret, message_id, int(time.time()), payload),
            }
            status, excerpt = self._post(target, headers, payload)
        except InvalidInput as exc:
            error = f"not sent: {exc.message}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}".rstrip(": ")
        except Exception as exc:  # anything else is a failed try, never a dead dispatcher
            log.exception("webhooks: sending %s failed", message_id)
            error = f"{type(exc).__name__}: {exc}"
        return TryResult(status, excerpt, error, int((time.monotonic() - started) * 1000))

    def _post(self, target: addresses.Target, headers: dict[str, str], payload: str) -> tuple[int, str]:
        url = httpx.URL(target.url)
        # Connect to the address that was checked, not to a second lookup's (DNS rebinding);
        # the name still goes in Host and, for TLS, in SNI and the certificate check.
        pinned = url.copy_with(host=str(target.address))
        extensions: dict[str, Any] = {"sni_hostname": target.host} if target.scheme == "https" else {}
        headers = {**headers, "host": url.netloc.decode("ascii")}
        with self._client.stream(
            "POST", pinned, content=payload.encode(), headers=headers, extensions=extensions
        ) as response:
            read = b""
            for chunk in response.iter_bytes():
                read += chunk
                if len(read) >= _READ_AT_MOST_BYTES:
                    break
            return response.status_code, read.decode("utf-8", "replace")[:RESPONSE_EXCERPT_CHARS]

    def _record(self, delivery: _Claimed, attempted_at: datetime, result: TryResult) -> None:
        number = delivery.attempts + 1
        delays = self._runtime.settings.webhook_retry_delays_seconds
        now = utc_now()
        values: dict[str, object] = {"attempts": number, "locked_until": None}
        if result.succeeded:
            values.update(status="succeeded", finished_at=now, next_attempt_at=None)
        elif number > len(delays):
            values.update(status="failed", finished_at=now, next_attempt_at=None)
        else:
            values.update(next_attempt_at=now + timedelta(seconds=delays[number - 1]))
        with self._runtime.db.session() as session:
            updated = session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery.delivery_id, WebhookDelivery.locked_until == delivery.lease)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if cast(CursorResult[Any], updated).rowcount != 1:
                return  # deleted with its webhook meanwhile, or the lease ran out and another took it
            session.add(
                WebhookAttempt(
                    delivery_id=delivery.delivery_id,
                    number=number,
                    attempted_at=attempted_at,
                    response_status=result.response_status,
                    response_body=result.response_body,
                    error=result.error,
                    duration_ms=result.duration_ms,
                )
            )
        if not result.succeeded:
            log.warning(
                "webhook delivery %s try %d failed: %s",
                delivery.message_id,
                number,
                result.error or f"the receiver answered {result.response_status}",
            )


def purge_finished(runtime: Runtime) -> int:
    """Delete deliveries that ended (succeeded or failed) longer ago than finished jobs are
    kept (``job_ttl_seconds``), with their tries; returns how many."""
    cutoff = utc_now() - timedelta(seconds=runtime.settings.job_ttl_seconds)
    with runtime.db.session() as session:
        deleted = session.execute(
            delete(WebhookDelivery)
            .where(WebhookDelivery.status != "pending", WebhookDelivery.finished_at < cutoff)
            .execution_options(synchronize_session=False)
        )
        return int(cast(CursorResult[Any], deleted).rowcount)


def webhook_dispatcher(runtime: Runtime) -> WebhookDispatcher:
    """The dispatcher for an API process's background tasks (start() / stop())."""
    return WebhookDispatcher(runtime)
