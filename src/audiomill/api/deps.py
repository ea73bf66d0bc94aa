"""Typed dependencies that keep handlers plain: the runtime, a DB session, the caller.

Why most of these are ``async def``: FastAPI runs every *sync* dependency (and a sync
endpoint, and its response validation) in the thread pool, one hop each. Under load those
hops, not the SQL, were the cost: threads queued behind the GIL and behind each other, and
a status read took half a dozen of them. So nothing here hops to a thread unless it does
I/O: the runtime is read from the app, the built-in local user is cached, and a session's
connection is only touched (in one hop) when the handler used it.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Literal, TypeVar

import anyio
from fastapi import Depends, Request, WebSocket
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from audiomill.accounts import service as accounts
from audiomill.api.guard import is_same_origin
from audiomill.errors import AudiomillError, Forbidden, Unauthorized
from audiomill.jobs import service
from audiomill.runtime import Runtime
from audiomill.store.tables import User

SESSION_COOKIE = "sessionid"
CSRF_COOKIE = "csrftoken"
CSRF_HEADER = "x-csrftoken"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# The built-in local user's row is re-read this often (it is created once and, in
# practice, never changes; re-reading keeps an operator's edit from being ignored forever).
LOCAL_USER_TTL_SECONDS = 10.0
# Reads (what clients poll) run on at most this many threads at once. More threads only
# queue behind the GIL, where the switch interval hands each a turn in 5 ms slices: 40
# threads (anyio's default) turned a 0.5 ms read into a p99 of hundreds of ms under 64
# connections. Fewer threads, and the rest wait their turn in order on the event loop.
READ_THREADS = 4

T = TypeVar("T")


async def get_runtime(connection: HTTPConnection) -> Runtime:
    return connection.app.state.runtime  # type: ignore[no-any-return]


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def _finish_session(session: Session, failed: bool) -> None:
    try:
        if failed:
            session.rollback()
        else:
            session.commit()
    finally:
        session.close()


async def get_session(runtime: RuntimeDep) -> AsyncIterator[Session]:
    """The request's session. Creating it costs no I/O (it connects on first use); a
    session that was never used is closed without a thread hop."""
    session = runtime.db.new_session()
    try:
        yield session
    except BaseException:
        if session.in_transaction():
            await run_in_threadpool(_finish_session, session, True)
        else:
            session.close()
        raise
    if session.in_transaction():
        await run_in_threadpool(_finish_session, session, False)
    else:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


async def in_session(runtime: Runtime, work: Callable[[Session], T]) -> T:
    """Run the read ``work(session)`` in one hop to the thread pool, in a read session
    (no transaction: each statement on its own) closed in that same hop. Read endpoints
    build their whole response in ``work``, so a request costs one hop however many rows
    it touches. Nothing written here is kept transactionally: reads only."""

    def run() -> T:
        with runtime.db.read_session() as session:
            return work(session)

    return await anyio.to_thread.run_sync(run, limiter=_read_limiter())


_READ_LIMITERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


def _read_limiter() -> anyio.CapacityLimiter:
    # One per event loop (a limiter belongs to the loop that first uses it; tests run several).
    loop = asyncio.get_running_loop()
    limiter = _READ_LIMITERS.get(loop)
    if limiter is None:
        limiter = _READ_LIMITERS[loop] = anyio.CapacityLimiter(READ_THREADS)
    return limiter


@dataclass(frozen=True)
class Caller:
    user: User  # detached from any DB session
    via: Literal["local", "api_key", "session"]
    session_token: str | None = None


def _bearer_token(connection: HTTPConnection) -> str | None:
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    if header:
        raise Unauthorized("Authorization header must be 'Bearer <API key>'")
    return None


class _LocalUserCache:
    """The built-in local user, detached, re-read every LOCAL_USER_TTL_SECONDS."""

    def __init__(self) -> None:
        self._user: User | None = None
        self._read_at = 0.0
        self._lock = threading.Lock()

    def fresh(self) -> User | None:
        if self._user is not None and time.monotonic() - self._read_at < LOCAL_USER_TTL_SECONDS:
            return self._user
        return None

    def load(self, runtime: Runtime) -> User:
        with self._lock:  # one thread reads (or creates) it; the others wait and share it
            if (user := self.fresh()) is not None:
                return user
            user = _read_local_user(runtime)
            self._user, self._read_at = user, time.monotonic()
            return user


def _read_local_user(runtime: Runtime) -> User:
    for attempt in range(2):
        try:
            with runtime.db.session() as session:
                user = service.ensure_local_user(session)
                session.flush()
                session.expunge(user)
                return user
        except IntegrityError:
            # Another process created it at the same moment: read theirs.
            if attempt:
                raise
    raise AssertionError("unreachable")


def _local_users(connection: HTTPConnection) -> _LocalUserCache:
    state = connection.app.state
    cache = getattr(state, "local_user_cache", None)
    if cache is None:
        cache = state.local_user_cache = _LocalUserCache()
    return cache


def _sends_credentials(connection: HTTPConnection) -> bool:
    return "authorization" in connection.headers or SESSION_COOKIE in connection.cookies


def authenticate(connection: HTTPConnection, runtime: Runtime) -> Caller:
    """Who is calling: an API key, a cookie session (with CSRF on unsafe methods), or, in
    local mode only, the built-in local user. Credentials that are sent are always checked.
    Blocking (it may read the database): call it from a thread."""
    method = connection.scope.get("method", "GET")
    token = _bearer_token(connection)
    if token is not None:
        with runtime.db.session() as session:
            user = accounts.user_for_api_key(session, token)
            session.expunge(user)
        caller = Caller(user=user, via="api_key")
    elif cookie := connection.cookies.get(SESSION_COOKIE):
        with runtime.db.session() as session:
            user, csrf_token = accounts.find_session_user(session, cookie)
            session.expunge(user)
        unsafe = connection.scope["type"] == "http" and method not in SAFE_METHODS
        if unsafe and connection.headers.get(CSRF_HEADER) != csrf_token:
            raise Forbidden("CSRF token missing or incorrect: send the X-CSRFToken header")
        caller = Caller(user=user, via="session", session_token=cookie)
    elif runtime.settings.anonymous_is_local_user:
        caches = _local_users(connection)
        caller = Caller(user=caches.fresh() or caches.load(runtime), via="local")
    else:
        raise Unauthorized("authentication required: send 'Authorization: Bearer <API key>' or log in")
    runtime.rate_limiter.hit(caller.user.id)
    return caller


async def get_caller(request: Request, runtime: RuntimeDep) -> Caller:
    # Local mode without credentials and a cached local user: no I/O, so no thread hop.
    if not _sends_credentials(request) and runtime.settings.anonymous_is_local_user:
        user = _local_users(request).fresh()
        if user is not None:
            runtime.rate_limiter.hit(user.id)
            return Caller(user=user, via="local")
    return await run_in_threadpool(authenticate, request, runtime)


CallerDep = Annotated[Caller, Depends(get_caller)]


async def get_current_user(caller: CallerDep) -> User:
    return caller.user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def websocket_caller(
    websocket: WebSocket, runtime: Runtime, cross_origin_refusal: AudiomillError | None = None
) -> Caller | None:
    """Who opens the socket, as for HTTP; None once refused with a JSON denial. A cookie
    session from another origin is refused (``cross_origin_refusal``, else 403): a cookie
    must not let another site's page listen in."""
    try:
        caller = await asyncio.to_thread(authenticate, websocket, runtime)
        origin = websocket.headers.get("origin")
        if (
            caller.via == "session"
            and origin
            and not is_same_origin(origin, websocket.headers.get("host", ""), runtime.settings.cors_origins)
        ):
            raise cross_origin_refusal or Forbidden(f"cross-origin WebSocket from {origin!r} refused")
    except AudiomillError as exc:
        await websocket.send_denial_response(JSONResponse(status_code=exc.http_status, content={"detail": exc.message}))
        return None
    return caller
