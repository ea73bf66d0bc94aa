"""Transcribe a hummed (sung, whistled) melody into notes.

Per-frame pitch rounding splits a sung note wherever vibrato or a glide crosses a semitone
boundary, and a singer is rarely tuned to A440 (naive rounding scored F1 0.43-0.50 on
synthetic hums here). So:

1. pYIN (librosa) pitch track with voicing, at 16 kHz;
2. the singer's global tuning offset (circular mean of each voiced frame's distance to
   the semitone grid) is removed;
3. a ~150 ms median filter over each voiced run flattens vibrato and short glides;
4. notes are runs of one rounded pitch; runs shorter than MIN_NOTE_SECONDS are merged
   into their neighbours, and an unvoiced gap (a breath) ends a note;
5. optionally the notes are quantized to a grid of the given tempo (sixteenths), and the
   key is found from the duration-weighted pitch classes.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import median_filter

from audiomill import audio as audio_io
from audiomill.analysis.key import KeyEstimate, key_from_pitch_classes

SAMPLE_RATE = 16000
FRAME_LENGTH = 1024  # 64 ms: two periods of the lowest pitch tracked
HOP_LENGTH = 256  # 16 ms
PITCH_RESOLUTION = 0.2  # semitones per pYIN state: its Viterbi cost grows with the square
DIP_RATIO = 0.35  # a level dip below this share of the note's level starts a new note
LOWEST_HZ = 65.0  # C2
HIGHEST_HZ = 1050.0  # C6
MEDIAN_SECONDS = 0.15
MIN_NOTE_SECONDS = 0.1
GRID_DIVISIONS_PER_BEAT = 4


@dataclass(frozen=True)
class TranscribedNote:
    pitch: int  # MIDI note number
    start_seconds: float
    duration_seconds: float

    @property
    def end_seconds(self) -> float:
        return self.start_seconds + self.duration_seconds

    def as_dict(self) -> dict[str, float | int]:
        return {"pitch": self.pitch, "start": round(self.start_seconds, 4), "duration": round(self.duration_seconds, 4)}


@dataclass(frozen=True)
class Transcription:
    notes: tuple[TranscribedNote, ...]
    tuning_cents: float  # the singer's offset from A440, removed before rounding
    key: KeyEstimate | None
    voiced_fraction: float


def pitch_track(
    samples: NDArray[np.floating], sample_rate: int = SAMPLE_RATE
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """(MIDI pitch per 10 ms frame (NaN where unvoiced), voiced flags) of a mono signal."""
    import librosa

    f0, voiced, _ = librosa.pyin(
        np.asarray(samples, dtype=np.float32),
        fmin=LOWEST_HZ,
        fmax=HIGHEST_HZ,
        sr=sample_rate,
        frame_length=FRAME_LENGTH,
        hop_length=HOP_LENGTH,
        center=True,
        resolution=PITCH_RESOLUTION,
    )
    midi = np.where(voiced, 69.0 + 12.0 * np.log2(np.where(voiced, f0, 440.0) / 440.0), np.nan)
    return midi, np.asarray(voiced, dtype=bool)


def tuning_offset(midi: NDArray[np.floating]) -> float:
    """Circular mean distance (semitones, -0.5..0.5) of voiced frames from the grid."""
    voiced = midi[np.isfinite(midi)]
    if voiced.size == 0:
        return 0.0
    return float(np.angle(np.mean(np.exp(2j * np.pi * voiced))) / (2 * np.pi))


def _runs(mask: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """[start, stop) of each run of True."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def smooth(midi: NDArray[np.floating], frames_per_second: float) -> NDArray[np.float64]:
    """Median-filter each voiced run on its own (unvoiced frames stay NaN)."""
    out = np.full(len(midi), np.nan)
    kernel = max(1, round(MEDIAN_SECONDS * frames_per_second) | 1)
    for start, stop in _runs(np.isfinite(midi)):
        out[start:stop] = median_filter(midi[start:stop], size=min(kernel, (stop - start) | 1), mode="nearest")
    return out


def split_at_dips(
    rounded: NDArray[np.floating], level: NDArray[np.floating], frames_per_second: float
) -> NDArray[np.float64]:
    """Mark as unvoiced the deepest frame of each level dip inside a voiced run: a singer
    repeating a pitch re-articulates it (a dip) without always stopping the voice."""
    out = np.array(rounded, dtype=np.float64)
    reach = max(2, round(0.06 * frames_per_second))
    for start, stop in _runs(np.isfinite(out)):
        if stop - start < 3 * reach:
            continue
        run = level[start:stop]
        for i in range(reach, len(run) - reach):
            window = run[i - reach : i + reach + 1]
            if run[i] == window.min() and run[i] < DIP_RATIO * min(window[:reach].max(), window[reach + 1 :].max()):
                out[start + i] = np.nan
    return out


