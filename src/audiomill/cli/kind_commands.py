"""One command per job kind, derived from its KindSpec: an argument per input (files of a
single-input kind are a batch), an option per parameter with its default, choices, range
and description. The engine runs in this process, no server needed."""

from __future__ import annotations

import enum
import inspect
import json
import shutil
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import annotated_types
import typer
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from audiomill.numba_cache import claim_numba_cache_dir
from audiomill.config import get_settings
from audiomill.errors import AudiomillError
from audiomill.kinds import KindSpec

console = Console(stderr=True)

# Spellings the CLI had before it was derived from the specs; they keep working.
_OPTION_ALIASES: dict[str, tuple[str, ...]] = {
    "output_format": ("--format",),
    "bitrate_kbps": ("--bitrate",),
    "wav_bit_depth": ("--bit-depth",),
    "segment_seconds": ("--segment",),
    "duration_seconds": ("--duration",),
    "model": ("-n",),
}
_KIND_OPTION_ALIASES: dict[tuple[str, str], tuple[str, ...]] = {("boost", "boost_level"): ("--level",)}


@dataclass(frozen=True)
class OutputLayout:
    """Where a kind's files go by default: OUT/FOLDER/TRACK/ (FOLDER may name a param)."""

    out_dir: str
    folder: str  # a literal folder name, or "{param}" to use a parameter's value


# The layouts the first commands had; other kinds write to out/KIND/TRACK/.
_LAYOUTS: dict[str, OutputLayout] = {
    "separate": OutputLayout("separated", "{model}"),
    "vocals": OutputLayout("separated", "vocals"),
    "denoise": OutputLayout("processed", "denoised"),
    "boost": OutputLayout("processed", "boosted"),
    "extract_speaker": OutputLayout("processed", "extracted"),
}


def _layout(spec: KindSpec) -> OutputLayout:
    return _LAYOUTS.get(spec.name, OutputLayout("out", spec.name))


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def _choices(annotation: Any) -> dict[str, Any] | None:
    """Choice text -> the value the params model takes (Literal[16, 24] takes ints)."""
    if typing.get_origin(annotation) is Literal:
        return {str(v): v for v in typing.get_args(annotation)}
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return {str(member.value): member.value for member in annotation}
    return None


def _bounds(field: FieldInfo) -> tuple[dict[str, Any], str]:
    """Closed bounds as the option's range (shown by typer); open ones as help text (the
    params model refuses the bound itself)."""
    bounds: dict[str, Any] = {}
    notes = []
    for meta in field.metadata:
        if isinstance(meta, annotated_types.Ge):
            bounds["min"] = meta.ge
        elif isinstance(meta, annotated_types.Le):
            bounds["max"] = meta.le
        elif isinstance(meta, annotated_types.Gt):
            notes.append(f"> {meta.gt}")
        elif isinstance(meta, annotated_types.Lt):
            notes.append(f"< {meta.lt}")
    return bounds, " and ".join(notes)


@dataclass(frozen=True)
class ParamOption:
    """How one params field appears on the command line."""

    name: str
    annotation: Any
    info: Any  # a typer.Option or typer.Argument
    default: Any
    is_json: bool = False
    choice_values: dict[str, Any] | None = None


def _param_option(spec: KindSpec, name: str, field: FieldInfo, positional: bool) -> ParamOption:
    annotation, optional = _unwrap_optional(field.annotation)
    required = field.default is PydanticUndefined and field.default_factory is None
    default: Any = None if (required or field.default is PydanticUndefined) else field.default
    if isinstance(default, enum.Enum):
        default = default.value
    help_text = field.description or ""
    choices = _choices(annotation)
    kwargs: dict[str, Any] = {"help": help_text, "show_default": default is not None}
    is_json = False
    if annotation is bool:
        cli_type: Any = bool
    elif annotation in (int, float):
        cli_type = annotation
        bounds, notes = _bounds(field)
        kwargs.update(bounds)
        if notes:
            kwargs["help"] = f"{help_text} ({notes})".strip()
    elif choices is not None:
        # typer offers an Enum's values as the option's choices
        cli_type = enum.Enum(f"{spec.name}_{name}", [(c, c) for c in choices], type=str)  # type: ignore[misc]
        if default is not None:
            default = cli_type(str(default))
    elif annotation is str:
        cli_type = str
    elif typing.get_origin(annotation) is list and typing.get_args(annotation) in ((str,), (int,), (float,)):
        cli_type = list[typing.get_args(annotation)[0]]  # type: ignore[misc]
        kwargs["help"] = f"{help_text} (repeat the option for several)".strip()
        default = None
    else:
        cli_type, is_json = str, True
        kwargs["help"] = f"{help_text} (JSON)".strip()
        default = None if default is None else json.dumps(default)
    if positional:
        info = typer.Argument(help=help_text, show_default=False, metavar=name.upper())
        return ParamOption(name, cli_type, info, PydanticUndefined if required else default, is_json, choices)
    flag = "--" + name.replace("_", "-")
    aliases = _OPTION_ALIASES.get(name, ()) + _KIND_OPTION_ALIASES.get((spec.name, name), ())
    if annotation is bool:
        names: tuple[str, ...] = (f"{flag}/--no-{name.replace('_', '-')}",)
    else:
        names = (flag, *aliases)
    if optional or not required:
        cli_type = cli_type | None if cli_type is not bool else cli_type
    info = typer.Option(*names, **kwargs)
    return ParamOption(name, cli_type, info, PydanticUndefined if required else default, is_json, choices)


