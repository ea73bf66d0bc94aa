"""The embedded composer, measured on its audio: tempo (librosa), key, exact duration,
-14 LUFS, -1 dBTP, stems that sum to the mix, reproducibility, loops, arranging a melody."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from audiomill.audio.loudness import measure
from audiomill.engines import generate
from audiomill.engines.base import LocalContext
from audiomill.music import STYLES, STYLES_BY_NAME, Note, compose, compose_for_melody
from audiomill.music.prompt import Brief
from audiomill.music.render import SAMPLE_RATE
from audiomill.music.theory import estimate_key, parse_key
from audiomill.params.generate import GenerateParams

librosa = pytest.importorskip("librosa")


def measured_bpm(mix: np.ndarray, sample_rate: int) -> float:
    """librosa's tempo of the mix (fine hop: 5.8 ms, so the tempo grid is ~1 % wide), with
    a flat prior over 30-320 bpm: librosa's default prior leans to 120 bpm and, in slow
    6/8, prefers the (non-metrical) quarter note to a dotted-quarter beat that the onset
    autocorrelation clearly favours."""
    from scipy.stats import uniform

    mono = librosa.resample(mix.mean(axis=0), orig_sr=sample_rate, target_sr=22050)
    envelope = librosa.onset.onset_strength(y=mono, sr=22050, hop_length=128)
    return float(
        librosa.feature.tempo(
            onset_envelope=envelope, sr=22050, hop_length=128, aggregate=np.median, prior=uniform(30, 290)
        )[0]
    )


def tempo_matches(measured: float, asked: float, time_signature: str) -> bool:
    """Within 2 % of the asked tempo, allowing the tracker to count another level of the
    meter: double or half speed in 4/4; the bar (a fast waltz is felt one to a bar) or the
    eighths in 3/4; the bar or the eighths (three per beat) in 6/8."""
    factors = {"4/4": (0.5, 1.0, 2.0), "3/4": (1 / 3, 1.0, 2.0), "6/8": (0.5, 1.0, 2.0, 3.0)}[time_signature]
    return any(abs(measured / (asked * f) - 1.0) <= 0.02 for f in factors)


def written_key(piece) -> object:  # type: ignore[no-untyped-def]
    """Krumhansl-Schmuckler on the pitched notes actually rendered (drums left out)."""
    histogram = [0.0] * 12
    for part in piece.arrangement.parts.values():
        if not part.is_drum:
            for note in part.notes:
                histogram[note.pitch % 12] += note.duration_seconds
    return estimate_key(histogram)


def audio_key(mix: np.ndarray, sample_rate: int) -> object:
    mono = librosa.resample(mix.mean(axis=0), orig_sr=sample_rate, target_sr=22050)
    return estimate_key(list(librosa.feature.chroma_cqt(y=mono, sr=22050).sum(axis=1)))


KEYS = ("E minor", "C minor", "D major", "Bb major")


@pytest.mark.parametrize("style", [s.name for s in STYLES])
def test_every_style_meets_the_spec(style: str) -> None:
    spec = STYLES_BY_NAME[style]
    index = [s.name for s in STYLES].index(style)
    key = parse_key(KEYS[index % 2] if spec.mode == "minor" else KEYS[2 + index % 2])
    bpm = float(spec.tempo_range[0] + (index * 3) % max(1, spec.tempo_range[1] - spec.tempo_range[0]))
    brief = Brief(spec, bpm, key, spec.time_signature, spec.groove is not None, {}, ["test"])
    duration = 20.0 + index * 0.01  # not a whole number of bars, nor of 10 ms
    with compose(brief, duration, seed=index) as piece:
        mix = piece.read("mix")
        assert mix.shape == (2, round(duration * SAMPLE_RATE))  # to the sample
        report = measure(mix, SAMPLE_RATE)
        assert abs(report.integrated_lufs + 14.0) <= 1.0, report
        assert report.true_peak_dbtp <= -1.0 + 1e-6, report
        stems = sum(piece.read(name) for name in piece.stem_names)
        error_db = 20 * np.log10(np.max(np.abs(stems - mix)) / np.max(np.abs(mix)))
        assert error_db < -60, error_db
        assert ("drums" in piece.stem_names) == (spec.groove is not None)
        tempo = measured_bpm(mix, SAMPLE_RATE)
        assert tempo_matches(tempo, bpm, spec.time_signature), (tempo, bpm)
        assert written_key(piece) == key
        assert audio_key(mix, SAMPLE_RATE) == key
        described = piece.describe()
        assert described["bpm"] == bpm and described["key"] == key.name
        assert described["sections"][0]["start_seconds"] == 0.0


def run_engine(tmp_path: Path, **params: object) -> LocalContext[GenerateParams]:
    ctx: LocalContext[GenerateParams] = LocalContext(
        params=GenerateParams(**params),
        inputs={},
        output_dir=tmp_path,  # type: ignore[arg-type]
    )
    generate.run(ctx)
    return ctx


def digests(ctx: LocalContext[GenerateParams]) -> dict[str, str]:
    return {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, (path, _) in ctx.outputs.items()}


def test_same_seed_same_bytes_other_seed_other_music(tmp_path: Path) -> None:
    params = {"prompt": "upbeat pop", "duration_seconds": 6, "bpm": 110, "key": "G major", "seed": 11}
    first = run_engine(tmp_path / "a", **params)
    again = run_engine(tmp_path / "b", **params)
    other = run_engine(tmp_path / "c", **{**params, "seed": 12})
    assert digests(first) == digests(again)
    assert first.result["seed"] == 11 and other.result["seed"] == 12
    assert digests(first)["mix"] != digests(other)["mix"]

    def notes(ctx):  # type: ignore[no-untyped-def]
        return [(n.pitch, round(n.start, 3)) for n in _midi_notes(ctx)]

    assert notes(first) != notes(other)


def _midi_notes(ctx: LocalContext[GenerateParams]) -> list:  # type: ignore[type-arg]
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(str(ctx.outputs["midi"][0]))
    return [n for i in midi.instruments if not i.is_drum for n in i.notes]


def test_outputs_variations_and_a_random_seed_reported(tmp_path: Path) -> None:
    ctx = run_engine(tmp_path, prompt="solo piano, slow and tender", duration_seconds=5, variations=2)
    assert ctx.result["style"] == "solo_piano" and not ctx.result["drums"]
    assert isinstance(ctx.result["seed"], int)
    assert [v["seed"] for v in ctx.result["variations"]] == [ctx.result["seed"], ctx.result["seed"] + 1]
    names = set(ctx.outputs)
    assert {"mix", "midi", "v2:mix", "v2:midi"} <= names
    assert not any("drums" in name for name in names)  # "solo piano": no drum stem
    assert {n for n in names if n.startswith("stem:")} == {"stem:bass", "stem:chords", "stem:melody"}
    assert ctx.outputs["v2:stem:melody"][1] == "v2-melody.wav"
    assert ctx.result["bpm"] < 66  # "slow": under the style's range


def test_no_drums_prompt(tmp_path: Path) -> None:
    ctx = run_engine(
        tmp_path, prompt="energetic rock anthem without drums", duration_seconds=5, seed=1, output_format="flac"
    )
    assert ctx.result["style"] == "rock" and "stem:drums" not in ctx.outputs
    assert ctx.outputs["mix"][1] == "mix.flac"


def test_loop_is_seamless_and_exact(tmp_path: Path) -> None:
    spec = STYLES_BY_NAME["house"]
    brief = Brief(spec, 124.0, parse_key("A minor"), "4/4", True, {}, ["test"], tempo_fixed=False)
    with compose(brief, 7.5, seed=3, loop=True) as piece:
        mix = piece.read("mix")
        assert mix.shape[1] == round(7.5 * SAMPLE_RATE)
        bars = piece.arrangement.total_bars
        assert abs(bars * piece.arrangement.meter.bar_seconds - 7.5) < 1e-9  # the tempo was fitted
        assert all(s["name"] not in ("intro", "outro") for s in piece.describe()["sections"])
        # played twice in a row, the seam is no bigger a jump than the music's own
        steps = np.abs(np.diff(np.concatenate([mix, mix], axis=1), axis=1)).max(axis=0)
        seam = steps[mix.shape[1] - 1]
        assert seam <= np.percentile(steps, 99.9)
        # and the end still sounds (no fade-out): the last 100 ms are not silent
        assert np.sqrt(np.mean(mix[:, -4410:] ** 2)) > 0.01


@pytest.mark.parametrize("meter", ["3/4", "6/8"])
def test_other_meters(meter: str) -> None:
    spec = STYLES_BY_NAME["pop"]
    brief = Brief(spec, 96.0, parse_key("C major"), meter, True, {}, ["test"])
    with compose(brief, 8.0, seed=2) as piece:
        assert piece.describe()["time_signature"] == meter
        drums = piece.arrangement.parts["drums"].notes
        bar = piece.arrangement.meter.bar_seconds
        assert abs(bar - (3 if meter == "3/4" else 2) * 60 / 96) < 1e-9
        kicks = sorted({round(n.start_seconds / bar, 6) % 1 for n in drums if n.pitch == 36})
        assert kicks[0] == 0.0  # the groove is in the meter: kicks on the downbeat


def test_compose_for_melody() -> None:
    beat = 0.6  # 100 bpm
    tune = [
        (60, 1),
        (60, 1),
        (67, 1),
        (67, 1),
        (69, 1),
        (69, 1),
        (67, 2),
        (65, 1),
        (65, 1),
        (64, 1),
        (64, 1),
        (62, 1),
        (62, 1),
        (60, 2),
    ]
    notes, time = [], 0.0
    for pitch, beats in tune:
        notes.append(Note(pitch, time * beat, beats * beat * 0.9))
        time += beats
    with compose_for_melody(notes, 100, mood="happy", seed=4) as piece:
        described = piece.describe()
        assert described["key"] == "C major" and described["bpm"] == 100
        assert {"drums", "bass", "melody"} <= set(piece.stem_names)
        assert described["chords"] == ["C", "F", "F", "G"]  # C C G G | A A G | F F E E | D D C
        melody = piece.arrangement.parts["melody"].notes
        assert [n.pitch for n in melody] == [p for p, _ in tune]  # the melody is kept as sung
        for bar, chord in enumerate(piece.arrangement.chords):
            downbeat = [n for n in notes if abs(n.start_seconds - bar * 4 * beat) < 1e-6]
            assert all(n.pitch % 12 in chord.pitch_classes for n in downbeat), (bar, chord.symbol)
        assert piece.read("mix").shape[1] == round(9.6 * SAMPLE_RATE)


def test_musicgen_models_dispatch_to_their_module(tmp_path: Path) -> None:
    import importlib.util

    from audiomill.errors import ModelUnavailable

    if importlib.util.find_spec(generate.MUSICGEN_MODULE) is not None:
        pytest.skip("audiomill.models.musicgen is installed: its own tests cover it")
    with pytest.raises(ModelUnavailable, match="model 'musicgen-small' is not available"):
        run_engine(tmp_path, prompt="x", duration_seconds=5, model="musicgen-small")
