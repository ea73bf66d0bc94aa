"""A process-wide warm cache of loaded models.

Loading a checkpoint costs seconds and hundreds of megabytes; a worker process runs many
jobs with the same few models, so each model is loaded once per (model, device) and kept.
The cache is small and least-recently-used: a worker asked for a different model evicts
the oldest one instead of growing without bound (GPU memory in particular).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, TypeVar
from collections.abc import Callable, Hashable

T = TypeVar("T")

DEFAULT_MAX_ENTRIES = 6  # a separation model plus the small speech models (VAD, encoders, denoisers)


class ModelCache:
    """Thread-safe ``key -> loaded model`` map with one load per key at a time."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        # One lock per key being loaded: two threads asking for the same model wait for
        # one load, while a load of another model is not blocked behind it.
        self._loading: dict[Hashable, threading.Lock] = {}

    def get_or_load(self, key: Hashable, loader: Callable[[], T]) -> T:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]  # type: ignore[no-any-return]
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._entries:  # another thread finished loading it meanwhile
                    self._entries.move_to_end(key)
                    return self._entries[key]  # type: ignore[no-any-return]
            value = loader()  # outside the global lock: loads take seconds
            with self._lock:
                self._entries[key] = value
                self._entries.move_to_end(key)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
                self._loading.pop(key, None)
            return value

    def loaded_keys(self) -> list[Hashable]:
        """Keys currently warm, least recently used first (for diagnostics)."""
        with self._lock:
            return list(self._entries)

    def evict(self, key: Hashable) -> bool:
        with self._lock:
            return self._entries.pop(key, None) is not None

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_cache = ModelCache()


def get_or_load(key: Hashable, loader: Callable[[], T]) -> T:
    """Return the process-wide cached value for ``key``, calling ``loader`` once if absent."""
    return _cache.get_or_load(key, loader)


def loaded_keys() -> list[Hashable]:
    return _cache.loaded_keys()


def clear() -> None:
    """Drop every warm model (tests; a worker that must free memory)."""
    _cache.clear()