def _human(value: Any) -> str:
    if isinstance(value, float):
        text = f"{value:.3f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:.4g}"
        return "0" if text == "-0" else text
    return str(value)


def print_result(result: dict[str, Any], outputs: dict[str, Path]) -> None:
    """Rounded, scalar values for people (``--json`` prints them whole)."""
    scalars = {k: v for k, v in result.items() if v is not None and not isinstance(v, (list, dict))}
    if scalars:
        console.print("  " + ", ".join(f"{k}={_human(v)}" for k, v in scalars.items()))
    for name, path in outputs.items():
        console.print(f"  {name}: {path}")


def run_engine(
    spec: KindSpec, params: Any, inputs: dict[str, Path], output_dir: Path, label: str, show_progress: bool = True
) -> tuple[dict[str, Any], dict[str, Path]]:
    """Run one engine in this process with a progress bar; return (result, outputs)."""
    claim_numba_cache_dir()  # engines run in this process: see audiomill.numba_cache
    from audiomill.engines.base import LocalContext, engine_for
    from audiomill.engines.torch_runtime import select_device

    engine = engine_for(spec.name)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[stage]}"),
        console=console,
        disable=not show_progress,
    ) as bar:
        task = bar.add_task(label, total=100, stage="starting")
        ctx = LocalContext(
            params=params,
            inputs=inputs,
            output_dir=output_dir,
            device=select_device(get_settings()),
            on_progress=lambda fraction, stage: bar.update(task, completed=fraction * 100, stage=stage),
        )
        engine.setup()
        engine.run(ctx)
        bar.update(task, completed=100, stage="done")
    return ctx.result, {name: path for name, (path, _) in ctx.outputs.items()}


def _collect_params(options: Sequence[ParamOption], values: dict[str, Any]) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for option in options:
        value = values.get(option.name)
        if value is None or (isinstance(value, list) and not value):
            continue
        if isinstance(value, enum.Enum):
            value = value.value
        if option.choice_values is not None:
            value = option.choice_values.get(str(value), value)
        if option.is_json:
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise AudiomillError(f"--{option.name.replace('_', '-')} must be JSON: {exc.msg}") from None
        raw[option.name] = value
    return raw


def _out_help(spec: KindSpec, layout: OutputLayout) -> str:
    text = f"output folder; files go to OUT/{layout.folder.strip('{}').upper()}/NAME/"
    if spec.cli_file_output:
        text += (
            f"; or a file name with an extension (e.g. clip.mp4): the {spec.cli_file_output} goes there, "
            "the other outputs beside it (clip.<their name>)"
        )
    return text


def make_command(spec: KindSpec) -> Callable[..., None]:
    """A typer command function for the kind, its signature built from the spec."""
    layout = _layout(spec)
    options = [
        _param_option(spec, name, field, positional=name in spec.cli_arguments)
        for name, field in spec.params.model_fields.items()
    ]
    batch = len(spec.inputs) == 1
    parameters: list[inspect.Parameter] = []
    if batch:
        item = spec.inputs[0]
        parameters.append(
            inspect.Parameter(
                "files",
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                annotation=Annotated[
                    list[Path],
                    typer.Argument(
                        help=f"{item.description or item.media} ({item.media} files; each is a job)",
                        exists=True,
                        dir_okay=False,
                        metavar="FILES...",
                    ),
                ],
            )
        )
    else:
        for item in spec.inputs:
            info = (
                typer.Argument(
                    help=item.description or item.media, exists=True, dir_okay=False, metavar=item.name.upper()
                )
                if item.required
                else typer.Option(
                    f"--{item.name.replace('_', '-')}", help=item.description, exists=True, dir_okay=False
                )
            )
            parameters.append(
                inspect.Parameter(
                    f"input_{item.name}",
                    inspect.Parameter.POSITIONAL_OR_KEYWORD,
                    annotation=Annotated[Path if item.required else Path | None, info],
                    default=inspect.Parameter.empty if item.required else None,
                )
            )
    ordered = sorted(
        options,
        key=lambda o: (
            o.name not in spec.cli_arguments,
            spec.cli_arguments.index(o.name) if o.name in spec.cli_arguments else 0,
        ),
    )
    for option in ordered:
        parameters.append(
            inspect.Parameter(
                f"param_{option.name}",
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                annotation=Annotated[option.annotation, option.info],
                default=inspect.Parameter.empty if option.default is PydanticUndefined else option.default,
            )
        )
    parameters.append(
        inspect.Parameter(
            "out",
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            annotation=Annotated[
                Path,
                typer.Option("-o", "--out", help=_out_help(spec, layout)),
            ],
            default=Path(layout.out_dir),
        )
    )
    parameters.append(
        inspect.Parameter(
            "as_json",
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            annotation=Annotated[bool, typer.Option("--json", help="print results as JSON on stdout (full precision)")],
            default=False,
        )
    )
    # Parameters with defaults must follow those without.
    parameters.sort(key=lambda p: p.default is not inspect.Parameter.empty)

    def command(**values: Any) -> None:
        _run_kind(spec, layout, options, batch, values)

    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    command.__doc__ = spec.summary + "."
    command.__name__ = spec.command.replace("-", "_")
    return command


