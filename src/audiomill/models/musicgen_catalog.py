"""Which MusicGen models exist, their licence, and where their weights are on disk.

Torch-free (the API and ``audiomill models`` import it): it only looks at folders and,
when downloads are allowed, fetches a Hugging Face snapshot.

A model's folder is the Hugging Face layout of its repo (``facebook/musicgen-small``):
``config.json``, ``generation_config.json``, the weights (``model.safetensors``, or
``model.safetensors.index.json`` and its shards) and the T5 tokenizer (``tokenizer.json``
or ``spiece.model``, with ``tokenizer_config.json``). Resolution order:

1. ``AUDIOMILL_MODELS_DIR/facebook/musicgen-small`` (or ``AUDIOMILL_MODELS_DIR/musicgen-small``);
2. the Hugging Face cache under ``AUDIOMILL_MODELS_CACHE_DIR/huggingface``, then the user's
   own Hugging Face cache (read only);
3. a download of the snapshot into ``AUDIOMILL_MODELS_CACHE_DIR/huggingface`` when
   ``AUDIOMILL_MODELS_DOWNLOAD`` is true; otherwise :class:`ModelUnavailable` at once,
   naming the folder and the files to put there.

The weights are CC-BY-NC-4.0 (non-commercial): no MusicGen model is ever the default.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from audiomill.config import Settings
from audiomill.errors import InvalidInput, ModelUnavailable

LICENCE = "CC-BY-NC-4.0"
LICENCE_NOTE = "MusicGen weights are CC-BY-NC-4.0: non-commercial use only (Meta AI)"

# Files a snapshot download fetches: configs, safetensors weights, the tokenizer. The repos
# also carry pytorch_model.bin and audiocraft checkpoints, which would double the download.
DOWNLOAD_PATTERNS = ("*.json", "*.safetensors", "spiece.model")
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
)
TOKENIZER_FILES = ("tokenizer.json", "spiece.model")
REQUIRED_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer_config.json",
    "tokenizer.json or spiece.model",
)


@dataclass(frozen=True)
class MusicgenModelInfo:
    """One MusicGen checkpoint as users choose it (``model=musicgen-small``)."""

    name: str
    repo_id: str
    parameters: str  # the language model's size, as Meta names it
    approx_download_gb: float  # the safetensors snapshot, approximate
    licence: str
    conditioning: str  # "text" or "text+melody"
    description: str


MUSICGEN_MODELS: dict[str, MusicgenModelInfo] = {
    info.name: info
    for info in (
        MusicgenModelInfo(
            "musicgen-small",
            "facebook/musicgen-small",
            "300M",
            2.4,
            LICENCE,
            "text",
            "fastest; 32 kHz mono",
        ),
        MusicgenModelInfo(
            "musicgen-medium",
            "facebook/musicgen-medium",
            "1.5B",
            8.0,
            LICENCE,
            "text",
            "better quality, about 3x slower than small; 32 kHz mono",
        ),
        MusicgenModelInfo(
            "musicgen-large",
            "facebook/musicgen-large",
            "3.3B",
            13.0,
            LICENCE,
            "text",
            "best text-to-music quality, needs a GPU with 16 GB; 32 kHz mono",
        ),
        MusicgenModelInfo(
            "musicgen-melody",
            "facebook/musicgen-melody",
            "1.5B",
            6.5,
            LICENCE,
            "text+melody",
            "follows the melody (chroma) of a recording (hum_to_beat); text alone through generate; 32 kHz mono",
        ),
    )
}


@dataclass(frozen=True)
class MusicgenModelStatus:
    """One row of ``audiomill models`` for a MusicGen checkpoint."""

    name: str
    repo_id: str
    present: bool
    location: Path | None  # the folder used when present, else where a download would go
    files: tuple[str, ...]
    missing: tuple[str, ...]
    licence: str
    parameters: str
    approx_download_gb: float
    description: str


def model_info(name: str) -> MusicgenModelInfo:
    try:
        return MUSICGEN_MODELS[name]
    except KeyError:
        raise InvalidInput(f"unknown MusicGen model {name!r}; known: {', '.join(sorted(MUSICGEN_MODELS))}") from None


def hub_cache_dir(settings: Settings) -> Path:
    """audiomill's own Hugging Face cache (the hub's ``models--org--name`` layout)."""
    return settings.models_cache_dir / "huggingface"


def local_folders(info: MusicgenModelInfo, settings: Settings) -> list[Path]:
    """Plain folders (Hugging Face repo layout) that may hold the model, in order."""
    if settings.models_dir is None:
        return []
    return [settings.models_dir / info.repo_id, settings.models_dir / info.name]


def missing_files(folder: Path) -> tuple[str, ...]:
    """What ``folder`` lacks to load with ``from_pretrained(folder, local_files_only=True)``."""
    if not folder.is_dir():
        return REQUIRED_FILES
    missing = []
    if not (folder / "config.json").is_file():
        missing.append("config.json")
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        missing.append("model.safetensors")
    if not (folder / "tokenizer_config.json").is_file():
        missing.append("tokenizer_config.json")
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        missing.append("tokenizer.json or spiece.model")
    return tuple(missing)


def _cached_snapshot(repo_id: str, cache_dir: Path | None) -> Path | None:
    """The newest complete snapshot of ``repo_id`` in a hub cache, without any network."""
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError
    except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
        return None
    try:
        folder = snapshot_download(repo_id, cache_dir=cache_dir, local_files_only=True)
    except (LocalEntryNotFoundError, OSError, ValueError):
        return None
    path = Path(folder)
    return path if not missing_files(path) else None


def find_local(name: str, settings: Settings) -> Path | None:
    """A folder on disk holding every file ``name`` needs, or None."""
    info = model_info(name)
    for folder in local_folders(info, settings):
        if not missing_files(folder):
            return folder
    for cache_dir in (hub_cache_dir(settings), None):  # None: the user's own HF cache
        snapshot = _cached_snapshot(info.repo_id, cache_dir)
        if snapshot is not None:
            return snapshot
    return None


def resolve(name: str, settings: Settings) -> Path:
    """The folder to load ``name`` from; downloads it when allowed, else fails at once."""
    info = model_info(name)
    found = find_local(name, settings)
    if found is not None:
        return found
    if not settings.models_download:
        raise ModelUnavailable(_missing_message(info, settings, downloads_on=False))
    return _download(info, settings)


def _download(info: MusicgenModelInfo, settings: Settings) -> Path:
    from huggingface_hub import snapshot_download

    try:
        folder = Path(
            snapshot_download(
                info.repo_id,
                cache_dir=hub_cache_dir(settings),
                allow_patterns=list(DOWNLOAD_PATTERNS),
            )
        )
    # The hub raises many types (offline, HTTP, disk); the fix is the same for all.
    except Exception as exc:  # noqa: BLE001
        raise ModelUnavailable(
            f"could not download {info.repo_id} ({type(exc).__name__}: {exc}). "
            + _missing_message(info, settings, downloads_on=True)
        ) from None
    lacking = missing_files(folder)
    if lacking:
        raise ModelUnavailable(
            f"the download of {info.repo_id} into {folder} lacks {', '.join(lacking)}. "
            + _missing_message(info, settings, downloads_on=True)
        )
    return folder


def _missing_message(info: MusicgenModelInfo, settings: Settings, downloads_on: bool) -> str:
    if settings.models_dir is not None:
        target = f"{settings.models_dir / info.repo_id} (AUDIOMILL_MODELS_DIR/{info.repo_id})"
    else:
        target = f"AUDIOMILL_MODELS_DIR/{info.repo_id} (set AUDIOMILL_MODELS_DIR to a folder)"
    message = (
        f"weights for model {info.name!r} are missing. Put the files of the Hugging Face repo "
        f"{info.repo_id} ({', '.join(REQUIRED_FILES)}; about {info.approx_download_gb:g} GB) in "
        f"{target}, e.g. `huggingface-cli download {info.repo_id} --local-dir <that folder>`. "
        f"Licence: {LICENCE_NOTE}."
    )
    if not downloads_on:
        message += " Downloads are off (AUDIOMILL_MODELS_DOWNLOAD=false)."
    return message


def check_request(name: str, settings: Settings, *, melody_input: bool = False) -> None:
    """Checks at submission (no torch, no network): a job asking for ``name`` is refused with
    a 422 when it could only fail: an unknown model, a text-only one where the kind has a
    melody to follow (``hum_to_beat``), or weights absent while downloads are off.
    MusicGen-melody without a melody (``generate``) is text to music, as MusicGen-melody
    itself allows."""
    info = model_info(name)
    takes_melody = info.conditioning == "text+melody"
    if melody_input and not takes_melody:
        raise InvalidInput(
            f"model {name!r} cannot follow a melody; use musicgen-melody (or the composer). Licence: {LICENCE_NOTE}"
        )
    if not settings.models_download and find_local(name, settings) is None:
        raise InvalidInput(_missing_message(info, settings, downloads_on=False))


def list_models(settings: Settings) -> list[MusicgenModelStatus]:
    """Every MusicGen model with whether its files are on disk, for ``audiomill models``."""
    rows = []
    for info in MUSICGEN_MODELS.values():
        found = find_local(info.name, settings)
        if found is not None:
            files = tuple(sorted(p.name for p in found.iterdir() if p.is_file()))
            rows.append(_row(info, True, found, files, ()))
            continue
        folders = local_folders(info, settings)
        location = folders[0] if folders else hub_cache_dir(settings)
        rows.append(_row(info, False, location, REQUIRED_FILES, missing_files(location)))
    return rows


def _row(
    info: MusicgenModelInfo,
    present: bool,
    location: Path | None,
    files: tuple[str, ...],
    missing: tuple[str, ...],
) -> MusicgenModelStatus:
    return MusicgenModelStatus(
        name=info.name,
        repo_id=info.repo_id,
        present=present,
        location=location,
        files=files,
        missing=missing,
        licence=info.licence,
        parameters=info.parameters,
        approx_download_gb=info.approx_download_gb,
        description=info.description,
    )
