"""The ``audiomill`` command: it parses arguments and calls the same services and engines
the HTTP API uses. Engines run in this process, no server needed."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from audiomill.config import get_settings, reset_settings_cache
from audiomill.errors import AudiomillError

app = typer.Typer(help="audiomill: self-hosted audio AI (stem separation and more).", no_args_is_help=True)
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


def _set_env(**values: object) -> None:
    """CLI options win over the environment: write them there and re-read settings."""
    for name, value in values.items():
        if value is not None:
            os.environ[f"AUDIOMILL_{name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
    reset_settings_cache()


@app.command()
def serve(
    host: Annotated[Optional[str], typer.Option(help="address to bind (AUDIOMILL_HOST)")] = None,
    port: Annotated[Optional[int], typer.Option(help="port (AUDIOMILL_PORT)")] = None,
    workers: Annotated[Optional[int], typer.Option(help="jobs run at once (AUDIOMILL_WORKER_CONCURRENCY)")] = None,
    insecure_no_auth: Annotated[bool, typer.Option("--insecure-no-auth", help="on a non-loopback address, let anyone act as the local user")] = False,
) -> None:
    """Serve the HTTP API, the seed APIs and the web page."""
    import uvicorn

    from audiomill.api.app import create_app

    _set_env(host=host, port=port, worker_concurrency=workers, insecure_no_auth=insecure_no_auth or None)
    settings = get_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with _user_errors():
        application = create_app(settings)
    # Clients that poll every few seconds on one keep-alive connection (the seeds' examples
    # poll every 5 s) must not race uvicorn's default 5 s idle close: keep idle ones longer.
    uvicorn.run(application, host=settings.host, port=settings.port, timeout_keep_alive=KEEP_ALIVE_SECONDS)


@app.command()
def worker(
    queues: Annotated[str, typer.Option(help="comma-separated queues to take jobs from")] = "gpu,cpu",
    concurrency: Annotated[Optional[int], typer.Option(help="jobs run at once in this process")] = None,
) -> None:
    """Run a Celery worker (AUDIOMILL_EXECUTOR=celery, AUDIOMILL_BROKER_URL)."""
    from audiomill.jobs.executors.celery_worker import run_worker

    _set_env(worker_concurrency=concurrency)
    settings = get_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with _user_errors():
        run_worker(settings, [q.strip() for q in queues.split(",") if q.strip()], settings.worker_concurrency)


def _db_session():  # type: ignore[no-untyped-def]
    from audiomill.runtime import build_runtime

    return build_runtime(get_settings()).db.session()


@users_app.command("create")
def users_create(
    name: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, help="at least 8 characters")],
    admin: Annotated[bool, typer.Option("--admin", help="may list every user's jobs")] = False,
) -> None:
    """Create a user who can log in with a password."""
    from audiomill.accounts import service as accounts

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
            table.add_row(str(user.id), user.username, "yes" if user.is_admin else "", "yes" if user.is_active else "no",
                          user.created_at.isoformat(timespec="seconds"))
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
                table.add_row(str(key.id), key.name, key.prefix + "…", key.created_at.isoformat(timespec="seconds"),
                              key.last_used_at.isoformat(timespec="seconds") if key.last_used_at else "-",
                              "yes" if key.revoked_at else "")
    Console().print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: int) -> None:
    """Revoke an API key by its id."""
    from audiomill.accounts import service as accounts

    with _user_errors():
        with _db_session() as session:
            accounts.revoke_api_key(session, None, key_id)
        console.print(f"revoked key {key_id}")


@app.command()
def cleanup() -> None:
    """Delete expired jobs (AUDIOMILL_JOB_TTL_SECONDS) and every file no longer referenced."""
    from audiomill.jobs.cleanup import cleanup_expired
    from audiomill.runtime import build_runtime

    report = cleanup_expired(build_runtime(get_settings()))
    console.print(f"deleted {report.jobs_deleted} jobs, {report.assets_deleted} files, "
                  f"{report.blobs_deleted} blobs, {report.sessions_deleted} expired sessions")


def _run_engine_with_progress(kind: str, params: object, inputs: dict[str, Path], output_dir: Path, label: str) -> dict[str, Path]:
    """Run one engine in this process with a Rich progress bar; print its result."""
    from audiomill.engines.base import LocalContext, engine_for
    from audiomill.engines.torch_runtime import select_device

    engine = engine_for(kind)
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn(),
        TimeRemainingColumn(), TextColumn("{task.fields[stage]}"), console=console,
    ) as bar:
        task = bar.add_task(label, total=100, stage="starting")
        ctx = LocalContext(
            params=params, inputs=inputs, output_dir=output_dir, device=select_device(get_settings()),
            on_progress=lambda fraction, stage: bar.update(task, completed=fraction * 100, stage=stage),
        )
        engine.setup()
        engine.run(ctx)
        bar.update(task, completed=100, stage="done")
    if ctx.result:
        summary = {k: v for k, v in ctx.result.items() if not isinstance(v, (list, dict))}
        console.print("  " + ", ".join(f"{k}={v}" for k, v in summary.items()))
    return {name: path for name, (path, _) in ctx.outputs.items()}


def _encode_options(output_format: str, bitrate: int, bit_depth: int) -> dict[str, object]:
    return {"output_format": output_format, "bitrate_kbps": bitrate, "wav_bit_depth": bit_depth}


def _run_each(kind: str, raw_params: dict[str, object], files: list[Path], out: Path, folder: str) -> None:
    """Validate once, then run the kind's engine on each file into OUT/FOLDER/TRACK/."""
    from audiomill.jobs.service import validate_params

    with _user_errors():
        params = validate_params(kind, raw_params)
        for path in files:
            outputs = _run_engine_with_progress(kind, params, {"audio": path}, out / folder / path.stem, path.name)
            for name, output_path in outputs.items():
                console.print(f"  {name}: {output_path}")


