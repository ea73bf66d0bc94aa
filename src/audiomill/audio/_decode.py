"""Decode any audio (or the audio track of a video) to float32 (channels, frames).

iter_decode streams in constant memory; decode is the same path gathered into one array.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from audiomill.audio._blocks import BlockBuffer
from audiomill.audio._channels import check_channel_conversion, convert_channels
from audiomill.audio._resample import StreamResampler
from audiomill.audio._source import AudioSource
from audiomill.errors import InvalidInput

DEFAULT_BLOCK_FRAMES = 65536

# decode() gathers everything anyway: bigger blocks mean fewer pieces to concatenate.
_WHOLE_FILE_BLOCK_FRAMES = 1 << 20


def decode(path: Path, sample_rate: int | None = None, channels: int | None = None) -> tuple[np.ndarray, int]:
    """The whole file as float32 (channels, frames) and its sample rate.

    sample_rate None keeps the native rate, else soxr HQ resampling; channels None keeps
    the native count, 1 averages to mono, 2 duplicates mono; anything else is InvalidInput.
    Raises UnsupportedMedia for anything that is not decodable audio.
    """
    output_rate, output_channels, blocks = _open_blocks(path, sample_rate, channels, _WHOLE_FILE_BLOCK_FRAMES)
    pieces = list(blocks)
    if not pieces:
        return np.zeros((output_channels, 0), np.float32), output_rate
    if len(pieces) == 1:
        return pieces[0], output_rate
    return np.concatenate(pieces, axis=1), output_rate


def iter_decode(
    path: Path,
    sample_rate: int | None = None,
    channels: int | None = None,
    block_frames: int = DEFAULT_BLOCK_FRAMES,
) -> Iterator[np.ndarray]:
    """Stream the file as float32 (channels, block_frames) blocks; the last may be shorter.

    Same options as decode(). The file is opened and checked now (so UnsupportedMedia and
    InvalidInput come from this call, not from the first next()); decoding happens as the
    blocks are consumed, holding a few blocks at most whatever the file's length.
    """
    _, _, blocks = _open_blocks(path, sample_rate, channels, block_frames)
    return blocks


def _open_blocks(
    path: Path, sample_rate: int | None, channels: int | None, block_frames: int
) -> tuple[int, int, Iterator[np.ndarray]]:
    """Open and check the file: (output sample rate, output channels, block iterator)."""
    if sample_rate is not None and sample_rate <= 0:
        raise InvalidInput(f"sample_rate must be positive, got {sample_rate}")
    if block_frames <= 0:
        raise InvalidInput(f"block_frames must be positive, got {block_frames}")
    source = AudioSource(Path(path))
    try:
        output_channels = source.channels if channels is None else channels
        check_channel_conversion(source.channels, output_channels)
    except BaseException:
        source.close()
        raise
    output_rate = source.sample_rate if sample_rate is None else sample_rate
    blocks = _decoded_blocks(source, output_rate, output_channels, block_frames)
    return output_rate, output_channels, blocks


def _decoded_blocks(
    source: AudioSource, output_rate: int, output_channels: int, block_frames: int
) -> Iterator[np.ndarray]:
    with source:
        resampler = None
        if output_rate != source.sample_rate:
            resampler = StreamResampler(source.sample_rate, output_rate, output_channels)
        buffer = BlockBuffer(output_channels, block_frames)
        for chunk in source.chunks():
            # mix down before resampling: fewer channels through the filter
            chunk = convert_channels(chunk, output_channels)
            if resampler is not None:
                chunk = resampler.process(chunk)
            yield from buffer.push(chunk)
        if resampler is not None:
            yield from buffer.push(resampler.flush())
        remainder = buffer.flush()
        if remainder.shape[1] > 0:
            yield remainder
