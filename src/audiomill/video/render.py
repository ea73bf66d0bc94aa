"""A still photo + a soundtrack -> an mp4 (H.264 + AAC, faststart) with a slow Ken Burns move.

The motion is done by FFmpeg's own filters through PyAV's filter graph: the photo is pushed
once per output frame into `scale` (evaluated per frame: the zoom) -> `crop` (per-frame x/y:
the pan) -> `fade` in/out -> `format=yuv420p`. swscale does the resize in C, far cheaper than
resizing with Pillow on every frame (see bench/photo_video.py for both, measured).

Lyrics/captions become a soft `mov_text` subtitle track: PyAV cannot open FFmpeg's mov_text
*encoder* (it wants an ASS header), but a mov_text sample is just a 16-bit big-endian length and
UTF-8 text, so the packets are written directly to a mux-only stream.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.filter import Graph
from PIL import Image, ImageOps

from audiomill.audio import decode

AUDIO_SAMPLE_RATE = 48_000
AUDIO_CHANNELS = 2
AAC_FRAME_SAMPLES = 1024
# How far the Ken Burns move zooms in over the whole clip: slow enough to read as "cinematic".
ZOOM_END = 1.12
FADE_SECONDS_MAX = 1.0
# The move is computed at SUPERSAMPLE times the output size and then scaled down, so its
# whole-pixel steps shrink on screen. Measured on 2 busy cores at 1280x718: 1x = 9 ms a frame
# (filters only), 2x = 88 ms (scale re-initialises swscale for a new size every frame, and at
# 2x that is a 2868x1609 image), so 1x it is: the move then advances in monotonic 1-px steps.
SUPERSAMPLE = 1
SUBTITLE_TIME_BASE = Fraction(1, 1000)

Subtitle = tuple[float, float, str]
ProgressFn = Callable[[float, str], None]
CancelledFn = Callable[[], bool]


class RenderCancelled(Exception):
    """The caller's `cancelled()` turned true mid-render; the partial file is removed."""


def load_photo(photo_path: Path) -> Image.Image:
    """The photo upright (EXIF orientation applied) in RGB."""
    with Image.open(photo_path) as image:
        upright = ImageOps.exif_transpose(image)
        return upright.convert("RGB")


