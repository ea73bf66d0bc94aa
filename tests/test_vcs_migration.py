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


def test_repository_service_on_postgresql() -> None:
    """Commits, forks, history and a stem-level merge on PostgreSQL (no audio needed:
    merge compares stems by sha256)."""
    from audiomill.accounts import service as accounts
    from audiomill.store.db import Database
    from audiomill.store.tables import Asset
    from audiomill.vcs import service

    engine = create_engine(POSTGRES_URL)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {exc}")
    schema = f"vcs_svc_{uuid.uuid4().hex[:8]}"
    with engine.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    db = Database(f"{POSTGRES_URL}?options=-csearch_path%3D{schema}")
    try:
        db.migrate()
        with db.session() as session:
            user = accounts.create_user(session, "pg-user", "password-pg")

            def asset(tag: str) -> Asset:
                row = Asset(
                    owner_id=user.id,
                    sha256=(tag * 64)[:64],
                    filename=f"{tag}.wav",
                    media_type="audio/wav",
                    size_bytes=10,
                    duration_seconds=1.0,
                )
                session.add(row)
                session.flush()
                return row

            def stems(**assets: Asset) -> list[tuple[service.StemSource, Asset]]:
                return [(service.StemSource(name, asset_id=a.uuid), a) for name, a in assets.items()]

            repo = service.create_repo(session, user, "pg song", is_public=True)
            base = service.commit_to(
                session, repo, user, service.CommitMeta("base", 120.0), stems(drums=asset("a"), bass=asset("b"))
            )
            service.create_branch(session, user, repo.uuid, "idea")
            service.commit_to(session, repo, user, service.CommitMeta("idea"), stems(bass=asset("c")), branch="idea")
            service.commit_to(session, repo, user, service.CommitMeta("main"), stems(drums=asset("d")))
            fork = service.fork_repo(session, user, repo.uuid, "fork")
            outcome = service.merge_branches(session, user, repo.uuid, "idea")
            assert outcome.status == "merged" and outcome.taken == {"bass": "source", "drums": "target"}
            _, history = service.history(session, user, repo.uuid)
            _, fork_history = service.history(session, user, fork.uuid)
            assert len(history) == 4 and len(fork_history) == 3
            assert history[0].uuid == base.commit.uuid and history[0].bpm == 120.0
    finally:
        db.dispose()
        with engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


def test_a_branch_moved_meanwhile_is_a_conflict_not_a_lost_commit(tmp_path: Path) -> None:
    from audiomill.accounts import service as accounts
    from audiomill.errors import Conflict
    from audiomill.store.db import Database
    from audiomill.vcs import service

    db = Database(f"sqlite:///{tmp_path / 'race.db'}")
    db.migrate()
    try:
        with db.session() as session:
            user = accounts.create_user(session, "racer", "password-racer")
            repo = service.create_repo(session, user, "race")
            first = service.commit_to(session, repo, user, service.CommitMeta("first"), []).commit
            ref = service.get_branch(session, repo, "main")
            second = service.commit_to(session, repo, user, service.CommitMeta("second"), []).commit
            # a writer that read the head before "second" landed tries to move the branch
            with pytest.raises(Conflict, match="moved while"):
                service.advance_branch(session, ref, first.id, first.id)
            assert service.get_branch(session, repo, "main").head_commit_id == second.id
    finally:
        db.dispose()
