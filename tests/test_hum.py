"""Hum transcription against synthetic hums (vibrato, glides, 25-cent detuning, noise),
scored by mir_eval's onset+pitch F1; hum-to-beat end to end."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from audiomill.analysis.melody import TranscribedNote, quantize, transcribe_samples
from tests.hum_samples import SAMPLE_RATE, melody_on_grid, onset_pitch_f1, render_hum

pytest.importorskip("mir_eval")


def _as_tuples(notes: tuple[TranscribedNote, ...] | list[TranscribedNote]) -> list[tuple[int, float, float]]:
    return [(n.pitch, n.start_seconds, n.duration_seconds) for n in notes]


def test_detuned_vibrato_hum_is_transcribed() -> None:
    truth = melody_on_grid(110, beats=12, seed=3, tonic=57)
    hum = render_hum(truth, detune_cents=25, vibrato_cents=35, snr_db=25, seed=3)
    raw = transcribe_samples(hum, SAMPLE_RATE)
    quantized = transcribe_samples(hum, SAMPLE_RATE, bpm=110)
    assert 15 <= raw.tuning_cents <= 35  # the singer's offset was found (and removed)
    assert onset_pitch_f1(truth, _as_tuples(raw.notes)) >= 0.85
    assert onset_pitch_f1(truth, _as_tuples(quantized.notes)) >= 0.9
    assert [n.pitch for n in quantized.notes] == [n.pitch for n in truth]


@pytest.mark.slow
@pytest.mark.parametrize(("bpm", "minor", "seed"), [(90, False, 1), (128, True, 2), (150, False, 4)])
def test_more_hums(bpm: int, minor: bool, seed: int) -> None:
    truth = melody_on_grid(bpm, beats=16, seed=seed, tonic=55 + seed, minor=minor)
    hum = render_hum(truth, detune_cents=-25 if seed % 2 else 25, snr_db=20, seed=seed)
    assert onset_pitch_f1(truth, _as_tuples(transcribe_samples(hum, SAMPLE_RATE, bpm=bpm).notes)) >= 0.9


def test_quantize_snaps_to_sixteenths_without_overlap() -> None:
    notes = [TranscribedNote(60, 0.02, 0.47), TranscribedNote(62, 0.49, 0.03), TranscribedNote(64, 0.55, 0.4)]
    snapped = quantize(notes, 120)
    step = 0.125
    for note in snapped:
        assert note.start_seconds / step == pytest.approx(round(note.start_seconds / step))
        assert note.duration_seconds >= step - 1e-9
    for before, after in itertools.pairwise(snapped):
        assert after.start_seconds >= before.end_seconds - 1e-9


def test_silence_has_no_notes() -> None:
    result = transcribe_samples(np.zeros(SAMPLE_RATE * 2, np.float32), SAMPLE_RATE, bpm=120)
    assert result.notes == () and result.key is None


@pytest.mark.slow
def test_hum_to_beat_engine_plays_the_hummed_melody(tmp_path: Path) -> None:
    import pretty_midi

    from audiomill import audio
    from audiomill.engines import hum_to_beat
    from audiomill.engines.base import LocalContext
    from audiomill.params import HumToBeatParams

    truth = melody_on_grid(100, beats=12, seed=5, tonic=60)
    source = tmp_path / "hum.wav"
    audio.encode(source, render_hum(truth, seed=5)[None, :], SAMPLE_RATE)
    ctx = LocalContext(HumToBeatParams(bpm=100, mood="happy", seed=7), {"hum": source}, tmp_path / "out")
    hum_to_beat.run(ctx)
    assert {"mix", "melody_midi", "midi"} <= set(ctx.outputs) and "stem:melody" in ctx.outputs
    result = ctx.result
    assert result["bpm"] == 100 and result["key"] and result["notes"]
    assert [n["pitch"] for n in result["notes"]] == [n.pitch for n in truth]
    melody = pretty_midi.PrettyMIDI(str(ctx.outputs["melody_midi"][0]))
    assert [n.pitch for n in melody.instruments[0].notes] == [n.pitch for n in truth]
    arrangement = pretty_midi.PrettyMIDI(str(ctx.outputs["midi"][0]))
    played = next(i for i in arrangement.instruments if i.name == "melody")
    assert [(n.pitch, round(n.start, 3)) for n in played.notes] == [(n.pitch, round(n.start_seconds, 3)) for n in truth]
    # the rendered melody stem sounds the hummed pitches (its instrument's tremolo may
    # re-articulate a long note, so pitch at each note's middle is what is compared)
    stem, rate = audio.decode(ctx.outputs["stem:melody"][0], SAMPLE_RATE, 1)
    heard = transcribe_samples(stem, rate, bpm=100).notes

    def heard_at(seconds: float) -> int | None:
        return next((n.pitch for n in heard if n.start_seconds <= seconds < n.end_seconds), None)

    matches = [heard_at(n.start_seconds + n.duration_seconds / 2) == n.pitch for n in truth]
    assert sum(matches) >= 0.9 * len(truth), matches
    mix, _ = audio.decode(ctx.outputs["mix"][0])
    assert mix.shape[0] == 2 and mix.shape[1] > 0
