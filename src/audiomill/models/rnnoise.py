"""RNNoise through the C library that ships in the pyrnnoise wheel.

pyrnnoise's Python front resamples with audiolab and converts to int16; we only need its
``librnnoise.so`` (built-in weights, no model file), so the library is loaded directly
and the package is never imported. One state denoises one mono 48 kHz stream in 480-sample
frames of int16-scaled floats; the output lags the input by DELAY_FRAMES = 960 samples
(measured: cross-correlation peak at 959.5), which engines/denoise.py removes.

States are cheap (a malloc), so each job creates its own; the library loads once per
process.

RNNoise has no attenuation limit of its own; we give it the one DeepFilterNet has, by the
same rule: output = (1 - g) * denoised + g * input, g = 10 ** (-limit_db / 20), with the
input delayed to line up with the denoised signal. The noise is then reduced by at most
limit_db.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from audiomill.errors import ModelUnavailable
from audiomill.models.cache import get_or_load

MODEL_NAME = "rnnoise"
SAMPLE_RATE = 48000
FRAME_LENGTH = 480
DELAY_FRAMES = 960
_INT16_SCALE = 32768.0


class _Library:
    def __init__(self, library_path: Path) -> None:
        lib = ctypes.CDLL(os.fspath(library_path))
        lib.rnnoise_create.argtypes = [ctypes.c_void_p]
        lib.rnnoise_create.restype = ctypes.c_void_p
        lib.rnnoise_destroy.argtypes = [ctypes.c_void_p]
        lib.rnnoise_destroy.restype = None
        lib.rnnoise_get_frame_size.argtypes = []
        lib.rnnoise_get_frame_size.restype = ctypes.c_int
        # (state, out, in); buffers as plain addresses
        lib.rnnoise_process_frame.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        lib.rnnoise_process_frame.restype = ctypes.c_float
        frame_length = lib.rnnoise_get_frame_size()
        if frame_length != FRAME_LENGTH:
            raise ModelUnavailable(f"librnnoise has {frame_length}-sample frames, expected {FRAME_LENGTH}")
        self.lib = lib


class RnnoiseSession:
    """Denoises (channels, k * 480) float32 frames at 48 kHz, one RNNoise state per channel.

    Output is delayed by DELAY_FRAMES relative to input, as the library gives it.
    """

    def __init__(self, library: _Library, channels: int, attenuation_limit_db: float | None) -> None:
        self._lib = library.lib
        self._states: list[int] = []
        for _ in range(channels):
            state = self._lib.rnnoise_create(None)
            if not state:
                self.close()
                raise MemoryError("rnnoise_create failed")
            self._states.append(int(state))
        self.channels = channels
        self._dry_gain = 0.0 if attenuation_limit_db is None else 10.0 ** (-attenuation_limit_db / 20.0)
        # the input as it lines up with the (delayed) output, for the attenuation limit
        self._dry_delay = np.zeros((channels, DELAY_FRAMES), np.float32)

    def process(self, frames: NDArray[np.float32]) -> NDArray[np.float32]:
        if frames.shape[0] != self.channels or frames.shape[1] % FRAME_LENGTH:
            raise ValueError(f"expected ({self.channels}, k * {FRAME_LENGTH}) frames, got {frames.shape}")
        source = np.ascontiguousarray(frames, dtype=np.float32) * np.float32(_INT16_SCALE)
        out = np.empty_like(source)
        frame_bytes = FRAME_LENGTH * source.itemsize
        for channel, state in enumerate(self._states):
            source_address = source[channel].ctypes.data
            out_address = out[channel].ctypes.data
            for offset in range(0, source.shape[1] * source.itemsize, frame_bytes):
                self._lib.rnnoise_process_frame(state, out_address + offset, source_address + offset)
        out *= np.float32(1.0 / _INT16_SCALE)
        if self._dry_gain > 0.0:
            out = self._mix_dry(out, frames)
        return out

    def _mix_dry(self, wet: NDArray[np.float32], frames: NDArray[np.float32]) -> NDArray[np.float32]:
        dry = np.concatenate([self._dry_delay, frames.astype(np.float32)], axis=1)
        self._dry_delay = dry[:, dry.shape[1] - DELAY_FRAMES :]
        dry = dry[:, : wet.shape[1]]
        return (1.0 - self._dry_gain) * wet + self._dry_gain * dry

    def close(self) -> None:
        for state in self._states:
            self._lib.rnnoise_destroy(state)
        self._states = []


@contextmanager
def rnnoise_session(channels: int, attenuation_limit_db: float | None = None) -> Iterator[RnnoiseSession]:
    session = RnnoiseSession(rnnoise_library(), channels, attenuation_limit_db)
    try:
        yield session
    finally:
        session.close()


def rnnoise_library() -> _Library:
    return get_or_load((MODEL_NAME, "library"), _load_library)


def _load_library() -> _Library:
    # find the wheel's folder without importing pyrnnoise (it imports audiolab, tqdm, ...)
    spec = importlib.util.find_spec("pyrnnoise")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable("RNNoise needs the pyrnnoise package: pip install pyrnnoise")
    library_name = {"darwin": "librnnoise.dylib", "win32": "rnnoise.dll"}.get(sys.platform, "librnnoise.so")
    library_path = Path(list(spec.submodule_search_locations)[0]) / library_name
    if not library_path.is_file():
        raise ModelUnavailable(f"pyrnnoise has no {library_name} at {library_path}")
    try:
        return _Library(library_path)
    except OSError as error:
        raise ModelUnavailable(f"cannot load {library_path}: {error}") from error
