"""Path traversal and odd names, on every route: no input may get a 5xx, read a file from
outside the store, or write one outside the data folder.

- Every path parameter of every route (found by walking ``app.routes``, so a new route is
  covered the day it is added, WebSockets included) gets each bad value, once as sent by
  ``curl --path-as-is`` (``../`` left in, so no client normalises it away) and once fully
  percent-encoded, while the route's other parameters hold values that exist.
- Every upload route (found in the OpenAPI document: multipart bodies with file parts)
  gets a real WAV under each odd file name, including names that are not UTF-8. It is
  accepted with a safe display name, or refused with a 4xx JSON error.

Requests go to the ASGI app directly, as a server would hand them over, because HTTP
clients (httpx, hence TestClient) resolve ``..`` segments before sending.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select

from audiomill.api.app import create_app
from audiomill.api.routes.media import media_url
from audiomill.config import Settings
from audiomill.engines import base as engines_base
import dataclasses
from audiomill.jobs import runner
from audiomill.store.tables import Asset, Job
from tests.audio_samples import sine, write_wav
from tests.conftest import BASE_URL, FIXTURE_KINDS, wait_for
from tests.fixtures.engines.params import fixture_spec


# ---------------------------------------------------------------------------------------
# a stand-in for every real engine (tests/test_openapi_fuzz.py uses it too)


# Every output name some route looks up: seed 000's stems, seed 001's vocals/instrumental,
# the single "audio" of the enhancement kinds.
EVERY_OUTPUT_ENGINE = "tests.fixtures.engines.every_output"


def stand_in_engines(patch: pytest.MonkeyPatch) -> None:
    for kind, spec in list(engines_base.KINDS.items()):
        patch.setitem(engines_base.KINDS, kind, dataclasses.replace(spec, engine=EVERY_OUTPUT_ENGINE, check=None))
    for kind, module in FIXTURE_KINDS.items():
        patch.setitem(engines_base.KINDS, kind, fixture_spec(kind, module))
    # Set-up done under a stand-in is not the real engine's: start, and leave, with a clean slate.
    patch.setattr(runner, "_set_up_kinds", set())


# ---------------------------------------------------------------------------------------
# the bad values

PASSWD = Path("/etc/passwd")

# Values a client might put where we expect an id or a name.
BAD_VALUES: dict[str, bytes] = {
    "dotdot": b"../../etc/passwd",
    "dotdot-deep": b"../../../../../../../../etc/passwd",
    "dotdot-encoded": b"..%2F..%2Fetc%2Fpasswd",
    "dotdot-double-encoded": b"..%252F..%252Fetc%252Fpasswd",
    "dotdot-backslash": b"..\\..\\etc\\passwd",
    "absolute": b"/etc/passwd",
    "windows": b"C:\\Windows\\win.ini",
    "dot": b".",
    "dotdot-alone": b"..",
    "nul": b"a\x00b",
    "nul-encoded": b"a%00b",
    "long": b"x" * 5000,
    "non-utf8": b"\xff\xfe\xe9t\xe9",
    "tmp": b"../../../../tmp/audiomill-path-safety",
}

# File names a client might send with an upload (the bytes go into the multipart header).
BAD_FILENAMES: dict[str, bytes] = {
    "dotdot": b"../../etc/passwd",
    "dotdot-encoded": b"..%2F..%2Fetc%2Fpasswd",
    "absolute": b"/etc/passwd",
    "windows": b"C:\\Windows\\win.ini",
    "dotdot-alone": b"..",
    "hidden": b".bashrc",
    "nul": b"song\x00.wav",
    "nul-encoded": b"song%00.wav",
    "long": b"x" * 5000 + b".wav",  # past the multipart parser's header limit: refused there
    "long-multibyte": "\u00e9".encode() * 3000 + b".wav",
    "over-200-bytes": b"y" * 300 + b".wav",  # accepted, and cut to 200 bytes
    "over-200-bytes-multibyte": "\u00e9\u266b".encode() * 60 + b".flac",
    "latin-1": "\u00e9t\u00e9 chanson.wav".encode("latin-1"),
    "invalid-utf8": b"\xff\xfe\xfd.wav",
    "utf-8": "\u00e9t\u00e9 \u266b.wav".encode(),
    "tmp": b"../../../../tmp/audiomill-path-safety.wav",
    "control": b"a\x01b\x1fc\x7f.wav",
    "empty-after-cleaning": b"...",
}
ALLOWED_ERRORS = {400, 404, 405, 422}
# Names a careless implementation would create when handed the values above.
TELLTALE = re.compile(r"passwd|win\.ini|audiomill-path-safety|x{200}")


# ---------------------------------------------------------------------------------------
# requests straight to the ASGI app


@dataclass
class RawResponse:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    accepted_websocket: bool = False

    def header(self, name: bytes) -> bytes | None:
        return next((value for key, value in self.headers if key.lower() == name), None)

    def json(self) -> Any:
        return json.loads(self.body)


def _target(value: bytes, encode_all: bool) -> bytes:
    """A path segment as a client sends it: everything encoded, or (like ``curl --path-as-is``)
    only what cannot appear in a request line, leaving ``/``, ``.``, ``\\`` and ``%`` as they are."""
    if encode_all:
        return urllib.parse.quote_from_bytes(value, safe="").encode("ascii")
    return b"".join(bytes([byte]) if 0x21 <= byte <= 0x7E and byte not in b"?#" else b"%%%02X" % byte for byte in value)


def _scope(kind: str, method: str, target: bytes, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    raw_path, _, query = target.partition(b"?")
    return {
        "type": kind,
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http" if kind == "http" else "ws",
        # What uvicorn does with a request line: percent-decoding, no dot-segment removal.
        "path": urllib.parse.unquote(raw_path.decode("ascii")),
        "raw_path": raw_path,
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
        "extensions": {"websocket.http.response": {}} if kind == "websocket" else {},
        "subprotocols": [],
    }


def raw_request(
    app: Any, method: str, target: bytes, body: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None
) -> RawResponse:
    scope = _scope("http", method, target, headers or [])
    sent: list[dict[str, Any]] = []

    async def call() -> None:
        done = anyio.Event()
        request_sent = False

        async def receive() -> dict[str, Any]:
            nonlocal request_sent
            if not request_sent:
                request_sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                done.set()

        try:
            await app(scope, receive, send)
        except Exception:  # noqa: BLE001 - the app raised after (or instead of) answering: a 500
            if not any(m["type"] == "http.response.start" for m in sent):
                sent.append({"type": "http.response.start", "status": 500, "headers": []})
            sent.append({"type": "http.response.body", "body": b"<exception raised through the app>"})
            sent.append({"type": "exception"})

    anyio.run(call)
    start = next(m for m in sent if m["type"] == "http.response.start")
    status = 500 if any(m["type"] == "exception" for m in sent) else start["status"]
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return RawResponse(status, list(start.get("headers", [])), content)


def raw_websocket(app: Any, target: bytes) -> RawResponse:
    scope = _scope("websocket", "GET", target, [])
    sent: list[dict[str, Any]] = []

    async def call() -> None:
        connected = False

        async def receive() -> dict[str, Any]:
            nonlocal connected
            if not connected:
                connected = True
                return {"type": "websocket.connect"}
            return {"type": "websocket.disconnect", "code": 1000}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        with anyio.fail_after(30):
            await app(scope, receive, send)

    anyio.run(call)
    start = next((m for m in sent if m["type"] == "websocket.http.response.start"), None)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "websocket.http.response.body")
    accepted = any(m["type"] == "websocket.accept" for m in sent)
    status = start["status"] if start else (101 if accepted else 403)  # a bare close reads as a refusal
    return RawResponse(status, list(start.get("headers", [])) if start else [], body, accepted)


# ---------------------------------------------------------------------------------------
# the service, with one finished job whose ids the routes' other parameters can use


@pytest.fixture
def app_client(settings: Settings, fixture_kinds: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    stand_in_engines(monkeypatch)  # every kind runs a cheap stand-in: no model is loaded
    with TestClient(create_app(settings), base_url=BASE_URL) as client:
        yield client


@pytest.fixture
def tiny_wav(tmp_path: Path) -> bytes:
    return write_wav(tmp_path / "tiny.wav", sine(330.0, 0.25, 8000), 8000).read_bytes()


@pytest.fixture
def good_values(app_client: TestClient, tiny_wav: bytes) -> dict[str, bytes]:
    """A value that exists for each path parameter name, so a bad value in one parameter
    reaches the code behind the others' lookups."""
    response = app_client.post(
        "/api/v1/jobs", data={"kind": "test_copy"}, files={"file": ("tone.wav", tiny_wav, "audio/wav")}
    )
    assert response.status_code == 201, response.text
    job = wait_for(app_client, response.json()["id"], {"completed"})
    key = app_client.post("/api/v1/auth/keys", json={"name": "path-safety"})
    assert key.status_code == 201, key.text
    runtime = app_client.app.state.runtime  # type: ignore[attr-defined]
    with runtime.db.session() as session:
        asset = session.scalar(select(Asset).where(Asset.filename == "tone.wav"))
        media = media_url("original", asset).removeprefix("/media/")
        job_number = session.scalar(select(Job.id).where(Job.uuid == job["id"]))  # seed 001's file id
    values = {
        "job_id": job["id"],
        "name": job["outputs"][0]["name"],
        "file_id": str(job_number),
        "key_id": str(key.json()["id"]),
        "path": media,
    }
    return {name: value.encode() for name, value in values.items()}


