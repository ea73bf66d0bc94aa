"""Users, API keys and sessions. Secrets are stored hashed: passwords with argon2, API keys
and session tokens (random, 256-bit) with sha256, which is enough for unguessable tokens and
lets a lookup be one indexed query."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, UTC

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from audiomill.errors import Conflict, InvalidInput, NotFound, Unauthorized
from audiomill.store.tables import ApiKey, AuthSession, User, utc_now

_hasher = PasswordHasher()
USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9_.@+-]{1,150}$")
API_KEY_PREFIX = "am_"
# A hash to verify against when the user does not exist, so timing does not tell.
_DUMMY_HASH = _hasher.hash("audiomill-no-such-user")


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def create_user(session: Session, username: str, password: str | None, is_admin: bool = False) -> User:
    if not USERNAME_PATTERN.match(username):
        raise InvalidInput("username: 1-150 letters, digits and _ . @ + - only")
    if password is not None and len(password) < 8:
        raise InvalidInput("password: at least 8 characters")
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise Conflict(f"user {username!r} already exists")
    user = User(
        username=username, is_admin=is_admin, password_hash=_hasher.hash(password) if password is not None else None
    )
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"user {username!r} not found")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))


def set_active(session: Session, username: str, active: bool) -> User:
    user = get_user(session, username)
    user.is_active = active
    if not active:  # a disabled user's sessions end now
        session.execute(delete(AuthSession).where(AuthSession.user_id == user.id))
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    try:
        _hasher.verify(user.password_hash if user and user.password_hash else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        raise Unauthorized("wrong username or password") from None
    if user is None or not user.password_hash or not user.is_active:
        raise Unauthorized("wrong username or password")
    return user


@dataclass(frozen=True)
class NewApiKey:
    key: ApiKey
    secret: str  # shown once


def create_api_key(session: Session, user: User, name: str) -> NewApiKey:
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise InvalidInput("key name: 1-100 characters")
    secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(user_id=user.id, name=name, prefix=secret[:10], key_sha256=_sha256(secret))
    session.add(key)
    session.flush()
    return NewApiKey(key=key, secret=secret)


def list_api_keys(session: Session, user_id: int) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.id)))


def revoke_api_key(session: Session, user_id: int | None, key_id: int) -> ApiKey:
    """user_id None: any user's key (the CLI, run by the operator)."""
    key = session.get(ApiKey, key_id)
    if key is None or (user_id is not None and key.user_id != user_id):
        raise NotFound(f"API key {key_id} not found")
    if key.revoked_at is None:
        key.revoked_at = utc_now()
    session.flush()
    return key


# last_used_at is kept to this precision: writing it on every request would turn every
# read into a write (on SQLite, one writer at a time for the whole service).
LAST_USED_PRECISION_SECONDS = 60.0


def user_for_api_key(session: Session, secret: str) -> User:
    row = session.execute(
        select(ApiKey, User).join(User, User.id == ApiKey.user_id).where(ApiKey.key_sha256 == _sha256(secret))
    ).first()
    if row is None:
        raise Unauthorized("invalid or revoked API key")
    key, user = row
    if key.revoked_at is not None or not user.is_active:
        raise Unauthorized("invalid or revoked API key")
    now = utc_now()
    if key.last_used_at is None or (now - _as_utc(key.last_used_at)).total_seconds() >= LAST_USED_PRECISION_SECONDS:
        key.last_used_at = now
    return user


@dataclass(frozen=True)
class NewSession:
    token: str
    csrf_token: str


def create_session(session: Session, user: User, ttl_seconds: int) -> NewSession:
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    session.add(
        AuthSession(
            user_id=user.id,
            token_sha256=_sha256(token),
            csrf_token=csrf,
            expires_at=utc_now() + timedelta(seconds=ttl_seconds),
        )
    )
    session.flush()
    return NewSession(token=token, csrf_token=csrf)


def find_session(session: Session, token: str) -> tuple[User, AuthSession]:
    row = session.execute(
        select(AuthSession, User)
        .join(User, User.id == AuthSession.user_id)
        .where(AuthSession.token_sha256 == _sha256(token))
    ).first()
    if row is None or _as_utc(row[0].expires_at) <= utc_now() or not row[1].is_active:
        raise Unauthorized("session expired or unknown: log in again")
    return row[1], row[0]


def find_session_user(session: Session, token: str) -> tuple[User, str]:
    """The session's user and its CSRF token (one indexed query)."""
    user, row = find_session(session, token)
    return user, row.csrf_token


def end_session(session: Session, token: str) -> None:
    session.execute(delete(AuthSession).where(AuthSession.token_sha256 == _sha256(token)))


def purge_expired_sessions(session: Session) -> int:
    return session.execute(delete(AuthSession).where(AuthSession.expires_at <= utc_now())).rowcount or 0
