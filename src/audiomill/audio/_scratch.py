"""Float32 audio parked on disk between two passes of an engine.

Engines that must see the whole signal before writing (a peak for clip protection, a
loudness for a boost) stream their intermediate result here instead of holding it in
memory. Raw interleaved float32 with no header: writing is one ``tofile`` per block,
reading one ``fromfile`` per block (not a memory map: the pages of a map that has been
read stay in the process's resident set, which would grow with the track), and there
is no container size limit (a RIFF wav stops at 4 GB, about 3 h of 48 kHz stereo
float). Nothing else reads these files: they live in the job's scratch folder and go
with it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

_SAMPLE = np.dtype("<f4")


class ScratchAudio(contextlib.AbstractContextManager["ScratchAudio"]):
    """``write`` (channels, frames) blocks, then read them back with ``blocks``."""

    def __init__(self, path: Path, channels: int) -> None:
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        self.path = path
        self.channels = channels
        self.frames = 0
        self._file = open(path, "wb")  # noqa: SIM115 (closed in finish())

    def write(self, block: np.ndarray) -> None:
        if block.ndim != 2 or block.shape[0] != self.channels:
            raise ValueError(f"expected ({self.channels}, frames) blocks, got {block.shape}")
        if self._file.closed:
            raise ValueError("this scratch is finished: it can only be read now")
        np.ascontiguousarray(block.T, dtype=_SAMPLE).tofile(self._file)
        self.frames += block.shape[1]

    def finish(self) -> None:
        """Done writing (idempotent); ``blocks`` calls it."""
        if not self._file.closed:
            self._file.close()

    def blocks(self, block_frames: int) -> Iterator[np.ndarray]:
        """The samples written, as float32 (channels, block_frames) blocks; the last may be
        shorter. Each block is freshly read: callers may modify it."""
        if block_frames <= 0:
            raise ValueError(f"block_frames must be positive, got {block_frames}")
        self.finish()
        with open(self.path, "rb") as file:
            for start in range(0, self.frames, block_frames):
                frames = min(block_frames, self.frames - start)
                interleaved = np.fromfile(file, dtype=_SAMPLE, count=frames * self.channels)
                if interleaved.size != frames * self.channels:
                    raise OSError(f"scratch file {self.path} is shorter than what was written")
                # fromfile's array is fresh and writable: only a transpose needs a copy
                yield np.ascontiguousarray(interleaved.reshape(frames, self.channels).T)

    def __exit__(self, *exc_info: object) -> None:
        self.finish()
