"""Photo video: seconds to render a 30 s 1280x720 H.264/AAC mp4 from a 12-MP photo.

``python -m bench.bench_photo_video [--seconds 30]``

Peers, same photo, soundtrack, encoder settings (libx264 veryfast crf 23, 25 fps) and move:
  filters  audiomill.video.render.render_photo_video: the Ken Burns move in FFmpeg's filter
           graph through PyAV (scale per frame at 2x, crop, scale down, fade)
  pillow   the same move done by Pillow on every frame (Image.resize with a sub-pixel box from
           a copy prescaled once), faded in numpy, then the same encoder
Timings wait (bounded) for a quiet machine and print the load; wall and process CPU seconds
(all threads, libx264's included) are both printed, as a busy machine distorts wall time.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from audiomill.video import render
from bench.common import wait_for_quiet
from tests.audio_samples import stereo_chords, write_wav


def synthetic_photo(path: Path, width: int = 4624, height: int = 2600) -> Path:
    """A 12-MP JPEG with detail everywhere (gradients, grid, noise)."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // width, y * 255 // height, ((x // 40 + y // 40) % 2) * 180], -1)
    rgb = np.clip(rgb + rng.integers(-20, 20, rgb.shape), 0, 255).astype(np.uint8)
    Image.fromarray(rgb).save(path, quality=90)
    return path


def render_with_pillow(photo_path: Path, audio_path: Path, output_path: Path, seconds: float, fps: int = 25) -> float:
    started = time.perf_counter()
    photo = render.load_photo(photo_path)
    width, height = render.fit_size(photo.width, photo.height, 1280, 720)
    source = photo.resize(
        (math.ceil(width * render.ZOOM_END), math.ceil(height * render.ZOOM_END)),
        Image.Resampling.LANCZOS,
    )
    frames_total = round(seconds * fps)
    fade_frames = round(render._fade_seconds(seconds) * fps)
    soundtrack = render._soundtrack(audio_path, round(seconds * render.AUDIO_SAMPLE_RATE))
    with av.open(str(output_path), "w", format="mp4", container_options={"movflags": "+faststart"}) as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"crf": "23", "preset": "veryfast"}
        audio = container.add_stream("aac", rate=render.AUDIO_SAMPLE_RATE, layout="stereo")
        for index in range(frames_total):
            progress = index / max(1, frames_total - 1)
            window = 1 - (1 - 1 / render.ZOOM_END) * progress
            box_width, box_height = source.width * window, source.height * window
            left = (source.width - box_width) * (0.3 + 0.4 * progress)
            top = (source.height - box_height) * (0.35 + 0.3 * progress)
            image = source.resize(
                (width, height), Image.Resampling.BILINEAR, box=(left, top, left + box_width, top + box_height)
            )
            gain = min(1.0, (index + 1) / fade_frames, (frames_total - index) / fade_frames)
            if gain < 1.0:
                image = Image.fromarray((np.asarray(image) * gain).astype(np.uint8))
            frame = av.VideoFrame.from_image(image)
            frame.pts, frame.time_base = index, Fraction(1, fps)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        for offset in range(0, soundtrack.shape[1], render.AAC_FRAME_SAMPLES):
            block = np.ascontiguousarray(soundtrack[:, offset : offset + render.AAC_FRAME_SAMPLES])
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = render.AUDIO_SAMPLE_RATE, offset
            container.mux(audio.encode(frame))
        container.mux(audio.encode(None))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--max-wait-seconds", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        photo = synthetic_photo(root / "photo.jpg")
        audio = write_wav(root / "music.wav", stereo_chords(args.seconds), 44100)
        load = wait_for_quiet(max_wait_seconds=args.max_wait_seconds)
        cpu_started = time.process_time()
        facts = render.render_photo_video(
            photo, audio, root / "filters.mp4", args.seconds, width_max=1280, height_max=720
        )
        filters_seconds = float(facts["render_seconds"])
        filters_cpu = time.process_time() - cpu_started
        load_after = wait_for_quiet(max_wait_seconds=args.max_wait_seconds)
        cpu_started = time.process_time()
        pillow_seconds = render_with_pillow(photo, audio, root / "pillow.mp4", args.seconds)
        pillow_cpu = time.process_time() - cpu_started
        print(
            f"{args.seconds:.0f} s {facts['width']}x{facts['height']} from a 12-MP photo: "
            f"filters {filters_seconds:.1f} s ({(root / 'filters.mp4').stat().st_size / 1e6:.1f} MB), "
            f"pillow {pillow_seconds:.1f} s ({(root / 'pillow.mp4').stat().st_size / 1e6:.1f} MB), "
            f"pillow/filters {pillow_seconds / filters_seconds:.2f}x wall; "
            f"CPU (all threads) filters {filters_cpu:.1f} s, pillow {pillow_cpu:.1f} s, "
            f"pillow/filters {pillow_cpu / filters_cpu:.2f}x; "
            f"1-min load {load:.1f} / {load_after:.1f}"
        )


if __name__ == "__main__":
    main()
