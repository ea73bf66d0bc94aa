"""Typed dependencies that keep handlers plain."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from audiomill.jobs import service
from audiomill.runtime import Runtime
from audiomill.store.tables import User


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    with runtime.db.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_current_user(request: Request, runtime: RuntimeDep) -> User:
    """The built-in local user (accounts and credentials come with the auth layer)."""
    cached = getattr(request.app.state, "local_user", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    with runtime.db.session() as session:
        user = service.ensure_local_user(session)
        session.expunge(user)
    request.app.state.local_user = user
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]
