"""Accounts, credentials, modes, isolation, limits and clean-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from audiomill.accounts import service as accounts
from audiomill.api.app import InsecureBinding, create_app
from audiomill.config import Settings
from audiomill.jobs.cleanup import cleanup_expired
from audiomill.store.tables import Asset, Job, utc_now
from tests.audio_samples import sine, write_wav
from tests.conftest import BASE_URL, WS_BASE_URL, stored_files, wait_for


@pytest.fixture
def tone(tmp_path: Path) -> bytes:
    return write_wav(tmp_path / "tone.wav", sine(440.0, 1.0, 16000), 16000).read_bytes()


def make_user(client: TestClient, name: str, admin: bool = False) -> str:
    """A user with a password and an API key; returns the key."""
    runtime = client.app.state.runtime
    with runtime.db.session() as session:
        user = accounts.create_user(session, name, "password-" + name, is_admin=admin)
        return accounts.create_api_key(session, user, "test").secret


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def submit(
    client: TestClient,
    content: bytes,
    headers: dict[str, str] | None = None,
    kind: str = "test_copy",
    params: dict | None = None,
):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/jobs",
        data={"kind": kind, "params": json.dumps(params or {})},
        files={"file": ("tone.wav", content)},
        headers=headers or {},
    )


@pytest.fixture
def required_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"auth": "required"})


@pytest.fixture
def authed_client(required_settings: Settings, fixture_kinds: None):  # type: ignore[no-untyped-def]
    with TestClient(create_app(required_settings), base_url=BASE_URL) as client:
        yield client


def test_required_mode_refuses_anonymous_requests(authed_client: TestClient, tone: bytes) -> None:
    for response in (
        authed_client.get("/api/v1/jobs"),
        submit(authed_client, tone),
        authed_client.get("/jobs"),
        authed_client.post("/upload", files={"file": ("a.wav", tone)}),
    ):
        assert response.status_code == 401 and "authentication required" in response.json()["detail"]
    assert authed_client.get("/health").status_code == 200  # health needs no account
    assert authed_client.get("/api/v1/jobs", headers=bearer("am_not-a-key")).status_code == 401
    assert authed_client.get("/api/v1/jobs", headers={"Authorization": "Basic eDp5"}).status_code == 401


def test_login_session_csrf_and_logout(authed_client: TestClient, tone: bytes) -> None:
    make_user(authed_client, "carol")
    bad = authed_client.post("/api/v1/auth/login", json={"username": "carol", "password": "wrong-password"})
    assert bad.status_code == 401
    login = authed_client.post("/api/v1/auth/login", json={"username": "carol", "password": "password-carol"})
    assert login.status_code == 200
    csrf = login.json()["csrf_token"]
    assert authed_client.cookies.get("sessionid") and authed_client.cookies.get("csrftoken") == csrf
    assert authed_client.get("/api/v1/auth/me").json()["authenticated_by"] == "session"

    refused = submit(authed_client, tone)  # cookie but no X-CSRFToken
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert submit(authed_client, tone, {"X-CSRFToken": "forged"}).status_code == 403
    job = submit(authed_client, tone, {"X-CSRFToken": csrf})
    assert job.status_code == 201
    job_id = job.json()["id"]
    wait_for(authed_client, job_id, {"completed"})
    assert authed_client.delete(f"/api/v1/jobs/{job_id}").status_code == 403
    assert authed_client.delete(f"/api/v1/jobs/{job_id}", headers={"X-CSRFToken": csrf}).status_code == 204

    assert authed_client.post("/api/v1/auth/logout", headers={"X-CSRFToken": csrf}).status_code == 204
    assert authed_client.get("/api/v1/auth/me").status_code == 401


def test_api_keys_are_shown_once_and_can_be_revoked(authed_client: TestClient) -> None:
    key = make_user(authed_client, "dave")
    created = authed_client.post("/api/v1/auth/keys", json={"name": "ci"}, headers=bearer(key))
    assert created.status_code == 201
    second = created.json()["key"]
    listed = authed_client.get("/api/v1/auth/keys", headers=bearer(second)).json()
    assert listed["count"] == 2 and all("key" not in k for k in listed["data"])
    assert authed_client.delete(f"/api/v1/auth/keys/{created.json()['id']}", headers=bearer(key)).status_code == 204
    assert authed_client.get("/api/v1/auth/me", headers=bearer(second)).status_code == 401
    assert authed_client.get("/api/v1/auth/me", headers=bearer(key)).json()["username"] == "dave"
    runtime = authed_client.app.state.runtime
    with runtime.db.session() as session:  # disabling a user stops their keys
        accounts.set_active(session, "dave", False)
    assert authed_client.get("/api/v1/auth/me", headers=bearer(key)).status_code == 401


def _fill(path: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    return path


def test_access_matrix_other_users_get_404_everywhere(authed_client: TestClient, tone: bytes) -> None:
    key_a, key_b = make_user(authed_client, "alice"), make_user(authed_client, "bob")
    job = submit(authed_client, tone, bearer(key_a)).json()
    wait_for_a = lambda: authed_client.get(f"/api/v1/jobs/{job['id']}", headers=bearer(key_a)).json()  # noqa: E731
    deadline = time.monotonic() + 30
    while wait_for_a()["status"] != "completed" and time.monotonic() < deadline:
        time.sleep(0.05)
    a_keys = authed_client.get("/api/v1/auth/keys", headers=bearer(key_a)).json()["data"]
    runtime = authed_client.app.state.runtime
    with runtime.db.session() as session:
        input_uuid = session.scalar(select(Asset.uuid).where(Asset.filename == "tone.wav"))
        job_number = session.scalar(select(Job.id).where(Job.uuid == job["id"]))  # seed 001's file id
    a_values = {
        "job_id": job["id"],
        "name": "copy",
        "key_id": str(a_keys[0]["id"]),
        "file_id": str(job_number),
        "path": f"uploads/original/{input_uuid}/tone.wav",
    }
    assert authed_client.get(f"/media/{a_values['path']}", headers=bearer(key_a)).status_code == 200
    repo = authed_client.post("/api/v1/repos", json={"name": "alice's song"}, headers=bearer(key_a)).json()
    commit = authed_client.post(
        f"/api/v1/repos/{repo['id']}/commits", json={"message": "m"}, headers=bearer(key_a)
    ).json()
    a_values.update(repo_id=repo["id"], commit_id=commit["id"], stem_type="drums")
    # Repository routes that take a request body answer 422 to an empty one before looking
    # anything up; tests/test_vcs_permissions.py checks each of them with a valid body.
    body_routes = ("/api/v1/repos", "/api/vcs", "/api/repositories")

    checked = 0
    # every documented route with an id in its path, so routes added later are covered too
    for path, operations in authed_client.get("/openapi.json").json()["paths"].items():
        if "{" not in path:
            continue
        for method in operations:
            if path.startswith(body_routes) and method in ("post", "put"):
                continue
            response = authed_client.request(method.upper(), _fill(path, a_values), headers=bearer(key_b))
            assert response.status_code == 404, (method, path, response.status_code, response.text)
            assert "root:" not in response.text and "RIFF" not in response.text
            checked += 1
    assert checked >= 8
    from starlette.testclient import WebSocketDenialResponse

    with pytest.raises(WebSocketDenialResponse) as denied:
        with authed_client.websocket_connect(f"{WS_BASE_URL}/api/v1/jobs/{job['id']}/events", headers=bearer(key_b)):
            pass
    assert denied.value.status_code == 404
    assert authed_client.get("/api/v1/jobs", headers=bearer(key_b)).json()["count"] == 0
    assert authed_client.get("/jobs", headers=bearer(key_b)).json() == []
    everyone = authed_client.get("/api/v1/jobs", params={"all": "true"}, headers=bearer(key_b))
    assert everyone.status_code == 403 and "admins only" in everyone.json()["detail"]  # not silently ignored

    after = wait_for_a()  # alice's job is intact, and downloadable by her
    assert after["status"] == "completed"
    assert authed_client.get(f"/api/v1/jobs/{job['id']}/outputs/copy", headers=bearer(key_a)).status_code == 200
    assert authed_client.get(f"/download/{job['id']}", headers=bearer(key_a)).status_code == 404  # not a separation
    admin = make_user(authed_client, "root-admin", admin=True)
    assert authed_client.get("/api/v1/jobs", params={"all": "true"}, headers=bearer(admin)).json()["count"] == 1
    assert authed_client.get(f"/api/v1/jobs/{job['id']}", headers=bearer(admin)).status_code == 404


def test_local_mode_serves_anonymous_as_local_user_but_guards_the_browser(client: TestClient, tone: bytes) -> None:
    me = client.get("/api/v1/auth/me").json()
    assert len(me.pop("uuid")) == 36  # the stable public id (seed 003's owner_id)
    assert me == {"id": 1, "username": "local", "is_admin": False, "authenticated_by": "local"}
    key = make_user(client, "erin")  # credentials, when sent, are honoured
    assert client.get("/api/v1/auth/me", headers=bearer(key)).json()["username"] == "erin"
    assert client.get("/api/v1/auth/me", headers=bearer("am_wrong")).status_code == 401

    rebinding = client.get("/api/v1/jobs", headers={"Host": "evil.example:8000"})
    assert rebinding.status_code == 403 and "loopback" in rebinding.json()["detail"]
    assert client.get("/api/v1/jobs", headers={"Host": "localhost:8000"}).status_code == 200
    foreign = submit(client, tone, {"Origin": "http://evil.example"})
    assert foreign.status_code == 403 and "cross-origin" in foreign.json()["detail"]
    assert client.post("/upload", files={"file": ("a.wav", tone)}, headers={"Origin": "null"}).status_code == 403
    assert submit(client, tone, {"Origin": "http://127.0.0.1"}).status_code == 201  # our own page
    assert submit(client, tone).status_code == 201  # curl, scripts: no Origin
    assert client.get("/api/v1/jobs", headers={"Origin": "http://evil.example"}).status_code == 200  # reads are safe


def test_public_address_needs_auth_or_an_explicit_flag(settings: Settings) -> None:
    with pytest.raises(InsecureBinding, match="AUDIOMILL_AUTH=required"):
        create_app(settings.model_copy(update={"host": "0.0.0.0"}))
    create_app(settings.model_copy(update={"host": "0.0.0.0", "insecure_no_auth": True}))
    create_app(settings.model_copy(update={"host": "0.0.0.0", "auth": "required"}))


def test_rate_limit_answers_429_with_retry_after(settings: Settings, fixture_kinds: None) -> None:
    with TestClient(create_app(settings.model_copy(update={"rate_limit_per_minute": 5})), base_url=BASE_URL) as client:
        codes = [client.get("/api/v1/jobs").status_code for _ in range(6)]
        assert codes == [200] * 5 + [429]
        limited = client.get("/api/v1/jobs")
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert "rate limit" in limited.json()["detail"]


def test_active_job_limit(settings: Settings, fixture_kinds: None, tone: bytes) -> None:
    with TestClient(
        create_app(settings.model_copy(update={"max_active_jobs_per_user": 1})), base_url=BASE_URL
    ) as client:
        slow = submit(client, tone, kind="test_slow", params={"seconds": 30})
        assert slow.status_code == 201
        busy = submit(client, tone)
        assert busy.status_code == 429 and "the limit is 1" in busy.json()["detail"]
        assert int(busy.headers["retry-after"]) >= 1
        client.post(f"/api/v1/jobs/{slow.json()['id']}/cancel")
        assert submit(client, tone).status_code == 201


def test_storage_quota(settings: Settings, fixture_kinds: None, tone: bytes) -> None:
    # room for one job's input and output, plus one more upload
    with TestClient(
        create_app(settings.model_copy(update={"storage_quota_bytes": 3 * len(tone) + 1000})), base_url=BASE_URL
    ) as client:
        first = submit(client, tone, params={"gain": 0.5})
        wait_for(client, first.json()["id"], {"completed"})
        over = submit(client, tone[:-2] + b"\0\1")
        assert over.status_code == 201, over.text
        wait_for(client, over.json()["id"], {"completed"})
        refused = submit(client, tone[:-2] + b"\2\3")
        assert refused.status_code == 413 and "quota" in refused.json()["detail"]
        client.delete(f"/api/v1/jobs/{first.json()['id']}")  # making room works
        assert submit(client, tone[:-2] + b"\2\3").status_code == 201


def test_duration_limit_names_the_limit(settings: Settings, fixture_kinds: None, tone: bytes) -> None:
    limited = settings.model_copy(update={"max_duration_seconds_by_kind": {"test_copy": 0.5}})
    with TestClient(create_app(limited), base_url=BASE_URL) as client:
        response = submit(client, tone)
        assert response.status_code == 422
        assert "at most 0.5 s" in response.json()["detail"]
        assert stored_files(limited) == []
        assert submit(client, tone, kind="test_slow").status_code == 201  # other kinds keep the default


def test_cleanup_deletes_expired_jobs_and_unreferenced_blobs_only(
    client: TestClient, settings: Settings, tone: bytes
) -> None:
    old = submit(client, tone, params={"gain": 0.5}).json()
    keep = submit(client, tone, params={"gain": 0.25}).json()  # shares the input blob with `old`
    for job in (old, keep):
        wait_for(client, job["id"], {"completed"})
    runtime = client.app.state.runtime
    with runtime.db.session() as session:
        row = session.scalar(select(Job).where(Job.uuid == old["id"]))
        row.finished_at = utc_now() - timedelta(seconds=settings.job_ttl_seconds + 60)
    orphan = settings.blobs_dir / "ab" / "cd" / ("abcd" + "0" * 60)
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"left by a crash")
    os.utime(orphan, (time.time() - 7200, time.time() - 7200))
    before = stored_files(settings)

    report = cleanup_expired(runtime)
    assert report.jobs_deleted == 1 and report.blobs_deleted == 2  # old's output + the orphan
    assert client.get(f"/api/v1/jobs/{old['id']}").status_code == 404
    assert client.get(f"/api/v1/jobs/{keep['id']}/outputs/copy").status_code == 200
    after = stored_files(settings)
    assert len(after) == len(before) - 2 and orphan not in after
    with runtime.db.session() as session:
        digests = set(session.scalars(select(Asset.sha256)))
    assert {p.name for p in after} == digests  # no orphan blobs, no dangling rows
    assert cleanup_expired(runtime).jobs_deleted == 0


def test_cli_manages_users_on_the_same_database(tmp_path: Path, settings: Settings, fixture_kinds: None) -> None:
    env = {**os.environ, "AUDIOMILL_DATA_DIR": str(settings.data_dir)}
    cli = [sys.executable, "-m", "audiomill.cli"]
    # The password never goes on the command line: read from stdin here, prompted for otherwise.
    made = subprocess.run(
        cli + ["users", "create", "frank", "--password-stdin"],
        input="frank-pass-1\n",
        env=env,
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    refused = subprocess.run(
        cli + ["users", "create", "gina", "--password", "gina-pass-1"], env=env, capture_output=True, text=True
    )
    assert refused.returncode != 0 and "--password" in refused.stderr
    key = subprocess.run(cli + ["keys", "create", "frank"], env=env, capture_output=True, text=True).stdout.strip()
    assert key.startswith("am_")
    with TestClient(create_app(settings.model_copy(update={"auth": "required"})), base_url=BASE_URL) as client:
        assert client.get("/api/v1/auth/me", headers=bearer(key)).json()["username"] == "frank"
        assert (
            client.post("/api/v1/auth/login", json={"username": "frank", "password": "frank-pass-1"}).status_code == 200
        )
        disabled = subprocess.run(cli + ["users", "disable", "frank"], env=env, capture_output=True, text=True)
        assert disabled.returncode == 0
        assert client.get("/api/v1/auth/me", headers=bearer(key)).status_code == 401
    listed = subprocess.run(cli + ["users", "list"], env=env, capture_output=True, text=True)
    assert "frank" in listed.stdout
    dup = subprocess.run(
        cli + ["users", "create", "frank", "--password-stdin"],
        input="frank-pass-1\n",
        env=env,
        capture_output=True,
        text=True,
    )
    revoke = [subprocess.run(cli + ["keys", "revoke", "1"], env=env, capture_output=True, text=True) for _ in range(2)]
    assert "revoked key 1" in revoke[0].stderr and "already revoked" in revoke[1].stderr
    assert dup.returncode == 1 and "already exists" in dup.stderr
