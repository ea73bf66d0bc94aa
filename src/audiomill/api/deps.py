"""Typed dependencies that keep handlers plain: the runtime, a DB session, the caller."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from audiomill.accounts import service as accounts
from audiomill.errors import Forbidden, Unauthorized
from audiomill.jobs import service
from audiomill.runtime import Runtime
from audiomill.store.tables import User

SESSION_COOKIE = "sessionid"
CSRF_COOKIE = "csrftoken"
CSRF_HEADER = "x-csrftoken"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def get_runtime(connection: HTTPConnection) -> Runtime:
    return connection.app.state.runtime  # type: ignore[no-any-return]


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    with runtime.db.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


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


def authenticate(connection: HTTPConnection, runtime: Runtime) -> Caller:
    """Who is calling: an API key, a cookie session (with CSRF on unsafe methods), or, in
    local mode only, the built-in local user. Credentials that are sent are always checked."""
    method = connection.scope.get("method", "GET")
    with runtime.db.session() as session:
        token = _bearer_token(connection)
        if token is not None:
            user = accounts.user_for_api_key(session, token)
            caller = Caller(user=user, via="api_key")
        elif cookie := connection.cookies.get(SESSION_COOKIE):
            user, row = accounts.find_session(session, cookie)
            if connection.scope["type"] == "http" and method not in SAFE_METHODS:
                if connection.headers.get(CSRF_HEADER) != row.csrf_token:
                    raise Forbidden("CSRF token missing or incorrect: send the X-CSRFToken header")
            caller = Caller(user=user, via="session", session_token=cookie)
        elif runtime.settings.anonymous_is_local_user:
            caller = Caller(user=service.ensure_local_user(session), via="local")
        else:
            raise Unauthorized("authentication required: send 'Authorization: Bearer <API key>' or log in")
        session.expunge(caller.user)
    runtime.rate_limiter.hit(caller.user.id)
    return caller


def get_caller(request: Request, runtime: RuntimeDep) -> Caller:
    return authenticate(request, runtime)


CallerDep = Annotated[Caller, Depends(get_caller)]


def get_current_user(caller: CallerDep) -> User:
    return caller.user


CurrentUser = Annotated[User, Depends(get_current_user)]
