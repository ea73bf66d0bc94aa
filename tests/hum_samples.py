"""Synthetic hums with a known melody: a voice-like tone (harmonics under a vowel-ish
formant envelope) with vibrato, glides between notes, a global detuning, breath gaps and
noise."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class HumNote:
    pitch: int
    start_seconds: float
    duration_seconds: float


def melody_on_grid(bpm: float, beats: int = 16, seed: int = 0, tonic: int = 60, minor: bool = False) -> list[HumNote]:
    """A stepwise melody on a beat grid (eighths to half notes) in a major or minor key."""
    rng = np.random.default_rng(seed)
    scale = (0, 2, 3, 5, 7, 8, 10) if minor else (0, 2, 4, 5, 7, 9, 11)
    beat = 60.0 / bpm
    notes: list[HumNote] = []
    position = 0.0
    degree = 0
    while position < beats - 1e-9:
        length = float(rng.choice([0.5, 1.0, 1.0, 1.5, 2.0]))
        length = min(length, beats - position)
        degree = int(np.clip(degree + rng.integers(-2, 3), -2, 9))
        octave, index = divmod(degree, 7)
        notes.append(HumNote(tonic + 12 * octave + scale[index], position * beat, length * beat))
        position += length
    notes[-1] = HumNote(tonic, notes[-1].start_seconds, notes[-1].duration_seconds)  # end on the tonic
    return notes


def render_hum(
    notes: list[HumNote],
    detune_cents: float = 25.0,
    vibrato_cents: float = 35.0,
    vibrato_hz: float = 5.5,
    glide_seconds: float = 0.06,
    gap_seconds: float = 0.04,
    snr_db: float = 25.0,
    seed: int = 0,
    sample_rate: int = SAMPLE_RATE,
) -> np.ndarray:
    """Mono float32 audio of the notes, hummed."""
    rng = np.random.default_rng(seed)
    end = max(n.start_seconds + n.duration_seconds for n in notes) + 0.3
    t = np.arange(int(end * sample_rate)) / sample_rate
    pitch = np.full(t.size, np.nan)
    amplitude = np.zeros(t.size)
    for i, note in enumerate(notes):
        a = int(note.start_seconds * sample_rate)
        b = int((note.start_seconds + note.duration_seconds - gap_seconds) * sample_rate)
        pitch[a:b] = note.pitch
        # a glide from the previous note into this one
        if i > 0 and glide_seconds > 0:
            g = min(int(glide_seconds * sample_rate), b - a)
            pitch[a : a + g] = np.linspace(notes[i - 1].pitch, note.pitch, g)
        ramp = min(int(0.02 * sample_rate), (b - a) // 2)
        envelope = np.ones(b - a)
        envelope[:ramp] = np.linspace(0, 1, ramp)
        envelope[-ramp:] = np.linspace(1, 0, ramp)
        amplitude[a:b] = envelope * (0.8 + 0.2 * rng.random())
    voiced = np.isfinite(pitch)
    filled = np.where(voiced, pitch, 60.0)
    filled = filled + detune_cents / 100.0 + vibrato_cents / 100.0 * np.sin(2 * np.pi * vibrato_hz * t) * (t > 0.15)
    frequency = 440.0 * 2 ** ((filled - 69.0) / 12.0)
    phase = 2 * np.pi * np.cumsum(frequency) / sample_rate
    signal = np.zeros(t.size)
    for harmonic in range(1, 12):
        partial = harmonic * frequency
        # a hummed "mm": strong fundamental, harmonics falling off, a soft formant near 500 Hz
        weight = (1.0 / harmonic**1.2) * (1.0 + 0.8 * np.exp(-(((partial - 500.0) / 250.0) ** 2)))
        signal += np.where(partial < sample_rate / 2, weight, 0.0) * np.sin(harmonic * phase)
    signal *= amplitude
    signal /= max(float(np.abs(signal).max()), 1e-9)
    power = float(np.mean(signal[voiced] ** 2)) if voiced.any() else 1.0
    noise = rng.standard_normal(t.size) * np.sqrt(power / 10 ** (snr_db / 10))
    out = 0.7 * (signal + noise)
    return (out / max(1.0, float(np.abs(out).max()))).astype(np.float32)


def onset_pitch_f1(reference: list[HumNote], estimated: list[tuple[int, float, float]]) -> float:
    """mir_eval's note F1 with onset (50 ms) and pitch (50 cents) matching, offsets ignored."""
    import mir_eval

    if not estimated:
        return 0.0
    ref_intervals = np.array([[n.start_seconds, n.start_seconds + n.duration_seconds] for n in reference])
    ref_pitches = np.array([440.0 * 2 ** ((n.pitch - 69) / 12) for n in reference])
    est_intervals = np.array([[s, s + max(d, 1e-3)] for _, s, d in estimated])
    est_pitches = np.array([440.0 * 2 ** ((p - 69) / 12) for p, _, _ in estimated])
    _, _, f1, _ = mir_eval.transcription.precision_recall_f1_overlap(
        ref_intervals, ref_pitches, est_intervals, est_pitches, offset_ratio=None
    )
    return float(f1)
