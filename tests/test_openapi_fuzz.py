"""Schemathesis over the whole OpenAPI document: no generated request may get a 5xx.

Every operation in the app's schema (new routes are picked up by themselves) is fuzzed with
positive (schema-valid) and negative (schema-violating) data by an authenticated user
(``auth="required"``): once with a Bearer API key, once, more briefly, with a cookie
session + ``X-CSRFToken``. Now and then a path parameter or body field gets a value that
exists or is valid (the caller's jobs in every state and another user's, media paths,
API keys, real kinds, a tiny real WAV as the upload), so the fuzz gets past "not found"
and "invalid" into the code behind, and the ownership checks are fuzzed too.

Every real engine is replaced for the run by a stand-in that copies its input to each output
name some route looks up (``stand_in_engines`` in tests/test_path_safety.py), so jobs the
fuzz creates cost next to nothing and no model is loaded; the worker pool has one thread.

Checks on every response: schemathesis' ``not_a_server_error``,
``response_schema_conformance``, ``content_type_conformance`` and
``negative_data_rejection``, plus ours: an error is a JSON object naming the problem and no
traceback reaches the client.

The machinery is shared with ``bench/fuzz_openapi_long.py`` (the same fuzz, a far larger
budget). ``AUDIOMILL_FUZZ_SEED`` picks another Hypothesis seed for either.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
)
from schemathesis.core.failures import FailureGroup
from schemathesis.python import asgi as schemathesis_asgi
from schemathesis.transport.serialization import Binary
from starlette.testclient import TestClient

from audiomill.accounts import service as accounts
from audiomill.api.app import create_app
from audiomill.api.routes.media import media_url
from audiomill.config import Settings
from audiomill.engines import base as engines_base
from audiomill.errors import AudiomillError, Unauthorized
from audiomill.jobs import service
from audiomill.jobs.states import JobStatus
from audiomill.runtime import Runtime, build_runtime
from audiomill.store.tables import User
from tests.audio_samples import sine, write_wav
from tests.test_path_safety import stand_in_engines

FUZZ_USERNAME = "fuzzer"
FUZZ_PASSWORD = "fuzz-password-123"
BYSTANDER_USERNAME = "bystander"
DEFAULT_SEED = 20240601
LOGIN = "POST /api/v1/auth/login"
# status_code_conformance is left out on purpose: 401/403/413/429 can come from every route
# (authentication, body size, rate limits) and are documented once in the API description.
SCHEMATHESIS_CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    content_type_conformance,
    negative_data_rejection,
]


def fuzz_seed() -> int:
    return int(os.environ.get("AUDIOMILL_FUZZ_SEED", DEFAULT_SEED))


def errors_are_json_without_traceback(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    text = response.content.decode("utf-8", "replace") if response.content else ""
    assert "Traceback (most recent call last)" not in text, "a traceback reached the client"
    if response.status_code >= 400:
        content_type = (response.headers.get("content-type") or [""])[0]
        assert content_type.startswith("application/json"), (
            f"error {response.status_code} is {content_type!r}, not JSON"
        )
        body = response.json()
        # {"detail": ...} on /api/v1 and seed 000; a seed's own shape under its prefix
        # (seed 001: {"status": "error", "message": ...} or {"error": ...}).
        named = isinstance(body, dict) and any(body.get(key) for key in ("detail", "message", "error"))
        assert named, f"error body names no problem: {text[:200]}"


ALL_CHECKS = [*SCHEMATHESIS_CHECKS, errors_are_json_without_traceback]


# ---------------------------------------------------------------------------------------
# the service under test, and what exists in it


@dataclass
class Known:
    """Values that exist or are valid: by path parameter name, and by body field name."""

    path_values: dict[str, list[Any]] = field(default_factory=dict)
    body_values: dict[str, list[Any]] = field(default_factory=dict)
    body_groups: list[dict[str, Any]] = field(default_factory=list)  # fields valid only together
    upload_samples: list[Binary] = field(default_factory=list)  # for any file part

    def add(self, name: str, *values: Any) -> None:
        bucket = self.path_values.setdefault(name, [])
        bucket.extend(value for value in values if value not in bucket)

    def path_combinations(self, names: list[str], limit: int = 48) -> list[dict[str, Any]]:
        if not names or any(not self.path_values.get(name) for name in names):
            return []
        combos = itertools.product(*(self.path_values[name] for name in names))
        return [dict(zip(names, values)) for values in itertools.islice(combos, limit)]


@dataclass
class FuzzTarget:
    app: Any
    settings: Settings
    schema: Any
    user_id: int
    api_key: str
    known: Known
    notes: list[str] = field(default_factory=list)

    @property
    def runtime(self) -> Runtime:
        return self.app.state.runtime  # type: ignore[no-any-return]


def fuzz_settings(root: Path) -> Settings:
    return Settings(
        data_dir=root / "data",
        models_dir=root / "models",
        models_cache_dir=root / "model-cache",
        models_download=False,
        auth="required",
        worker_concurrency=1,
        max_upload_bytes=2 * 1024 * 1024,
        device="cpu",
        torch_threads=1,
        rate_limit_per_minute=0,  # the fuzz is one very busy user
    )


@dataclass(frozen=True)
class Accounts:
    user_id: int
    api_key: str
    spare_key_ids: list[int]
    bystander_id: int
    bystander_key_ids: list[int]


def _provision_accounts(settings: Settings) -> Accounts:
    """The fuzzing user (password, API key, spare keys to revoke) and a bystander with keys.

    The bystander's keys come first, so small key ids (Hypothesis' favourites) name someone
    else's key: that must be "not found", never a revocation."""
    runtime = build_runtime(settings)
    try:
        with runtime.db.session() as session:
            bystander = accounts.create_user(session, BYSTANDER_USERNAME, "bystander-password")
            bystander_keys = [accounts.create_api_key(session, bystander, f"b{i}").key.id for i in range(3)]
            user = accounts.create_user(session, FUZZ_USERNAME, FUZZ_PASSWORD)
            main = accounts.create_api_key(session, user, "fuzz")
            spare = [accounts.create_api_key(session, user, f"spare{i}").key.id for i in range(3)]
            return Accounts(user.id, main.secret, spare, bystander.id, bystander_keys)
    finally:
        runtime.db.dispose()