FilesArg = Annotated[list[Path], typer.Argument(help="audio files (any format PyAV decodes)", exists=True, dir_okay=False)]
FormatOpt = Annotated[str, typer.Option("--format", help="wav, flac, mp3 or m4a")]
BitrateOpt = Annotated[int, typer.Option(help="mp3/m4a bitrate in kbps")]
BitDepthOpt = Annotated[int, typer.Option(help="wav: 16, 24, or 32 (float)")]
BoostLevelOpt = Annotated[Optional[str], typer.Option(help="then raise loudness: 2x, 3x, 4x or 5x")]
TargetLufsOpt = Annotated[Optional[float], typer.Option(help="then normalize loudness to this LUFS (e.g. -16)")]
CeilingOpt = Annotated[float, typer.Option(help="true-peak ceiling in dBTP")]


@app.command()
def separate(
    files: FilesArg,
    out: Annotated[Path, typer.Option("-o", "--out", help="output folder; stems go to OUT/MODEL/TRACK/")] = Path("separated"),
    model: Annotated[str, typer.Option("-n", "--model", help="htdemucs, htdemucs_ft, htdemucs_6s, mdx_extra, …")] = "htdemucs",
    two_stems: Annotated[Optional[str], typer.Option(help="only STEM and its complement, e.g. vocals")] = None,
    shifts: Annotated[int, typer.Option(help="random-shift passes averaged (slower, a bit better)")] = 1,
    overlap: Annotated[float, typer.Option(help="overlap between model segments")] = 0.25,
    segment: Annotated[Optional[float], typer.Option(help="segment length in seconds (default: the model's)")] = None,
    output_format: FormatOpt = "wav",
    bitrate: BitrateOpt = 320,
    bit_depth: BitDepthOpt = 16,
    clip_mode: Annotated[str, typer.Option(help="rescale, clamp or none")] = "rescale",
    residual: Annotated[bool, typer.Option(help="make the stems sum back to the mix")] = False,
    precision: Annotated[str, typer.Option(help="auto (bfloat16 on CPUs that compute it natively, else float32), float32 (demucs' own result), bfloat16, or float16 (CUDA)")] = "auto",
) -> None:
    """Separate FILES into stems with a Demucs model, locally."""
    _run_each("separate", {
        "model": model, "two_stems": two_stems, "shifts": shifts, "overlap": overlap, "segment_seconds": segment,
        "clip_mode": clip_mode, "residual": residual, "precision": precision,
        **_encode_options(output_format, bitrate, bit_depth),
    }, files, out, model)


