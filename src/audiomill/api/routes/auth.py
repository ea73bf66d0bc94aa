"""/api/v1/auth: log in and out (cookie session + CSRF token), who am I, API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from audiomill.accounts import service as accounts
from audiomill.api.deps import CSRF_COOKIE, SESSION_COOKIE, CallerDep, CurrentUser, RuntimeDep, SessionDep
from audiomill.api.schemas import as_utc

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=1024)


class LoginPublic(BaseModel):
    csrf_token: str
    username: str


class UserPublic(BaseModel):
    id: int
    uuid: str = Field(description="your stable public user id (seed 003's owner_id)")
    username: str
    is_admin: bool
    authenticated_by: str


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)

    @field_validator("name")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        # The service strips the name; refusing a blank one here keeps the 422 in the
        # documented validation-error shape instead of the service's plain message.
        if not value.strip():
            raise ValueError("must not be blank")
        return value


class KeyPublic(BaseModel):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool


class KeyCreated(KeyPublic):
    key: str = Field(description="the API key itself: shown only now, store it safely")


class KeysPublic(BaseModel):
    data: list[KeyPublic]
    count: int


def _key_public(key, secret: str | None = None) -> KeyPublic:  # type: ignore[no-untyped-def]
    fields = dict(
        id=key.id,
        name=key.name,
        prefix=key.prefix,
        created_at=as_utc(key.created_at),
        last_used_at=as_utc(key.last_used_at),
        revoked=key.revoked_at is not None,
    )
    return KeyCreated(**fields, key=secret) if secret else KeyPublic(**fields)


@router.post("/login", response_model=LoginPublic, responses={401: {"description": "wrong username or password"}})
def login(body: LoginRequest, response: Response, runtime: RuntimeDep, session: SessionDep) -> LoginPublic:
    user = accounts.authenticate(session, body.username, body.password)
    created = accounts.create_session(session, user, runtime.settings.session_ttl_seconds)
    max_age = runtime.settings.session_ttl_seconds
    secure = runtime.settings.cookie_secure
    response.set_cookie(SESSION_COOKIE, created.token, max_age=max_age, httponly=True, samesite="lax", secure=secure)
    # Readable by the page's script, which echoes it in X-CSRFToken (as Django does).
    response.set_cookie(CSRF_COOKIE, created.csrf_token, max_age=max_age, httponly=False, samesite="lax", secure=secure)
    return LoginPublic(csrf_token=created.csrf_token, username=user.username)


@router.post("/logout", status_code=204)
def logout(caller: CallerDep, session: SessionDep) -> Response:
    if caller.session_token:
        accounts.end_session(session, caller.session_token)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(CSRF_COOKIE)
    return response


@router.get("/me", response_model=UserPublic)
def me(caller: CallerDep) -> UserPublic:
    user = caller.user
    return UserPublic(
        id=user.id, uuid=user.uuid, username=user.username, is_admin=user.is_admin, authenticated_by=caller.via
    )


@router.post("/keys", status_code=201, response_model=KeyCreated)
def create_key(body: KeyCreate, user: CurrentUser, session: SessionDep) -> KeyPublic:
    created = accounts.create_api_key(session, user, body.name)
    return _key_public(created.key, created.secret)


@router.get("/keys", response_model=KeysPublic)
def list_keys(user: CurrentUser, session: SessionDep) -> KeysPublic:
    keys = accounts.list_api_keys(session, user.id)
    return KeysPublic(data=[_key_public(k) for k in keys], count=len(keys))


@router.delete("/keys/{key_id}", status_code=204, responses={404: {"description": "no such key (or not yours)"}})
def revoke_key(key_id: Annotated[int, Path(ge=1, le=2**62)], user: CurrentUser, session: SessionDep) -> Response:
    accounts.revoke_api_key(session, user.id, key_id)
    return Response(status_code=204)