def _wait_until(runtime: Runtime, job_uuid: str, statuses: set[str], timeout_seconds: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_seconds
    while True:
        with runtime.db.session() as session:
            status = service.get_job(session, None, job_uuid).status
        if status in statuses:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"seed job {job_uuid} still {status}")
        time.sleep(0.02)


def _remember(runtime: Runtime, known: Known, job_uuid: str) -> None:
    with runtime.db.session() as session:
        job = service.get_job(session, None, job_uuid)
        known.add("job_id", job.uuid)
        known.add("file_id", job.id)
        for file in job.files:
            known.add("name", file.name)
            known.add("path", media_url("uploads", file.asset).removeprefix("/media/"))


def _remember_repositories(runtime: Runtime, known: Known, ids: Accounts) -> None:
    """A public repository of the fuzzing user (a commit with a stem, a branch, a tag) and a
    bystander's private one, so the repository routes are fuzzed past "not found"."""
    from sqlalchemy import select

    from audiomill.store.tables import Asset, JobFile
    from audiomill.vcs import service as vcs

    with runtime.db.session() as session:
        user, bystander = session.get(User, ids.user_id), session.get(User, ids.bystander_id)
        assert user is not None and bystander is not None
        asset = session.scalars(
            select(Asset)
            .join(JobFile, JobFile.asset_id == Asset.id)
            .where(Asset.owner_id == user.id, Asset.duration_seconds.is_not(None))
        ).first()
        assert asset is not None
        repo = vcs.create_repo(session, user, "fuzzed song", is_public=True)
        stem = vcs.StemSource("drums", asset_id=asset.uuid)
        first = vcs.commit_to(session, repo, user, vcs.CommitMeta("first"), [(stem, asset)]).commit
        vcs.create_branch(session, user, repo.uuid, "idea")
        vcs.create_tag(session, user, repo.uuid, "v1")
        private = vcs.create_repo(session, bystander, "not yours")
        known.add("repo_id", repo.uuid, private.uuid)
        known.add("commit_id", first.uuid)
        known.add("stem_type", "drums")
        known.add("name", "idea", "v1")
        known.body_values.update({"source": ["idea"], "from_commit": [first.uuid], "asset_id": [asset.uuid]})


