"""What every engine sees and provides.

An engine is pure: it reads its inputs from local files, reports progress and checks for
cancellation through its :class:`EngineContext`, and writes its outputs to the paths the
context hands out. It imports nothing of HTTP, databases or queues, so the runner (for
the service) and the CLI (with no service) drive the same code.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

import numpy as np
from pydantic import BaseModel

from audiomill import kinds
from audiomill.config import Settings, get_settings
from audiomill.errors import InvalidInput, JobCancelled
from audiomill.kinds import KINDS as KINDS  # the registry tests and extensions patch
from audiomill.kinds import KindSpec

ParamsT = TypeVar("ParamsT", bound=BaseModel)


class EngineContext(Protocol[ParamsT]):
    """The engine's whole view of the world for one run."""

    params: ParamsT
    device: str  # "cpu" or "cuda[:N]"

    def input_path(self, name: str) -> Path:
        """Local path of the named input (e.g. "audio")."""

    def output_path(self, name: str, filename: str) -> Path:
        """Register an output and return the local path the engine must write it to.

        ``name`` is the output's key (e.g. "vocals"); ``filename`` is what a user sees
        when downloading it (e.g. "vocals.mp3"), its extension decides the media type.
        """

    def set_result(self, **values: Any) -> None:
        """Attach JSON-able values to the job's result (e.g. similarity_score)."""

    def progress(self, fraction: float, stage: str) -> None:
        """Report progress in [0, 1] with a short stage text."""

    def cancelled(self) -> bool:
        """True once the job was cancelled; engines check between chunks."""


def raise_if_cancelled(ctx: EngineContext[Any]) -> None:
    if ctx.cancelled():
        raise JobCancelled()


def counted_blocks(
    ctx: EngineContext[Any],
    blocks: Iterable[np.ndarray],
    total_frames: int,
    on_progress: Callable[[float], None],
) -> Iterator[np.ndarray]:
    """Pass (channels, n) blocks through, checking for cancellation and reporting the
    fraction of ``total_frames`` done after each block."""
    done = 0
    for block in blocks:
        raise_if_cancelled(ctx)
        yield block
        done += block.shape[1]
        on_progress(min(done / total_frames, 1.0))
    raise_if_cancelled(ctx)


@dataclass
class LocalContext(Generic[ParamsT]):
    """A plain context: inputs and outputs are files in folders the caller chose.

    The CLI uses it directly; the runner wraps it with DB-backed progress/cancellation.
    """

    params: ParamsT
    inputs: dict[str, Path]
    output_dir: Path
    device: str = "cpu"
    on_progress: Callable[[float, str], None] | None = None
    is_cancelled: Callable[[], bool] | None = None
    outputs: dict[str, tuple[Path, str]] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    # Where engines find models etc.; None: the process-wide get_settings().
    settings: Settings | None = None

    def input_path(self, name: str) -> Path:
        try:
            return self.inputs[name]
        except KeyError:
            raise InvalidInput(f"missing input {name!r}") from None

    def output_path(self, name: str, filename: str) -> Path:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        path = self.output_dir / filename
        self.outputs[name] = (path, filename)
        return path

    def set_result(self, **values: Any) -> None:
        self.result.update(values)

    def progress(self, fraction: float, stage: str) -> None:
        if self.on_progress is not None:
            self.on_progress(min(max(fraction, 0.0), 1.0), stage)

    def cancelled(self) -> bool:
        return bool(self.is_cancelled and self.is_cancelled())


class Engine(Protocol):
    """What an engine module exposes (see engines/separate.py for a real one).

    Its params and inputs are declared once, in the kind's spec (audiomill.kinds)."""

    def setup(self) -> None: ...

    def run(self, ctx: EngineContext[Any]) -> None: ...


def kind_spec(kind: str) -> KindSpec:
    return kinds.kind_spec(kind, get_settings().extra_kinds)


def engine_for(kind: str) -> Engine:
    return importlib.import_module(kind_spec(kind).engine)  # type: ignore[return-value]


def check_extra_kinds() -> None:
    """Import every configured extra kind now, so a typo fails the start, not a request."""
    for kind in get_settings().extra_kinds:
        try:
            kind_spec(kind)
        except (ImportError, AttributeError) as exc:
            raise InvalidInput(f"AUDIOMILL_EXTRA_KINDS: kind {kind!r} cannot be loaded: {exc}") from None
