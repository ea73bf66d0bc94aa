"""Where Demucs weights come from: a local folder, the download cache, or demucs' remote.

Both folders use the layout of demucs' ``--repo``: ``NAME.yaml`` (``models: [SIG, ...]``,
optional ``weights`` / ``segment``) beside ``SIG.th`` or ``SIG-CHECKSUM.th`` checkpoints
in demucs' own format. Loading goes through demucs' own repo classes
(``LocalRepo`` / ``BagOnlyRepo`` / ``AnyModelRepo``) so checksums, bags and segment
overrides behave exactly as in demucs.

We never call ``demucs.pretrained.get_model(name)`` without a repo: it first tries the
HuggingFace hub, which offline retries for ~20 s. Instead, missing weights are fetched
from demucs' legacy remote (the URLs in ``demucs/remote/files.txt``) with a plain HTTP GET
when downloads are allowed, and otherwise fail at once with :class:`ModelUnavailable`
naming the file(s) and the folder to put them in.

Resolution order for a name: ``settings.models_dir`` → ``settings.models_cache_dir`` →
download into ``settings.models_cache_dir`` (when ``settings.models_download``).
"""

from __future__ import annotations

import hashlib
import importlib.resources
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from collections.abc import Callable

import yaml

from audiomill.config import Settings
from audiomill.errors import InvalidInput, ModelUnavailable
from audiomill.models import cache

if TYPE_CHECKING:
    from demucs.apply import BagOfModels

# Seconds a stalled connection may stay silent before the download is abandoned.
DOWNLOAD_TIMEOUT_SECONDS = 15.0
_DOWNLOAD_BLOCK_BYTES = 1 << 20

# The folder shipped inside the demucs wheel with files.txt and one yaml per named model.
# Module-level so tests can point it at their own index (with a local URL).
REMOTE_INDEX_DIR: Path = Path(str(importlib.resources.files("demucs") / "remote"))

# (bytes_done, bytes_total or None) while a checkpoint downloads.
DownloadProgress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class ModelStatus:
    """One named model, as ``audiomill models`` shows it."""

    name: str
    present: bool
    # The folder holding it when present, else where a download would put it.
    location: Path | None
    files: tuple[str, ...]  # every file the model needs (yaml first)
    missing: tuple[str, ...]  # the subset not found in any folder


@dataclass(frozen=True)
class ResolvedModel:
    """A model whose checkpoints are all on local disk."""

    name: str
    checkpoints_dir: Path  # where the .th files are (a LocalRepo root)
    bag_dir: Path  # where NAME.yaml is read: checkpoints_dir, or demucs' bundled copy
    checkpoint_paths: tuple[Path, ...]

    def cache_key(self, device: str) -> tuple[object, ...]:
        # File identity in the key: replacing a checkpoint on disk loads the new one.
        stamps = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in self.checkpoint_paths)
        return ("demucs", self.name, device, str(self.bag_dir), stamps)


@dataclass(frozen=True)
class _Spec:
    """What a name needs, read from one yaml (or a bare signature)."""

    signatures: tuple[str, ...]
    bag_dir: Path | None  # None: the name is itself a signature (single model)


# ---------------------------------------------------------------- remote index


def _remote_checkpoints() -> dict[str, str]:
    """Signature -> path relative to the remote root, e.g. ``hybrid_transformer/955717e8-8726e21a.th``.

    Same grammar as ``demucs.pretrained._parse_remote_files`` (``root:`` lines prefix the
    following files), without baking in the root URL so a mirror can be configured.
    """
    index = REMOTE_INDEX_DIR / "files.txt"
    if not index.is_file():
        return {}
    root = ""
    checkpoints: dict[str, str] = {}
    for raw in index.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("root:"):
            root = line.split(":", 1)[1].strip()
        else:
            checkpoints[line.split("-", 1)[0]] = root + line
    return checkpoints


def _remote_bag_names() -> list[str]:
    return sorted(p.stem for p in REMOTE_INDEX_DIR.glob("*.yaml"))


def _base_url(settings: Settings) -> str:
    configured = getattr(settings, "models_url", None)
    if configured:
        return str(configured)
    from demucs.pretrained import ROOT_URL  # imports torch: only when downloading

    return ROOT_URL


# ---------------------------------------------------------------- local folders


