"""Open a file as audio, judged by its content, and read its samples as native float32 chunks.

probe() and decode() both start here, so "is this audio we can decode?" has one answer.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import av.error
import numpy as np

from audiomill.errors import UnsupportedMedia

# Demuxers we let FFmpeg pick. A whitelist, because some demuxers (hls, concat, image2
# sequences, ...) open further files or URLs named inside the upload, which would let an
# upload read our disk. FFmpeg checks it after probing, before the demuxer reads a header.
# Single-image readers are in only so that a photo gets "no audio track", not "unknown".
ALLOWED_DEMUXERS = (
    # audio, and video containers whose audio track we take
    "aac", "ac3", "aiff", "amr", "ape", "asf", "au", "avi", "caf", "dsf", "dts", "eac3",
    "flac", "flv", "matroska", "mlp", "mov", "mp3", "mpc", "mpc8", "mpeg", "mpegts", "ogg",
    "truehd", "tta", "voc", "w64", "wav", "wv",
    # still images
    "bmp_pipe", "gif", "jpeg_pipe", "png_pipe", "tiff_pipe", "webp_pipe",
)  # fmt: skip

# A file that opens but yields no audio after this many packets is garbage that happened
# to look like a container; stop there rather than scanning a huge file to the end.
_MAX_PACKETS_BEFORE_FIRST_FRAME = 500

# Fewer, larger reads through the Python file object than PyAV's 32 KiB default.
_READ_BUFFER_BYTES = 1 << 18

# Integer sample formats and the divisor that maps them onto [-1, 1).
_INTEGER_SCALE: dict[type[np.integer], float] = {
    np.int16: 1 << 15,
    np.int32: 1 << 31,
    np.int64: 1 << 63,
}


class _NamelessReader(io.RawIOBase):
    """A readable file without a ``name``: FFmpeg gets no filename, so it can neither use the
    extension as a format hint nor resolve relative URLs next to it. Content decides."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "rb", buffering=0)  # noqa: SIM115 (closed in close())

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._file.read(size)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def close(self) -> None:
        self._file.close()
        super().close()


class AudioSource:
    """One opened input file: its best audio stream, native layout and decoded samples.

    Opening already decodes the first audio frame, so a file that opens but holds no
    decodable audio (truncated, corrupt, video-only) is refused here with UnsupportedMedia.
    sample_rate and channels come from that decoded frame rather than the header, because
    the decoded frames are what we deliver. chunks() can be iterated once.
    """

    def __init__(self, path: Path) -> None:
        if path.stat().st_size == 0:
            raise UnsupportedMedia("the file is empty")
        self._reader = _NamelessReader(path)
        try:
            self._container = _open_container(self._reader)
            self._stream = _best_audio_stream(self._container)
            self._packets = _readable_packets(self._container, self._stream)
            self._first_frame, frames_after_first = self._first_audio_frame()
            self._frames = _chain(frames_after_first, self._decoded_frames())
        except BaseException:
            self.close()
            raise
        self.container_name: str = self._container.format.name
        self.codec_name: str = self._stream.codec_context.codec.canonical_name
        self.sample_rate: int = self._first_frame.sample_rate
        self.channels: int = self._first_frame.layout.nb_channels

    def declared_duration_seconds(self) -> float | None:
        """What the container says, or None when it does not say."""
        if self._stream.duration is not None and self._stream.time_base is not None:
            return float(self._stream.duration * self._stream.time_base)
        if self._container.duration is not None:
            return self._container.duration / av.time_base
        return None

    def chunks(self) -> Iterator[np.ndarray]:
        """All samples, float32 (channels, n), one chunk per decoded frame, in order.

        One frame is held back so the last one can be cut to the declared end: encoders pad
        the final frame (AAC to 1024 samples) and PyAV hands the padding out as audio.
        """
        pending = self._first_frame
        for frame in self._frames:
            yield self._to_array(pending)
            pending = frame
        yield self._to_array(pending)[:, : self._frames_before_declared_end(pending)]

    def close(self) -> None:
        container = getattr(self, "_container", None)
        if container is not None:
            container.close()
        self._reader.close()

    def __enter__(self) -> AudioSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _decoded_frames(self) -> Iterator[av.AudioFrame]:
        for packet in self._packets:
            yield from _decode_packet(self._stream, packet)

    def _first_audio_frame(self) -> tuple[av.AudioFrame, list[av.AudioFrame]]:
        """The first frame with samples, and the frames its packet decoded after it."""
        for packets_read, packet in enumerate(self._packets, start=1):
            frames = _decode_packet(self._stream, packet)
            if frames:
                return frames[0], frames[1:]
            if packets_read >= _MAX_PACKETS_BEFORE_FIRST_FRAME:
                break
        raise UnsupportedMedia(
            f"no decodable audio in this {self._container.format.name} file: it is truncated, corrupt or empty"
        )

    def _to_array(self, frame: av.AudioFrame) -> np.ndarray:
        if frame.sample_rate != self.sample_rate or frame.layout.nb_channels != self.channels:
            raise UnsupportedMedia(
                "the audio changes sample rate or channel count part-way through "
                f"({self.sample_rate} Hz x{self.channels} -> "
                f"{frame.sample_rate} Hz x{frame.layout.nb_channels})"
            )
        return frame_to_float32(frame)

    def _frames_before_declared_end(self, frame: av.AudioFrame) -> int:
        """How many of the last frame's samples lie before the stream's declared end."""
        stream = self._stream
        if frame.pts is None or frame.time_base is None or stream.duration is None:
            return frame.samples
        declared_end = (Fraction(stream.start_time or 0) + stream.duration) * stream.time_base
        frame_start = frame.pts * frame.time_base
        samples_before_end = round((declared_end - frame_start) * frame.sample_rate)
        # Only cut padding inside this frame; a declared end outside it is a header we
        # do not trust over the decoded audio.
        if 0 < samples_before_end < frame.samples:
            return samples_before_end
        return frame.samples


