"""Analyse a whole track: duration, tempo and beats, meter, key, loudness, waveform.

The musical features are computed at reduced sample rates (22,050 Hz for rhythm, 11,025 Hz
for pitch: nothing above 5 kHz matters to a key), loudness and the waveform at the file's
own rate. Each spectrogram is computed once and shared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from audiomill import audio as audio_io
from audiomill.analysis.key import (
    KeyEstimate,
    chromagram,
    harmonic_part,
    key_from_harmonic,
    semitone_spectrogram,
)
from audiomill.analysis.levels import Levels, measure_levels
from audiomill.analysis.rhythm import (
    Rhythm,
    estimate_meter,
    estimate_rhythm,
    onset_envelope,
)
from audiomill.analysis.sections import Section, find_sections
from audiomill.analysis.waveform import DEFAULT_COLUMNS, WaveformPeaks, waveform_peaks

RHYTHM_SAMPLE_RATE = 22050
RHYTHM_N_FFT = 1024
RHYTHM_HOP = 256  # 86 frames a second: beat times within 12 ms
MELS = 64
BASS_MELS = 6  # the lowest mel bands (below ~150 Hz): kick drum and bass onsets
PITCH_SAMPLE_RATE = 11025
PITCH_N_FFT = 4096  # 2.7 Hz bins: semitones apart down to C1
PITCH_HOP = 512


@dataclass(frozen=True)
class TrackAnalysis:
    duration_seconds: float
    sample_rate: int
    channels: int
    rhythm: Rhythm
    key: KeyEstimate
    levels: Levels
    peaks: WaveformPeaks
    tuning_cents: float
    sections: tuple[Section, ...] = ()
    extras: dict[str, Any] = field(default_factory=dict)

    def as_dict(self, include_peaks: bool = True) -> dict[str, Any]:
        rhythm, key = self.rhythm, self.key
        result: dict[str, Any] = {
            "duration_seconds": round(self.duration_seconds, 3),
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "bpm": rhythm.bpm,
            "bpm_confidence": rhythm.confidence,
            "bpm_candidates": {"half": rhythm.half_bpm, "double": rhythm.double_bpm},
            "tempo_candidates": [
                {
                    "bpm": c.bpm,
                    "offbeat_contrast": c.offbeat_contrast,
                    "periodicity": c.periodicity,
                    "harmonic_rhythm": c.harmonic_rhythm,
                    "score": c.score,
                }
                for c in rhythm.candidates
            ],
            "beats": list(rhythm.beat_times),
            "downbeats": list(rhythm.downbeat_times),
            "time_signature": rhythm.time_signature,
            "beats_per_bar": rhythm.beats_per_bar,
            "meter_confidence": rhythm.meter_confidence,
            "key": key.name,
            "key_signature": key.label,
            "tonic": key.name.split()[0],
            "mode": key.mode,
            "key_confidence": key.confidence,
            "key_candidates": [{"key": name, "score": score} for name, score in key.ranked(3)],
            "tuning_cents": round(self.tuning_cents, 1),
            "loudness": self.levels.as_dict(),
            "sections": [section.as_dict() for section in self.sections],
        }
        if include_peaks:
            result["waveform"] = self.peaks.as_dict()
        result.update(self.extras)
        return result


def _mono(samples: NDArray[np.floating]) -> NDArray[np.float32]:
    return np.ascontiguousarray(samples.mean(axis=0), dtype=np.float32)


def _rhythm_features(
    mono: NDArray[np.float32], sample_rate: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """(onset envelope, bass onset envelope, log-mel spectrogram) at RHYTHM_SAMPLE_RATE /
    RHYTHM_HOP."""
    import librosa

    signal = (
        audio_io.resample(mono[None, :], sample_rate, RHYTHM_SAMPLE_RATE)[0]
        if sample_rate != RHYTHM_SAMPLE_RATE
        else mono
    )
    mel = librosa.feature.melspectrogram(
        y=signal, sr=RHYTHM_SAMPLE_RATE, n_fft=RHYTHM_N_FFT, hop_length=RHYTHM_HOP, n_mels=MELS, fmax=8000.0
    )
    mel_db = librosa.power_to_db(mel, ref=np.max)
    envelope = onset_envelope(mel_db)
    bass_flux = np.maximum(np.diff(mel_db[:BASS_MELS], axis=1, prepend=mel_db[:BASS_MELS, :1]), 0.0).mean(axis=0)
    return envelope, bass_flux, np.asarray(mel_db, dtype=np.float64)


def _timbre(mel_db: NDArray[np.floating]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(MFCCs (13, frames), loudness in dB per frame) from the log-mel spectrogram."""
    import librosa

    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=13)
    loudness = 10.0 * np.log10(np.mean(10.0 ** (mel_db / 10.0), axis=0) + 1e-10)
    return np.asarray(mfcc, dtype=np.float64), np.asarray(loudness, dtype=np.float64)


def _pitch_features(mono: NDArray[np.float32], sample_rate: int) -> tuple[NDArray[np.float64], float]:
    """(STFT magnitude at PITCH_SAMPLE_RATE, tuning offset in semitones)."""
    import librosa

    signal = (
        audio_io.resample(mono[None, :], sample_rate, PITCH_SAMPLE_RATE)[0]
        if sample_rate != PITCH_SAMPLE_RATE
        else mono
    )
    magnitude = np.abs(librosa.stft(signal, n_fft=PITCH_N_FFT, hop_length=PITCH_HOP))
    tuning = estimate_tuning(magnitude)
    return magnitude, tuning