def _folders(settings: Settings) -> list[Path]:
    folders = [settings.models_dir] if settings.models_dir is not None else []
    folders.append(settings.models_cache_dir)
    return folders


def _find_checkpoint(folder: Path, signature: str) -> Path | None:
    """The file demucs' ``LocalRepo.scan`` would pick for ``signature`` in ``folder``."""
    if not folder.is_dir():
        return None
    for path in folder.iterdir():
        if path.suffix != ".th":
            continue
        stem_sig = path.stem.rsplit("-", 1)[0] if "-" in path.stem else path.stem
        if stem_sig == signature:
            return path
    return None


def _read_bag(yaml_path: Path) -> tuple[str, ...]:
    try:
        bag = yaml.safe_load(yaml_path.read_text())
        return tuple(str(sig) for sig in bag["models"])
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise ModelUnavailable(
            f"{yaml_path} is not a demucs model list (expected 'models: [SIG, ...]'): {exc}"
        ) from None


def _spec_in(folder: Path | None, name: str) -> _Spec | None:
    """What ``name`` needs when read from ``folder`` (its own yaml, else demucs' bundled one)."""
    if folder is not None and (folder / f"{name}.yaml").is_file():
        return _Spec(_read_bag(folder / f"{name}.yaml"), folder)
    bundled = REMOTE_INDEX_DIR / f"{name}.yaml"
    if bundled.is_file():
        return _Spec(_read_bag(bundled), REMOTE_INDEX_DIR)
    if folder is not None and _find_checkpoint(folder, name) is not None:
        return _Spec((name,), None)
    if folder is None and name in _remote_checkpoints():
        return _Spec((name,), None)
    return None


def _expected_filename(signature: str) -> str:
    relative = _remote_checkpoints().get(signature)
    return relative.rsplit("/", 1)[-1] if relative else f"{signature}.th"


def known_model_names(settings: Settings) -> list[str]:
    """Named models (bags) available from any folder or from demucs' remote index."""
    names = set(_remote_bag_names())
    for folder in _folders(settings):
        if folder.is_dir():
            names.update(p.stem for p in folder.glob("*.yaml"))
    return sorted(names)


def _try_folder(folder: Path, name: str) -> ResolvedModel | None:
    spec = _spec_in(folder, name)
    if spec is None:
        return None
    found = [_find_checkpoint(folder, sig) for sig in spec.signatures]
    if any(path is None for path in found):
        return None
    return ResolvedModel(
        name=name,
        checkpoints_dir=folder,
        bag_dir=spec.bag_dir if spec.bag_dir is not None else folder,
        checkpoint_paths=tuple(p for p in found if p is not None),
    )


# ---------------------------------------------------------------- resolve / fetch


def resolve_model(name: str, settings: Settings, on_download: DownloadProgress | None = None) -> ResolvedModel:
    """Find (or fetch) every file ``name`` needs; raise fast when that is impossible."""
    folders = _folders(settings)
    if all(_spec_in(folder, name) is None for folder in folders) and _spec_in(None, name) is None:
        raise InvalidInput(f"unknown model {name!r}; known models: {', '.join(known_model_names(settings))}")
    for folder in folders:
        resolved = _try_folder(folder, name)
        if resolved is not None:
            return resolved

    spec = _primary_spec(name, folders)
    if spec is None:  # e.g. a bare signature file vanished between the checks above
        raise ModelUnavailable(_missing_message(name, settings, [name], downloadable=False))
    missing_everywhere = [sig for sig in spec.signatures if all(_find_checkpoint(f, sig) is None for f in folders)]
    # Checkpoints split across folders do not load (one folder is one demucs repo): then
    # every checkpoint is "missing" from the folder that would be used.
    missing = missing_everywhere or list(spec.signatures)
    remote = _remote_checkpoints()
    cache_dir = settings.models_cache_dir
    to_fetch = [sig for sig in spec.signatures if _find_checkpoint(cache_dir, sig) is None]
    downloadable = all(sig in remote for sig in to_fetch)
    if not settings.models_download or not downloadable:
        raise ModelUnavailable(_missing_message(name, settings, missing, downloadable))

    base_url = _base_url(settings)
    for sig in to_fetch:
        _download(base_url.rstrip("/") + "/" + remote[sig], cache_dir, name, settings, on_download)
    _keep_bag_yaml(name, spec, cache_dir)
    resolved = _try_folder(cache_dir, name)
    if resolved is None:  # a concurrent cleanup removed files under us
        raise ModelUnavailable(_missing_message(name, settings, missing, downloadable=True))
    return resolved


