"""Small generators of test signals and test media files, shared by the test suite.

Signals are float32 arrays shaped (channels, frames), the layout audiomill.audio uses.
The writers here go straight to soundfile / PyAV, not through audiomill.audio, so a test
of our decoder does not silently depend on our encoder being right.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np
import soundfile

# ---------------------------------------------------------------------------------------
# signals


def sine(
    frequency_hz: float,
    duration_seconds: float,
    sample_rate: int = 44100,
    channels: int = 1,
    amplitude: float = 0.5,
) -> np.ndarray:
    """A pure tone, identical in every channel."""
    return chord([frequency_hz], duration_seconds, sample_rate, channels, amplitude)


def chord(
    frequencies_hz: list[float],
    duration_seconds: float,
    sample_rate: int = 44100,
    channels: int = 1,
    amplitude: float = 0.5,
) -> np.ndarray:
    """Equal-weight sum of tones scaled so its peak stays at or below ``amplitude``."""
    time_seconds = np.arange(round(duration_seconds * sample_rate)) / sample_rate
    mono = sum(np.sin(2 * np.pi * f * time_seconds) for f in frequencies_hz)
    mono = amplitude * mono / len(frequencies_hz)
    return np.repeat(mono[None, :], channels, axis=0).astype(np.float32)


def stereo_chords(duration_seconds: float, sample_rate: int = 44100) -> np.ndarray:
    """Different chords left and right, so a swapped or mixed-up channel shows."""
    left = chord([220.0, 277.18, 329.63], duration_seconds, sample_rate)  # A major
    right = chord([196.0, 246.94, 293.66], duration_seconds, sample_rate)  # G major
    return np.concatenate([left, right])


def sweep(
    duration_seconds: float,
    sample_rate: int = 44100,
    channels: int = 1,
    start_hz: float = 100.0,
    end_hz: float = 5000.0,
    amplitude: float = 0.5,
) -> np.ndarray:
    """Exponential sine sweep: never repeats, so cross-correlation finds one clear lag."""
    time_seconds = np.arange(round(duration_seconds * sample_rate)) / sample_rate
    rate = np.log(end_hz / start_hz) / duration_seconds
    phase = 2 * np.pi * start_hz * (np.exp(rate * time_seconds) - 1) / rate
    mono = amplitude * np.sin(phase)
    return np.repeat(mono[None, :], channels, axis=0).astype(np.float32)


def noise(
    duration_seconds: float,
    sample_rate: int = 44100,
    channels: int = 1,
    amplitude: float = 0.1,
    seed: int = 0,
) -> np.ndarray:
    """White Gaussian noise with standard deviation ``amplitude``, reproducible by seed."""
    frames = round(duration_seconds * sample_rate)
    generator = np.random.default_rng(seed)
    return (amplitude * generator.standard_normal((channels, frames))).astype(np.float32)


# ---------------------------------------------------------------------------------------
# files


def write_wav(path: Path, audio: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> Path:
    """subtype: PCM_16, PCM_24 or FLOAT (soundfile names)."""
    soundfile.write(path, audio.T, sample_rate, subtype=subtype, format="WAV")
    return path


def write_flac(path: Path, audio: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> Path:
    soundfile.write(path, audio.T, sample_rate, subtype=subtype, format="FLAC")
    return path


def write_ogg_vorbis(path: Path, audio: np.ndarray, sample_rate: int) -> Path:
    """Through libsndfile's libvorbis: FFmpeg's own vorbis encoder garbles a second channel
    that differs from the first."""
    soundfile.write(path, audio.T, sample_rate, format="OGG", subtype="VORBIS")
    return path


def write_mp3(path: Path, audio: np.ndarray, sample_rate: int, bitrate_kbps: int = 192) -> Path:
    return write_media(path, audio, sample_rate, "mp3", "libmp3lame", bitrate_kbps=bitrate_kbps)


def write_media(
    path: Path,
    audio: np.ndarray,
    sample_rate: int,
    container_format: str,
    audio_codec: str,
    *,
    bitrate_kbps: int = 160,
    video_codec: str | None = None,
    live: bool = False,
) -> Path:
    """Encode ``audio`` with PyAV, optionally beside a small synthetic video track.

    container_format / audio_codec / video_codec are PyAV names, e.g. ("mp4", "aac",
    "libx264"), ("webm", "libopus", "libvpx"), ("ogg", "libopus"), ("mov", "aac", "mpeg4").
    live=True writes through a non-seekable stream, as a live recorder would: muxers that
    patch the duration in at the end (matroska) then leave it out.
    """
    if live:
        with (
            path.open("wb") as file,
            av.open(_WriteOnly(file), "w", format=container_format) as container,
        ):
            _encode_media(container, audio, sample_rate, audio_codec, bitrate_kbps, video_codec)
    else:
        with av.open(str(path), "w", format=container_format) as container:
            _encode_media(container, audio, sample_rate, audio_codec, bitrate_kbps, video_codec)
    return path


class _WriteOnly:
    """A file object that cannot seek, like a pipe or a socket."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file

    def write(self, data: bytes) -> int:
        return self._file.write(data)