def _seed(runtime: Runtime, ids: Accounts, scratch: Path, notes: list[str]) -> Known:
    """A completed job of every kind, a failed and a pending one, and a bystander's job."""
    # 1 s: at least every kind's minimum duration (extract_speaker's is 1 s)
    wav = write_wav(scratch / "tone.wav", sine(440.0, 1.0, 22050), 22050)
    done = {JobStatus.completed.value, JobStatus.failed.value}

    def create(owner: int, kind: str, rt: Runtime = runtime) -> str | None:
        handles = [wav.open("rb") for _ in engines_base.kind_spec(kind).input_names]
        try:
            uploads = [service.Upload(handle, "tone.wav") for handle in handles]
            return service.create_job(rt, owner, kind, {}, uploads).uuid
        except AudiomillError as exc:  # a kind whose parameters have no defaults, say
            notes.append(f"no seed job of kind {kind}: {exc.message}")
            return None
        finally:
            for handle in handles:
                handle.close()

    # test_aborts kills its worker process (twice per job): covered by test_worker_processes.
    kinds = [kind for kind in engines_base.KINDS if kind not in ("test_slow", "test_raises_in_setup", "test_aborts")]
    ours = [job for kind in kinds if (job := create(ids.user_id, kind))]
    theirs = [job for job in [create(ids.bystander_id, "test_copy")] if job]
    for job in ours + theirs:
        _wait_until(runtime, job, done)
    # Never handed to a worker, so it stays pending: a job that has not finished.
    idle = dataclasses.replace(runtime, executor=None)
    ours += [job for kind in kinds[:1] if (job := create(ids.user_id, kind, rt=idle))]

    known = Known()
    for job in ours + theirs:
        _remember(runtime, known, job)
    known.add("key_id", *ids.spare_key_ids, *ids.bystander_key_ids)
    known.body_values = {
        "kind": sorted(kind for kind in engines_base.KINDS if kind != "test_aborts"),
        "params": ["{}", '{"gain": 0.5}'],
        "boost_level": ["none", "3x"],
    }
    tiny = Binary(write_wav(scratch / "tiny.wav", sine(330.0, 0.2, 8000), 8000).read_bytes())
    # Binary: how schemathesis itself carries a file part's bytes
    known.upload_samples = [tiny, Binary(b"definitely not audio\n" * 20)]
    known.body_groups = [
        {"username": FUZZ_USERNAME, "password": FUZZ_PASSWORD},
        {"kind": "test_copy", "params": "{}", "file": [tiny]},  # a job that is created and runs
    ]
    _remember_repositories(runtime, known, ids)
    _remember_webhook(runtime, known, ids)
    return known


def _remember_webhook(runtime: Runtime, known: Known, ids: Accounts) -> None:
    """A webhook of the fuzz's user, and a body that registers one (a public address
    literal: registering resolves nothing, and nothing here can reach it)."""
    from audiomill.jobs.webhooks import service as webhooks

    url = "https://93.184.216.34/hook"
    with runtime.db.session() as session:
        hook = webhooks.create_webhook(session, ids.user_id, url, ["job.created"], None, "fuzz", False, 20)
        known.add("webhook_id", hook.uuid)
    known.body_groups.append({"url": url, "events": ["job.completed"]})


