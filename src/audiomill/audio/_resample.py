"""Sample-rate conversion with soxr (HQ), whole arrays and streams alike.

Arrays are (channels, frames) everywhere in audiomill; soxr wants (frames, channels),
so the transposes live here and nowhere else.
"""

from __future__ import annotations

import numpy as np
import soxr

from audiomill.errors import InvalidInput

_QUALITY = "HQ"


def resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Whole-array conversion: float32 (channels, frames) at from_rate -> at to_rate."""
    _check_audio(audio)
    _check_rate(from_rate)
    _check_rate(to_rate)
    audio = np.asarray(audio, dtype=np.float32)
    if from_rate == to_rate:
        return audio
    converted = soxr.resample(audio.T, from_rate, to_rate, quality=_QUALITY)
    return np.ascontiguousarray(converted.T)


class StreamResampler:
    """Resamples a stream of (channels, n) chunks with state kept across chunk boundaries.

    Concatenating process() outputs and flush() equals resample() of the whole signal
    (soxr's stream and one-shot paths give identical samples).
    """

    def __init__(self, from_rate: int, to_rate: int, channels: int) -> None:
        _check_rate(from_rate)
        _check_rate(to_rate)
        self.channels = channels
        self._stream = soxr.ResampleStream(from_rate, to_rate, channels, dtype="float32", quality=_QUALITY)

    def process(self, chunk: np.ndarray) -> np.ndarray:
        return self._resample(chunk, last=False)

    def flush(self) -> np.ndarray:
        """The samples still inside the filter; call once, after the last process()."""
        return self._resample(np.zeros((self.channels, 0), np.float32), last=True)

    def _resample(self, chunk: np.ndarray, last: bool) -> np.ndarray:
        frames_first = np.ascontiguousarray(chunk.T, dtype=np.float32)
        return self._stream.resample_chunk(frames_first, last=last).T


def _check_audio(audio: np.ndarray) -> None:
    if np.ndim(audio) != 2:
        raise InvalidInput(f"audio must be shaped (channels, frames), got shape {np.shape(audio)}")


def _check_rate(sample_rate: int) -> None:
    if sample_rate <= 0:
        raise InvalidInput(f"sample rate must be positive, got {sample_rate}")
