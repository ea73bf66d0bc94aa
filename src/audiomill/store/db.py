"""Database engine, sessions and migrations (Alembic; the same migrations on every backend)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# Connections per process. The API runs blocking DB work on AnyIO's thread pool (40
# threads by default) and a request holds at most one connection at a time, so a pool this
# size means a request never waits for a connection that another is about to return
# (SQLAlchemy's default, 5 + 10 overflow, had 40 threads queueing on 15 connections, and
# overflow connections opened and closed under load). PostgreSQL's default
# max_connections (100) fits two API processes at full load plus workers; raise it there
# for more (``audiomill serve --workers N``).
POOL_SIZE = 20
POOL_MAX_OVERFLOW = 20


def _in_memory(database_url: str) -> bool:
    return database_url in {"sqlite://", "sqlite:///:memory:"} or "mode=memory" in database_url


def make_engine(database_url: str) -> Engine:
    if database_url.startswith("sqlite"):
        engine = create_engine(
            database_url,
            # Workers run in threads beside the API; SQLite waits for the lock instead of failing.
            connect_args={"check_same_thread": False, "timeout": 30},
            # An in-memory database is one connection (SQLAlchemy picks a singleton pool).
            **({} if _in_memory(database_url) else {"pool_size": POOL_SIZE, "max_overflow": POOL_MAX_OVERFLOW}),
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            # WAL lets readers (status polls) proceed while a worker writes progress.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_engine(database_url, pool_pre_ping=True, pool_size=POOL_SIZE, max_overflow=POOL_MAX_OVERFLOW)


# Any constant: processes migrating one PostgreSQL database at once queue on this lock.
_MIGRATION_LOCK_ID = 7_310_524_117


def migrate(database_url: str) -> None:
    """Bring the schema to the newest revision (idempotent; safe when several API and
    worker processes start at once against one database)."""
    # Imported here: alembic costs ~0.5 s to import, and worker processes never migrate.
    from alembic import command
    from alembic.config import Config

    if database_url.startswith("sqlite:///"):
        Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
                connection.commit()
            config.attributes["connection"] = connection
            try:
                command.upgrade(config, "head")
            finally:
                if engine.dialect.name == "postgresql":
                    connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _MIGRATION_LOCK_ID})
                    connection.commit()
    finally:
        engine.dispose()


class Database:
    """One engine + session factory per process."""

    def __init__(self, database_url: str) -> None:
        self.url = database_url
        self.engine = make_engine(database_url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Polled reads run outside a transaction: on PostgreSQL that saves the BEGIN and
        # COMMIT round trips around a one-statement read (2,050-2,190 -> 2,340-2,470 req/s at
        # 64 connections on 2 cores). SQLite's driver begins no transaction for a SELECT, and
        # switching its isolation level per checkout cost 15 % there: the plain factory.
        self._read_sessions = (
            self._sessions
            if self.engine.dialect.name == "sqlite"
            else sessionmaker(self.engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False)
        )

    def migrate(self) -> None:
        migrate(self.url)

    def new_session(self) -> Session:
        """A session that connects on first use (so creating one costs no I/O)."""
        return self._sessions()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session for reads only, each statement on its own (no transaction around them)."""
        with self._read_sessions() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