def _optional_files_as_files(node: Any) -> Any:
    """``UploadFile | None`` is ``anyOf: [file, null]`` in the schema, and schemathesis sends a
    property as a file part only when the property itself is a file: without this, seed 001's
    optional file fields would only ever get plain strings. In multipart "null" means "left
    out", which the generator does anyway, so keeping the file alternative loses nothing."""
    if isinstance(node, list):
        return [_optional_files_as_files(item) for item in node]
    if not isinstance(node, dict):
        return node
    options = node.get("anyOf")
    if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
        (other,) = [option for option in options if option != {"type": "null"}]
        if _is_file_part(other):
            return {**{key: value for key, value in node.items() if key != "anyOf"}, **other}
    return {key: _optional_files_as_files(value) for key, value in node.items()}


def _is_file_part(schema: Any) -> bool:
    return isinstance(schema, dict) and (
        schema.get("contentMediaType") == "application/octet-stream" or schema.get("format") == "binary"
    )


def load_schema(app: Any) -> Any:
    """The app's own OpenAPI document, fetched through the app (which starts its lifespan)."""
    fetched = schemathesis.openapi.from_asgi("/openapi.json", app)
    schema = schemathesis.openapi.from_dict(_optional_files_as_files(fetched.raw_schema))
    schema.app = app
    schema.location = fetched.location
    return schema


@contextmanager
def fuzz_target(root: Path) -> Iterator[FuzzTarget]:
    """The app with auth required and stand-in engines, its schema loaded through schemathesis
    (which starts the app's lifespan), a user with an API key, and seeded jobs."""
    with pytest.MonkeyPatch.context() as patch:
        stand_in_engines(patch)
        settings = fuzz_settings(root)
        ids = _provision_accounts(settings)
        app = create_app(settings)
        try:
            schema = load_schema(app)
            scratch = root / "scratch"
            scratch.mkdir(exist_ok=True)
            notes: list[str] = []
            known = _seed(app.state.runtime, ids, scratch, notes)
            yield FuzzTarget(
                app=app,
                settings=settings,
                schema=schema,
                user_id=ids.user_id,
                api_key=ids.api_key,
                known=known,
                notes=notes,
            )
        finally:
            schemathesis_asgi.shutdown_lifespans()


# ---------------------------------------------------------------------------------------
# credentials


class BearerAuth:
    """Sends the API key; when the fuzz has revoked that very key, issues a new one."""

    name = "api-key"

    def __init__(self, target: FuzzTarget) -> None:
        self.target = target
        self.key = target.api_key
        self.renewals = 0

    def call_kwargs(self) -> dict[str, Any]:
        return {"headers": {"Authorization": f"Bearer {self.key}"}}

    def after(self, case: schemathesis.Case, response: schemathesis.Response) -> None:
        if (
            case.method.upper() == "DELETE"
            and case.path.startswith("/api/v1/auth/keys/")
            and response.status_code == 204
        ):
            with self.target.runtime.db.session() as session:
                try:
                    accounts.user_for_api_key(session, self.key)
                except Unauthorized:
                    user = session.get(User, self.target.user_id)
                    self.key = accounts.create_api_key(session, user, "fuzz-renewed").secret
                    self.renewals += 1


class SessionAuth:
    """Logs in at /api/v1/auth/login, then sends the sessionid cookie and X-CSRFToken; logs
    in again whenever the fuzz has logged out."""

    name = "cookie-session"

    def __init__(self, target: FuzzTarget) -> None:
        self.client = TestClient(target.app, base_url=f"http://{schemathesis_asgi.HOST}")
        self.renewals = -1
        self._login()

    def _login(self) -> None:
        response = self.client.post("/api/v1/auth/login", json={"username": FUZZ_USERNAME, "password": FUZZ_PASSWORD})
        assert response.status_code == 200, response.text
        self.session_token = response.cookies["sessionid"]
        self.csrf_token = response.json()["csrf_token"]
        self.renewals += 1

    def call_kwargs(self) -> dict[str, Any]:
        return {"headers": {"X-CSRFToken": self.csrf_token}, "cookies": {"sessionid": self.session_token}}

    def after(self, case: schemathesis.Case, response: schemathesis.Response) -> None:
        if case.path == "/api/v1/auth/logout" and response.status_code == 204:
            self._login()


