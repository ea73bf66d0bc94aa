"""Signed webhooks against a real HTTP receiver on 127.0.0.1 (private addresses allowed for it)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from audiomill.api.app import create_app
from audiomill.config import Settings
from audiomill.jobs.webhooks import addresses
from audiomill.store.tables import User, Webhook
from tests.audio_samples import sine, write_wav
from tests.conftest import BASE_URL, wait_for


class Receiver:
    """A tiny webhook receiver: records every request, answers from a script (then 200)."""

    def __init__(self, answers: list[int] | None = None) -> None:
        self.answers = list(answers or [])
        self.received: list[tuple[dict[str, str], bytes]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver._lock:
                    receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else f"receiver says no ({status})".encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def bodies(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(body) for _, body in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def verify(secret: str, headers: dict[str, str], body: bytes, tolerance_seconds: int = 300) -> None:
    """An independent Standard Webhooks verifier (as a receiver would write it)."""
    assert secret.startswith("whsec_")
    key = base64.b64decode(secret[len("whsec_") :])
    message_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    assert abs(int(timestamp) - time.time()) < tolerance_seconds
    expected = base64.b64encode(
        hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    ).decode()
    offered = [part.split(",", 1)[1] for part in headers["webhook-signature"].split() if part.startswith("v1,")]
    assert any(hmac.compare_digest(expected, signature) for signature in offered), "signature does not verify"


def eventually(check: Callable[[], Any], timeout_seconds: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout_seconds} s")
        time.sleep(0.05)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def hook_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "webhook_allow_private": True,
            "webhook_retry_delays_seconds": [0.3, 0.3],
            "webhook_poll_interval_seconds": 0.1,
        }
    )


@pytest.fixture
def hook_client(hook_settings: Settings, fixture_kinds: None) -> Iterator[TestClient]:
    with TestClient(create_app(hook_settings), base_url=BASE_URL) as client:
        yield client


@pytest.fixture
def tone_wav(tmp_path: Path) -> Path:
    return write_wav(tmp_path / "tone.wav", sine(440.0, 0.5, 22050), 22050)


def submit(client: TestClient, path: Path, kind: str = "test_copy") -> dict[str, Any]:
    with path.open("rb") as handle:
        response = client.post(
            "/api/v1/jobs", data={"kind": kind, "params": "{}"}, files={"file": (path.name, handle, "audio/wav")}
        )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def register(client: TestClient, url: str, **fields: Any) -> dict[str, Any]:
    response = client.post("/api/v1/webhooks", json={"url": url, **fields})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def deliveries(client: TestClient, webhook_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/webhooks/{webhook_id}/deliveries")
    assert response.status_code == 200, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


def test_signed_events_reach_the_receiver(hook_client: TestClient, receiver: Receiver, tone_wav: Path) -> None:
    client = hook_client
    webhook = register(client, receiver.url, description="everything")
    assert webhook["secret"].startswith("whsec_") and len(base64.b64decode(webhook["secret"][6:])) == 32
    failures_only = register(client, receiver.url, events=["job.failed"])
    listed = client.get("/api/v1/webhooks").json()
    assert listed["count"] == 2 and all("secret" not in w for w in listed["data"])  # shown once only

    job = submit(client, tone_wav)
    final = wait_for(client, job["id"], {"completed"})
    eventually(lambda: len(receiver.received) >= 3)
    time.sleep(0.3)  # nothing more is coming
    types = [body["type"] for body in receiver.bodies()]
    assert sorted(types) == ["job.completed", "job.created", "job.started"], types  # job.failed: not wanted
    for headers, body in receiver.received:
        verify(webhook["secret"], headers, body)
        assert headers["content-type"] == "application/json"
        with pytest.raises(AssertionError):
            verify(failures_only["secret"], headers, body)  # another endpoint's secret does not verify it
    completed = next(b for b in receiver.bodies() if b["type"] == "job.completed")
    assert completed["data"] == final  # the same JSON as GET /api/v1/jobs/{id}
    assert next(b for b in receiver.bodies() if b["type"] == "job.created")["data"]["status"] == "pending"

    listed_deliveries = eventually(
        lambda: (d := deliveries(client, webhook["id"])) and all(x["status"] == "succeeded" for x in d) and d
    )
    assert len(listed_deliveries) == 3
    for delivery in listed_deliveries:
        assert [t["response_status"] for t in delivery["tries"]] == [200]
        assert delivery["tries"][0]["response_body"] == "ok" and delivery["job_id"] == job["id"]
    assert {d["id"] for d in listed_deliveries} == {h["webhook-id"] for h, _ in receiver.received}
    assert deliveries(client, failures_only["id"]) == []

    broken = submit(client, tone_wav, "test_raises_in_run")
    wait_for(client, broken["id"], {"failed"})
    failed = eventually(lambda: deliveries(client, failures_only["id"]))
    assert [d["event_type"] for d in failed] == ["job.failed"]

    assert client.delete(f"/api/v1/webhooks/{failures_only['id']}").status_code == 204
    assert client.get(f"/api/v1/webhooks/{failures_only['id']}").status_code == 404


def test_a_receiver_that_fails_twice_gets_the_third_try(
    hook_client: TestClient, receiver: Receiver, tone_wav: Path
) -> None:
    receiver.answers = [500, 503]
    webhook = register(hook_client, receiver.url, events=["job.completed"])
    job = submit(hook_client, tone_wav)
    wait_for(hook_client, job["id"], {"completed"})
    (delivery,) = eventually(
        lambda: (d := deliveries(hook_client, webhook["id"])) and d[0]["status"] != "pending" and d
    )
    assert delivery["status"] == "succeeded" and delivery["attempts"] == 3
    assert [t["response_status"] for t in delivery["tries"]] == [500, 503, 200]
    assert delivery["tries"][0]["response_body"] == "receiver says no (500)"
    assert len(receiver.received) == 3
    assert len({h["webhook-id"] for h, _ in receiver.received}) == 1  # one event, tried three times
    assert len({body for _, body in receiver.received}) == 1  # the same body each time
    for headers, body in receiver.received:
        verify(webhook["secret"], headers, body)


def test_a_receiver_that_never_answers_2xx_ends_failed(
    hook_client: TestClient, receiver: Receiver, tone_wav: Path
) -> None:
    receiver.answers = [500] * 10
    webhook = register(hook_client, receiver.url, events=["job.created"])
    submit(hook_client, tone_wav)
    (delivery,) = eventually(
        lambda: (d := deliveries(hook_client, webhook["id"])) and d[0]["status"] != "pending" and d
    )
    assert delivery["status"] == "failed" and delivery["attempts"] == 3  # the first try + two retries
    assert delivery["next_attempt_at"] is None and delivery["finished_at"] is not None


def test_a_restart_between_tries_loses_nothing(
    hook_settings: Settings, fixture_kinds: None, receiver: Receiver, tone_wav: Path
) -> None:
    settings = hook_settings.model_copy(update={"webhook_retry_delays_seconds": [3.0]})
    receiver.answers = [500]
    with TestClient(create_app(settings), base_url=BASE_URL) as first:
        webhook = register(first, receiver.url, events=["job.completed"])
        job = submit(first, tone_wav)
        wait_for(first, job["id"], {"completed"})
        eventually(lambda: (d := deliveries(first, webhook["id"])) and d[0]["attempts"] == 1)
    assert len(receiver.received) == 1  # the service stopped before the next try was due

    with TestClient(create_app(settings), base_url=BASE_URL) as second:  # a new process, the same database
        (delivery,) = eventually(
            lambda: (d := deliveries(second, webhook["id"])) and d[0]["status"] == "succeeded" and d
        )
    assert [t["response_status"] for t in delivery["tries"]] == [500, 200]
    assert len(receiver.received) == 2 and receiver.bodies()[1]["data"]["id"] == job["id"]
    verify(webhook["secret"], *receiver.received[1])


REFUSED = [
    ("http://127.0.0.1:9/hook", "loopback"),
    ("http://localhost/hook", "loopback"),
    ("http://[::1]/hook", "loopback"),
    ("http://[::ffff:127.0.0.1]/hook", "loopback"),
    ("http://10.1.2.3/hook", "private"),
    ("http://192.168.0.10/hook", "private"),
    ("http://169.254.169.254/latest/meta-data", "link-local"),
    ("http://224.0.0.1/hook", "multicast"),
    ("http://0.0.0.0/hook", "unspecified"),
    ("http://240.0.0.1/hook", "reserved"),
    ("ftp://93.184.216.34/hook", "http:// or https://"),
    ("http:///hook", "no host"),
    ("http://no-such-host.invalid/hook", "cannot be resolved"),
]


def test_private_addresses_are_refused_when_not_allowed(client: TestClient) -> None:
    for url, problem in REFUSED:
        response = client.post("/api/v1/webhooks", json={"url": url})
        assert response.status_code == 422, (url, response.text)
        assert problem in response.json()["detail"], (url, response.text)
    assert client.get("/api/v1/webhooks").json()["count"] == 0


def test_public_addresses_and_bad_fields(client: TestClient) -> None:
    ok = client.post("/api/v1/webhooks", json={"url": "https://93.184.216.34/hook"})
    assert ok.status_code == 201 and ok.json()["events"][0] == "job.created"
    unknown = client.post("/api/v1/webhooks", json={"url": "https://93.184.216.34/", "events": ["job.exploded"]})
    assert unknown.status_code == 422 and "job.exploded" in unknown.text
    no_job = client.post("/api/v1/webhooks", json={"url": "https://93.184.216.34/", "job_id": "nope"})
    assert no_job.status_code == 422 and "no such job" in no_job.json()["detail"]
    assert client.get("/api/v1/webhooks/nope/deliveries").status_code == 404
    assert client.delete("/api/v1/webhooks/nope").status_code == 404


def test_the_address_is_checked_again_at_every_try(client: TestClient, receiver: Receiver, tone_wav: Path) -> None:
    """A name that resolved to a public address at registration may point at 127.0.0.1 by
    the time of a try (DNS rebinding): with private addresses not allowed, nothing is sent."""
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    client.get("/api/v1/jobs")  # the local user exists
    with runtime.db.session() as session:
        owner = session.query(User).filter_by(username="local").one()
        hook = Webhook(owner_id=owner.id, url=receiver.url, events=["job.created"], secret="whsec_" + "A" * 44)
        session.add(hook)
        session.flush()
        webhook_id = hook.uuid
    submit(client, tone_wav)
    (delivery,) = eventually(lambda: (d := deliveries(client, webhook_id)) and d[0]["tries"] and d)
    assert delivery["tries"][0]["response_status"] is None
    assert "not sent" in delivery["tries"][0]["error"] and "loopback" in delivery["tries"][0]["error"]
    assert receiver.received == []


def test_address_classes() -> None:
    import ipaddress

    assert addresses.why_refused(ipaddress.ip_address("93.184.216.34")) is None
    assert addresses.why_refused(ipaddress.ip_address("2606:4700::1111")) is None
    assert addresses.why_refused(ipaddress.ip_address("100.64.0.1")) == "not a public address"  # carrier-grade NAT
    assert addresses.why_refused(ipaddress.ip_address("fd00::1")) == "a private address"
    assert addresses.why_refused(ipaddress.ip_address("fe80::1")) == "a link-local address"


def test_finished_deliveries_are_purged_after_the_job_ttl(hook_settings: Settings) -> None:
    from datetime import timedelta

    from audiomill.jobs.webhooks.delivery import purge_finished
    from audiomill.runtime import build_runtime
    from audiomill.store.tables import WebhookAttempt, WebhookDelivery, utc_now

    runtime = build_runtime(hook_settings.model_copy(update={"job_ttl_seconds": 3600}))
    now = utc_now()
    with runtime.db.session() as session:
        user = User(username="purged")
        session.add(user)
        session.flush()
        hook = Webhook(owner_id=user.id, url="https://93.184.216.34/", events=["job.created"], secret="whsec_AAAA")
        session.add(hook)
        session.flush()
        for message_id, status, finished in [
            ("msg_old", "succeeded", now - timedelta(hours=2)),
            ("msg_recent", "failed", now - timedelta(minutes=5)),
            ("msg_waiting", "pending", None),
        ]:
            delivery = WebhookDelivery(
                message_id=message_id,
                webhook_id=hook.id,
                event_type="job.created",
                job_uuid="j",
                payload="{}",
                status=status,
                attempts=1,
                finished_at=finished,
            )
            session.add(delivery)
            session.flush()
            session.add(WebhookAttempt(delivery_id=delivery.id, number=1, response_status=500))
    assert purge_finished(runtime) == 1
    with runtime.db.session() as session:
        left = sorted(session.scalars(select(WebhookDelivery.message_id)))
        tries = session.scalar(select(func.count()).select_from(WebhookAttempt))
    assert left == ["msg_recent", "msg_waiting"] and tries == 2  # the old one's try went with it
    runtime.db.dispose()
