"""The ``audiomill`` command: it parses arguments and calls the same services and engines
the HTTP API uses. Engines run in this process, no server needed."""

from __future__ import annotations

import logging
import os
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


def _fail(message: str) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=1)


@app.command()
def serve(
    host: Annotated[Optional[str], typer.Option(help="address to bind (AUDIOMILL_HOST)")] = None,
    port: Annotated[Optional[int], typer.Option(help="port (AUDIOMILL_PORT)")] = None,
    workers: Annotated[Optional[int], typer.Option(help="jobs run at once (AUDIOMILL_WORKER_CONCURRENCY)")] = None,
) -> None:
    """Serve the HTTP API, the seed APIs and the web page."""
    import uvicorn

    from audiomill.api.app import create_app

    if workers is not None:
        os.environ["AUDIOMILL_WORKER_CONCURRENCY"] = str(workers)
        reset_settings_cache()
    settings = get_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(create_app(settings), host=host or settings.host, port=port or settings.port)


def _run_engine_with_progress(kind: str, params: object, inputs: dict[str, Path], output_dir: Path, label: str) -> dict[str, Path]:
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
    return {name: path for name, (path, _) in ctx.outputs.items()}


@app.command()
def separate(
    files: Annotated[list[Path], typer.Argument(help="audio files (any format PyAV decodes)", exists=True, dir_okay=False)],
    out: Annotated[Path, typer.Option("-o", "--out", help="output folder; stems go to OUT/MODEL/TRACK/")] = Path("separated"),
    model: Annotated[str, typer.Option("-n", "--model", help="htdemucs, htdemucs_ft, htdemucs_6s, mdx_extra, …")] = "htdemucs",
    two_stems: Annotated[Optional[str], typer.Option(help="only STEM and its complement, e.g. vocals")] = None,
    shifts: Annotated[int, typer.Option(help="random-shift passes averaged (slower, a bit better)")] = 1,
    overlap: Annotated[float, typer.Option(help="overlap between model segments")] = 0.25,
    segment: Annotated[Optional[float], typer.Option(help="segment length in seconds (default: the model's)")] = None,
    output_format: Annotated[str, typer.Option("--format", help="wav, flac, mp3 or m4a")] = "wav",
    bitrate: Annotated[int, typer.Option(help="mp3/m4a bitrate in kbps")] = 320,
    bit_depth: Annotated[int, typer.Option(help="wav: 16, 24, or 32 (float)")] = 16,
    clip_mode: Annotated[str, typer.Option(help="rescale, clamp or none")] = "rescale",
    residual: Annotated[bool, typer.Option(help="make the stems sum back to the mix")] = False,
) -> None:
    """Separate FILES into stems with a Demucs model, locally."""
    from audiomill.jobs.service import validate_params

    try:
        params = validate_params("separate", {
            "model": model, "two_stems": two_stems, "shifts": shifts, "overlap": overlap,
            "segment_seconds": segment, "output_format": output_format, "bitrate_kbps": bitrate,
            "wav_bit_depth": bit_depth, "clip_mode": clip_mode, "residual": residual,
        })
        for path in files:
            track_dir = out / model / path.stem
            outputs = _run_engine_with_progress("separate", params, {"audio": path}, track_dir, path.name)
            for name, stem_path in outputs.items():
                console.print(f"  {name}: {stem_path}")
    except AudiomillError as exc:
        raise _fail(exc.message) from None


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