def segment(rounded: NDArray[np.floating], frames_per_second: float) -> list[TranscribedNote]:
    """Notes from a per-frame rounded pitch track (NaN = unvoiced)."""
    min_frames = max(1, round(MIN_NOTE_SECONDS * frames_per_second))
    notes: list[TranscribedNote] = []
    for start, stop in _runs(np.isfinite(rounded)):
        values = rounded[start:stop].astype(int)
        # runs of one pitch inside this voiced stretch
        cuts = np.flatnonzero(np.diff(values)) + 1
        bounds = np.concatenate([[0], cuts, [len(values)]])
        pieces = [[int(values[a]), int(a), int(b)] for a, b in itertools.pairwise(bounds)]
        # merge pieces too short to be notes into the longer neighbour (glides, blips)
        changed = True
        while changed and len(pieces) > 1:
            changed = False
            for i, (_pitch, a, b) in enumerate(pieces):
                if b - a >= min_frames:
                    continue
                left = pieces[i - 1] if i > 0 else None
                right = pieces[i + 1] if i + 1 < len(pieces) else None
                target = (
                    left if right is None or (left is not None and left[2] - left[1] >= right[2] - right[1]) else right
                )
                assert target is not None
                target[1], target[2] = min(target[1], a), max(target[2], b)
                del pieces[i]
                changed = True
                break
        # neighbours that now share a pitch are one note
        merged: list[list[int]] = []
        for piece in pieces:
            if merged and merged[-1][0] == piece[0]:
                merged[-1][2] = piece[2]
            else:
                merged.append(piece)
        for pitch, a, b in merged:
            if b - a >= min_frames:
                notes.append(TranscribedNote(pitch, (start + a) / frames_per_second, (b - a) / frames_per_second))
    return notes


def quantize(
    notes: list[TranscribedNote], bpm: float, divisions_per_beat: int = GRID_DIVISIONS_PER_BEAT
) -> list[TranscribedNote]:
    """Snap starts and ends to a grid of 1/divisions of a beat; every note keeps at least
    one step and notes never overlap."""
    step = 60.0 / bpm / divisions_per_beat
    out: list[TranscribedNote] = []
    for note in notes:
        start = round(note.start_seconds / step)
        end = max(start + 1, round(note.end_seconds / step))
        if out:
            previous_end = round(out[-1].end_seconds / step)
            start = max(start, previous_end)
            end = max(end, start + 1)
        out.append(TranscribedNote(note.pitch, start * step, (end - start) * step))
    return out


def _frame_level(mono: NDArray[np.float32], frames: int) -> NDArray[np.float64]:
    import librosa

    rms = librosa.feature.rms(y=mono, frame_length=512, hop_length=HOP_LENGTH, center=True)[0]
    level = np.zeros(frames)
    level[: min(frames, len(rms))] = rms[:frames]
    return level


def transcribe_samples(samples: NDArray[np.floating], sample_rate: int, bpm: float | None = None) -> Transcription:
    """Transcribe a (channels, frames) or (frames,) array; ``bpm``: quantize to its grid."""
    mono = np.asarray(samples, dtype=np.float32)
    if mono.ndim == 2:
        mono = mono.mean(axis=0)
    if sample_rate != SAMPLE_RATE:
        mono = audio_io.resample(mono[None, :], sample_rate, SAMPLE_RATE)[0]
    frames_per_second = SAMPLE_RATE / HOP_LENGTH
    midi, voiced = pitch_track(mono)
    offset = tuning_offset(midi)
    rounded = np.round(smooth(midi - offset, frames_per_second))
    level = _frame_level(mono, len(rounded))
    rounded = split_at_dips(rounded, level, frames_per_second)
    notes = segment(rounded, frames_per_second)
    if bpm is not None and notes:
        notes = quantize(notes, bpm)
    key = None
    if notes:
        histogram = np.zeros(12)
        for note in notes:
            histogram[note.pitch % 12] += note.duration_seconds
        closing = np.zeros(12)
        closing[notes[-1].pitch % 12] = 1.0
        key = key_from_pitch_classes(histogram, closing)
    return Transcription(
        tuple(notes), round(offset * 100.0, 1), key, round(float(voiced.mean()) if voiced.size else 0.0, 3)
    )


def transcribe_file(path: Path, bpm: float | None = None) -> Transcription:
    samples, sample_rate = audio_io.decode(Path(path), SAMPLE_RATE, 1)
    return transcribe_samples(samples, sample_rate, bpm)
