"""The ``audiomill`` command: it parses arguments and calls the same services and engines
the HTTP API uses. One command per job kind is derived from the kinds' specs
(kind_commands); the rest (serve, worker, users, keys, models, info) is here."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from audiomill.cli.repo_commands import repo_app
from audiomill.config import get_settings, reset_settings_cache
from audiomill.errors import AudiomillError

app = typer.Typer(
    help="audiomill: self-hosted audio AI (stem separation, speech, music and more).", no_args_is_help=True
)
console = Console(stderr=True)
KEEP_ALIVE_SECONDS = 75


def _fail(message: str) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=1)


@contextmanager
def _user_errors() -> Iterator[None]:
    """An AudiomillError is the user's to fix: print its message, exit 1, no traceback."""
    try:
        yield
    except AudiomillError as exc:
        raise _fail(exc.message) from None


users_app = typer.Typer(help="Manage user accounts (works with or without the server running).", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
app.add_typer(repo_app, name="repo")


def _set_env(**values: object) -> None:
    """CLI options win over the environment: write them there and re-read settings."""
    for name, value in values.items():
        if value is not None:
            os.environ[f"AUDIOMILL_{name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
    reset_settings_cache()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="address to bind (AUDIOMILL_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port (AUDIOMILL_PORT)")] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="API processes sharing the port (AUDIOMILL_API_WORKERS); job workers still start once"),
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option(help="jobs run at once, each in its own worker process (AUDIOMILL_WORKER_CONCURRENCY)")
    ] = None,
    insecure_no_auth: Annotated[
        bool, typer.Option("--insecure-no-auth", help="on a non-loopback address, let anyone act as the local user")
    ] = False,
) -> None:
    """Serve the HTTP API, the seed APIs and the docs."""
    from audiomill.api.serve import serve as serve_api
    from audiomill.logs import configure_logging

    _set_env(
        host=host,
        port=port,
        api_workers=workers,
        worker_concurrency=concurrency,
        insecure_no_auth=insecure_no_auth or None,
    )
    settings = get_settings()
    configure_logging(settings)
    with _user_errors():
        serve_api(settings)


@app.command()
def worker(
    queues: Annotated[str, typer.Option(help="comma-separated queues to take jobs from")] = "gpu,cpu",
    concurrency: Annotated[int | None, typer.Option(help="jobs run at once in this process")] = None,
) -> None:
    """Run a Celery worker (AUDIOMILL_EXECUTOR=celery, AUDIOMILL_BROKER_URL)."""
    from audiomill.jobs.executors.celery_worker import run_worker

    from audiomill.logs import configure_logging

    _set_env(worker_concurrency=concurrency)
    settings = get_settings()
    configure_logging(settings)
    with _user_errors():
        run_worker(settings, [q.strip() for q in queues.split(",") if q.strip()], settings.worker_concurrency)


def _db_session():  # type: ignore[no-untyped-def]
    from audiomill.runtime import build_runtime

    return build_runtime(get_settings()).db.session()


@users_app.command("create")
def users_create(
    name: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from standard input (for scripts)")
    ] = False,
    admin: Annotated[bool, typer.Option("--admin", help="may list every user's jobs")] = False,
) -> None:
    """Create a user who can log in with a password (asked for, never on the command line,
    where shell history and `ps` would show it)."""
    from audiomill.accounts import service as accounts

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password (at least 8 characters)", hide_input=True, confirmation_prompt=True)
    with _user_errors():
        with _db_session() as session:
            user = accounts.create_user(session, name, password, is_admin=admin)
            console.print(f"created user {user.username} (id {user.id}{', admin' if admin else ''})")


@users_app.command("list")
def users_list() -> None:
    """List users."""
    from audiomill.accounts import service as accounts

    table = Table("id", "username", "admin", "active", "created")
    with _db_session() as session:
        for user in accounts.list_users(session):
            table.add_row(
                str(user.id),
                user.username,
                "yes" if user.is_admin else "",
                "yes" if user.is_active else "no",
                user.created_at.isoformat(timespec="seconds"),
            )
    Console().print(table)


@users_app.command("disable")
def users_disable(name: str) -> None:
    """Disable a user: their sessions end and their keys stop working."""
    from audiomill.accounts import service as accounts

    with _user_errors():
        with _db_session() as session:
            accounts.set_active(session, name, False)
        console.print(f"disabled {name}")


@users_app.command("enable")
def users_enable(name: str) -> None:
    """Enable a disabled user again."""
    from audiomill.accounts import service as accounts

    with _user_errors():
        with _db_session() as session:
            accounts.set_active(session, name, True)
        console.print(f"enabled {name}")


