"""Migration 0003_music_projects on SQLite and PostgreSQL: existing users get a uuid."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import OperationalError

from audiomill.store.db import MIGRATIONS_DIR

POSTGRES_URL = os.environ.get("AUDIOMILL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
VCS_TABLES = {"repositories", "commits", "stems", "branches", "tags", "repo_collaborators"}


def _config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _round_trip(url: str) -> None:
    config = _config(url)
    command.upgrade(config, "0003")
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            for name in ("old-a", "old-b"):
                connection.execute(
                    text(
                        "INSERT INTO users (username, is_admin, is_active, created_at) "
                        "VALUES (:name, false, true, CURRENT_TIMESTAMP)"
                    ),
                    {"name": name},
                )
        command.upgrade(config, "0003_music_projects")
        with engine.connect() as connection:
            uuids = [row[0] for row in connection.execute(text("SELECT uuid FROM users ORDER BY id"))]
        assert len(uuids) == 2 and len(set(uuids)) == 2
        assert all(str(uuid.UUID(value)) == value for value in uuids)
        assert VCS_TABLES <= set(inspect(engine).get_table_names())
        command.downgrade(config, "0003")
        assert not VCS_TABLES & set(inspect(engine).get_table_names())
        command.upgrade(config, "head")
    finally:
        engine.dispose()


def test_migration_backfills_user_uuids_on_sqlite(tmp_path: Path) -> None:
    _round_trip(f"sqlite:///{tmp_path / 'm.db'}")


def test_migration_on_postgresql() -> None:
    engine = create_engine(POSTGRES_URL)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as exc:  # no server here: say so
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {exc}")
    schema = f"vcs_mig_{uuid.uuid4().hex[:8]}"
    with engine.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    try:
        _round_trip(f"{POSTGRES_URL}?options=-csearch_path%3D{schema}")
    finally:
        engine = create_engine(POSTGRES_URL)
        with engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()
