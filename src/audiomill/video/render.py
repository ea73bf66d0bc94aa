"""A still photo + a soundtrack -> an mp4 (H.264 + AAC, faststart) with a slow Ken Burns move.

The photo is decoded once (JPEG at a reduced DCT scale when it is far larger than needed),
resized once to ZOOM_END times the output size and converted once to yuv420p (BT.709,
limited range, tagged so). Every frame is then a sub-pixel bilinear sample of a moving,
shrinking window (audiomill.video.motion), written straight into the encoder's frame: the
move glides instead of stepping whole pixels, and a frame costs ~3 ms before libx264.

Lyrics/captions become a soft `mov_text` subtitle track: PyAV cannot open FFmpeg's mov_text
*encoder* (it wants an ASS header), but a mov_text sample is just a 16-bit big-endian length and
UTF-8 text, so the packets are written directly to a mux-only stream.

The soundtrack may be given as a callable: it is called only once the video is encoded, so a
caller can compose the music on another thread while the frames are encoded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import av
from av.video.reformatter import ColorRange, Colorspace
import numpy as np
from PIL import Image, ImageOps

from audiomill.audio import decode
from audiomill.video.motion import ZOOM_END, KenBurns, source_size_for

AUDIO_SAMPLE_RATE = 48_000
AUDIO_CHANNELS = 2
AAC_FRAME_SAMPLES = 1024
FADE_SECONDS_MAX = 1.0
SUBTITLE_TIME_BASE = Fraction(1, 1000)
_EXIF_ORIENTATION = 0x0112
_ORIENTATIONS_SWAPPING_SIDES = {5, 6, 7, 8}  # the 90-degree turns
_BT709 = "colorprim=bt709:transfer=bt709:colormatrix=bt709"

Subtitle = tuple[float, float, str]
ProgressFn = Callable[[float, str], None]
CancelledFn = Callable[[], bool]
AudioSource = Path | Callable[[], Path]

__all__ = ["ZOOM_END", "RenderCancelled", "fit_size", "load_photo", "poster_frame", "render_photo_video"]


class RenderCancelled(Exception):
    """The caller's `cancelled()` turned true mid-render; the partial file is removed."""


def load_photo(photo_path: Path, at_least: tuple[int, int] | None = None) -> Image.Image:
    """The photo upright (EXIF orientation applied) in RGB. With ``at_least`` (a size in
    the upright photo's orientation), a JPEG may be decoded at a reduced scale that still
    covers it (libjpeg's DCT scaling: a 12-MP photo for 1080p decodes at half size, 4x faster)."""
    with Image.open(photo_path) as image:
        if at_least is not None and image.format == "JPEG":
            turned = image.getexif().get(_EXIF_ORIENTATION) in _ORIENTATIONS_SWAPPING_SIDES
            image.draft("RGB", (at_least[1], at_least[0]) if turned else at_least)
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


def _yuv_planes(image: Image.Image) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RGB -> yuv420p (BT.709, limited range) by swscale, as three numpy planes."""
    frame = av.VideoFrame.from_ndarray(np.asarray(image), format="rgb24").reformat(
        format="yuv420p",
        src_colorspace=Colorspace.ITU709,
        dst_colorspace=Colorspace.ITU709,
        src_color_range=ColorRange.JPEG,
        dst_color_range=ColorRange.MPEG,
    )
    return tuple(_plane_view(frame, i).copy() for i in range(3))  # type: ignore[return-value]


def _plane_view(frame: av.VideoFrame, index: int) -> np.ndarray:
    plane = frame.planes[index]
    return np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]


def _brightness(index: int, frames_total: int, fade_frames: int) -> float:
    if fade_frames <= 0:
        return 1.0
    return min(1.0, index / fade_frames, (frames_total - 1 - index) / fade_frames)


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
    audio: AudioSource,
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
    poster_path: Path | None = None,
) -> dict[str, float | int | str]:
    """Render the photo with a Ken Burns move over the soundtrack; returns what was made.

    ``audio`` is a file, or a callable returning one: called once the video is encoded.
    ``poster_path``: the middle frame is also saved there as a JPEG (as rendered: no
    decoding of the video afterwards)."""
    started = time.perf_counter()
    if duration_seconds <= 0:
        raise ValueError("duration_seconds must be positive")
    with Image.open(photo_path) as probe:
        turned = probe.getexif().get(_EXIF_ORIENTATION) in _ORIENTATIONS_SWAPPING_SIDES
        photo_width, photo_height = (probe.height, probe.width) if turned else probe.size
    width, height = fit_size(photo_width, photo_height, width_max, height_max)
    source_size = source_size_for(width, height, photo_width, photo_height)
    photo = load_photo(photo_path, at_least=source_size)
    # Resized once to the largest size the move needs; the frames only ever sample it.
    source = photo if photo.size == source_size else photo.resize(source_size, Image.Resampling.LANCZOS)
    motion = KenBurns(_yuv_planes(source), width, height)
    del photo, source
    video_frames = max(1, round(duration_seconds * fps))
    fade_frames = round(_fade_seconds(duration_seconds) * fps)
    audio_frames_total = round(duration_seconds * AUDIO_SAMPLE_RATE)

    output_path.parent.mkdir(parents=True, exist_ok=True)
    container = av.open(str(output_path), "w", format="mp4", container_options={"movflags": "+faststart"})
    try:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"crf": str(crf), "preset": preset, "x264-params": _BT709}
        audio_stream = container.add_stream("aac", rate=AUDIO_SAMPLE_RATE, layout="stereo")
        subtitle_stream = container.add_mux_stream("mov_text") if subtitles else None

        last = max(1, video_frames - 1)
        for index in range(video_frames):
            if cancelled is not None and index % fps == 0 and cancelled():
                raise RenderCancelled("cancelled")
            frame = av.VideoFrame(width, height, "yuv420p")
            motion.frame(index / last, _brightness(index, video_frames, fade_frames), _planes(frame))
            if poster_path is not None and index == video_frames // 2:
                _save_poster(frame, poster_path)
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            for packet in video.encode(frame):
                container.mux(packet)
            if progress is not None and index % fps == 0:
                progress(0.95 * index / video_frames, "video")
        for packet in video.encode(None):
            container.mux(packet)

        audio_path = audio if isinstance(audio, Path) else audio()
        soundtrack = _soundtrack(audio_path, audio_frames_total)
        for offset in range(0, audio_frames_total, AAC_FRAME_SAMPLES):
            block = soundtrack[:, offset : offset + AAC_FRAME_SAMPLES]
            audio_frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="stereo")
            audio_frame.sample_rate = AUDIO_SAMPLE_RATE
            audio_frame.pts = offset
            for packet in audio_stream.encode(audio_frame):
                container.mux(packet)
        for packet in audio_stream.encode(None):
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


def _save_poster(frame: av.VideoFrame, path: Path) -> None:
    rgb = frame.reformat(
        format="rgb24",
        src_colorspace=Colorspace.ITU709,
        dst_colorspace=Colorspace.ITU709,
        src_color_range=ColorRange.MPEG,
        dst_color_range=ColorRange.JPEG,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb.to_image().save(path, format="JPEG", quality=88)


def _planes(frame: av.VideoFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return _plane_view(frame, 0), _plane_view(frame, 1), _plane_view(frame, 2)


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