def _primary_spec(name: str, folders: list[Path]) -> _Spec | None:
    """The yaml a user wrote wins over demucs' bundled copy; else bundled, else a signature."""
    for folder in folders:
        if (folder / f"{name}.yaml").is_file():
            return _spec_in(folder, name)
    return _spec_in(None, name)


def _keep_bag_yaml(name: str, spec: _Spec, cache_dir: Path) -> None:
    """Copy demucs' bundled NAME.yaml into the cache so that folder is a complete --repo."""
    target = cache_dir / f"{name}.yaml"
    if spec.bag_dir is not None and spec.bag_dir != cache_dir and not target.exists():
        _atomic_write(target, (spec.bag_dir / f"{name}.yaml").read_bytes())


def _atomic_write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _download(url: str, cache_dir: Path, name: str, settings: Settings, on_download: DownloadProgress | None) -> Path:
    """GET ``url`` into ``cache_dir``, verifying demucs' sha256-prefix checksum when named."""
    filename = url.rsplit("/", 1)[-1]
    target = cache_dir / filename
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=cache_dir, prefix=f".{filename}.", suffix=".part")
    tmp = Path(tmp_name)
    sha = hashlib.sha256()
    try:
        with (
            os.fdopen(fd, "wb") as out,
            urllib.request.urlopen(  # noqa: S310 (https/http URL from our index)
                url, timeout=DOWNLOAD_TIMEOUT_SECONDS
            ) as response,
        ):
            total = response.length
            done = 0
            while block := response.read(_DOWNLOAD_BLOCK_BYTES):
                out.write(block)
                sha.update(block)
                done += len(block)
                if on_download is not None:
                    on_download(done, total)
        stem = Path(filename).stem
        if "-" in stem:
            expected = stem.rsplit("-", 1)[1]
            actual = sha.hexdigest()[: len(expected)]
            if actual != expected:
                raise ModelUnavailable(
                    f"downloaded {url} but its checksum is {actual}, expected {expected}; "
                    f"the file was discarded. Put a good copy of {filename} in {cache_dir}."
                )
        os.replace(tmp, target)
        return target
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ModelUnavailable(
            f"could not download {url} ({reason}). " + _placement_hint(name, settings, [filename])
        ) from None
    finally:
        tmp.unlink(missing_ok=True)


def _placement_hint(name: str, settings: Settings, filenames: list[str]) -> str:
    folders = [f"{settings.models_cache_dir} (AUDIOMILL_MODELS_CACHE_DIR)"]
    if settings.models_dir is not None:
        folders.insert(0, f"{settings.models_dir} (AUDIOMILL_MODELS_DIR)")
    return (
        f"Put {', '.join(filenames)} (and optionally {name}.yaml; demucs' copy is used when "
        f"absent) in {' or '.join(folders)}."
    )


def _missing_message(name: str, settings: Settings, missing: list[str], downloadable: bool) -> str:
    filenames = [_expected_filename(sig) for sig in missing]
    remote = _remote_checkpoints()
    message = f"weights for model {name!r} are missing: {', '.join(filenames)}. "
    message += _placement_hint(name, settings, filenames)
    if downloadable:
        urls = ", ".join(f"{_DISPLAY_ROOT}{remote[sig]}" for sig in missing)
        if settings.models_download:
            message += f" They are fetched from {urls}."
        else:
            message += f" Downloads are off (AUDIOMILL_MODELS_DOWNLOAD=false); get them from {urls}."
    return message


# demucs.pretrained.ROOT_URL, spelled out so an error message does not import torch.
_DISPLAY_ROOT = "https://dl.fbaipublicfiles.com/demucs/"


# ---------------------------------------------------------------- loading