@dataclass(frozen=True)
class RouteParam:
    kind: str  # "http" or "websocket"
    method: str
    path_format: str
    param: str
    params: tuple[str, ...]


def routes_with_path_parameters(app: Any) -> list[RouteParam]:
    found = []
    for route in iter_route_contexts(app.routes):
        params = tuple(getattr(route, "param_convertors", {}) or {})
        if not params:
            continue
        methods = sorted(route.methods or ()) or ["GET"]
        kind = "http" if route.methods else "websocket"
        for method in methods:
            if method == "HEAD":
                continue
            for param in params:
                found.append(RouteParam(kind, method, route.path_format, param, params))
    return found


def _fill(route: RouteParam, bad: bytes, good_values: dict[str, bytes], encode_all: bool) -> bytes:
    target = route.path_format.encode()
    for name in route.params:
        value = _target(bad, encode_all) if name == route.param else _target(good_values.get(name, b"x"), True)
        target = target.replace(b"{" + name.encode() + b"}", value)
    return target


# ---------------------------------------------------------------------------------------
# what must hold after any of it


def _telltales(directory: Path) -> set[str]:
    try:
        return {entry for entry in os.listdir(directory) if TELLTALE.search(entry)}
    except OSError:
        return set()


@pytest.fixture
def nothing_written_outside(settings: Settings, tmp_path: Path) -> Iterator[None]:
    """Around a test: /etc/passwd untouched, no file named after a bad value anywhere a
    careless join could have put it, and every file the service wrote inside its data folder."""
    watched = {
        Path("/tmp"),
        Path("/"),
        Path.cwd(),
        tmp_path,
        tmp_path.parent,
        settings.data_dir,
        settings.data_dir.parent,
        settings.work_dir,
        settings.blobs_dir,
    }
    before = {directory: _telltales(directory) for directory in watched}
    passwd = hashlib.sha256(PASSWD.read_bytes()).hexdigest() if PASSWD.exists() else None
    yield
    if passwd is not None:
        assert hashlib.sha256(PASSWD.read_bytes()).hexdigest() == passwd
    for directory in watched:
        assert _telltales(directory) <= before[directory], (directory, _telltales(directory) - before[directory])
    for path in tmp_path.rglob("*"):
        assert not TELLTALE.search(path.name), path
        if path.is_file() and not path.is_relative_to(settings.data_dir):
            # the test's own files, and the tiny model it put in the models folder
            assert path.parent in (tmp_path, settings.models_dir), f"written outside the data folder: {path}"
    for path in settings.data_dir.rglob("*"):
        if path.is_file():
            inside = path.relative_to(settings.data_dir).parts
            assert inside[0] in {"blobs", "work"} or path.name.startswith("audiomill.db"), path


