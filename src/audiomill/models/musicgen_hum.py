"""A ``hum_to_beat`` job with ``model: musicgen-melody``: MusicGen follows the hum's chroma.

The engine (audiomill.engines.hum_to_beat) loads the model first (missing weights fail
before the hum is transcribed), transcribes the hum as for the composer (the notes, key and
``melody.mid`` are in the result either way), then hands over here. MusicGen-melody reads
the hum as a one-hot chroma (audiomill.models.musicgen_chroma, librosa) and the text
"a beat with drums and bass" with the mood, key and bpm; it follows the contour, not the
exact notes, and writes one mixed track (no stems, no arrangement MIDI), mastered like the
composer's (-14 LUFS, -1 dBTP).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from audiomill import audio
from audiomill.audio.loudness import MASTER_MAX_LIMITING_DB, loudness_normalize
from audiomill.config import Settings, get_settings
from audiomill.errors import JobCancelled, ModelUnavailable
from audiomill.models import musicgen, musicgen_catalog
from audiomill.models.musicgen_chroma import one_hot_chroma
from audiomill.params.hum_to_beat import MAX_DURATION_SECONDS, MIN_DURATION_SECONDS, HumToBeatParams

if TYPE_CHECKING:
    from audiomill.analysis.melody import Transcription
    from audiomill.engines.base import EngineContext

TEXT = "a beat with drums and bass around the hummed melody"
BEATS_PER_BAR = 4  # MusicGen is told "4/4" only through the bpm; bars round the default length
TARGET_LUFS = -14.0
CEILING_DBTP = -1.0
NO_STEMS_NOTE = "MusicGen writes one mixed track: no stems and no arrangement MIDI (use model 'composer' for those)"
CONTOUR_NOTE = (
    "MusicGen-melody follows the hum's chroma (its contour), not the exact notes; bpm and key are in the text"
)


def load(ctx: EngineContext[HumToBeatParams]) -> musicgen.LoadedMusicgen:
    name = ctx.params.model
    settings: Settings = getattr(ctx, "settings", None) or get_settings()
    ctx.progress(0.01, f"loading {name}")
    loaded = musicgen.load(name, settings, ctx.device)
    if loaded.melody is None:
        raise ModelUnavailable(
            f"the folder {loaded.folder} for {name!r} holds a text-only MusicGen; it needs "
            f"{musicgen_catalog.model_info(name).repo_id} (model_type 'musicgen_melody')"
        )
    return loaded


def default_duration_seconds(transcription: Transcription, bpm: float) -> float:
    """Up to the end of the bar holding the last note (the composer's rule)."""
    bar_seconds = BEATS_PER_BAR * 60.0 / bpm
    end = max(note.end_seconds for note in transcription.notes)
    seconds = math.ceil(end / bar_seconds - 1e-6) * bar_seconds
    return min(MAX_DURATION_SECONDS, max(MIN_DURATION_SECONDS, seconds))


def run(
    ctx: EngineContext[HumToBeatParams],
    loaded: musicgen.LoadedMusicgen,
    transcription: Transcription,
    key: str | None,
    seed: int,
) -> dict[str, object]:
    """Generate and write ``mix``; returns the result fields beside the transcription's."""
    params = ctx.params
    assert loaded.melody is not None
    samples, _ = audio.decode(ctx.input_path("hum"), loaded.melody.sample_rate, 1)
    chroma = one_hot_chroma(samples[0], loaded.melody)
    duration = params.duration_seconds or default_duration_seconds(transcription, params.bpm)
    text = musicgen.fold_prompt(TEXT, mood=params.mood, key=key, bpm=params.bpm)

    def report(fraction: float, stage: str) -> None:
        ctx.progress(0.35 + 0.55 * fraction, f"{loaded.name}: {stage}")

    generated = musicgen.generate_music(
        loaded, text, duration, seed, progress=report, cancelled=ctx.cancelled, melody_chroma=chroma
    )
    if ctx.cancelled():
        raise JobCancelled()
    ctx.progress(0.92, "mastering and writing")
    mastered, outcome = loudness_normalize(
        generated.audio, generated.sample_rate, TARGET_LUFS, CEILING_DBTP, MASTER_MAX_LIMITING_DB
    )
    extension = audio.extension_for(params.output_format)
    audio.encode(ctx.output_path("mix", f"mix.{extension}"), mastered, generated.sample_rate, params)
    info = musicgen_catalog.model_info(loaded.name)
    return {
        "model": loaded.name,
        "licence": info.licence,
        "licence_note": musicgen_catalog.LICENCE_NOTE,
        "text_prompt": text,
        "seed": seed,
        "duration_seconds": mastered.shape[-1] / generated.sample_rate,
        "sample_rate": generated.sample_rate,
        "windows": generated.windows,
        "chroma_frames": int(chroma.shape[0]),
        "loudness_lufs": _finite(outcome.after.integrated_lufs),
        "true_peak_dbtp": _finite(outcome.after.true_peak_dbtp),
        "stems": [],
        "model_notes": [NO_STEMS_NOTE, CONTOUR_NOTE],
    }


def _finite(value: float) -> float | None:
    return round(float(value), 2) if np.isfinite(value) else None