def estimate_tuning(magnitude: NDArray[np.floating]) -> float:
    """Offset of the track's reference pitch from A440 in semitones (-0.5..0.5): the circular
    mean of the spectral peaks' deviations from the equal-tempered grid, weighted by level."""
    frequencies = np.arange(magnitude.shape[0]) * PITCH_SAMPLE_RATE / PITCH_N_FFT
    spectrum = magnitude.mean(axis=1)
    band = (frequencies > 80) & (frequencies < 2000)
    inner = np.nonzero(band[1:-1] & (spectrum[1:-1] > spectrum[:-2]) & (spectrum[1:-1] >= spectrum[2:]))[0] + 1
    if inner.size == 0:
        return 0.0
    # Parabolic interpolation of each peak's bin for sub-bin frequency.
    left, centre, right = (
        np.log(spectrum[inner - 1] + 1e-12),
        np.log(spectrum[inner] + 1e-12),
        np.log(spectrum[inner + 1] + 1e-12),
    )
    offset = (
        0.5 * (left - right) / np.where(np.abs(left - 2 * centre + right) > 1e-12, left - 2 * centre + right, 1e-12)
    )
    peak_hz = (inner + np.clip(offset, -0.5, 0.5)) * PITCH_SAMPLE_RATE / PITCH_N_FFT
    midi = 69.0 + 12.0 * np.log2(peak_hz / 440.0)
    deviation = midi - np.round(midi)
    weights = spectrum[inner]
    strongest = np.argsort(weights)[::-1][:60]
    angle = np.angle(np.sum(weights[strongest] * np.exp(2j * np.pi * deviation[strongest])))
    return float(angle / (2 * np.pi))


def analyze_samples(
    samples: NDArray[np.floating], sample_rate: int, peaks_columns: int = DEFAULT_COLUMNS
) -> TrackAnalysis:
    """Analyse a (channels, frames) float32 array."""
    samples = np.asarray(samples, dtype=np.float32)
    channels, frames = samples.shape
    mono = _mono(samples)
    envelope, bass_flux, mel_db = _rhythm_features(mono, sample_rate)
    magnitude, tuning = _pitch_features(mono, sample_rate)
    pitch_fps = PITCH_SAMPLE_RATE / PITCH_HOP
    harmonic = harmonic_part(semitone_spectrogram(magnitude, PITCH_SAMPLE_RATE, PITCH_N_FFT, tuning), pitch_fps)
    key = key_from_harmonic(harmonic, pitch_fps)
    chroma = chromagram(harmonic)
    rhythm = estimate_rhythm(envelope, RHYTHM_SAMPLE_RATE, RHYTHM_HOP, chroma, pitch_fps)
    if len(rhythm.beat_times) >= 8:
        beats = np.asarray(rhythm.beat_times)
        beats_per_bar, first, meter_confidence = estimate_meter(
            beats,
            bass_flux,
            RHYTHM_SAMPLE_RATE / RHYTHM_HOP,
            chroma,
            pitch_fps,
            bar_lengths=(2,) if rhythm.compound else (3, 4),
        )
        rhythm = Rhythm(
            bpm=rhythm.bpm,
            confidence=rhythm.confidence,
            candidates=rhythm.candidates,
            beat_times=rhythm.beat_times,
            downbeat_times=tuple(float(t) for t in beats[first::beats_per_bar]),
            beats_per_bar=beats_per_bar,
            meter_confidence=meter_confidence,
            half_bpm=rhythm.half_bpm,
            double_bpm=rhythm.double_bpm,
            compound=rhythm.compound,
        )
    mfcc, loudness_db = _timbre(mel_db)
    sections = find_sections(
        np.asarray(rhythm.downbeat_times),
        frames / sample_rate,
        chroma,
        pitch_fps,
        mfcc,
        loudness_db,
        RHYTHM_SAMPLE_RATE / RHYTHM_HOP,
    )
    levels = measure_levels(samples, sample_rate)
    peaks = waveform_peaks(samples, peaks_columns)
    return TrackAnalysis(
        duration_seconds=frames / sample_rate,
        sample_rate=sample_rate,
        channels=channels,
        rhythm=rhythm,
        key=key,
        levels=levels,
        peaks=peaks,
        tuning_cents=tuning * 100.0,
        sections=tuple(sections),
    )


def analyze_file(path: Path, peaks_columns: int = DEFAULT_COLUMNS) -> TrackAnalysis:
    """Decode any supported file (UnsupportedMedia otherwise) and analyse it."""
    samples, sample_rate = audio_io.decode(Path(path))
    return analyze_samples(samples, sample_rate, peaks_columns)


def warm_up() -> None:
    """Compile librosa's numba kernels now (the first beat track otherwise takes seconds)."""
    rate = 22050
    t = np.arange(int(rate * 6)) / rate
    clicks = (np.sin(2 * np.pi * 440 * t) * (np.mod(t, 0.5) < 0.05)).astype(np.float32)
    analyze_samples(clicks[None, :], rate, peaks_columns=100)