def fit_size(width: int, height: int, width_max: int, height_max: int) -> tuple[int, int]:
    """The largest even size with the photo's aspect ratio that fits within the maximum."""
    scale = min(width_max / width, height_max / height, 1.0)
    fitted_width = max(2, int(width * scale) // 2 * 2)
    fitted_height = max(2, int(height * scale) // 2 * 2)
    return fitted_width, fitted_height


def _fade_seconds(duration_seconds: float) -> float:
    return min(FADE_SECONDS_MAX, duration_seconds / 4)


def _motion_graph(source: Image.Image, width: int, height: int, fps: int, duration_seconds: float) -> Graph:
    """buffer -> scale (zoom, per frame) -> crop (pan, per frame) -> scale down -> fade in/out
    -> yuv420p."""
    graph = Graph()
    buffer = graph.add_buffer(
        width=source.width, height=source.height, format=av.VideoFormat("rgb24"), time_base=Fraction(1, fps)
    )
    # FFmpeg's `crop` and `scale` move in whole pixels: a slow zoom at the output size grows
    # the window 1 px every few frames. Both offsets grow monotonically with the zoom, so the
    # picture never shakes back and forth as `zoompan`'s rounding does. (The sub-pixel
    # `perspective` filter is GPL and not in PyAV's wheel.)
    big_width, big_height = width * SUPERSAMPLE, height * SUPERSAMPLE
    progress = f"(n/{max(1, round(duration_seconds * fps) - 1)})"
    zoom = f"(1+{ZOOM_END - 1:.6f}*{progress})"
    zoom_in = graph.add(
        "scale",
        f"w='ceil({big_width}*{zoom})':h='ceil({big_height}*{zoom})':eval=frame:flags=bilinear",
    )
    # Pan from the upper left third towards the centre-right as the zoom grows.
    pan = graph.add(
        "crop",
        f"w={big_width}:h={big_height}:x='(iw-{big_width})*(0.3+0.4*{progress})'"
        f":y='(ih-{big_height})*(0.35+0.3*{progress})'",
    )
    shrink = graph.add("scale", f"w={width}:h={height}:flags=area") if SUPERSAMPLE > 1 else None
    fade = _fade_seconds(duration_seconds)
    fade_in = graph.add("fade", f"t=in:st=0:d={fade:.3f}")
    fade_out = graph.add("fade", f"t=out:st={duration_seconds - fade:.3f}:d={fade:.3f}")
    to_yuv = graph.add("format", "yuv420p")
    sink = graph.add("buffersink")
    buffer.link_to(zoom_in)
    zoom_in.link_to(pan)
    if shrink is not None:
        pan.link_to(shrink)
        shrink.link_to(fade_in)
    else:
        pan.link_to(fade_in)
    fade_in.link_to(fade_out)
    fade_out.link_to(to_yuv)
    to_yuv.link_to(sink)
    graph.configure()
    return graph


def _soundtrack(audio_path: Path, frames_total: int) -> np.ndarray:
    """The audio at 48 kHz stereo, trimmed or zero-padded to exactly frames_total, with short
    fades so a cut never clicks."""
    audio, _ = decode(audio_path, sample_rate=AUDIO_SAMPLE_RATE, channels=AUDIO_CHANNELS)
    audio = audio[:, :frames_total]
    if audio.shape[1] < frames_total:
        audio = np.pad(audio, ((0, 0), (0, frames_total - audio.shape[1])))
    fade_frames = min(int(0.05 * AUDIO_SAMPLE_RATE), frames_total // 4)
    if fade_frames > 0:
        ramp = np.linspace(0.0, 1.0, fade_frames, dtype=np.float32)
        audio[:, :fade_frames] *= ramp
        audio[:, -fade_frames:] *= ramp[::-1]
    return np.ascontiguousarray(audio, dtype=np.float32)


def _mux_subtitles(
    container: av.container.OutputContainer,
    stream: av.stream.Stream,
    subtitles: Sequence[Subtitle],
    duration_seconds: float,
) -> None:
    for start_seconds, end_seconds, text in sorted(subtitles):
        start_seconds = max(0.0, start_seconds)
        end_seconds = min(end_seconds, duration_seconds)
        if end_seconds <= start_seconds or not text.strip():
            continue
        payload = text.strip().encode("utf-8")[:65_535]
        packet = av.Packet(len(payload).to_bytes(2, "big") + payload)
        packet.stream = stream
        packet.time_base = SUBTITLE_TIME_BASE
        packet.pts = packet.dts = round(start_seconds * 1000)
        packet.duration = round((end_seconds - start_seconds) * 1000)
        container.mux(packet)


def render_photo_video(
    photo_path: Path,
    audio_path: Path,
    output_path: Path,
    duration_seconds: float,
    width_max: int = 1920,
    height_max: int = 1080,
    fps: int = 25,
    subtitles: Sequence[Subtitle] | None = None,
    progress: ProgressFn | None = None,
    cancelled: CancelledFn | None = None,
    crf: int = 23,
    preset: str = "veryfast",
) -> dict[str, float | int | str]:
    """Render the photo with a Ken Burns move over the soundtrack; returns what was made."""
    started = time.perf_counter()
    if duration_seconds <= 0:
        raise ValueError("duration_seconds must be positive")
    photo = load_photo(photo_path)
    width, height = fit_size(photo.width, photo.height, width_max, height_max)
    # Resized once to the largest size the move needs: the filters never touch a 12-MP
    # original per frame, and swscale only ever shrinks (sharp).
    source_size = (
        min(photo.width, math.ceil(width * SUPERSAMPLE * ZOOM_END)),
        min(photo.height, math.ceil(height * SUPERSAMPLE * ZOOM_END)),
    )
    source = photo.resize(source_size, Image.Resampling.LANCZOS)
    video_frames = max(1, round(duration_seconds * fps))
    audio_frames_total = round(duration_seconds * AUDIO_SAMPLE_RATE)
    soundtrack = _soundtrack(audio_path, audio_frames_total)

    output_path.parent.mkdir(parents=True, exist_ok=True)
    container = av.open(str(output_path), "w", format="mp4", container_options={"movflags": "+faststart"})
    try:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"crf": str(crf), "preset": preset}
        audio = container.add_stream("aac", rate=AUDIO_SAMPLE_RATE, layout="stereo")
        subtitle_stream = container.add_mux_stream("mov_text") if subtitles else None

        graph = _motion_graph(source, width, height, fps, duration_seconds)
        still = av.VideoFrame.from_ndarray(np.asarray(source), format="rgb24")
        for index in range(video_frames):
            if cancelled is not None and index % fps == 0 and cancelled():
                raise RenderCancelled("cancelled")
            still.pts = index
            still.time_base = Fraction(1, fps)
            graph.push(still)
            for frame in _pull_all(graph):
                frame.pts = index
                for packet in video.encode(frame):
                    container.mux(packet)
            if progress is not None and index % fps == 0:
                progress(0.9 * index / video_frames, "video")
        for packet in video.encode(None):
            container.mux(packet)

        for offset in range(0, audio_frames_total, AAC_FRAME_SAMPLES):
            block = soundtrack[:, offset : offset + AAC_FRAME_SAMPLES]
            audio_frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="stereo")
            audio_frame.sample_rate = AUDIO_SAMPLE_RATE
            audio_frame.pts = offset
            for packet in audio.encode(audio_frame):
                container.mux(packet)
        for packet in audio.encode(None):
            container.mux(packet)
        if subtitle_stream is not None and subtitles:
            _mux_subtitles(container, subtitle_stream, subtitles, duration_seconds)
    except BaseException:
        container.close()
        output_path.unlink(missing_ok=True)
        raise
    container.close()
    if progress is not None:
        progress(1.0, "video")
    return {
        "width": width,
        "height": height,
        "fps": fps,
        "frames": video_frames,
        "duration_seconds": video_frames / fps,
        "subtitle_cues": len(subtitles or ()),
        "render_seconds": round(time.perf_counter() - started, 3),
    }


def _pull_all(graph: Graph) -> list[av.VideoFrame]:
    frames: list[av.VideoFrame] = []
    while True:
        try:
            frame = graph.pull()
            if isinstance(frame, av.VideoFrame):
                frames.append(frame)
        except (av.error.BlockingIOError, av.error.EOFError):
            return frames


def poster_frame(video_path: Path, output_path: Path, at_seconds: float | None = None) -> Path:
    """A JPEG of the frame at `at_seconds` (default: the middle, past the fade-in)."""
    with av.open(str(video_path)) as container:
        stream = container.streams.video[0]
        duration = float(container.duration or 0) / av.time_base
        target = duration / 2 if at_seconds is None else at_seconds
        chosen: av.VideoFrame | None = None
        for frame in container.decode(stream):
            chosen = frame
            if frame.time is not None and frame.time >= target:
                break
        if chosen is None:
            raise ValueError(f"{video_path} holds no video frame")
        output_path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(chosen.to_ndarray(format="rgb24")).save(output_path, format="JPEG", quality=88)
    return output_path
