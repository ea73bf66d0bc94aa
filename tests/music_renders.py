"""Rendered multitrack songs with a known tempo, key and meter, for analysis tests and bench.

Each song is a MIDI arrangement built with pretty_midi (chords, bass, melody and drums in
one of a few styles) and rendered in-process with tinysoundfont through pretty_midi's
bundled General MIDI soundfont (TimGM6mb.sf2). Progressions are the common ones of each
mode (minor songs use the harmonic minor's raised seventh on V, as most minor-key pop and
classical music does), so the key is what a listener would name.
"""

from __future__ import annotations

import random
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PITCH_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)  # natural minor; V takes the raised 7th

# (scale degree of the root, chord quality) per bar: common progressions of each mode.
MAJOR_PROGRESSIONS = (
    ((0, "maj"), (5, "min"), (3, "maj"), (4, "maj")),  # I vi IV V
    ((0, "maj"), (3, "maj"), (4, "maj"), (0, "maj")),  # I IV V I
    ((0, "maj"), (4, "maj"), (5, "min"), (3, "maj")),  # I V vi IV
    ((0, "maj"), (1, "min"), (4, "maj"), (0, "maj")),  # I ii V I
)
MINOR_PROGRESSIONS = (
    ((0, "min"), (3, "min"), (4, "maj"), (0, "min")),  # i iv V i
    ((0, "min"), (5, "maj"), (3, "min"), (4, "maj")),  # i VI iv V
    ((0, "min"), (6, "maj"), (5, "maj"), (4, "maj")),  # i VII VI V (Andalusian)
    ((0, "min"), (3, "min"), (0, "min"), (4, "maj")),  # i iv i V
)
CHORD_INTERVALS = {"maj": (0, 4, 7), "min": (0, 3, 7)}


@dataclass(frozen=True)
class Style:
    name: str
    chord_program: int  # General MIDI program of the chords
    bass_program: int
    lead_program: int
    drums: bool
    hat_division: int  # hi-hat hits per beat (0: none)
    arpeggio: bool  # chords broken into eighths instead of held


STYLES = (
    Style("pop", chord_program=0, bass_program=33, lead_program=80, drums=True, hat_division=2, arpeggio=False),
    Style("rock", chord_program=29, bass_program=34, lead_program=30, drums=True, hat_division=2, arpeggio=False),
    Style("edm", chord_program=89, bass_program=38, lead_program=81, drums=True, hat_division=4, arpeggio=True),
    Style("ballad", chord_program=4, bass_program=32, lead_program=73, drums=True, hat_division=1, arpeggio=True),
    Style("strings", chord_program=48, bass_program=42, lead_program=40, drums=False, hat_division=0, arpeggio=False),
)


@dataclass(frozen=True)
class SongSpec:
    tonic: int  # pitch class 0-11
    mode: str  # "major" | "minor"
    bpm: float
    beats_per_bar: int = 4
    bars: int = 8
    style: Style = STYLES[0]
    seed: int = 0

    @property
    def key_name(self) -> str:
        return f"{PITCH_NAMES[self.tonic]} {self.mode}"

    @property
    def duration_seconds(self) -> float:
        return self.bars * self.beats_per_bar * 60.0 / self.bpm


def _chord_pitches(tonic: int, mode: str, degree: int, quality: str, octave: int) -> list[int]:
    scale = MAJOR_SCALE if mode == "major" else MINOR_SCALE
    root = 12 * octave + tonic + scale[degree]
    return [root + interval for interval in CHORD_INTERVALS[quality]]


