"""Music analysis on rendered songs with a known tempo, key and meter; loudness, waveform,
and the analyze engine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from audiomill.analysis import analyze_samples, warm_up
from audiomill.analysis.key import key_from_pitch_classes
from audiomill.analysis.levels import measure_levels
from audiomill.analysis.rhythm import (
    TempoCandidate,
    chord_change_combs,
    estimate_meter,
    estimate_rhythm,
    fitted_bpm,
    harmonic_rhythm,
    is_compound,
    octave_scores,
)
from audiomill.analysis.waveform import draw_waveform_png, waveform_peaks
from audiomill.audio.loudness import measure
from tests.music_renders import STYLES, SongSpec, render_song, song_set

pytest.importorskip("tinysoundfont", reason="tinysoundfont renders the test songs (Makefile installs it --no-deps)")


@pytest.fixture(scope="module")
def warmed() -> None:
    warm_up()


@pytest.fixture(scope="module")
def all_keys() -> list[tuple[SongSpec, dict]]:  # type: ignore[type-arg]
    """Every key once (60-180 bpm, five styles, some in 3/4), rendered and analysed once."""
    warm_up()
    return [(spec, analyze_samples(render_song(spec), 44100).as_dict(include_peaks=False)) for spec in song_set(seed=0)]


def test_one_song_everything(warmed: None, tmp_path: Path) -> None:
    spec = SongSpec(9, "minor", 124.0, 4, 8, STYLES[1], seed=5)
    samples = render_song(spec)
    result = analyze_samples(samples, 44100, peaks_columns=500).as_dict()
    assert abs(result["bpm"] - 124.0) < 1.0
    assert result["key"] == "A minor" and result["key_signature"] == "A Minor" and result["mode"] == "minor"
    assert result["time_signature"] == "4/4" and result["beats_per_bar"] == 4
    assert result["bpm_candidates"] == {
        "half": pytest.approx(result["bpm"] / 2, abs=0.01),
        "double": pytest.approx(result["bpm"] * 2, abs=0.01),
    }
    beats = np.array(result["beats"])
    assert len(beats) >= 28 and np.all(np.diff(beats) > 0)
    assert np.median(np.diff(beats)) == pytest.approx(60 / 124, rel=0.03)
    downbeats = np.array(result["downbeats"])
    bar = 4 * 60 / 124
    # renders start on a downbeat: every detected downbeat is a whole number of bars in
    assert np.all(np.abs((downbeats / bar) - np.round(downbeats / bar)) < 0.08)
    assert 0 < result["bpm_confidence"] <= 1 and 0 < result["key_confidence"] <= 1
    assert result["duration_seconds"] == pytest.approx(samples.shape[1] / 44100, abs=1e-3)
    assert result["channels"] == 2 and result["sample_rate"] == 44100
    reference = measure(samples, 44100)
    assert result["loudness"]["integrated_lufs"] == pytest.approx(reference.integrated_lufs, abs=0.05)
    assert result["loudness"]["true_peak_dbtp"] == pytest.approx(reference.true_peak_dbtp, abs=0.2)
    assert result["waveform"]["columns"] == 500 and len(result["waveform"]["min"]) == 500
    assert max(result["waveform"]["max"]) == pytest.approx(float(samples.max()), abs=1e-3)
    json.dumps(result)  # JSON-able as is


@pytest.mark.slow
def test_all_24_keys(all_keys) -> None:  # type: ignore[no-untyped-def]
    wrong = [
        (spec.key_name, spec.style.name, result["key"]) for spec, result in all_keys if result["key"] != spec.key_name
    ]
    # Known miss: a minor key under the square-wave lead of the "pop" style can read as its
    # parallel major (the lead's strong 5th harmonic sounds the tonic's major third).
    assert len(wrong) <= 1, wrong
    assert all(got.split()[0] == truth.split()[0] for truth, _, got in wrong), wrong
    assert len({spec.key_name for spec, _ in all_keys}) == 24


@pytest.mark.slow
def test_tempo_and_meter_over_60_to_180_bpm(all_keys) -> None:  # type: ignore[no-untyped-def]
    exact = [abs(result["bpm"] / spec.bpm - 1) < 0.04 for spec, result in all_keys]
    octave = [any(abs(result["bpm"] * f / spec.bpm - 1) < 0.04 for f in (0.5, 1, 2)) for spec, result in all_keys]
    assert sum(exact) >= 23, [(s.bpm, s.style.name, r["bpm"]) for (s, r), ok in zip(all_keys, exact) if not ok]
    assert all(octave)
    meters = [result["beats_per_bar"] == spec.beats_per_bar for spec, result in all_keys]
    assert sum(meters) >= 22
    assert {spec.beats_per_bar for spec, _ in all_keys} == {3, 4}


def test_tempo_is_not_stuck_on_the_frame_grid(warmed: None) -> None:
    # 128 BPM sits between two onset-frame lags; the fitted beat line finds it.
    rate = 22050
    t = np.arange(rate * 20) / rate
    clicks = (np.sin(2 * np.pi * 1000 * t) * np.exp(-np.mod(t, 60 / 128) * 60)).astype(np.float32)
    result = analyze_samples(clicks[None, :], rate, peaks_columns=100)
    assert result.rhythm.bpm == pytest.approx(128.0, abs=0.3)
    assert fitted_bpm(np.arange(40) * 60 / 128, 129.2) == pytest.approx(128.0, abs=0.01)


def test_levels_match_the_meter_and_measure_range() -> None:
    rate = 48000
    t = np.arange(rate * 10) / rate
    loud = 0.5 * np.sin(2 * np.pi * 997 * t)
    quiet = loud * 10 ** (-10 / 20)
    samples = np.concatenate([loud, quiet])[None, :].astype(np.float32)
    levels = measure_levels(samples, rate)
    assert levels.integrated_lufs == pytest.approx(measure(samples, rate).integrated_lufs, abs=0.05)
    assert levels.loudness_range_lu == pytest.approx(10.0, abs=0.6)
    assert levels.sample_peak_dbfs == pytest.approx(-6.02, abs=0.05)
    silent = measure_levels(np.zeros((2, rate), np.float32), rate)
    assert silent.integrated_lufs is None and silent.true_peak_dbtp is None and silent.loudness_range_lu is None


def test_waveform_peaks_and_png(tmp_path: Path) -> None:
    samples = np.zeros((2, 10000), np.float32)
    samples[0, 2500] = 0.9
    samples[1, 7500] = -0.7
    peaks = waveform_peaks(samples, columns=4)
    assert peaks.maximum == (0.0, 0.9, 0.0, 0.0) and peaks.minimum == (0.0, 0.0, 0.0, -0.7)
    assert waveform_peaks(samples[:, :3], columns=2000).columns == 3
    path = tmp_path / "w.png"
    draw_waveform_png(waveform_peaks(samples, 2000), path, width=300, height=60)
    from PIL import Image

    with Image.open(path) as image:
        assert image.size == (300, 60) and image.format == "PNG"


def test_key_of_notes() -> None:
    # a C major scale ending on C, and an A harmonic minor line ending on A
    major = np.zeros(12)
    major[[0, 2, 4, 5, 7, 9, 11]] = [3, 1, 2, 1, 2, 1, 1]
    assert key_from_pitch_classes(major, np.eye(12)[0]).name == "C major"
    minor = np.zeros(12)
    minor[[9, 11, 0, 2, 4, 5, 8]] = [3, 1, 2, 1, 2, 1, 1]
    assert key_from_pitch_classes(minor, np.eye(12)[9]).name == "A minor"


def test_analyze_engine_writes_json_and_png(tmp_path: Path, warmed: None) -> None:
    from audiomill import audio
    from audiomill.engines import analyze
    from audiomill.engines.base import LocalContext
    from audiomill.params import AnalyzeParams

    source = tmp_path / "song.wav"
    audio.encode(source, render_song(SongSpec(7, "major", 100.0, 4, 6, STYLES[0], seed=2)), 44100)
    ctx = LocalContext(AnalyzeParams(waveform_columns=300, waveform_width=200), {"audio": source}, tmp_path / "out")
    analyze.run(ctx)
    assert set(ctx.outputs) == {"analysis", "waveform"}
    written = json.loads(ctx.outputs["analysis"][0].read_text())
    assert written == ctx.result and written["key"] == "G major" and abs(written["bpm"] - 100) < 1.5
    assert len(written["waveform"]["max"]) == 300
    assert ctx.outputs["waveform"][0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_harmonic_rhythm_picks_the_octave_whose_bar_holds_the_chords() -> None:
    # chords change every 4 beats at 100 bpm; the three octave candidates pulse equally
    # well and sit equally far from the prior's centre on either side, so the chord
    # changes decide
    fps = 20.0
    beat_seconds = 0.6
    rng = np.random.default_rng(0)
    chords = rng.random((12, 16))
    frames_per_bar = round(4 * beat_seconds * fps)
    chroma = np.repeat(chords, frames_per_bar, axis=1)
    duration = chroma.shape[1] / fps
    candidates = []
    for bpm in (50.0, 100.0, 200.0):
        beats = np.arange(0.0, duration - 1e-6, 60.0 / bpm)
        evidence = harmonic_rhythm(chroma, fps, beats)
        candidates.append(TempoCandidate(bpm, 0.5, 0.5, harmonic_rhythm=evidence))
    assert candidates[1].harmonic_rhythm > max(candidates[0].harmonic_rhythm, candidates[2].harmonic_rhythm) + 0.25
    assert candidates[0].harmonic_rhythm < 0  # at half the tempo the chords change every 2 beats
    assert int(np.argmax(octave_scores(candidates))) == 1


def test_clear_percussive_grid_wins_over_the_prior() -> None:
    # the 85 bpm candidate's off-beats are as strong as its beats (they are beats), 170's
    # are empty; both pulse as well, and 85 is a shade nearer the prior's centre
    slow = TempoCandidate(85.0, 0.95, 0.6)
    fast = TempoCandidate(170.0, 0.05, 0.6)
    assert int(np.argmax(octave_scores([slow, fast]))) == 1
    # without the full off-beats of the slower one, no bonus: the nearer one wins
    assert int(np.argmax(octave_scores([TempoCandidate(85.0, 0.5, 0.6), fast]))) == 0


@pytest.mark.slow
def test_composer_songs_tempo_and_key(warmed: None) -> None:
    """Songs by our composer (14 styles: swing, half-time, 3/4, 6/8, with and without
    drums), the truth from the arrangement."""
    from tests.composer_songs import compose_song, composer_set

    tempo_wrong, key_wrong = [], []
    specs = composer_set(14, seed=3, duration_seconds=20.0)
    for spec in specs:
        samples, _ = compose_song(spec)
        result = analyze_samples(samples, 44100)
        if abs(result.rhythm.bpm / spec.bpm - 1) >= 0.04:
            tempo_wrong.append((spec.style, spec.drums, spec.bpm, result.rhythm.bpm))
        if result.key.name != spec.key_name:
            key_wrong.append((spec.style, spec.key_name, result.key.name))
    # over 224 composer songs (seeds 1-4) the tempo is right 89 % (bench/bench_analysis.py,
    # analysis/rhythm.py), so two misses are allowed here, and one key
    assert len(tempo_wrong) <= 2, tempo_wrong
    assert len(key_wrong) <= 1, key_wrong


def _pulse_and_chords(
    pulse_bpm: float, accent_every: int, chord_every: int, seconds: float = 30.0
) -> tuple[np.ndarray, np.ndarray, float]:
    """(onset envelope at 22,050/256 fps, chroma at 20 fps, chroma fps): a pulse whose every
    ``accent_every``-th onset is louder, and a new random chord every ``chord_every`` pulses."""
    envelope_fps = 22050 / 256
    chroma_fps = 20.0
    pulse_seconds = 60.0 / pulse_bpm
    envelope = np.zeros(int(seconds * envelope_fps))
    for index, onset in enumerate(np.arange(0.0, seconds - 0.1, pulse_seconds)):
        envelope[round(onset * envelope_fps)] = 2.0 if index % accent_every == 0 else 1.0
    rng = np.random.default_rng(1)
    chord_seconds = chord_every * pulse_seconds
    frames = int(seconds * chroma_fps)
    chords = rng.random((12, int(seconds / chord_seconds) + 2)) ** 4
    chroma = chords[:, (np.arange(frames) / chroma_fps / chord_seconds).astype(int)]
    return envelope, chroma, chroma_fps


def test_compound_meter_needs_chords_held_for_two_groups_of_three() -> None:
    # 6/8: eighths grouped in threes, one chord a bar of six; 3/4: one chord every three
    pulse = 144.0
    six_eight = chord_change_combs(*_pulse_and_chords(pulse, 3, 6)[1:], np.arange(0, 29.5, 60 / pulse), (2, 3, 4, 6))
    three_four = chord_change_combs(*_pulse_and_chords(pulse, 3, 3)[1:], np.arange(0, 29.5, 60 / pulse), (2, 3, 4, 6))
    four_four = chord_change_combs(*_pulse_and_chords(pulse, 4, 4)[1:], np.arange(0, 29.5, 60 / pulse), (2, 3, 4, 6))
    assert is_compound(six_eight)
    assert not is_compound(three_four) and not is_compound(four_four)


@pytest.mark.parametrize(
    ("dotted_bpm", "chord_every", "expected_bpm", "compound"), [(48.0, 6, 48.0, True), (50.0, 3, 150.0, False)]
)
def test_compound_meter_reports_the_dotted_quarter(
    warmed: None, dotted_bpm: float, chord_every: int, expected_bpm: float, compound: bool
) -> None:
    # eighths at three times the dotted-quarter tempo, accented every three: with a chord a
    # bar of six eighths it is 6/8 at the dotted quarter; with a chord every three, a fast 3/4
    envelope, chroma, chroma_fps = _pulse_and_chords(dotted_bpm * 3, 3, chord_every)
    rhythm = estimate_rhythm(envelope, 22050, 256, chroma, chroma_fps)
    assert rhythm.compound is compound
    assert rhythm.bpm == pytest.approx(expected_bpm, rel=0.03)
    if compound:
        assert rhythm.time_signature == "6/8"
        assert np.median(np.diff(rhythm.beat_times)) == pytest.approx(60 / dotted_bpm, rel=0.03)


def test_meter_of_dotted_beats_is_two_a_bar() -> None:
    # dotted beats with the bass and a chord change on every other one, from the second
    fps = 20.0
    beats = np.arange(1, 41) * 1.25
    bass = np.zeros(int(55 * fps))
    for beat in beats[1::2]:
        bass[round(beat * fps)] = 1.0
    chords = np.random.default_rng(2).random((12, 30)) ** 4
    chroma = chords[:, np.clip(((np.arange(int(55 * fps)) / fps - 2.5) // 2.5).astype(int) + 1, 0, 29)]
    beats_per_bar, first, confidence = estimate_meter(beats, bass, fps, chroma, fps, bar_lengths=(2,))
    assert (beats_per_bar, first) == (2, 1) and confidence > 0


def test_composer_lullaby_in_six_eight_and_a_waltz(warmed: None) -> None:
    """The composer's 6/8 counts dotted quarters (music/meter.py): a 48 bpm lullaby has
    eighths at 144, and a fast waltz stays in three."""
    from tests.composer_songs import ComposedSpec, compose_song

    lullaby = analyze_samples(compose_song(ComposedSpec("lullaby", 0, "major", 48.0, drums=False, seed=7))[0], 44100)
    assert lullaby.rhythm.bpm == pytest.approx(48.0, rel=0.04)
    waltz = analyze_samples(compose_song(ComposedSpec("waltz", 2, "major", 150.0, drums=False, seed=8))[0], 44100)
    assert waltz.rhythm.bpm == pytest.approx(150.0, rel=0.04) and waltz.rhythm.time_signature == "3/4"


@pytest.mark.xfail(
    strict=True,
    reason="measured: rendered with the default FluidR3_GM SoundFont this drumless 6/8 lullaby's tempo is right "
    "(48 bpm, dotted quarters) but its meter reads 4/4; the 6/8 rule was chosen on TimGM6mb renders",
)
def test_composer_lullaby_meter_reads_six_eight(warmed: None) -> None:
    from tests.composer_songs import ComposedSpec, compose_song

    lullaby = analyze_samples(compose_song(ComposedSpec("lullaby", 0, "major", 48.0, drums=False, seed=7))[0], 44100)
    assert lullaby.rhythm.time_signature == "6/8"