def _encode_media(
    container: av.container.OutputContainer,
    audio: np.ndarray,
    sample_rate: int,
    audio_codec: str,
    bitrate_kbps: int,
    video_codec: str | None,
) -> None:
    channels = audio.shape[0]
    layout = "mono" if channels == 1 else "stereo"
    video = _add_video_stream(container, video_codec) if video_codec else None
    # FFmpeg's own vorbis encoder is flagged experimental and refuses to open without this
    codec_options = {"strict": "experimental"} if audio_codec == "vorbis" else {}
    stream = container.add_stream(audio_codec, rate=sample_rate, options=codec_options)
    stream.layout = layout
    stream.bit_rate = bitrate_kbps * 1000
    # float formats the encoders here accept: planar for most, packed for opus
    sample_format = "flt" if "opus" in audio_codec else "fltp"
    stream.format = sample_format
    stream.codec_context.open()
    frame_size = stream.codec_context.frame_size or 1024

    video_fps = 10
    next_video_frame = 0
    for start in range(0, audio.shape[1], frame_size):
        block = np.ascontiguousarray(audio[:, start : start + frame_size], dtype=np.float32)
        if sample_format == "flt":
            block = np.ascontiguousarray(block.T).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(block, format=sample_format, layout=layout)
        frame.sample_rate = sample_rate
        # pts matter: without them the AAC muxer writes no edit list for the priming
        frame.pts = start
        frame.time_base = Fraction(1, sample_rate)
        for packet in stream.encode(frame):
            container.mux(packet)
        # keep the video track as long as the audio, interleaved as a real file would be
        while video is not None and next_video_frame / video_fps <= start / sample_rate:
            _encode_video_frame(container, video, next_video_frame, video_fps)
            next_video_frame += 1
    for packet in stream.encode(None):
        container.mux(packet)
    if video is not None:
        for packet in video.encode(None):
            container.mux(packet)


def write_video_only(path: Path, duration_seconds: float = 1.0, video_codec: str = "libx264") -> Path:
    """An mp4 with a video track and no audio at all."""
    video_fps = 10
    with av.open(str(path), "w", format="mp4") as container:
        video = _add_video_stream(container, video_codec)
        for index in range(round(duration_seconds * video_fps)):
            _encode_video_frame(container, video, index, video_fps)
        for packet in video.encode(None):
            container.mux(packet)
    return path


def write_png(path: Path, width: int = 16, height: int = 16) -> Path:
    with av.open(str(path), "w", format="image2") as container:
        stream = container.add_stream("png", rate=1)
        stream.width, stream.height, stream.pix_fmt = width, height, "rgb24"
        image = np.zeros((height, width, 3), np.uint8)
        image[:, :, 0] = 200
        for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def _add_video_stream(container: av.container.OutputContainer, video_codec: str) -> av.VideoStream:
    stream = container.add_stream(video_codec, rate=10)
    stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    return stream


def _encode_video_frame(
    container: av.container.OutputContainer, stream: av.VideoStream, index: int, video_fps: int
) -> None:
    image = np.full((stream.height, stream.width, 3), (index * 10) % 256, np.uint8)
    frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
    frame.pts = index
    frame.time_base = Fraction(1, video_fps)
    for packet in stream.encode(frame):
        container.mux(packet)