# ---------------------------------------------------------------------------------------
# the fuzz loop


@dataclass
class FuzzReport:
    requests: int = 0
    seconds: float = 0.0
    per_operation: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    by_operation_status: Counter[tuple[str, int]] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [
            f"{self.requests} requests in {self.seconds:.1f} s, {len(self.failures)} failures",
            "statuses: " + ", ".join(f"{code}: {n}" for code, n in sorted(self.statuses.items())),
        ]
        for label in sorted(self.per_operation):
            codes = {code: n for (name, code), n in sorted(self.by_operation_status.items()) if name == label}
            lines.append(f"  {self.per_operation[label]:6d}  {label:50s} {codes}")
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


_PATH_PARAMETER = re.compile(r"{([^}/:]+)(?::[^}]*)?}")


def _operation_order(operation: Any) -> tuple[int, int, str]:
    # Deleting and logging out last, so the seeded jobs and the session serve the others
    # first; /api/v1's delete (any kind) after the seeds' deletes (their own kinds only).
    destructive = operation.method.upper() == "DELETE" or operation.path.endswith("/logout")
    return (int(destructive), int(operation.path.startswith("/api/v1/")), operation.label)


def operations(schema: Any) -> list[Any]:
    return sorted((result.ok() for result in schema.get_all_operations()), key=_operation_order)


def _body_properties(operation: Any) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for body in operation.body:
        schema = body.definition.get("schema", {})
        if isinstance(schema, dict):
            properties.update(schema.get("properties", {}))
    return properties


def _body_choices(operation: Any, known: Known) -> list[list[dict[str, Any]]]:
    """Known-good values for the body fields this operation declares: one slot per field, then
    one per group of fields that only work together (last, so a chosen group wins), each
    slot a list of alternative updates."""
    properties = _body_properties(operation)
    slots: list[list[dict[str, Any]]] = []
    for name, schema in properties.items():
        if name in known.body_values:
            values = known.body_values[name]
        elif _is_file_part(schema):
            values = list(known.upload_samples)
        elif isinstance(schema, dict) and schema.get("type") == "array" and _is_file_part(schema.get("items")):
            values = [[sample] for sample in known.upload_samples]
        else:
            continue
        slots.append([{name: value} for value in values])
    slots += [[group] for group in known.body_groups if set(group) <= set(properties)]
    return slots


def _with_body_values(strategy: Any, slots: list[list[dict[str, Any]]]) -> Any:
    picks = st.tuples(*(st.sampled_from([None, *alternatives]) for alternatives in slots))

    def apply(pair: tuple[schemathesis.Case, tuple[dict[str, Any] | None, ...]]) -> tuple[schemathesis.Case, bool]:
        case, picked = pair
        updates = {name: value for update in picked if update for name, value in update.items()}
        if not updates or not isinstance(case.body, dict):
            return case, False
        case.body = {**case.body, **updates}
        return case, True

    return st.tuples(strategy, picks).map(apply)


def _unchanged(case: schemathesis.Case) -> tuple[schemathesis.Case, bool]:
    return case, False


_UNCONSTRAINED_STRING_KEYS = {"type", "title", "description"}


def negatable(operation: Any) -> bool:
    """Whether a schema-violating request exists at all: not for an operation whose only
    parameters are free strings in the path (Hypothesis would search at length, then give up)."""
    if len(operation.body) or len(operation.query) or len(operation.headers) or len(operation.cookies):
        return True
    for parameter in operation.path_parameters:
        schema = parameter.definition.get("schema", {})
        if schema.get("type") != "string" or set(schema) - _UNCONSTRAINED_STRING_KEYS:
            return True
    return False