def assert_refused_cleanly(response: RawResponse, what: str) -> None:
    assert response.status < 500, (what, response.status, response.body[:300])
    assert b"root:" not in response.body, (what, "the contents of /etc/passwd were served")
    assert b"Traceback" not in response.body, what
    assert response.status in ALLOWED_ERRORS, (what, response.status, response.body[:300])
    content_type = response.header(b"content-type") or b""
    assert content_type.startswith(b"application/json"), (what, content_type)
    body = response.json()
    assert isinstance(body, dict) and any(body.get(k) for k in ("detail", "message", "error")), (what, body)


# ---------------------------------------------------------------------------------------
# path parameters


def test_every_route_with_a_path_parameter_is_found(app_client: TestClient) -> None:
    routes = routes_with_path_parameters(app_client.app)
    covered = {(r.kind, r.method, r.path_format) for r in routes}
    # The ones there are today; a route added later is covered without a change here.
    for expected in [
        ("http", "GET", "/api/v1/jobs/{job_id}"),
        ("http", "GET", "/api/v1/jobs/{job_id}/outputs/{name}"),
        ("http", "DELETE", "/api/v1/auth/keys/{key_id}"),
        ("http", "GET", "/status/{job_id}"),
        ("http", "GET", "/download/{job_id}"),
        ("http", "DELETE", "/job/{job_id}"),
        ("http", "GET", "/media/{path}"),
        ("websocket", "GET", "/api/v1/jobs/{job_id}/events"),
    ]:
        assert expected in covered, expected


