"""ORM tables. The database row is the single source of truth for every job."""

from __future__ import annotations

import uuid
from datetime import datetime, UTC
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_uuid() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # The stable public id (seed 003's owner_id); the integer id stays internal.
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)  # argon2
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class ApiKey(Base):
    """A Bearer key. Only its sha256 is kept: the key itself is shown once, at creation."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))  # shown in lists so users can tell keys apart
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)


class AuthSession(Base):
    """A cookie session (``sessionid``); the cookie's value is stored only as its sha256."""

    __tablename__ = "auth_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class Asset(Base):
    """A stored file: an upload or a result. Bytes live in the blob store by sha256."""

    __tablename__ = "assets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    duration_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    sample_rate: Mapped[int | None] = mapped_column(Integer, nullable=True)
    channels: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Uploaded on its own (POST /api/v1/assets): it lives until its owner deletes it, however
    # many jobs used it. Inputs sent with a job and outputs live and die with their jobs.
    uploaded: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class Job(Base):
    __tablename__ = "jobs"

    # Integer ids serve the seeds that use them (001's file_id); the uuid is the public id.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # Written only by audiomill.jobs.states: the one state machine.
    status: Mapped[str] = mapped_column(String(20), index=True, default="pending")
    progress: Mapped[float] = mapped_column(Float, default=0.0)  # 0-100
    stage: Mapped[str] = mapped_column(String(200), default="queued")
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The attempt running the job ("<worker>/<random>"): only that attempt may end it, so a
    # worker presumed dead that wakes up cannot overwrite the attempt that replaced it.
    attempt_token: Mapped[str | None] = mapped_column(String(200), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(nullable=True, index=True)
    # When the job id was handed to the executor; None means it must (again) be.
    enqueued_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # Indexed: the live feed reads the rows changed since its last look (audiomill.api.feed).
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)

    files: Mapped[list[JobFile]] = relationship(
        back_populates="job", cascade="all, delete-orphan", order_by="JobFile.id"
    )


class Worker(Base):
    """A worker process, for monitoring: it heartbeats while alive."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    queues: Mapped[str] = mapped_column(String(255))
    concurrency: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(default=utc_now)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)


class JobFile(Base):
    """Links a job to its input and output assets under a name ("audio", "vocals")."""

    __tablename__ = "job_files"
    __table_args__ = (UniqueConstraint("job_id", "role", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(10))  # "input" | "output"
    name: Mapped[str] = mapped_column(String(64))
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id"), index=True)

    job: Mapped[Job] = relationship(back_populates="files")
    asset: Mapped[Asset] = relationship(lazy="joined")


# --- music projects (audiomill.vcs) ---------------------------------------------------


class Repository(Base):
    """A song under version control. A fork shares its origin's commits up to the fork:
    it records where it came from and the last commit id it inherits (no rows copied)."""

    __tablename__ = "repositories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    is_public: Mapped[bool] = mapped_column(Boolean, default=False)
    genre: Mapped[str] = mapped_column(String(100), default="")
    default_branch: Mapped[str] = mapped_column(String(100), default="main")
    forked_from_id: Mapped[int | None] = mapped_column(ForeignKey("repositories.id"), nullable=True, index=True)
    # commits of forked_from with id <= this are part of this repository's history
    forked_at_commit_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class RepoCollaborator(Base):
    """A user the owner lets write to a repository."""

    __tablename__ = "repo_collaborators"

    repo_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class Commit(Base):
    """A snapshot of a song: its stems (rows in ``stems``) plus what made them.

    ``repo_id`` is the repository the commit was made in; forks see it through their
    fork point. The integer id grows with time: a fork's cut-off is an id."""

    __tablename__ = "commits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repositories.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("commits.id"), nullable=True, index=True)
    merge_parent_id: Mapped[int | None] = mapped_column(ForeignKey("commits.id"), nullable=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    message: Mapped[str] = mapped_column(Text, default="")
    bpm: Mapped[float | None] = mapped_column(Float, nullable=True)
    key_signature: Mapped[str | None] = mapped_column(String(50), nullable=True)
    generation_params: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    render_asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    stems: Mapped[list[Stem]] = relationship(
        back_populates="commit", cascade="all, delete-orphan", order_by="Stem.id", lazy="selectin"
    )
    render_asset: Mapped[Asset | None] = relationship(lazy="joined")


class Stem(Base):
    """One track of a commit. The audio is an Asset (bytes by sha256 in the blob store);
    many commits, forks and repositories refer to one asset without copying it."""

    __tablename__ = "stems"
    __table_args__ = (UniqueConstraint("commit_id", "stem_type"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    commit_id: Mapped[int] = mapped_column(ForeignKey("commits.id", ondelete="CASCADE"), index=True)
    stem_type: Mapped[str] = mapped_column(String(64))
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id"), index=True)
    duration_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    file_size: Mapped[int] = mapped_column(BigInteger, default=0)
    generation_params: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    commit: Mapped[Commit] = relationship(back_populates="stems")
    asset: Mapped[Asset] = relationship(lazy="joined")


class Branch(Base):
    """A named, movable ref; ``head_commit_id`` is None until the first commit."""

    __tablename__ = "branches"
    __table_args__ = (UniqueConstraint("repo_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    head_commit_id: Mapped[int | None] = mapped_column(ForeignKey("commits.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class Tag(Base):
    """A fixed name for a commit ("v1", "radio edit")."""

    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("repo_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    commit_id: Mapped[int] = mapped_column(ForeignKey("commits.id"))
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


# --- signed webhooks (audiomill.jobs.webhooks) -----------------------------------------


class Webhook(Base):
    """A user's endpoint for job events. The secret signs every delivery (Standard
    Webhooks); it is shown once, at registration, and kept because signing needs it."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(JSON)  # job.created, job.started, ...
    job_uuid: Mapped[str | None] = mapped_column(String(36), nullable=True)  # only this job's events
    description: Mapped[str] = mapped_column(String(200), default="")
    secret: Mapped[str] = mapped_column(String(100))  # "whsec_<base64>"
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class WebhookDelivery(Base):
    """One event for one webhook: the exact body signed and sent (the same on every try),
    retried with back-off until a 2xx or the schedule ends. Kept with its webhook."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(40), unique=True)  # webhook-id: "msg_..."
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"), index=True)
    event_type: Mapped[str] = mapped_column(String(40))
    job_uuid: Mapped[str] = mapped_column(String(36))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | succeeded | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(nullable=True, index=True)
    # A dispatcher holds a delivery while it sends it; one that died lets go when this passes.
    locked_until: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)

    tries: Mapped[list[WebhookAttempt]] = relationship(
        cascade="all, delete-orphan", order_by="WebhookAttempt.number", lazy="selectin"
    )


class WebhookAttempt(Base):
    """One try of a delivery: what the receiver answered (or why nothing was sent)."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    attempted_at: Mapped[datetime] = mapped_column(default=utc_now)
    response_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response_body: Mapped[str] = mapped_column(Text, default="")  # the first KiB
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