@app.command()
def vocals(
    files: FilesArg,
    out: Annotated[Path, typer.Option("-o", "--out", help="output folder; OUT/vocals/TRACK/")] = Path("separated"),
    model: Annotated[str, typer.Option("-n", "--model")] = "htdemucs",
    output_format: FormatOpt = "wav",
    bitrate: BitrateOpt = 320,
    bit_depth: BitDepthOpt = 16,
) -> None:
    """Split FILES into vocals and instrumental (the mix minus the vocals: they add back up to it)."""
    _run_each("vocals", {"model": model, **_encode_options(output_format, bitrate, bit_depth)},
              files, out, "vocals")


@app.command()
def denoise(
    files: FilesArg,
    out: Annotated[Path, typer.Option("-o", "--out", help="output folder; OUT/denoised/TRACK/")] = Path("processed"),
    model: Annotated[str, typer.Option(help="deepfilternet3 or rnnoise")] = "deepfilternet3",
    attenuation_limit_db: Annotated[Optional[float], typer.Option(help="remove at most this much noise, in dB")] = None,
    boost_level: BoostLevelOpt = None,
    target_lufs: TargetLufsOpt = None,
    ceiling_dbtp: CeilingOpt = -1.0,
    output_format: FormatOpt = "wav",
    bitrate: BitrateOpt = 320,
    bit_depth: BitDepthOpt = 16,
) -> None:
    """Remove background noise from speech (not other voices), optionally boost after."""
    _run_each("denoise", {
        "model": model, "attenuation_limit_db": attenuation_limit_db, "boost_level": boost_level or "none",
        "target_lufs": target_lufs, "ceiling_dbtp": ceiling_dbtp, **_encode_options(output_format, bitrate, bit_depth),
    }, files, out, "denoised")


@app.command()
def boost(
    files: FilesArg,
    out: Annotated[Path, typer.Option("-o", "--out", help="output folder; OUT/boosted/TRACK/")] = Path("processed"),
    level: Annotated[Optional[str], typer.Option(help="2x (+6 dB), 3x (+9.5), 4x (+12), 5x (+14) of loudness")] = None,
    target_lufs: TargetLufsOpt = None,
    ceiling_dbtp: CeilingOpt = -1.0,
    output_format: FormatOpt = "wav",
    bitrate: BitrateOpt = 320,
    bit_depth: BitDepthOpt = 16,
) -> None:
    """Make FILES louder (or hit a loudness target) through a true-peak limiter."""
    _run_each("boost", {
        "boost_level": level, "target_lufs": target_lufs, "ceiling_dbtp": ceiling_dbtp,
        **_encode_options(output_format, bitrate, bit_depth),
    }, files, out, "boosted")


@app.command("extract-speaker")
def extract_speaker(
    conversation: Annotated[Path, typer.Argument(help="the recording with several voices", exists=True, dir_okay=False)],
    target: Annotated[Path, typer.Argument(help="a sample of the voice to keep", exists=True, dir_okay=False)],
    out: Annotated[Path, typer.Option("-o", "--out", help="output folder; OUT/extracted/CONVERSATION/")] = Path("processed"),
    boost_level: BoostLevelOpt = None,
    target_lufs: TargetLufsOpt = None,
    output_format: FormatOpt = "wav",
    bitrate: BitrateOpt = 320,
    bit_depth: BitDepthOpt = 16,
) -> None:
    """Keep only the TARGET speaker's voice from CONVERSATION; prints the similarity score."""
    from audiomill.jobs.service import validate_params

    with _user_errors():
        params = validate_params("extract_speaker", {
            "boost_level": boost_level or "none", "target_lufs": target_lufs,
            **_encode_options(output_format, bitrate, bit_depth),
        })
        outputs = _run_engine_with_progress(
            "extract_speaker", params, {"conversation": conversation, "target": target},
            out / "extracted" / conversation.stem, conversation.name,
        )
    for name, output_path in outputs.items():
        console.print(f"  {name}: {output_path}")


@app.command()
def models() -> None:
    """List the separation models: which weights are present, and where."""
    from audiomill.models.demucs_repo import list_models

    settings = get_settings()
    table = Table("model", "present", "location", "files")
    for status in list_models(settings):
        table.add_row(status.name, "yes" if status.present else "no", str(status.location or "-"), ", ".join(status.files))
    Console().print(table)
    console.print(f"models folder (AUDIOMILL_MODELS_DIR): {settings.models_dir or '-'}")
    console.print(f"download cache: {settings.models_cache_dir}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
