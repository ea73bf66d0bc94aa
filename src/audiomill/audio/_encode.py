"""Write float32 (channels, frames) audio as wav, flac, mp3 or m4a, streaming."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Protocol

import numpy as np

from audiomill.audio._lossy_sink import M4A_AAC, MP3, LossySink
from audiomill.audio._media_types import format_for_extension
from audiomill.audio._pcm_sink import PcmSink
from audiomill.errors import InvalidInput
from audiomill.params import EncodeOptions, OutputFormat

# write() hands big arrays to the encoder in pieces, so clipping one never copies a whole track
_WRITE_PIECE_FRAMES = 65536

_WAV_SUBTYPE_BY_BIT_DEPTH = {16: "PCM_16", 24: "PCM_24", 32: "FLOAT"}


class _Sink(Protocol):
    clips: bool

    def write(self, block: np.ndarray) -> None: ...

    def close(self) -> None: ...


class AudioWriter:
    """Streaming writer: ``with AudioWriter(path, 44100, 2, options) as out: out.write(block)``.

    The format is output_format if given, else options.output_format if options are given,
    else the path's suffix. Blocks are float32 (channels, n) of any length; samples beyond
    [-1, 1] are clipped except in 32-bit float wav, and NaN/inf become silence/full scale.
    Leaving the ``with`` block by an exception deletes the half-written file.
    """

    def __init__(
        self,
        path: Path,
        sample_rate: int,
        channels: int,
        options: EncodeOptions | None = None,
        output_format: OutputFormat | None = None,
    ) -> None:
        if sample_rate <= 0:
            raise InvalidInput(f"sample_rate must be positive, got {sample_rate}")
        if channels < 1:
            raise InvalidInput(f"channels must be at least 1, got {channels}")
        self.path = Path(path)
        self.output_format = _resolve_format(self.path, options, output_format)
        self.sample_rate = sample_rate
        self.channels = channels
        self._sink = _open_sink(self.path, sample_rate, channels, self.output_format, options or EncodeOptions())
        self._closed = False

    @property
    def encoded_sample_rate(self) -> int:
        """The rate in the file: sample_rate, unless the codec needed another (mp3 > 48 kHz)."""
        return getattr(self._sink, "encoded_sample_rate", self.sample_rate)

    def write(self, block: np.ndarray) -> None:
        """Append float32 (channels, n) samples; any n, including 0."""
        if self._closed:
            raise ValueError("write() on a closed AudioWriter")
        block = np.asarray(block, dtype=np.float32)
        if block.ndim != 2 or block.shape[0] != self.channels:
            raise InvalidInput(f"expected a block shaped ({self.channels}, frames), got {block.shape}")
        for start in range(0, block.shape[1], _WRITE_PIECE_FRAMES):
            piece = block[:, start : start + _WRITE_PIECE_FRAMES]
            self._sink.write(_sanitize(piece, clip=self._sink.clips))

    def close(self) -> None:
        """Flush the encoder and finish the file; closing twice is harmless."""
        if not self._closed:
            self._closed = True
            self._sink.close()

    def __enter__(self) -> AudioWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # A truncated file looks valid to the next reader: better no file than that one.
        if exc_type is None:
            try:
                self.close()
            except BaseException:
                self.path.unlink(missing_ok=True)
                raise
            return
        try:
            self.close()
        except Exception:  # noqa: BLE001 (the exception already in flight is the one to report)
            pass
        self.path.unlink(missing_ok=True)


def encode(
    path: Path,
    audio: np.ndarray,
    sample_rate: int,
    options: EncodeOptions | None = None,
    output_format: OutputFormat | None = None,
) -> None:
    """Write a whole float32 (channels, frames) array; format chosen as for AudioWriter."""
    if np.ndim(audio) != 2:
        raise InvalidInput(f"audio must be shaped (channels, frames), got shape {np.shape(audio)}")
    with AudioWriter(path, sample_rate, np.shape(audio)[0], options, output_format) as writer:
        writer.write(audio)


def _resolve_format(path: Path, options: EncodeOptions | None, output_format: OutputFormat | None) -> OutputFormat:
    if output_format is not None:
        return OutputFormat(output_format)
    if options is not None:
        return options.output_format
    from_suffix = format_for_extension(path.suffix)
    if from_suffix is None:
        raise InvalidInput(
            f"cannot tell the output format from {path.name!r}: "
            "name it .wav, .flac, .mp3 or .m4a, or pass output_format"
        )
    return from_suffix


def _open_sink(path: Path, sample_rate: int, channels: int, fmt: OutputFormat, options: EncodeOptions) -> _Sink:
    if fmt is OutputFormat.wav:
        subtype = _WAV_SUBTYPE_BY_BIT_DEPTH[options.wav_bit_depth]
        return PcmSink(path, sample_rate, channels, "WAV", subtype)
    if fmt is OutputFormat.flac:
        # FLAC has no float samples: 24-bit is the most it keeps
        subtype = "PCM_24" if options.wav_bit_depth >= 24 else "PCM_16"
        return PcmSink(path, sample_rate, channels, "FLAC", subtype)
    if fmt is OutputFormat.mp3:
        return LossySink(path, sample_rate, channels, MP3, options.bitrate_kbps)
    if fmt is OutputFormat.m4a:
        return LossySink(path, sample_rate, channels, M4A_AAC, options.bitrate_kbps)
    raise InvalidInput(f"unknown output format {fmt!r}")


def _sanitize(block: np.ndarray, clip: bool) -> np.ndarray:
    if not np.isfinite(block).all():
        # a NaN would reach the encoder as noise or an error; silence is the honest value
        block = np.nan_to_num(block, nan=0.0, posinf=1.0, neginf=-1.0)
    if clip:
        block = np.clip(block, -1.0, 1.0)
    return block