def _strategies(operation: Any, known: Known) -> dict[GenerationMode, Any]:
    """(case, substituted) pairs: substituted when a known value went into the body."""
    positive = operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
    combos = known.path_combinations(_PATH_PARAMETER.findall(operation.path))
    if combos:  # half the time a path that exists
        fixed = [operation.as_strategy(generation_mode=GenerationMode.POSITIVE, path_parameters=c) for c in combos]
        positive = st.one_of(positive, st.one_of(*fixed))
    slots = _body_choices(operation, known)
    positive = _with_body_values(positive, slots) if slots else positive.map(_unchanged)
    if not negatable(operation):
        return {GenerationMode.POSITIVE: positive}
    negative = operation.as_strategy(generation_mode=GenerationMode.NEGATIVE).map(_unchanged)
    return {GenerationMode.POSITIVE: positive, GenerationMode.NEGATIVE: negative}


def _describe(case: schemathesis.Case, kwargs: dict[str, Any]) -> str:
    try:
        return case.as_curl_command(headers=kwargs.get("headers"))
    except Exception:  # noqa: BLE001 - describing must not hide the failure itself
        return repr(case)


def fuzz(
    target: FuzzTarget,
    auth: BearerAuth | SessionAuth,
    positive_examples: int,
    negative_examples: int,
    seed: int | None = None,
    checks: list[Callable[..., Any]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> FuzzReport:
    """Up to the given number of distinct examples per operation and generation mode. Every
    request is counted and every failure recorded; nothing is shrunk and nothing stops the
    run early, so one run reports everything it found."""
    report = FuzzReport(notes=list(target.notes))
    checks = checks or ALL_CHECKS
    seed = fuzz_seed() if seed is None else seed
    started = time.monotonic()

    # Schemathesis re-validates a body edited after generation and, seeing raw file bytes
    # in it, takes the case for a negative one: a substituted case skips that one check.
    checks_after_substitution = [check for check in checks if check is not negative_data_rejection]

    def send(case: schemathesis.Case, substituted: bool) -> None:
        kwargs = auth.call_kwargs()
        label = case.operation.label
        report.requests += 1
        report.per_operation[label] += 1
        try:
            response = case.call(**kwargs)
        except Exception as exc:  # noqa: BLE001 - the app raised through the transport: a 500
            report.statuses[599] += 1
            report.by_operation_status[(label, 599)] += 1
            report.failures.append(f"{label} raised {type(exc).__name__}: {exc}\n  {_describe(case, kwargs)}")
            return
        report.statuses[response.status_code] += 1
        report.by_operation_status[(label, response.status_code)] += 1
        try:
            case.validate_response(
                response, checks=checks_after_substitution if substituted else checks, headers=kwargs.get("headers")
            )
        except FailureGroup as group:
            report.failures.append(f"{label} -> {response.status_code}\n{group}")
        auth.after(case, response)

    for operation in operations(target.schema):
        for mode, strategy in _strategies(operation, target.known).items():
            budget = positive_examples if mode is GenerationMode.POSITIVE else negative_examples
            if budget <= 0:
                continue

            @hypothesis.seed(seed)
            @hypothesis.settings(
                max_examples=budget,
                deadline=None,
                database=None,
                derandomize=False,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
                print_blob=False,
                report_multiple_bugs=False,
            )
            @hypothesis.given(pair=strategy)
            def run(pair: tuple[schemathesis.Case, bool]) -> None:
                send(*pair)

            try:
                run()
            except hypothesis.errors.Unsatisfiable:  # e.g. nothing in this operation to negate
                report.notes.append(f"{operation.label} ({mode.value}): no data could be generated")
            except Exception as exc:  # noqa: BLE001 - a generator problem, not a server one
                report.notes.append(f"{operation.label} ({mode.value}): {type(exc).__name__}: {exc}")
        if progress:
            progress(f"{operation.label}: {report.per_operation[operation.label]} requests")
    report.seconds = time.monotonic() - started
    return report


# ---------------------------------------------------------------------------------------
# the tests


@pytest.fixture
def target(tmp_path: Path) -> Iterator[FuzzTarget]:
    with fuzz_target(tmp_path) as made:
        yield made


def _assert_clean(report: FuzzReport, minimum_requests: int) -> None:
    print(report.summary())
    assert not report.failures, (
        f"{len(report.failures)} failing responses out of {report.requests}; the first ones:\n\n"
        + "\n\n".join(report.failures[:5])
    )
    assert not [code for code in report.statuses if code >= 500], report.summary()
    assert report.requests >= minimum_requests, report.summary()


def test_every_operation_survives_fuzzing_with_an_api_key(target: FuzzTarget) -> None:
    report = fuzz(target, BearerAuth(target), positive_examples=30, negative_examples=20)
    _assert_clean(report, minimum_requests=1000)
    every = {operation.label for operation in operations(target.schema)}
    assert set(report.per_operation) == every, every - set(report.per_operation)
    # The fuzz got past "not found" and "invalid": a real share of requests succeeded,
    # and jobs were created from its uploads.
    successes = sum(n for code, n in report.statuses.items() if 200 <= code < 300)
    assert successes >= 0.08 * report.requests, report.summary()
    # Uploads were stored. (Since POST /api/v1/jobs documents a JSON union on kind whose inputs
    # are asset ids, the fuzz rarely builds a creatable job; tests/test_kinds.py covers creation.)
    assert report.by_operation_status[("POST /api/v1/assets", 201)] > 0, report.summary()


def test_every_operation_survives_fuzzing_with_a_cookie_session(target: FuzzTarget) -> None:
    auth = SessionAuth(target)
    report = fuzz(target, auth, positive_examples=8, negative_examples=5)
    _assert_clean(report, minimum_requests=200)
    # The session was the credential throughout: nothing was refused as anonymous or
    # forged (only logging in with a wrong password may be refused, and a non-admin's
    # GET /api/v1/jobs?all=true, and seed 003 routes naming another user's owner_id, which are
    # 403 by rule, not for want of credentials).
    allowed = {
        (LOGIN, 401),
        (LOGIN, 403),
        ("GET /api/v1/jobs", 403),
        ("POST /api/repositories/create", 403),
        ("POST /api/vcs/fork", 403),
        ("POST /api/vcs/commit/{repo_id}", 403),
    }
    refused = {key: n for key, n in report.by_operation_status.items() if key[1] in {401, 403} and key not in allowed}
    assert not refused, refused
    assert report.by_operation_status[("POST /api/v1/auth/logout", 204)] > 0 and auth.renewals > 0


# Requests a longer fuzz once found failing, kept here so they stay fixed whatever the seed.
FOUND_BEFORE: list[tuple[str, str, dict[str, Any]]] = [
    # A blank key name passed the schema, then the service refused it with a plain-string
    # 422 where the schema documents the validation-error list.
    ("POST", "/api/v1/auth/keys", {"body": {"name": "\r"}, "media_type": "application/json"}),
    ("POST", "/api/v1/auth/keys", {"body": {"name": "\x1c \u2003"}, "media_type": "application/json"}),
]


def test_requests_found_failing_before_pass_every_check(target: FuzzTarget) -> None:
    auth = BearerAuth(target)
    for method, path, fields in FOUND_BEFORE:
        case = target.schema[path][method].Case(**fields)
        response = case.call(**auth.call_kwargs())
        assert response.status_code < 500, (path, fields, response.text)
        case.validate_response(response, checks=ALL_CHECKS, headers=auth.call_kwargs()["headers"])