def _run_kind(
    spec: KindSpec, layout: OutputLayout, options: Sequence[ParamOption], batch: bool, values: dict[str, Any]
) -> None:
    from audiomill.jobs.service import validate_params

    as_json = values.pop("as_json")
    out: Path = values.pop("out")
    param_values = {k.removeprefix("param_"): v for k, v in values.items() if k.startswith("param_")}
    try:
        params = validate_params(spec.name, _collect_params(options, param_values))
    except AudiomillError as exc:
        console.print(f"[bold red]error:[/] {exc.message}")
        raise typer.Exit(code=2) from None
    folder = layout.folder
    if folder.startswith("{"):
        folder = str(getattr(params, folder.strip("{}")))
    if batch:
        runs = [({spec.inputs[0].name: path}, path) for path in values["files"]]
    else:
        inputs = {i.name: values[f"input_{i.name}"] for i in spec.inputs if values.get(f"input_{i.name}") is not None}
        first = next(iter(inputs.values()), None)
        runs = [(inputs, first)]
    to_file = bool(spec.cli_file_output and out.suffix)
    if to_file and len(runs) > 1:
        console.print(f"[bold red]error:[/] -o {out} names one file; give a folder for {len(runs)} inputs")
        raise typer.Exit(code=2)
    failures = 0
    reports: list[dict[str, Any]] = []
    for inputs, path in runs:
        name = path.stem if path is not None else _label(spec, params)
        try:
            result, outputs = run_engine(
                spec,
                params,
                inputs,
                out.parent / f".{out.name}.parts" if to_file else out / folder / name,
                path.name if path is not None else spec.name,
                show_progress=not as_json,
            )
            if to_file:
                outputs = _place_beside(outputs, spec.cli_file_output, out)
        except AudiomillError as exc:
            if to_file:
                shutil.rmtree(out.parent / f".{out.name}.parts", ignore_errors=True)
            failures += 1
            console.print(f"[bold red]error:[/] {path.name if path else spec.name}: {exc.message}")
            reports.append({"input": str(path) if path else None, "error": exc.message})
            continue
        reports.append(
            {"input": str(path) if path else None, "result": result, "outputs": {k: str(v) for k, v in outputs.items()}}
        )
        if not as_json:
            print_result(result, outputs)
    if as_json:
        print(json.dumps(reports if batch else reports[0], indent=2))
    if failures:
        if len(runs) > 1:
            console.print(f"[bold red]{failures} of {len(runs)} files failed[/]")
        raise typer.Exit(code=1)


def _place_beside(outputs: dict[str, Path], primary: str, target: Path) -> dict[str, Path]:
    """``-o clip.mp4``: the primary output becomes clip.mp4, the others clip.<name>."""
    placed: dict[str, Path] = {}
    for name, path in outputs.items():
        destination = target if name == primary else target.with_name(f"{target.stem}.{path.name}")
        path.replace(destination)
        placed[name] = destination
    parts = next(iter(outputs.values()), None)
    if parts is not None:
        shutil.rmtree(parts.parent, ignore_errors=True)
    return placed


def _label(spec: KindSpec, params: Any) -> str:
    """A folder name for a run with no input file (e.g. generation): its positional text
    parameter (the prompt), else its first text parameter."""
    values = params.model_dump()
    ordered = [values[name] for name in spec.cli_arguments if name in values] + list(values.values())
    for value in ordered:
        if isinstance(value, str) and value.strip():
            safe = "".join(c if c.isalnum() or c in "-_ " else "_" for c in value.strip())[:40].strip()
            return safe.replace(" ", "_") or "run"
    return "run"


def add_kind_commands(app: typer.Typer, specs: Sequence[KindSpec]) -> None:
    for spec in specs:
        if any(item.name == "*" for item in spec.inputs):
            continue  # inputs named by the caller (mixdown): driven by its own commands
        app.command(spec.command, help=spec.summary + ".")(make_command(spec))
