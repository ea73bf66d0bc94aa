"""Regroup a stream of (channels, n) chunks of any length into blocks of a fixed length.

Decoders hand out whatever their codec frame holds; callers want block_frames. Encoders
want exactly their codec frame size (mp3 1152, AAC 1024). Same job, one class.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

import numpy as np


class BlockBuffer:
    def __init__(self, channels: int, block_frames: int) -> None:
        self.channels = channels
        self.block_frames = block_frames
        self._block = np.empty((channels, block_frames), np.float32)
        self._filled = 0

    def push(self, chunk: np.ndarray) -> Iterator[np.ndarray]:
        """Take a chunk; yield every block it completes (each a new array the caller keeps)."""
        position = 0
        while position < chunk.shape[1]:
            taken = min(self.block_frames - self._filled, chunk.shape[1] - position)
            free = slice(self._filled, self._filled + taken)
            self._block[:, free] = chunk[:, position : position + taken]
            self._filled += taken
            position += taken
            if self._filled == self.block_frames:
                yield self._block
                # a fresh buffer, because the caller may hold on to the block it got
                self._block = np.empty((self.channels, self.block_frames), np.float32)
                self._filled = 0

    def flush(self) -> np.ndarray:
        """The partial block left over (possibly zero frames long); the buffer empties."""
        remainder = self._block[:, : self._filled].copy()
        self._filled = 0
        return remainder


class BlockStage(Protocol):
    """A streaming step that may hold frames back (a look-ahead, a model delay)."""

    def process(self, block: np.ndarray) -> np.ndarray: ...

    def flush(self) -> np.ndarray: ...


def run_stage(stage: BlockStage, blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """Feed every block through the stage, then flush it; yield the non-empty outputs."""
    for block in blocks:
        out = stage.process(block)
        if out.shape[1]:
            yield out
    out = stage.flush()
    if out.shape[1]:
        yield out