def frame_to_float32(frame: av.AudioFrame) -> np.ndarray:
    """Any PyAV sample format -> float32 (channels, n) scaled to about [-1, 1]."""
    array = frame.to_ndarray()
    if not frame.format.is_planar:
        # packed formats come as one interleaved row
        array = array.reshape(-1, frame.layout.nb_channels).T
    if array.dtype == np.uint8:
        # unsigned 8-bit PCM is centred on 128
        return (array.astype(np.float32) - np.float32(128)) / np.float32(128)
    scale = _INTEGER_SCALE.get(array.dtype.type)
    if scale is not None:
        return array.astype(np.float32) / np.float32(scale)
    return np.ascontiguousarray(array, dtype=np.float32)


def present_duration_seconds(path: Path) -> float | None:
    """How much audio the file really holds, from its packets' timestamps (demuxed, not
    decoded: cheap); None when the packets carry no timing to tell.

    A header can claim more than the file holds (a WAV cut short after its header was
    written, a truncated download): this is what is present, to compare with what is
    declared.
    """
    with _NamelessReader(Path(path)) as reader:
        container = _open_container(reader)
        try:
            stream = _best_audio_stream(container)
            first: int | None = None
            end: int | None = None
            for packet in _readable_packets(container, stream):
                if packet is None:
                    break
                if packet.pts is None or packet.duration is None:
                    return None
                first = packet.pts if first is None else min(first, packet.pts)
                end = packet.pts + packet.duration if end is None else max(end, packet.pts + packet.duration)
            if first is None or end is None or stream.time_base is None:
                return 0.0
            return float((end - first) * stream.time_base)
        finally:
            container.close()


def _open_container(reader: _NamelessReader) -> av.container.InputContainer:
    try:
        return av.open(
            reader,
            mode="r",
            options={"format_whitelist": ",".join(ALLOWED_DEMUXERS)},
            buffer_size=_READ_BUFFER_BYTES,
        )
    except av.error.ArgumentError as exc:
        # EINVAL at open is FFmpeg refusing a demuxer outside the whitelist
        raise UnsupportedMedia("not an audio or video format we accept (playlists and the like are refused)") from exc
    except av.error.EOFError as exc:
        raise UnsupportedMedia("the file ends before any audio could be read: it is truncated") from exc
    except av.error.InvalidDataError as exc:
        raise UnsupportedMedia(
            "not a recognised audio or video file (the content matches no known format, or is damaged beyond reading)"
        ) from exc
    except av.error.FFmpegError as exc:
        raise UnsupportedMedia(f"cannot read this file as audio ({exc.strerror})") from exc


def _best_audio_stream(container: av.container.InputContainer) -> av.AudioStream:
    stream = container.streams.best("audio")
    if stream is None:
        found = ", ".join(sorted({s.type for s in container.streams})) or "no streams"
        raise UnsupportedMedia(f"the file has no audio track (a {container.format.name} file with {found})")
    return stream


def _readable_packets(container: av.container.InputContainer, stream: av.AudioStream) -> Iterator[av.Packet | None]:
    """The stream's packets, then None to drain the decoder.

    A container damaged past some point ends there, as in the ffmpeg CLI, instead of
    throwing away everything read before it.
    """
    try:
        for packet in container.demux(stream):
            # demux ends with an empty packet that drains the decoder; we send our own None
            if packet.size > 0:
                yield packet
    except av.error.FFmpegError:
        pass
    yield None


def _decode_packet(stream: av.AudioStream, packet: av.Packet | None) -> list[av.AudioFrame]:
    try:
        frames = stream.decode(packet)
    except av.error.FFmpegError as exc:
        if isinstance(exc, MemoryError):
            raise
        # Like the ffmpeg CLI: a damaged packet costs its few milliseconds, not the file.
        # Decoders report damage under many codes (AAC: EPERM, invalid data, "bug").
        return []
    return [frame for frame in frames if frame.samples > 0]


def _chain(head: list[av.AudioFrame], tail: Iterator[av.AudioFrame]) -> Iterator[av.AudioFrame]:
    yield from head
    yield from tail