def test_bad_path_parameters_are_refused_on_every_route(
    app_client: TestClient, good_values: dict[str, bytes], nothing_written_outside: None
) -> None:
    app = app_client.app
    tried = 0
    for route in routes_with_path_parameters(app):
        for label, bad in BAD_VALUES.items():
            for encode_all in (False, True):
                target = _fill(route, bad, good_values, encode_all)
                what = (
                    f"{route.method} {route.path_format} {route.param}={label} ({'encoded' if encode_all else 'as is'})"
                )
                if route.kind == "websocket":
                    response = raw_websocket(app, target)
                    assert not response.accepted_websocket, what
                    assert response.status < 500 and b"root:" not in response.body, (what, response.status)
                else:
                    assert_refused_cleanly(raw_request(app, route.method, target), what)
                tried += 1
    assert tried >= 400, tried
    # The job and the key the good values point at are still there and still served.
    assert app_client.get(f"/api/v1/jobs/{good_values['job_id'].decode()}").status_code == 200
    media = raw_request(app, "GET", b"/media/" + good_values["path"])
    assert media.status == 200 and media.body.startswith(b"RIFF")


def test_a_media_path_resolves_only_its_own_uuid(app_client: TestClient, good_values: dict[str, bytes]) -> None:
    """Traversal around a real asset id still finds only that asset, never a file by path."""
    app = app_client.app
    uuid = good_values["path"].split(b"/")[-2]
    for trick in [
        b"/media/../../../../etc/passwd/" + uuid + b"/x",
        b"/media/" + uuid + b"/../../../etc/passwd",
        b"/media/x/" + uuid + b"/..%2F..%2F..%2Fetc%2Fpasswd",
        b"/media/%2Fetc%2Fpasswd",
    ]:
        response = raw_request(app, "GET", trick)
        assert response.status in {200, 404}, (trick, response.status)
        assert b"root:" not in response.body, trick
        if response.status == 200:
            assert response.body.startswith(b"RIFF"), trick


# ---------------------------------------------------------------------------------------
# uploads


@dataclass(frozen=True)
class UploadRoute:
    path: str
    file_fields: tuple[str, ...]
    form_fields: dict[str, str]


# Values for required non-file fields, by name (a route that needs another gets told here).
REQUIRED_FORM_VALUES = {"kind": "test_copy"}


def _is_file(schema: dict[str, Any]) -> bool:
    if schema.get("contentMediaType") == "application/octet-stream" or schema.get("format") == "binary":
        return True
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        return _is_file(schema["items"])
    return any(_is_file(option) for option in schema.get("anyOf", []) if isinstance(option, dict))


def upload_routes(app: Any) -> list[UploadRoute]:
    spec = app.openapi()
    components = spec.get("components", {}).get("schemas", {})
    found = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            schema = content.get("multipart/form-data", {}).get("schema")
            if method != "post" or schema is None:
                continue
            if "$ref" in schema:
                schema = components[schema["$ref"].rsplit("/", 1)[-1]]
            properties = schema.get("properties", {})
            files = tuple(name for name, prop in properties.items() if _is_file(prop))
            required = [name for name in schema.get("required", []) if name not in files]
            assert set(required) <= set(REQUIRED_FORM_VALUES), f"{path}: say what to send for {required}"
            if files:
                found.append(UploadRoute(path, files, {name: REQUIRED_FORM_VALUES[name] for name in required}))
    return found


