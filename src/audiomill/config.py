"""Settings, read from the environment (``AUDIOMILL_*``) once per process.

Nothing here is evaluated at import time: call :func:`get_settings` (cached) so tests
and the CLI can point a process at another data folder before the first use.
"""

from __future__ import annotations

import ipaddress
import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from audiomill.errors import InvalidInput


def is_loopback_host(host: str) -> bool:
    """A name or address that only reaches this machine."""
    name = host.strip().lower().strip("[]")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _default_data_dir() -> Path:
    """One folder per user, wherever the command is run from (``./data`` used to depend on
    the working directory, so the CLI and the server could see different databases)."""
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "audiomill"


def _default_models_cache() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "audiomill" / "models"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AUDIOMILL_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Field(default_factory=_default_data_dir)
    # A folder laid out like demucs' ``--repo`` (NAME.yaml + SIG.th); read before any cache.
    models_dir: Path | None = None
    # Where weights fetched on first use are kept (like torch.hub's cache).
    models_cache_dir: Path = Field(default_factory=_default_models_cache)
    # Set to false on machines with no internet: missing weights fail at once with a
    # message naming the file and the folder, instead of retrying a hub.
    models_download: bool = True
    # Base URL of a mirror of demucs' remote (same layout as dl.fbaipublicfiles.com/demucs/);
    # None: demucs' own.
    models_url: str | None = None
    database_url: str | None = None
    device: str | None = None  # "cpu", "cuda", "cuda:1"; None picks CUDA when present
    torch_threads: int | None = None  # None: matched to the cores each worker may use

    # "local": spawned worker processes beside the service; "celery": separate `audiomill worker`
    # processes (any number of machines) fed through a Redis or RabbitMQ broker.
    executor: Literal["local", "celery"] = "local"
    worker_concurrency: int = Field(default=1, ge=1, le=64)
    broker_url: str | None = None  # redis://host:6379/0 or amqp://user:pass@host:5672//
    # Where progress events cross processes (Redis pub/sub); default: the broker when it
    # is Redis. Without it, WebSocket clients fall back to reading the database.
    events_url: str | None = None
    # Job kind -> queue, overriding the queue each kind's spec names (heavy models: "gpu").
    queue_by_kind: dict[str, str] = Field(default_factory=dict)
    default_queue: str = "cpu"  # where Celery sends tasks that name no queue
    # A running attempt heartbeats this often; one silent for worker_silence_seconds is
    # presumed dead (kill -9, lost machine) and its job is re-queued, whatever the broker.
    heartbeat_interval_seconds: float = Field(default=10.0, gt=0)
    worker_silence_seconds: float = Field(default=60.0, gt=0)
    # Redis redelivers an unacknowledged task after this; longer than the longest job.
    broker_visibility_timeout_seconds: int = Field(default=12 * 3600, ge=60)
    # Extra job kinds from other packages: kind -> module with Params, input_names, setup, run.
    extra_kinds: dict[str, str] = Field(default_factory=dict)
    # General MIDI SoundFont (.sf2/.sf3) the composer renders with; None: FluidR3_GM (MIT,
    # Debian's fluid-soundfont-gm); "timgm6mb": the GPL-2 one inside pretty_midi (opt-in).
    soundfont: Path | None = None

    # Where blob bytes live: "local" (data_dir/blobs) or "s3" (a bucket shared by all
    # machines; each keeps a read cache in work_dir/blob-cache). Credentials come from
    # boto3's usual chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, a role).
    blob_store: Literal["local", "s3"] = "local"
    s3_bucket: str | None = None  # required with blob_store "s3"
    s3_prefix: str = "audiomill/"
    s3_endpoint_url: str | None = None  # MinIO, Ceph, R2...; None: AWS
    s3_region: str | None = None

    max_upload_bytes: int = Field(default=1024 * 1024 * 1024, ge=1)  # 1 GiB
    upload_chunk_bytes: int = 1024 * 1024
    # Largest photo (an image input, e.g. photo_video's): 10 MB, as seed 004's service took.
    max_photo_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    # Longest input per job, in seconds; per-kind entries override the default.
    max_duration_seconds: float = Field(default=4 * 3600.0, gt=0)
    max_duration_seconds_by_kind: dict[str, float] = Field(default_factory=dict)

    # Accounts. "auto": anonymous requests act as the built-in local user while the service
    # is bound to a loopback address; "required": every request must authenticate.
    auth: Literal["auto", "required"] = "auto"
    # Needed to start on a non-loopback address with auth "auto" (anyone reaching the port
    # then acts as the local user).
    insecure_no_auth: bool = False
    # Extra Host names accepted in local mode (e.g. behind a reverse proxy on this machine).
    allowed_hosts: list[str] = Field(default_factory=list)
    cors_origins: list[str] = Field(default_factory=list)
    session_ttl_seconds: int = Field(default=14 * 24 * 3600, ge=60)
    # Secure cookies need HTTPS; set true when served behind TLS.
    cookie_secure: bool = False

    # Per-user limits (0 disables a limit).
    rate_limit_per_minute: int = Field(default=600, ge=0)
    max_active_jobs_per_user: int = Field(default=20, ge=0)
    storage_quota_bytes: int = Field(default=20 * 1024**3, ge=0)

    # Finished jobs (completed, failed, cancelled) are deleted this long after they end.
    job_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    cleanup_interval_seconds: int = Field(default=3600, ge=5)

    # Signed webhooks (audiomill.jobs.webhooks). Addresses that resolve to loopback,
    # private, link-local, multicast or reserved networks are refused (SSRF) unless an
    # administrator allows them here (a receiver on this machine or the LAN).
    webhook_allow_private: bool = False
    # Seconds between a failed try and the next: after the first (immediate) try, 5 s,
    # 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: eight tries over about a day (Standard Webhooks').
    webhook_retry_delays_seconds: list[float] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]
    )
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhook_poll_interval_seconds: float = Field(default=1.0, gt=0)
    max_webhooks_per_user: int = Field(default=20, ge=1)

    # How `audiomill serve` / `audiomill worker` write their log: "text" for people, "json"
    # (one object per line, with job_id, kind, event...) for log collectors.
    log_format: Literal["text", "json"] = "text"

    @field_validator("models_dir", "database_url", "broker_url", "events_url", "device", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `AUDIOMILL_MODELS_DIR=` in a shell or an env file means "not set", not "here".
        return None if isinstance(value, str) and not value.strip() else value

    # Back-pressure, per API process: at most max_concurrent_requests HTTP requests are
    # processed at once; up to max_queued_requests more wait (first come, first served) at
    # most request_queue_timeout_seconds; beyond either, 503 with Retry-After instead of a
    # backlog that outlives the burst. max_concurrent_requests 0 disables the limit.
    # 16: enough to keep one process's thread pool and database busy (more adds no
    # throughput under the GIL), few enough that the work a burst leaves in progress ends
    # quickly. Uploads (bodies over 1 MiB) are not counted.
    max_concurrent_requests: int = Field(default=16, ge=0)
    max_queued_requests: int = Field(default=1024, ge=0)
    request_queue_timeout_seconds: float = Field(default=10.0, gt=0)
    # API processes `audiomill serve` starts on one port (each with its own limits above);
    # the local executor's job workers still run once, in the serving parent.
    api_workers: int = Field(default=1, ge=1, le=64)
    # uvicorn's per-request access log line (off saves ~5 % of a status read's CPU).
    access_log: bool = True

    @field_validator("data_dir", "models_dir", "models_cache_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return value.expanduser().resolve() if value is not None else None

    def queue_for(self, kind: str) -> str:
        if kind in self.queue_by_kind:
            return self.queue_by_kind[kind]
        from audiomill.kinds import kind_spec  # kinds imports this module

        try:
            return kind_spec(kind, self.extra_kinds).queue or self.default_queue
        except (InvalidInput, ImportError, AttributeError):  # refused elsewhere; route it sanely
            return self.default_queue

    @property
    def resolved_events_url(self) -> str | None:
        if self.events_url:
            return self.events_url
        if self.broker_url and self.broker_url.startswith(("redis://", "rediss://")):
            return self.broker_url
        return None

    def max_duration_for(self, kind: str) -> float:
        return self.max_duration_seconds_by_kind.get(kind, self.max_duration_seconds)

    @property
    def is_loopback_bind(self) -> bool:
        return is_loopback_host(self.host)

    @property
    def anonymous_is_local_user(self) -> bool:
        """True when requests without credentials act as the built-in local user."""
        return self.auth == "auto" and (self.is_loopback_bind or self.insecure_no_auth)

    @property
    def blobs_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def work_dir(self) -> Path:
        """Scratch space for uploads in flight and jobs while they run."""
        return self.data_dir / "work"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'audiomill.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings_cache() -> None:
    """Forget the cached settings (tests and the CLI change the environment)."""
    get_settings.cache_clear()
