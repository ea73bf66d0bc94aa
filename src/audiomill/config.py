"""Settings, read from the environment (``AUDIOMILL_*``) once per process.

Nothing here is evaluated at import time: call :func:`get_settings` (cached) so tests
and the CLI can point a process at another data folder before the first use.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_models_cache() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "audiomill" / "models"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AUDIOMILL_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("data")
    # A folder laid out like demucs' ``--repo`` (NAME.yaml + SIG.th); read before any cache.
    models_dir: Path | None = None
    # Where weights fetched on first use are kept (like torch.hub's cache).
    models_cache_dir: Path = Field(default_factory=_default_models_cache)
    # Set to false on machines with no internet: missing weights fail at once with a
    # message naming the file and the folder, instead of retrying a hub.
    models_download: bool = True
    database_url: str | None = None
    device: str | None = None  # "cpu", "cuda", "cuda:1"; None picks CUDA when present
    torch_threads: int | None = None  # None: matched to the cores each worker may use

    executor: Literal["local"] = "local"
    worker_concurrency: int = Field(default=1, ge=1, le=64)

    max_upload_bytes: int = Field(default=1024 * 1024 * 1024, ge=1)  # 1 GiB
    upload_chunk_bytes: int = 1024 * 1024

    @field_validator("data_dir", "models_dir", "models_cache_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return value.expanduser().resolve() if value is not None else None

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
