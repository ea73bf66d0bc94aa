"""Lossy outputs (mp3, m4a/AAC) through PyAV's encoders, written as the blocks arrive."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from audiomill.audio._blocks import BlockBuffer
from audiomill.audio._resample import StreamResampler
from audiomill.errors import InvalidInput

_LAYOUT_BY_CHANNELS = {1: "mono", 2: "stereo"}


@dataclass(frozen=True)
class LossyCodec:
    name: str  # what users call it
    container_format: str  # PyAV muxer name
    encoder: str  # PyAV encoder name
    mp4_family: bool = False

    def container_options(self, sample_rate: int) -> dict[str, str]:
        if not self.mp4_family:
            return {}
        return {
            # index at the front: a browser can start playing before the download ends
            "movflags": "+faststart",
            # the edit list that hides AAC's priming and end padding is written in the
            # movie timescale, 1/1000 s by default, which misplaces the end by up to 44
            # samples at 44.1 kHz; the sample rate makes it exact
            "movie_timescale": str(sample_rate),
        }


MP3 = LossyCodec("mp3", "mp3", "libmp3lame")
# "ipod" is the mp4 muxer flavour for .m4a
M4A_AAC = LossyCodec("m4a", "ipod", "aac", mp4_family=True)


class LossySink:
    """Encodes (channels, n) float blocks of any length into fixed-size codec frames.

    Resamples on the way in when the encoder cannot take the input rate (mp3 stops at
    48 kHz). Every frame gets its pts: without them the AAC muxer writes no edit list, and
    decoders then play the encoder's 1024 priming samples as audio.
    """

    clips = True

    def __init__(self, path: Path, sample_rate: int, channels: int, codec: LossyCodec, bitrate_kbps: int) -> None:
        layout = _LAYOUT_BY_CHANNELS.get(channels)
        if layout is None:
            raise InvalidInput(
                f"{codec.name} output holds mono or stereo, not {channels} channels: write wav or flac for more"
            )
        self.encoded_sample_rate = supported_sample_rate(codec.encoder, sample_rate)
        self._resampler: StreamResampler | None = None
        if self.encoded_sample_rate != sample_rate:
            self._resampler = StreamResampler(sample_rate, self.encoded_sample_rate, channels)
        self._layout = layout
        # "file:" so that a ':' in the name is never read as a protocol (http:, pipe:, ...)
        url = "file:" + str(Path(path).absolute())
        self._container = av.open(
            url,
            "w",
            format=codec.container_format,
            options=codec.container_options(self.encoded_sample_rate),
        )
        try:
            self._stream = self._container.add_stream(codec.encoder, rate=self.encoded_sample_rate)
            self._stream.layout = layout
            self._stream.format = "fltp"
            self._stream.bit_rate = bitrate_kbps * 1000
            self._stream.codec_context.open()
        except BaseException:
            self._container.close()
            Path(path).unlink(missing_ok=True)  # av.open already created it, empty
            raise
        self._frames = BlockBuffer(channels, self._stream.codec_context.frame_size)
        self._next_pts = 0

    def write(self, block: np.ndarray) -> None:
        if self._resampler is not None:
            block = self._resampler.process(block)
        for frame_block in self._frames.push(block):
            self._encode(frame_block)

    def close(self) -> None:
        try:
            if self._resampler is not None:
                for frame_block in self._frames.push(self._resampler.flush()):
                    self._encode(frame_block)
            remainder = self._frames.flush()
            if remainder.shape[1] > 0:
                # mp3 and AAC encoders both accept a short last frame
                self._encode(remainder)
            self._mux(self._stream.encode(None))
        finally:
            self._container.close()

    def _encode(self, frame_block: np.ndarray) -> None:
        frame = av.AudioFrame.from_ndarray(frame_block, format="fltp", layout=self._layout)
        frame.sample_rate = self.encoded_sample_rate
        frame.time_base = Fraction(1, self.encoded_sample_rate)
        frame.pts = self._next_pts
        self._next_pts += frame.samples
        self._mux(self._stream.encode(frame))

    def _mux(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            self._container.mux(packet)


def supported_sample_rate(encoder: str, sample_rate: int) -> int:
    """sample_rate if the encoder takes it, else the nearest supported rate above it
    (no band lost), else its highest."""
    rates = av.Codec(encoder, "w").audio_rates
    if not rates or sample_rate in rates:
        return sample_rate
    higher = [rate for rate in rates if rate >= sample_rate]
    return min(higher) if higher else max(rates)
