"""Hum to beat (job kind ``hum_to_beat``): transcribe a hummed melody (audiomill.analysis
.melody: pYIN, tuning offset, median filter, notes quantized to the tempo's sixteenths),
then let the composer (audiomill.music.compose_for_melody) harmonise it bar by bar, add
drums and bass in the mood and play the melody on an instrument.

Outputs: ``mix``, ``stem:<part>`` (drums, bass, chords, pad, melody), ``melody_midi``
(melody.mid: the transcription alone) and ``midi`` (music.mid: the arrangement). The
result: the notes (pitch, start, duration in seconds), key, bpm, the singer's tuning
offset, and the composer's description (style, chords, loudness).

``model: musicgen-melody`` (weights needed, CC-BY-NC-4.0): MusicGen-melody conditioned on
the hum's chroma writes ``mix`` instead (audiomill.models.musicgen_hum); ``melody_midi`` and
the transcription are there too, stems and the arrangement are not.
"""

from __future__ import annotations

import secrets
from typing import Any

import pretty_midi

from audiomill import audio
from audiomill.analysis.melody import Transcription, transcribe_file
from audiomill.engines.base import EngineContext, raise_if_cancelled
from audiomill.errors import InvalidInput
from audiomill.params.hum_to_beat import MAX_SEED, HumToBeatParams

MELODY_PROGRAM = 0  # the melody.mid output: acoustic grand, a neutral reference


def setup() -> None:
    """pYIN's numba kernels compile on first use: do it once per worker."""
    import numpy as np

    from audiomill.analysis.melody import SAMPLE_RATE, transcribe_samples

    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    transcribe_samples((0.3 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32), SAMPLE_RATE, bpm=120)


def _melody_midi(transcription: Transcription, bpm: float) -> pretty_midi.PrettyMIDI:
    midi = pretty_midi.PrettyMIDI(initial_tempo=float(bpm))
    instrument = pretty_midi.Instrument(MELODY_PROGRAM, name="melody")
    for note in transcription.notes:
        instrument.notes.append(pretty_midi.Note(96, note.pitch, note.start_seconds, note.end_seconds))
    midi.instruments.append(instrument)
    return midi


def run(ctx: EngineContext[HumToBeatParams]) -> None:
    from audiomill.music import Note, compose_for_melody

    params = ctx.params
    musicgen_hum: Any = None
    loaded: Any = None
    if params.model != "composer":
        # torch and transformers only for this path; the weights fail before transcription.
        from audiomill.models import musicgen_hum

        loaded = musicgen_hum.load(ctx)
        raise_if_cancelled(ctx)
    ctx.progress(0.05, "transcribing the hum")
    transcription = transcribe_file(ctx.input_path("hum"), bpm=float(params.bpm))
    if not transcription.notes:
        raise InvalidInput(
            "no melody was found in the hum: record one voice humming or singing clearly, "
            "a few seconds long, with little background noise"
        )
    raise_if_cancelled(ctx)
    key = params.key or (transcription.key.name if transcription.key else None)
    seed = params.seed if params.seed is not None else secrets.randbelow(MAX_SEED + 1)
    if loaded is not None:
        generated = musicgen_hum.run(ctx, loaded, transcription, key, seed)
        _melody_midi(transcription, params.bpm).write(str(ctx.output_path("melody_midi", "melody.mid")))
        ctx.set_result(
            notes=[n.as_dict() for n in transcription.notes],
            key=key,
            transcribed_key=transcription.key.name if transcription.key else None,
            bpm=params.bpm,
            mood=params.mood,
            tuning_cents=transcription.tuning_cents,
            voiced_fraction=transcription.voiced_fraction,
            **generated,
        )
        ctx.progress(1.0, "done")
        return
    notes = [Note(n.pitch, n.start_seconds, n.duration_seconds) for n in transcription.notes]
    ctx.progress(0.35, "arranging and rendering")
    with compose_for_melody(
        notes, float(params.bpm), key=key, mood=params.mood, seed=seed, duration_seconds=params.duration_seconds
    ) as piece:
        raise_if_cancelled(ctx)
        ctx.progress(0.7, "writing files")
        extension = audio.extension_for(params.output_format)
        for output_name, source in [("mix", "mix")] + [(f"stem:{stem}", stem) for stem in piece.stem_names]:
            raise_if_cancelled(ctx)
            with audio.AudioWriter(
                ctx.output_path(output_name, f"{source}.{extension}"), piece.sample_rate, 2, params
            ) as writer:
                for block in piece.blocks(source):
                    writer.write(block)
        piece.write_midi(ctx.output_path("midi", "music.mid"))
        description: dict[str, Any] = piece.describe()
    _melody_midi(transcription, params.bpm).write(str(ctx.output_path("melody_midi", "melody.mid")))
    ctx.set_result(
        notes=[n.as_dict() for n in transcription.notes],
        key=description.get("key", key),
        transcribed_key=transcription.key.name if transcription.key else None,
        bpm=params.bpm,
        mood=params.mood,
        tuning_cents=transcription.tuning_cents,
        voiced_fraction=transcription.voiced_fraction,
        arrangement=description,
    )
    ctx.progress(1.0, "done")