def song_midi(spec: SongSpec):  # type: ignore[no-untyped-def]  # pretty_midi has no types
    import pretty_midi

    rng = random.Random(spec.seed)
    progressions = MAJOR_PROGRESSIONS if spec.mode == "major" else MINOR_PROGRESSIONS
    progression = progressions[rng.randrange(len(progressions))]
    beat = 60.0 / spec.bpm
    bar = beat * spec.beats_per_bar
    midi = pretty_midi.PrettyMIDI(initial_tempo=spec.bpm)
    chords = pretty_midi.Instrument(spec.style.chord_program)
    bass = pretty_midi.Instrument(spec.style.bass_program)
    lead = pretty_midi.Instrument(spec.style.lead_program)
    drums = pretty_midi.Instrument(0, is_drum=True)
    scale = MAJOR_SCALE if spec.mode == "major" else MINOR_SCALE
    # Keep registers stable whatever the tonic: chords around middle C, bass an octave+ below.
    chord_octave = 4 if spec.tonic < 7 else 3

    for bar_index in range(spec.bars):
        degree, quality = progression[bar_index % len(progression)]
        if bar_index == spec.bars - 1:
            degree, quality = 0, "maj" if spec.mode == "major" else "min"  # end on the tonic
        start = bar_index * bar
        pitches = _chord_pitches(spec.tonic, spec.mode, degree, quality, chord_octave)
        if spec.style.arpeggio:
            pattern = pitches + [pitches[1] + 12 if len(pitches) > 1 else pitches[0]]
            for step in range(spec.beats_per_bar * 2):
                note_start = start + step * beat / 2
                chords.notes.append(
                    pretty_midi.Note(70, pattern[step % len(pattern)], note_start, note_start + beat / 2)
                )
        else:
            for pitch in pitches:
                chords.notes.append(pretty_midi.Note(62, pitch, start, start + bar * 0.98))
        bass_root = pitches[0] - 24 if pitches[0] - 24 >= 28 else pitches[0] - 12
        for beat_index in range(spec.beats_per_bar):
            pitch = bass_root + (7 if beat_index == spec.beats_per_bar - 1 and spec.beats_per_bar == 4 else 0)
            bass.notes.append(
                pretty_midi.Note(
                    88 if beat_index == 0 else 76, pitch, start + beat_index * beat, start + (beat_index + 0.9) * beat
                )
            )
        # A melody of chord tones and scale steps, two notes a beat at most.
        melody_root = 12 * (chord_octave + 1) + spec.tonic
        position = 0.0
        while position < spec.beats_per_bar - 1e-6:
            length = rng.choice((0.5, 1.0, 1.0, 2.0))
            length = min(length, spec.beats_per_bar - position)
            if rng.random() < 0.6:
                pitch = pitches[rng.randrange(3)] + 12
            else:
                pitch = melody_root + scale[rng.randrange(7)]
            note_start = start + position * beat
            lead.notes.append(pretty_midi.Note(80, pitch, note_start, note_start + length * beat * 0.95))
            position += length
        if spec.style.drums:
            for beat_index in range(spec.beats_per_bar):
                t = start + beat_index * beat
                downbeat_pattern = beat_index == 0 or (spec.beats_per_bar == 4 and beat_index == 2)
                if downbeat_pattern:
                    drums.notes.append(pretty_midi.Note(110, 36, t, t + 0.1))  # kick
                elif spec.beats_per_bar == 4 or beat_index == 1:
                    drums.notes.append(pretty_midi.Note(100, 38, t, t + 0.1))  # snare (backbeat)
                for sub in range(spec.style.hat_division):
                    ts = t + sub * beat / spec.style.hat_division
                    drums.notes.append(pretty_midi.Note(70 if sub == 0 else 55, 42, ts, ts + 0.05))
            if bar_index == 0:
                drums.notes.append(pretty_midi.Note(100, 49, start, start + 0.5))  # crash on the one

    midi.instruments.extend([chords, bass, lead] + ([drums] if spec.style.drums else []))
    return midi


def soundfont_path() -> Path:
    import pretty_midi

    return Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"


def render_midi(midi, sample_rate: int = 44100) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Render a PrettyMIDI to float32 (2, frames) with tinysoundfont (gain -6 dB: its
    voices sum past full scale at 0 dB)."""
    import tinysoundfont

    synth = tinysoundfont.Synth(samplerate=sample_rate, gain=-6)
    synth.sfload(str(soundfont_path()))
    sequencer = tinysoundfont.Sequencer(synth)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "song.mid"
        midi.write(str(path))
        sequencer.midi_load(str(path))
    frames = int((midi.get_end_time() + 1.0) * sample_rate)
    audio = np.frombuffer(synth.generate(frames), np.float32).reshape(-1, 2).T
    peak = float(np.abs(audio).max()) or 1.0
    return np.ascontiguousarray(audio / max(peak, 1.0) * 0.9, dtype=np.float32)


def render_song(spec: SongSpec, sample_rate: int = 44100) -> np.ndarray:
    return render_midi(song_midi(spec), sample_rate)


def song_set(count_per_key: int = 1, bars: int = 8, seed: int = 0) -> list[SongSpec]:
    """Every one of the 24 keys, tempos spread over 60-180 bpm, styles and meters varied."""
    rng = random.Random(seed)
    specs: list[SongSpec] = []
    for repeat in range(count_per_key):
        for index in range(24):
            tonic, mode = index % 12, ("major", "minor")[index // 12]
            bpm = float(rng.randrange(60, 181))
            style = STYLES[(index + repeat) % len(STYLES)]
            beats_per_bar = 3 if (index + repeat) % 8 == 5 else 4
            specs.append(SongSpec(tonic, mode, bpm, beats_per_bar, bars, style, seed=seed * 1000 + repeat * 24 + index))
    return specs