def multipart(form: dict[str, str], files: dict[str, tuple[bytes, bytes]]) -> tuple[bytes, bytes]:
    """A multipart body built byte by byte, so a file name can be any bytes at all."""
    boundary = b"audiomill-path-safety-boundary-7f3a"
    parts = []
    for name, value in form.items():
        parts.append(b'Content-Disposition: form-data; name="%s"\r\n\r\n%s' % (name.encode(), value.encode()))
    for name, (filename, content) in files.items():
        parts.append(
            b'Content-Disposition: form-data; name="%s"; filename="%s"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n%s" % (name.encode(), filename, content)
        )
    body = b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts) + b"--" + boundary + b"--\r\n"
    return body, b"multipart/form-data; boundary=" + boundary


def assert_safe_display_name(name: Any, what: str) -> None:
    assert isinstance(name, str) and name, (what, name)
    assert not any(c in name for c in "/\\\x00"), (what, name)
    assert not any(ord(c) < 0x20 or ord(c) == 0x7F for c in name), (what, name)
    assert not name.startswith("."), (what, name)
    assert len(name.encode("utf-8")) <= 200, (what, len(name.encode("utf-8")))


def _filename_values(body: Any) -> Iterator[Any]:
    if isinstance(body, dict):
        for key, value in body.items():
            if key.endswith("filename"):
                yield value
            else:
                yield from _filename_values(value)
    elif isinstance(body, list):
        for item in body:
            yield from _filename_values(item)


def test_every_upload_route_is_found(app_client: TestClient) -> None:
    paths = {route.path for route in upload_routes(app_client.app)}
    assert {"/api/v1/jobs", "/upload"} <= paths, paths


def test_odd_file_names_are_cleaned_or_refused_on_every_upload_route(
    app_client: TestClient, settings: Settings, tiny_wav: bytes, nothing_written_outside: None
) -> None:
    app = app_client.app
    runtime = app.state.runtime  # type: ignore[attr-defined]
    digest = hashlib.sha256(tiny_wav).hexdigest()
    accepted = 0
    for route in upload_routes(app):
        for label, filename in BAD_FILENAMES.items():
            what = f"POST {route.path} filename={label}"
            with runtime.db.session() as session:
                seen = set(session.scalars(select(Asset.id)))
            body, content_type = multipart(route.form_fields, {f: (filename, tiny_wav) for f in route.file_fields})
            response = raw_request(app, "POST", route.path.encode(), body, [(b"content-type", content_type)])
            assert response.status < 500, (what, response.status, response.body[:300])
            assert b"root:" not in response.body and b"Traceback" not in response.body, what
            if response.status >= 300:
                assert 400 <= response.status < 500, (what, response.status)
                assert (response.header(b"content-type") or b"").startswith(b"application/json"), what
                continue
            accepted += 1
            for shown in _filename_values(response.json()):
                assert_safe_display_name(shown, what)
            with runtime.db.session() as session:
                new = [a for a in session.scalars(select(Asset)) if a.id not in seen]
                for asset in new:
                    assert_safe_display_name(asset.filename, what)
                urls = [(media_url("original", asset), asset.sha256 == digest) for asset in new]
            # Each stored file is served back from its media URL (outputs of earlier jobs may
            # have landed meanwhile; the upload itself is the one with our bytes), under a
            # Content-Disposition that a name cannot break out of.
            for url, is_upload in urls:
                served = raw_request(app, "GET", url.encode("ascii"))
                assert served.status == 200, (what, url, served.status, served.body[:200])
                assert served.body == tiny_wav or not is_upload, what
                disposition = served.header(b"content-disposition") or b""
                assert not set(disposition) & {0x0D, 0x0A, 0x00}, (what, disposition)
                assert b"/" not in disposition.split(b"filename", 1)[-1], (what, disposition)
    assert accepted > 0  # at least /api/v1/jobs and /upload take the WAV under a cleaned name
    scratch = settings.work_dir / "uploads"
    assert not scratch.exists() or not any(scratch.iterdir()), list(scratch.iterdir())
