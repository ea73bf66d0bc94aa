"""What changed between two versions of a stem, computed from the audio itself.

Both files are decoded at the first one's sample rate and a common channel count (the
shorter padded with silence), cut into 50 ms windows, and a window "differs" when the
energy of the difference signal is both above an absolute floor (-70 dBFS: below it
nothing is audible) and no more than ``relative_threshold_db`` (-35 dB) under the louder
of the two versions in that window, so a re-encode's tiny error or dither does not count
while any audible edit does. Neighbouring differing windows join into time ranges.
Loudness is BS.1770 integrated loudness from :mod:`audiomill.audio.loudness`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from audiomill import audio
from audiomill.audio.loudness import measure

WINDOW_SECONDS = 0.05
RELATIVE_THRESHOLD_DB = -35.0
ABSOLUTE_FLOOR_DBFS = -70.0


@dataclass(frozen=True)
class TimeRange:
    start_seconds: float
    end_seconds: float


@dataclass(frozen=True)
class AudioChange:
    loudness_a_lufs: float | None  # None: silent
    loudness_b_lufs: float | None
    loudness_change_db: float | None
    duration_a_seconds: float
    duration_b_seconds: float
    length_change_seconds: float
    differing_ranges: list[TimeRange]
    differing_seconds: float


def _finite(value: float) -> float | None:
    return round(value, 2) if math.isfinite(value) else None


def _window_energy(samples: NDArray[np.float32], window_frames: int) -> NDArray[np.float64]:
    """Mean square per window, over all channels."""
    windows = samples.shape[1] // window_frames
    trimmed = samples[:, : windows * window_frames].astype(np.float64)
    return (trimmed.reshape(samples.shape[0], windows, window_frames) ** 2).mean(axis=(0, 2))


def differing_ranges(
    a: NDArray[np.float32],
    b: NDArray[np.float32],
    sample_rate: int,
    window_seconds: float = WINDOW_SECONDS,
    relative_threshold_db: float = RELATIVE_THRESHOLD_DB,
    absolute_floor_dbfs: float = ABSOLUTE_FLOOR_DBFS,
) -> list[TimeRange]:
    """Time ranges where two (channels, frames) arrays of one rate audibly differ."""
    frames = max(a.shape[1], b.shape[1])
    window_frames = max(1, round(window_seconds * sample_rate))
    padded_frames = -(-frames // window_frames) * window_frames
    a = np.pad(a, ((0, 0), (0, padded_frames - a.shape[1])))
    b = np.pad(b, ((0, 0), (0, padded_frames - b.shape[1])))
    difference = _window_energy(a - b, window_frames)
    louder = np.maximum(_window_energy(a, window_frames), _window_energy(b, window_frames))
    floor = 10.0 ** (absolute_floor_dbfs / 10.0)
    differs = (difference > floor) & (difference > louder * 10.0 ** (relative_threshold_db / 10.0))
    ranges: list[TimeRange] = []
    start: int | None = None
    for index, flag in enumerate([*differs.tolist(), False]):
        if flag and start is None:
            start = index
        elif not flag and start is not None:
            end_frame = min(index * window_frames, frames)
            ranges.append(TimeRange(round(start * window_frames / sample_rate, 3), round(end_frame / sample_rate, 3)))
            start = None
    return ranges


def compare_audio(path_a: Path, path_b: Path) -> AudioChange:
    info_a, info_b = audio.probe(path_a), audio.probe(path_b)
    channels = min(2, max(info_a.channels, info_b.channels))
    a, sample_rate = audio.decode(path_a, channels=channels)
    b, _ = audio.decode(path_b, sample_rate=sample_rate, channels=channels)
    loudness_a = measure(a, sample_rate).integrated_lufs
    loudness_b = measure(b, sample_rate).integrated_lufs
    ranges = differing_ranges(a, b, sample_rate)
    duration_a, duration_b = a.shape[1] / sample_rate, b.shape[1] / sample_rate
    change = loudness_b - loudness_a if math.isfinite(loudness_a) and math.isfinite(loudness_b) else math.nan
    return AudioChange(
        loudness_a_lufs=_finite(loudness_a),
        loudness_b_lufs=_finite(loudness_b),
        loudness_change_db=_finite(change),
        duration_a_seconds=round(duration_a, 3),
        duration_b_seconds=round(duration_b, 3),
        length_change_seconds=round(duration_b - duration_a, 3),
        differing_ranges=ranges,
        differing_seconds=round(sum(r.end_seconds - r.start_seconds for r in ranges), 3),
    )
