"""Channel-count conversion: the two conversions that have one obvious meaning."""

from __future__ import annotations

import numpy as np

from audiomill.errors import InvalidInput


def check_channel_conversion(from_channels: int, to_channels: int) -> None:
    """Raise InvalidInput now, before any decoding, if convert_channels would refuse."""
    if to_channels < 1:
        raise InvalidInput(f"channels must be at least 1, got {to_channels}")
    if from_channels == to_channels or to_channels == 1 or (from_channels, to_channels) == (1, 2):
        return
    raise InvalidInput(
        f"cannot convert {from_channels} channels to {to_channels}: ask for 1 (mono mix), "
        f"2 from mono, or the native {from_channels}"
    )


def convert_channels(audio: np.ndarray, to_channels: int) -> np.ndarray:
    """(channels, n) -> (to_channels, n): average to mono, or duplicate mono to stereo."""
    from_channels = audio.shape[0]
    check_channel_conversion(from_channels, to_channels)
    if from_channels == to_channels:
        return audio
    if to_channels == 1:
        return audio.mean(axis=0, keepdims=True, dtype=np.float32)
    return np.repeat(audio, 2, axis=0)
