"""Blob store: file bytes addressed by sha256, so identical content is stored once.

Everything outside the store goes through :class:`BlobStore`'s methods, never through
paths it did not hand out. New bytes are first *staged* in local scratch space (hashed and
measured while they are copied), then *committed*; engines and file responses read a
local path, which a remote store fills from its bucket on first use.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from audiomill.errors import PayloadTooLarge


@dataclass(frozen=True)
class StagedFile:
    """A file copied into scratch space, hashed and measured, not yet in the store."""

    path: Path
    sha256: str
    size_bytes: int


def _digest_file(path: Path, chunk_bytes: int = 1024 * 1024) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class BlobStore(Protocol):
    scratch_dir: Path

    def stage_stream(self, source: BinaryIO, max_bytes: int, chunk_bytes: int = 1024 * 1024) -> StagedFile: ...

    def stage_file(self, source: Path) -> StagedFile: ...

    def commit(self, staged: StagedFile) -> str: ...

    def discard(self, staged: StagedFile) -> None: ...

    def path(self, sha256: str) -> Path: ...

    def exists(self, sha256: str) -> bool: ...

    def delete(self, sha256: str) -> None: ...

    def all_digests(self) -> Iterable[str]: ...

    def modified_at(self, sha256: str) -> float: ...


def check_digest(sha256: str) -> str:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(f"not a sha256 digest: {sha256!r}")
    return sha256


def stage_stream(scratch_dir: Path, source: BinaryIO, max_bytes: int, chunk_bytes: int) -> StagedFile:
    """Copy a stream to scratch in chunks, hashing as it goes; refuse more than max_bytes."""
    digest = hashlib.sha256()
    size = 0
    handle, name = tempfile.mkstemp(prefix="upload-", dir=scratch_dir)
    path = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            while chunk := source.read(chunk_bytes):
                size += len(chunk)
                if size > max_bytes:
                    raise PayloadTooLarge(f"file is larger than the limit of {max_bytes} bytes")
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return StagedFile(path=path, sha256=digest.hexdigest(), size_bytes=size)


def stage_file(source: Path) -> StagedFile:
    """Hash a file an engine wrote; it is moved (not copied) into the store on commit."""
    sha256, size = _digest_file(source)
    return StagedFile(path=source, sha256=sha256, size_bytes=size)


class LocalBlobStore:
    def __init__(self, root: Path, scratch_dir: Path) -> None:
        self.root = root
        self.scratch_dir = scratch_dir
        self.root.mkdir(parents=True, exist_ok=True)
        self.scratch_dir.mkdir(parents=True, exist_ok=True)

    def _blob_path(self, sha256: str) -> Path:
        check_digest(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def stage_stream(self, source: BinaryIO, max_bytes: int, chunk_bytes: int = 1024 * 1024) -> StagedFile:
        return stage_stream(self.scratch_dir, source, max_bytes, chunk_bytes)

    def stage_file(self, source: Path) -> StagedFile:
        return stage_file(source)

    def commit(self, staged: StagedFile) -> str:
        """Move a staged file into the store; a blob already there is kept as is."""
        target = self._blob_path(staged.sha256)
        if target.exists():
            staged.path.unlink(missing_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            # Rename within one file system is atomic; across file systems fall back to a copy.
            tmp = target.with_name(target.name + ".partial")
            shutil.move(str(staged.path), tmp)
            os.replace(tmp, target)
        return staged.sha256

    def discard(self, staged: StagedFile) -> None:
        staged.path.unlink(missing_ok=True)

    def path(self, sha256: str) -> Path:
        """Local path of a blob, for reading (engines, file responses)."""
        return self._blob_path(sha256)

    def exists(self, sha256: str) -> bool:
        return self._blob_path(sha256).exists()

    def delete(self, sha256: str) -> None:
        self._blob_path(sha256).unlink(missing_ok=True)

    def all_digests(self) -> Iterable[str]:
        for path in self.root.glob("*/*/*"):
            if path.is_file() and len(path.name) == 64:
                yield path.name

    def modified_at(self, sha256: str) -> float:
        return self._blob_path(sha256).stat().st_mtime
