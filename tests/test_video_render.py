"""render_photo_video: the mp4 decodes with PyAV and holds what was asked for."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from audiomill.video.render import fit_size, poster_frame, render_photo_video
from tests.audio_samples import stereo_chords, write_wav


def _photo(path: Path, width: int, height: int, orientation: int | None = None) -> Path:
    """A photo with detail everywhere (gradients + a grid) so a zoom/pan changes pixels."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([(x * 255 // width), (y * 255 // height), ((x // 16 + y // 16) % 2) * 200 + 20], axis=-1).astype(
        np.uint8
    )
    image = Image.fromarray(rgb)
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    image.save(path, format="JPEG", quality=90, exif=exif)
    return path


def _decode_all(path: Path) -> tuple[list[np.ndarray], np.ndarray, av.container.InputContainer]:
    container = av.open(str(path))
    frames = [f.to_ndarray(format="gray").astype(np.int16) for f in container.decode(video=0)]
    container.seek(0)
    audio = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    return frames, audio, container


def test_fit_size_keeps_aspect_and_even() -> None:
    assert fit_size(4000, 3000, 1920, 1080) == (1440, 1080)
    assert fit_size(3000, 4000, 1920, 1080) == (810, 1080)
    assert fit_size(301, 201, 1920, 1080) == (300, 200)


def test_render_photo_video_decodes_moves_and_sounds(tmp_path: Path) -> None:
    photo = _photo(tmp_path / "photo.jpg", 640, 480)
    audio = write_wav(tmp_path / "music.wav", stereo_chords(5.0), 44100)  # longer: trimmed
    out = tmp_path / "clip.mp4"
    seen: list[float] = []
    facts = render_photo_video(
        photo,
        audio,
        out,
        duration_seconds=3.0,
        width_max=320,
        height_max=320,
        fps=20,
        subtitles=[(0.0, 1.5, "first line"), (1.5, 3.0, "second líne")],
        progress=lambda fraction, stage: seen.append(fraction),
        poster_path=tmp_path / "rendered-poster.jpg",
    )
    assert (facts["width"], facts["height"], facts["frames"]) == (320, 240, 60)
    assert seen[-1] == 1.0

    frames, samples, container = _decode_all(out)
    with container:
        video_streams = container.streams.video
        audio_streams = container.streams.audio
        assert len(video_streams) == 1 and video_streams[0].codec_context.name == "h264"
        assert len(audio_streams) == 1 and audio_streams[0].codec_context.name == "aac"
        assert (video_streams[0].width, video_streams[0].height) == (320, 240)  # 4:3 kept
        assert abs(float(container.duration) / av.time_base - 3.0) <= 0.1
        subtitle_streams = container.streams.subtitles
        assert len(subtitle_streams) == 1 and subtitle_streams[0].codec_context.name == "mov_text"
    with av.open(str(out)) as fresh:
        packets = fresh.demux(fresh.streams.subtitles[0])
        cues = [bytes(p)[2:].decode() for p in packets if p.size > 2]
        assert cues == ["first line", "second líne"]
    assert len(frames) == 60
    # The middle of the clip (past the fades) still moves frame to frame: the Ken Burns move.
    middle = frames[20:40]
    differences = [np.abs(a - b).mean() for a, b in zip(middle, middle[1:], strict=False)]
    assert min(differences) > 0.05, differences
    assert np.abs(frames[20] - frames[39]).mean() > 2.0
    # Fade in from black.
    assert frames[0].mean() < 20 < frames[30].mean()
    assert np.sqrt(np.mean(samples**2)) > 0.05
    assert abs(len(samples) / 2 / 48000 - 3.0) < 0.1 or abs(len(samples) / 48000 - 3.0) < 0.1

    poster = poster_frame(out, tmp_path / "poster.jpg")
    with Image.open(poster) as image:
        assert image.format == "JPEG" and image.size == (320, 240)
    # the poster saved while rendering is the middle frame, as the video shows it
    with Image.open(tmp_path / "rendered-poster.jpg") as rendered:
        assert rendered.size == (320, 240)
        shown = np.asarray(rendered.convert("L"), dtype=np.int16)
    assert np.abs(shown - frames[30]).mean() < 4.0


def test_short_audio_is_padded_and_exif_orientation_honoured(tmp_path: Path) -> None:
    # Stored landscape 480x320 with orientation 6 (rotate 90): shown portrait 320x480.
    photo = _photo(tmp_path / "rotated.jpg", 480, 320, orientation=6)
    audio = write_wav(tmp_path / "short.wav", stereo_chords(1.0), 44100)
    out = tmp_path / "clip.mp4"
    facts = render_photo_video(photo, audio, out, duration_seconds=2.0, width_max=200, height_max=300, fps=10)
    assert (facts["width"], facts["height"]) == (200, 300)
    with av.open(str(out)) as container:
        assert (container.streams.video[0].width, container.streams.video[0].height) == (200, 300)
        assert abs(float(container.duration) / av.time_base - 2.0) <= 0.1
        assert not container.streams.subtitles


def test_cancelled_render_leaves_nothing(tmp_path: Path) -> None:
    photo = _photo(tmp_path / "photo.jpg", 160, 120)
    audio = write_wav(tmp_path / "music.wav", stereo_chords(1.0), 44100)
    out = tmp_path / "clip.mp4"
    from audiomill.video.render import RenderCancelled

    with pytest.raises(RenderCancelled):
        render_photo_video(photo, audio, out, 2.0, fps=10, cancelled=lambda: True)
    assert not out.exists()
