"""Song sections: where the arrangement changes, which parts repeat, and a guess at their
names (intro, verse, chorus, bridge, outro).

Sections start on bar lines, so everything is measured per bar (from the downbeats):

1. bar features: the bar's pitch-class profile (its chords), its timbre (mean MFCCs: which
   instruments, how bright) and its loudness, each standardized over the song so none
   outweighs the others;
2. novelty at each bar line: the distance between the mean features of the few bars
   before and the few bars after (a two-sided window, as Foote's checkerboard kernel on
   the self-similarity matrix sums up), here of each bar's row of the bar self-similarity
   matrix (which bars it sounds like), four bars each side;
3. boundaries: novelty peaks (highest within two bars either side) above the song's mean
   novelty plus half a standard deviation, at least two bars apart;
4. labels: segments whose mean features are close (cosine) share a letter (A, B, ...);
5. names, by the usual form: a quieter first segment is the intro and a quieter last one
   the outro; of the repeated letters, the loudest is the chorus and the others verses;
   a segment heard once between choruses is the bridge.

The names are a guess (``label`` letters are the measured part). Against the composer's
own section plan (bench/bench_analysis.py, 12 songs of 60-120 s, boundaries within 2 s):
precision 0.71, recall 0.49, F 0.57. Two-bar intros are often merged into the first verse,
and 6/8 songs whose bar grid is off find little.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

NOVELTY_BARS = (4,)  # bars each side of a bar line that novelty compares (short intros, long verses)
MIN_SECTION_BARS = 2
PEAK_REACH_BARS = 2
PEAK_THRESHOLD_STD = 0.5
SAME_LABEL_COSINE = 0.8  # segment means at least this similar share a letter
MIN_BARS = 8  # fewer bars than this: one section


@dataclass(frozen=True)
class Section:
    label: str  # "A", "B", …: the same letter is the same material
    name: str  # intro | verse | chorus | bridge | outro (a guess from the form)
    start_seconds: float
    end_seconds: float

    def as_dict(self) -> dict[str, object]:
        return {
            "label": self.label,
            "name": self.name,
            "start_seconds": round(self.start_seconds, 3),
            "end_seconds": round(self.end_seconds, 3),
        }


def _per_bar(
    values: NDArray[np.floating], frames_per_second: float, bar_starts: NDArray[np.floating]
) -> NDArray[np.float64]:
    """Mean of a (features, frames) array over each bar -> (bars, features)."""
    frames = np.clip(np.round(bar_starts * frames_per_second).astype(int), 0, values.shape[1] - 1)
    out = np.zeros((len(bar_starts) - 1, values.shape[0]))
    for i in range(len(bar_starts) - 1):
        start, stop = frames[i], max(frames[i + 1], frames[i] + 1)
        out[i] = values[:, start:stop].mean(axis=1)
    return out


def _standardize(x: NDArray[np.floating]) -> NDArray[np.float64]:
    spread = x.std(axis=0)
    return np.asarray((x - x.mean(axis=0)) / np.where(spread > 1e-9, spread, 1.0), dtype=np.float64)


def bar_features(
    bar_starts: NDArray[np.floating],
    chroma: NDArray[np.floating],
    chroma_fps: float,
    mfcc: NDArray[np.floating],
    loudness_db: NDArray[np.floating],
    timbre_fps: float,
) -> NDArray[np.float64]:
    """(bars, features): standardized chroma, MFCCs (without the 0th, which is loudness)
    and loudness, weighted so each group counts about equally."""
    chroma_bars = _per_bar(chroma, chroma_fps, bar_starts)
    chroma_bars = chroma_bars / (np.linalg.norm(chroma_bars, axis=1, keepdims=True) + 1e-9)
    timbre_bars = _per_bar(mfcc[1:], timbre_fps, bar_starts)
    loud_bars = _per_bar(loudness_db[None, :], timbre_fps, bar_starts)
    groups = [_standardize(chroma_bars), _standardize(timbre_bars), _standardize(loud_bars)]
    return np.hstack([g / np.sqrt(g.shape[1]) for g in groups])


def recurrence(features: NDArray[np.floating]) -> NDArray[np.float64]:
    """(bars, bars) self-similarity (cosine) of the bar features: row i says which other bars
    bar i sounds like. Rows of bars in the same kind of section are alike (they resemble
    the same other bars), whatever the bar's place within its section's progression."""
    unit = features / (np.linalg.norm(features, axis=1, keepdims=True) + 1e-9)
    return np.asarray(unit @ unit.T, dtype=np.float64)


def novelty(features: NDArray[np.floating], reaches: tuple[int, ...] = NOVELTY_BARS) -> NDArray[np.float64]:
    """Novelty at each bar line (index i: between bar i-1 and bar i): the distance between
    the mean recurrence rows of the bars before and after, over a window shortened
    symmetrically near the ends (and discounted there: a short window is a noisy one)."""
    rows = recurrence(features)
    bars = len(rows)
    out = np.zeros(bars)
    for reach in reaches:
        for i in range(1, bars):
            width = min(reach, i, bars - i)
            before = rows[i - width : i].mean(axis=0)
            after = rows[i : i + width].mean(axis=0)
            out[i] += float(np.linalg.norm(after - before)) * np.sqrt(width / reach) / len(reaches)
    return out


def boundaries(curve: NDArray[np.floating]) -> list[int]:
    """Bar indices where a new section starts (0 always)."""
    if len(curve) < 2:
        return [0]
    inner = curve[1:]
    threshold = float(inner.mean() + PEAK_THRESHOLD_STD * inner.std())
    peaks = [
        i
        for i in range(1, len(curve))
        if curve[i] >= threshold
        and curve[i] == curve[max(1, i - PEAK_REACH_BARS) : i + PEAK_REACH_BARS + 1].max()
        and MIN_SECTION_BARS <= i <= len(curve) - MIN_SECTION_BARS
    ]
    chosen: list[int] = [0]
    for i in sorted(peaks, key=lambda p: -curve[p]):
        if all(abs(i - c) >= MIN_SECTION_BARS for c in chosen):
            chosen.append(i)
    return sorted(chosen)


def _labels(means: NDArray[np.floating]) -> list[str]:
    letters: list[str] = []
    prototypes: list[NDArray[np.floating]] = []
    for mean in means:
        similarity = [float(mean @ p / (np.linalg.norm(mean) * np.linalg.norm(p) + 1e-9)) for p in prototypes]
        if similarity and max(similarity) >= SAME_LABEL_COSINE:
            letters.append(_letter(int(np.argmax(similarity))))
        else:
            prototypes.append(mean)
            letters.append(_letter(len(prototypes) - 1))
    return letters


def _letter(index: int) -> str:
    return chr(ord("A") + index) if index < 26 else f"Z{index - 25}"


def _names(labels: list[str], loudness: list[float]) -> list[str]:
    count = len(labels)
    names = [""] * count
    median = float(np.median(loudness))
    if count >= 3 and labels.count(labels[0]) == 1 and loudness[0] < median:
        names[0] = "intro"
    if count >= 3 and labels.count(labels[-1]) == 1 and loudness[-1] < median:
        names[-1] = "outro"
    middle = [i for i in range(count) if not names[i]]
    repeated = {label for label in (labels[i] for i in middle) if sum(labels[j] == label for j in middle) > 1}
    chorus = max(
        repeated,
        key=lambda label: np.mean([loudness[i] for i in middle if labels[i] == label]),
        default=None,
    )
    first_chorus = next((i for i in middle if labels[i] == chorus), count)
    for i in middle:
        if labels[i] == chorus:
            names[i] = "chorus"
        elif labels[i] in repeated or i < first_chorus:
            names[i] = "verse"
        else:
            names[i] = "bridge"
    return names


def _extend_to_start(downbeats: NDArray[np.float64]) -> NDArray[np.float64]:
    """The bar grid carried back to the start of the track (the beat tracker trims the first
    beats, so the first detected downbeat can be a bar or two in); a partial first bar
    starts at 0."""
    bar = float(np.median(np.diff(downbeats)))
    earlier = []
    t = float(downbeats[0]) - bar
    while t > -0.5 * bar:
        earlier.append(max(t, 0.0))
        t -= bar
    return np.concatenate([np.array(earlier[::-1]), downbeats]) if earlier else downbeats


def find_sections(
    downbeat_times: NDArray[np.floating],
    duration_seconds: float,
    chroma: NDArray[np.floating],
    chroma_fps: float,
    mfcc: NDArray[np.floating],
    loudness_db: NDArray[np.floating],
    timbre_fps: float,
) -> list[Section]:
    """Sections of a track from its downbeats and its chroma, MFCC and loudness curves."""
    downbeats = np.asarray(downbeat_times, dtype=np.float64)
    if len(downbeats) < MIN_BARS or duration_seconds <= 0:
        return [Section("A", "verse", 0.0, duration_seconds)] if duration_seconds > 0 else []
    bar_starts = np.append(_extend_to_start(downbeats), duration_seconds)
    features = bar_features(bar_starts, chroma, chroma_fps, mfcc, loudness_db, timbre_fps)
    starts = boundaries(novelty(features))
    edges = [*starts, len(features)]
    means = np.array([features[a:b].mean(axis=0) for a, b in zip(edges[:-1], edges[1:], strict=True)])
    loud_bars = _per_bar(loudness_db[None, :], timbre_fps, bar_starts)[:, 0]
    loudness = [float(loud_bars[a:b].mean()) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    labels = _labels(means)
    names = _names(labels, loudness)
    times = [0.0 if a == 0 else float(bar_starts[a]) for a in edges[:-1]] + [duration_seconds]
    return [
        Section(label, name, times[i], times[i + 1]) for i, (label, name) in enumerate(zip(labels, names, strict=True))
    ]