@keys_app.command("create")
def keys_create(
    user: Annotated[str, typer.Argument(help="username the key acts as")],
    name: Annotated[str, typer.Option(help="a label to tell keys apart")] = "cli",
) -> None:
    """Create an API key; it is printed once (on stdout), store it safely."""
    from audiomill.accounts import service as accounts

    with _user_errors():
        with _db_session() as session:
            created = accounts.create_api_key(session, accounts.get_user(session, user), name)
            console.print(f"key {created.key.id} ({created.key.name}) for {user}:")
            print(created.secret)


@keys_app.command("list")
def keys_list(user: str) -> None:
    """List a user's keys (never the keys themselves)."""
    from audiomill.accounts import service as accounts

    table = Table("id", "name", "prefix", "created", "last used", "revoked")
    with _user_errors():
        with _db_session() as session:
            for key in accounts.list_api_keys(session, accounts.get_user(session, user).id):
                table.add_row(
                    str(key.id),
                    key.name,
                    key.prefix + "…",
                    key.created_at.isoformat(timespec="seconds"),
                    key.last_used_at.isoformat(timespec="seconds") if key.last_used_at else "-",
                    "yes" if key.revoked_at else "",
                )
    Console().print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: int) -> None:
    """Revoke an API key by its id."""
    from audiomill.accounts import service as accounts

    with _user_errors():
        with _db_session() as session:
            from audiomill.store.tables import ApiKey

            existing = session.get(ApiKey, key_id)
            already = existing is not None and existing.revoked_at is not None
            accounts.revoke_api_key(session, None, key_id)
        console.print(f"key {key_id} was already revoked; nothing changed" if already else f"revoked key {key_id}")


@app.command()
def cleanup() -> None:
    """Delete expired jobs (AUDIOMILL_JOB_TTL_SECONDS) and every file no longer referenced."""
    from audiomill.jobs.cleanup import cleanup_expired
    from audiomill.runtime import build_runtime

    report = cleanup_expired(build_runtime(get_settings()))
    console.print(
        f"deleted {report.jobs_deleted} jobs, {report.assets_deleted} files, "
        f"{report.blobs_deleted} blobs, {report.sessions_deleted} expired sessions"
    )


@app.command()
def models() -> None:
    """List models: which weights are present, where, and where to get the missing ones."""
    from audiomill.models.catalogue import model_rows

    settings = get_settings()
    table = Table("model", "kind", "present", "licence", "location", "files", show_lines=True)
    for row in model_rows(settings):
        table.add_row(
            row.name,
            row.kind,
            "yes" if row.present else "no",
            row.licence,
            str(row.location or "-"),
            "\n".join(row.file_lines),
        )
    for column in table.columns:
        column.overflow = "fold"
    Console().print(table)
    console.print(f"models folder (AUDIOMILL_MODELS_DIR): {settings.models_dir or '-'}")
    console.print(f"download cache (AUDIOMILL_MODELS_CACHE_DIR): {settings.models_cache_dir}")
    console.print(
        f"downloads on first use: {'on' if settings.models_download else 'off (AUDIOMILL_MODELS_DOWNLOAD=false)'}"
    )


@app.command()
def info() -> None:
    """Where this installation keeps its data, which database, executor and device it
    uses, and which models are present."""
    from audiomill.engines.torch_runtime import select_device
    from audiomill.models.catalogue import model_rows

    settings = get_settings()
    table = Table("setting", "value", show_header=False)
    table.add_row("data folder", str(settings.data_dir))
    table.add_row("database", redact_url(settings.resolved_database_url))
    table.add_row(
        "blob store",
        settings.blob_store if settings.blob_store == "local" else f"s3://{settings.s3_bucket}/{settings.s3_prefix}",
    )
    table.add_row("executor", f"{settings.executor} (concurrency {settings.worker_concurrency})")
    if settings.broker_url:
        table.add_row("broker", redact_url(settings.broker_url))
    table.add_row("device", select_device(settings))
    table.add_row("auth", settings.auth)
    present = [row.name for row in model_rows(settings) if row.present]
    table.add_row("models present", ", ".join(present) or "none")
    Console().print(table)


def redact_url(url: str) -> str:
    """A URL with its password replaced, for printing."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def build_app() -> typer.Typer:
    """The whole command: the fixed commands plus one per job kind known now."""
    from audiomill.api.job_requests import all_specs
    from audiomill.cli.kind_commands import add_kind_commands

    add_kind_commands(app, all_specs(get_settings().extra_kinds))
    return app


def main() -> None:
    build_app()()


if __name__ == "__main__":
    main()
