"""The melody condition of MusicGen-melody: a one-hot chroma per frame, computed with librosa.

transformers' ``MusicgenMelodyFeatureExtractor`` needs torchaudio (for its spectrogram and
resampler), and torchaudio does not install beside torch 2.13. This module computes the
same features from the same recipe (transformers 5.x, ``feature_extraction_musicgen_melody``):

1. mono audio at the extractor's rate (32 kHz), at most ``chunk_length`` (30) seconds;
   shorter than one FFT: zero-padded on both sides to ``n_fft``;
2. power spectrogram: Hann window of ``n_fft`` (16384), hop ``hop_length`` (4096),
   centred with reflect padding (torchaudio's ``Spectrogram(power=2, center=True)``);
3. chroma filter bank (librosa's, tuning 0, 12 bins from C) times the spectrogram;
4. per frame, a 1 at the strongest pitch class and 0 elsewhere (the extractor's max
   normalisation and scaling do not move the argmax; a silent frame gives C, as there).

The result is ``(frames, 12)`` float32, frames = 1 + samples // hop (7.8 per second).
The model repeats a shorter chroma to its ``chroma_length`` (235 frames, 30 s) itself.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

PREPROCESSOR_CONFIG = "preprocessor_config.json"


@dataclass(frozen=True)
class ChromaSettings:
    """The feature extractor's parameters (the defaults are facebook/musicgen-melody's)."""

    sample_rate: int = 32000
    n_fft: int = 16384
    hop_length: int = 4096
    num_chroma: int = 12
    chunk_seconds: float = 30.0

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length

    @classmethod
    def from_folder(cls, folder: Path) -> ChromaSettings:
        """The settings in the model folder's ``preprocessor_config.json``, else the defaults."""
        path = folder / PREPROCESSOR_CONFIG
        if not path.is_file():
            return cls()
        values = json.loads(path.read_text(encoding="utf-8"))
        default = cls()
        return cls(
            sample_rate=int(values.get("sampling_rate", default.sample_rate)),
            n_fft=int(values.get("n_fft", default.n_fft)),
            hop_length=int(values.get("hop_length", default.hop_length)),
            num_chroma=int(values.get("num_chroma", values.get("feature_size", default.num_chroma))),
            chunk_seconds=float(values.get("chunk_length", default.chunk_seconds)),
        )


def one_hot_chroma(mono: NDArray[np.floating], settings: ChromaSettings = ChromaSettings()) -> NDArray[np.float32]:
    """``(frames, num_chroma)`` one-hot chroma of ``mono`` (already at ``settings.sample_rate``).

    No truncation here: :func:`window_chroma` takes the part each generation window needs."""
    import librosa

    samples = np.asarray(mono, dtype=np.float32)
    if samples.ndim != 1:
        raise ValueError(f"expected mono samples, got shape {samples.shape}")
    if samples.shape[0] < settings.n_fft:
        pad = settings.n_fft - samples.shape[0]
        samples = np.pad(samples, (pad // 2, pad - pad // 2))
    spectrum = librosa.stft(
        samples,
        n_fft=settings.n_fft,
        hop_length=settings.hop_length,
        win_length=settings.n_fft,
        window="hann",
        center=True,
        pad_mode="reflect",
    )
    power = np.abs(spectrum) ** 2
    filters = librosa.filters.chroma(
        sr=settings.sample_rate, n_fft=settings.n_fft, tuning=0.0, n_chroma=settings.num_chroma
    )
    raw = filters @ power  # (chroma, frames)
    strongest = np.argmax(raw, axis=0)
    chroma = np.zeros((raw.shape[1], settings.num_chroma), dtype=np.float32)
    chroma[np.arange(raw.shape[1]), strongest] = 1.0
    return chroma


def extractor_chroma(mono: NDArray[np.floating], settings: ChromaSettings = ChromaSettings()) -> NDArray[np.float32]:
    """Exactly what the extractor returns for one mono clip: the first ``chunk_seconds`` only."""
    limit = round(settings.chunk_seconds * settings.sample_rate)
    return one_hot_chroma(np.asarray(mono)[:limit], settings)


def window_chroma(
    chroma: NDArray[np.float32],
    start_seconds: float,
    duration_seconds: float,
    frames_per_second: float,
) -> NDArray[np.float32]:
    """The chroma under ``[start, start + duration)`` of the output, the melody looped when
    the output runs past its end (audiocraft's melody conditioner loops it too)."""
    if chroma.shape[0] == 0:
        raise ValueError("the melody chroma is empty")
    first = math.floor(start_seconds * frames_per_second + 1e-9)
    count = max(1, math.ceil(duration_seconds * frames_per_second - 1e-9))
    indices = (first + np.arange(count)) % chroma.shape[0]
    return np.ascontiguousarray(chroma[indices])