def load_resolved(resolved: ResolvedModel) -> BagOfModels:
    """Build the model with demucs' own repo classes (checksums, bag weights, segment)."""
    from demucs.apply import BagOfModels
    from demucs.repo import AnyModelRepo, BagOnlyRepo, LocalRepo, ModelLoadingError

    try:
        model_repo = LocalRepo(resolved.checkpoints_dir)
        any_repo = AnyModelRepo(model_repo, BagOnlyRepo(resolved.bag_dir, model_repo))
        model = any_repo.get_model(resolved.name)
    except ModelLoadingError as exc:
        raise ModelUnavailable(f"cannot load model {resolved.name!r}: {exc}") from None
    except ImportError as exc:
        if "diffq" in str(exc):
            raise ModelUnavailable(
                f"model {resolved.name!r} is quantized and needs the 'diffq' package "
                "(pip install diffq), or use the unquantized model (e.g. mdx_extra)"
            ) from None
        raise
    except Exception as exc:  # an unreadable pickle can raise anything; the fix is the same
        paths = ", ".join(str(p) for p in resolved.checkpoint_paths)
        raise ModelUnavailable(
            f"cannot read the checkpoint(s) of model {resolved.name!r} ({paths}): {exc!r}; "
            "delete them and fetch them again"
        ) from None
    if not isinstance(model, BagOfModels):  # a bare signature: treat as a bag of one
        model = BagOfModels([model])
    model.eval()
    return model


def get_model(
    name: str,
    settings: Settings,
    device: str = "cpu",
    on_download: DownloadProgress | None = None,
) -> BagOfModels:
    """The warm model for ``name`` on ``device``: resolved every call, loaded once."""
    resolved = resolve_model(name, settings, on_download)

    def load() -> BagOfModels:
        return load_resolved(resolved).to(device)

    return cache.get_or_load(resolved.cache_key(device), load)


# ---------------------------------------------------------------- listing


def list_models(settings: Settings) -> list[ModelStatus]:
    """Every known model with whether its files are on disk, for ``audiomill models``."""
    statuses = []
    for name in known_model_names(settings):
        statuses.append(_status(name, settings))
    return statuses


def _status(name: str, settings: Settings) -> ModelStatus:
    folders = _folders(settings)
    for folder in folders:
        resolved = _try_folder(folder, name)
        if resolved is not None:
            files = (f"{name}.yaml", *(p.name for p in resolved.checkpoint_paths))
            return ModelStatus(name, True, folder, files, ())
    spec = _primary_spec(name, folders)
    signatures = spec.signatures if spec is not None else ()
    missing = tuple(
        _expected_filename(sig) for sig in signatures if all(_find_checkpoint(f, sig) is None for f in folders)
    )
    files = (f"{name}.yaml", *(_expected_filename(sig) for sig in signatures))
    # Absent models would be downloaded into the cache folder.
    return ModelStatus(name, False, settings.models_cache_dir, files, missing)


# ---------------------------------------------------------------- submission checks

# Stems of demucs' named models, from their published configs: known without loading them.
_FOUR_STEMS = ("drums", "bass", "other", "vocals")
NAMED_MODEL_SOURCES: dict[str, tuple[str, ...]] = {
    "htdemucs_6s": ("drums", "bass", "other", "vocals", "guitar", "piano"),
}


def check_request(model: str, two_stems: str | None, settings: Settings) -> None:
    """What can be known before a job runs: the model exists, has the stem asked for, and
    its weights are here (or may be fetched). Raises InvalidInput / ModelUnavailable."""
    known = known_model_names(settings)
    if model not in known:
        raise InvalidInput(f"unknown model {model!r}; known models: {', '.join(known)}")
    # A model from the user's own folder may have any stems: its weights tell, at run time.
    sources = NAMED_MODEL_SOURCES.get(model, _FOUR_STEMS) if model in _remote_bag_names() else None
    if two_stems and sources is not None and two_stems not in sources:
        raise InvalidInput(f"model {model!r} has no stem {two_stems!r}; its stems: {', '.join(sources)}")
    if not settings.models_download:
        folders = _folders(settings)
        if any(_try_folder(folder, model) is not None for folder in folders):
            return
        spec = _primary_spec(model, folders)
        signatures = spec.signatures if spec is not None else (model,)
        missing = [sig for sig in signatures if all(_find_checkpoint(f, sig) is None for f in folders)]
        remote = _remote_checkpoints()
        # 422, not 503: this server cannot run what was asked until someone adds the files.
        raise InvalidInput(
            _missing_message(
                model, settings, missing or list(signatures), downloadable=all(s in remote for s in signatures)
            )
        )
