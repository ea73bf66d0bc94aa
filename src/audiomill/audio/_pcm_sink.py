"""Lossless outputs (wav, flac) through libsndfile, written as the blocks arrive."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile


class PcmSink:
    """container: soundfile format name ("WAV", "FLAC"); subtype: "PCM_16", "PCM_24", "FLOAT"."""

    def __init__(self, path: Path, sample_rate: int, channels: int, container: str, subtype: str) -> None:
        # Only float wav can hold samples beyond full scale; integers would wrap around.
        self.clips = subtype != "FLOAT"
        self._file = soundfile.SoundFile(
            path, "w", samplerate=sample_rate, channels=channels, format=container, subtype=subtype
        )

    def write(self, block: np.ndarray) -> None:
        # libsndfile takes interleaved (frames, channels)
        self._file.write(np.ascontiguousarray(block.T))

    def close(self) -> None:
        self._file.close()
