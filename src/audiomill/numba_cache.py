"""One numba cache folder per live process.

numba's on-disk cache (librosa's kernels, our video motion) is not safe for processes that
compile the same function at once: each keeps its own index of compiled signatures and names
the data files by their position in it, so two workers compiling different signatures of one
kernel overwrite each other's files, and a later load runs machine code built for other
argument types. Seen here as segfaults in librosa's pyin and beat tracker once several worker
processes had shared one venv. So every process that may compile claims a numbered slot under
one cache root, with an exclusive lock held for its lifetime; later processes reuse free
slots, so the cache still stays warm across restarts.

Call ``claim_numba_cache_dir()`` before numba-using modules are imported (the cache folder is
chosen when a function is decorated). A ``NUMBA_CACHE_DIR`` the user set is respected.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sys
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

# Set beside NUMBA_CACHE_DIR by a claim: a child process inherits both but not the lock,
# so it claims a slot of its own instead of trusting the inherited folder.
CLAIMED_BY_ENV = "AUDIOMILL_NUMBA_CACHE_CLAIMED_BY"
ROOT_ENV = "AUDIOMILL_NUMBA_CACHE_ROOT"
MAX_SLOTS = 64

_claim: tuple[int, int, Path] | None = None  # (pid, lock descriptor, folder) of this process's claim


def default_cache_root() -> Path:
    if os.environ.get(ROOT_ENV):
        return Path(os.environ[ROOT_ENV])
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache_home) / "audiomill" / "numba"


def claim_numba_cache_dir(root: Path | None = None) -> Path | None:
    """Point numba at a cache folder no other live process uses; the folder, or None when
    the user chose one (NUMBA_CACHE_DIR set by hand)."""
    global _claim
    if _claim is not None and _claim[0] == os.getpid():
        return _claim[2]
    inherited_claim = os.environ.get(CLAIMED_BY_ENV)
    if os.environ.get("NUMBA_CACHE_DIR") and inherited_claim is None:
        return None
    folder = _lock_free_slot(root or default_cache_root())
    os.environ["NUMBA_CACHE_DIR"] = str(folder)
    os.environ[CLAIMED_BY_ENV] = str(os.getpid())
    if "numba" in sys.modules:  # too late for functions already decorated; right for later ones
        from numba.core import config

        config.reload_config()  # type: ignore[no-untyped-call]
    return folder


def _lock_free_slot(root: Path) -> Path:
    global _claim
    try:
        root.mkdir(parents=True, exist_ok=True)
        for slot in range(MAX_SLOTS):
            descriptor = os.open(root / f"slot-{slot}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(descriptor)
                continue
            folder = root / f"slot-{slot}"
            _claim = (os.getpid(), descriptor, folder)
            return folder
    except OSError as exc:  # a read-only home, say: compile into a private folder instead
        log.warning("numba cache root %s unusable (%s); using a private folder", root, exc)
    folder = Path(tempfile.mkdtemp(prefix="audiomill-numba-"))
    _claim = (os.getpid(), -1, folder)
    return folder
