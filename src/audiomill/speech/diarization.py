"""Who speaks when: speech turns found, clustered into speakers, and written as RTTM.

Input: 16 kHz mono audio and its speech spans (from a VAD). All embeddings come from a
speaker encoder with the :class:`TurnEncoder` interface (models/campplus.py). The steps:

1. **Turns.** Each speech span (cut into pieces of at most ``PIECE_SECONDS``) is run once
   through the encoder's frame layers; windows of ``CHANGE_WINDOW_SECONDS`` (about 1.5 s)
   left and right of every point of a ``GRID_SECONDS`` grid are pooled from that frame
   map, and their cosine distance is the change score. Peaks of it above
   ``CHANGE_DISTANCE`` cut the span into turns.
2. **Speakers.** Each turn is cut into windows of ``WINDOW_SECONDS`` (1.5 s) every
   ``WINDOW_HOP_SECONDS`` (0.75 s); a turn shorter than a window is one unit when it lasts
   ``MIN_WINDOW_SECONDS``. Every unit is embedded on its own; average-linkage clustering
   of those embeddings (cosine) is cut at ``num_speakers`` clusters when given, else where
   merging would join units less similar than ``SAME_SPEAKER_SIMILARITY``; an estimated
   speaker owning less than ``MIN_SPEAKER_SECONDS`` or ``MIN_SPEAKER_FRACTION`` of the
   clustered speech is folded into the closest one (a laugh or a window straddling two
   voices is not a person). Equal windows give embeddings of equal reliability, and
   a speaker who talks longer is represented by more of them. Clustering whole turns
   instead (1 s or more) left 2 units to cluster on a real meeting excerpt with 3 people
   (AMI trn04: one speaker found, DER 42 %; windows: 3 found, DER 17 %).
3. **Resegmentation.** Each speaker's centroid is pooled from all of their long turns.
   Every grid point is then scored against every centroid with a short window
   (``LABEL_WINDOW_SECONDS``) and a Viterbi pass with a switching cost picks the labels:
   a speaker change needs sustained evidence, and a short interjection is decided by how
   it compares with each speaker's pooled voice, never by a threshold of its own. Runs of
   one label are the final turns; their boundaries land within a grid step or two.

Overlapped speech (two voices at once) is not separated: each instant gets one label. We
estimate where it happens (:func:`overlap_spans`: windows about as close to two speakers'
voices as to either alone) only to report it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

SAMPLE_RATE_HZ = 16000
PIECE_SECONDS = 60.0  # one frame map per piece bounds memory on long speech spans
GRID_SECONDS = 0.05
CHANGE_WINDOW_SECONDS = 1.5
MIN_SIDE_SECONDS = 0.4  # a change is looked for only where both sides have this much
CHANGE_DISTANCE = 0.4  # cosine distance between the two sides that makes a change
PEAK_RADIUS_SECONDS = 0.3  # a change point is the largest distance within this radius
WINDOW_SECONDS = 1.5  # clustering units: windows this long ...
WINDOW_HOP_SECONDS = 0.75  # ... every this often inside each turn
MIN_WINDOW_SECONDS = 0.5  # a turn shorter than this is not clustered on its own
SAME_SPEAKER_SIMILARITY = 0.45  # average-linkage cut when the speaker count is unknown
MIN_SPEAKER_SECONDS = 1.0  # an estimated speaker must own this much clustered speech
MIN_SPEAKER_FRACTION = 0.1  # ... and this share of it
LABEL_WINDOW_SECONDS = 0.6
SWITCH_COST = 1.0  # in units of cosine similarity summed over grid points
REFINE_RADIUS_SECONDS = 0.4
REFINE_STEP_SECONDS = 0.02
REFINE_WINDOW_SECONDS = 0.8
OVERLAP_MARGIN = 0.08  # both speakers within this of the best similarity
OVERLAP_MIN_SIMILARITY = 0.3

SampleSpan = tuple[int, int]


class FrameMapLike(Protocol):
    sample_count: int


class TurnEncoder(Protocol):
    def embed_many(
        self,
        segments: Sequence[np.ndarray],
        on_progress: Callable[[float], None] | None = None,
        batch_size: int = 32,
    ) -> np.ndarray: ...

    def frame_map(self, audio_16k: np.ndarray) -> Any: ...  # an opaque frame map

    def pooled(self, frames: Any, sample_spans: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Turn:
    start: int  # 16 kHz samples, [start, end)
    end: int
    speaker: int
    confidence: float  # 0-1: how clearly this turn sounds like its speaker and no other

    @property
    def seconds(self) -> float:
        return (self.end - self.start) / SAMPLE_RATE_HZ


@dataclass(frozen=True)
class Diarization:
    turns: list[Turn]  # in time order, not overlapping
    speaker_count: int
    overlap: list[SampleSpan] = field(default_factory=list)  # estimated, see overlap_spans

    def speaker_turns(self, speaker: int) -> list[Turn]:
        return [turn for turn in self.turns if turn.speaker == speaker]

    def speaker_seconds(self, speaker: int) -> float:
        return sum(turn.seconds for turn in self.speaker_turns(speaker))

    @property
    def overlap_seconds(self) -> float:
        return sum(end - start for start, end in self.overlap) / SAMPLE_RATE_HZ


def split_pieces(spans: Sequence[SampleSpan], max_samples: int) -> list[SampleSpan]:
    """Spans cut into equal pieces of at most max_samples."""
    pieces = []
    for start, end in spans:
        count = max(1, -(-(end - start) // max_samples))
        edges = np.linspace(start, end, count + 1).round().astype(int)
        pieces += [(int(a), int(b)) for a, b in itertools.pairwise(edges) if b > a]
    return pieces


def diarize(
    encoder: TurnEncoder,
    audio_16k: np.ndarray,
    speech: Sequence[SampleSpan],
    num_speakers: int | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> Diarization:
    report = on_progress or (lambda _fraction: None)
    pieces = split_pieces(speech, round(PIECE_SECONDS * SAMPLE_RATE_HZ))
    if not pieces:
        return Diarization([], 0)
    maps = []
    for index, (start, end) in enumerate(pieces):
        report(0.5 * index / len(pieces))
        maps.append(encoder.frame_map(audio_16k[start:end]))
    report(0.5)
    turns = [turn for piece, frames in zip(pieces, maps) for turn in change_turns(encoder, frames, piece)]
    clustered, seconds = cluster_windows(turns)
    if not clustered:
        clustered, seconds = list(turns), np.array([(b - a) / SAMPLE_RATE_HZ for a, b in turns])
    embeddings = encoder.embed_many([audio_16k[a:b] for a, b in clustered])
    report(0.8)
    labels = cluster(embeddings, num_speakers, seconds)
    centroids = pooled_centroids(encoder, pieces, maps, clustered, labels)
    labelled: list[Turn] = []
    overlap: list[SampleSpan] = []
    for piece, frames in zip(pieces, maps):
        grid, scores = label_scores(encoder, frames, piece, centroids)
        path = viterbi(scores, SWITCH_COST)
        piece_turns = runs_to_turns(grid, path, scores, piece)
        labelled += refine_boundaries(encoder, frames, piece, piece_turns, centroids)
        overlap += overlap_spans(grid, scores, piece)
    report(1.0)
    final = renumbered(labelled)
    return Diarization(final, len({turn.speaker for turn in final}), overlap)


# ---------------------------------------------------------------- 1. turns


def change_turns(encoder: TurnEncoder, frames: FrameMapLike, piece: SampleSpan) -> list[SampleSpan]:
    """The piece cut at its speaker-change points (absolute samples)."""
    start, end = piece
    grid_step = round(GRID_SECONDS * SAMPLE_RATE_HZ)
    side = round(MIN_SIDE_SECONDS * SAMPLE_RATE_HZ)
    width = round(CHANGE_WINDOW_SECONDS * SAMPLE_RATE_HZ)
    length = end - start
    points = np.arange(side, length - side + 1, grid_step)
    if points.size == 0:
        return [piece]
    left = np.stack([np.maximum(points - width, 0), points], axis=1)
    right = np.stack([points, np.minimum(points + width, length)], axis=1)
    distance = 1.0 - np.sum(encoder.pooled(frames, left) * encoder.pooled(frames, right), axis=1)
    cuts = peaks(distance, CHANGE_DISTANCE, round(PEAK_RADIUS_SECONDS / GRID_SECONDS))
    edges = [start, *(start + int(points[i]) for i in cuts), end]
    return [(a, b) for a, b in itertools.pairwise(edges) if b > a]


def peaks(values: np.ndarray, threshold: float, radius: int) -> list[int]:
    """Indices of values >= threshold that are the largest within +-radius (first of ties)."""
    found = []
    for found_index in np.flatnonzero(values >= threshold):
        index = int(found_index)
        low, high = max(0, index - radius), min(int(values.size), index + radius + 1)
        neighbourhood = values[low:high]
        if values[index] >= neighbourhood.max() and index == low + int(np.argmax(neighbourhood)):
            found.append(int(index))
    return found


# ---------------------------------------------------------------- 2. speakers


def cluster_windows(turns: Sequence[SampleSpan]) -> tuple[list[SampleSpan], np.ndarray]:
    """The units clustered: windows of WINDOW_SECONDS every WINDOW_HOP_SECONDS inside each
    turn (the last one flush with the turn's end); a turn shorter than a window is one unit
    of its own when it lasts MIN_WINDOW_SECONDS. Windows of equal length give embeddings
    of equal reliability, and a long turn gives many of them, so a speaker's voice is
    represented in proportion to how much they speak; turns under MIN_WINDOW_SECONDS are
    too short to speak for themselves and are labelled by the resegmentation.

    Also returns the seconds of speech each window stands for (its turn's length shared
    among the turn's windows), so overlapping windows do not count speech twice."""
    width = round(WINDOW_SECONDS * SAMPLE_RATE_HZ)
    hop = round(WINDOW_HOP_SECONDS * SAMPLE_RATE_HZ)
    shortest = round(MIN_WINDOW_SECONDS * SAMPLE_RATE_HZ)
    windows: list[SampleSpan] = []
    seconds: list[float] = []
    for start, end in turns:
        length = end - start
        if length < shortest:
            continue
        if length <= width:
            windows.append((start, end))
            seconds.append(length / SAMPLE_RATE_HZ)
            continue
        count = -(-(length - width) // hop) + 1
        starts = np.linspace(start, end - width, count).round().astype(int)
        windows += [(int(first), int(first) + width) for first in starts]
        seconds += [length / SAMPLE_RATE_HZ / count] * count
    return windows, np.array(seconds)


def cluster(embeddings: np.ndarray, num_speakers: int | None, seconds: np.ndarray | None = None) -> np.ndarray:
    """Speaker label (0..k-1) per unit embedding: average linkage on cosine distance, cut at
    SAME_SPEAKER_SIMILARITY.

    The clusters are then checked against how much each speaks (``seconds`` per unit, 1
    each when not given): a cluster under MIN_SPEAKER_SECONDS (or MIN_SPEAKER_FRACTION of
    the speech) is folded into the closest other cluster. On real meetings the cut leaves
    small splinters (a laugh, a window straddling two voices, a far-field stretch); each
    would become a "speaker". With ``num_speakers`` given, the closest clusters are then
    merged down to that count, or the tree is cut at that count when fewer were found
    (cutting the tree at the count directly kept splinters as speakers and merged two real
    people on AMI trn04: DER 33.5 % against 16.8 % estimated)."""
    from scipy.cluster.hierarchy import fcluster, linkage

    count = len(embeddings)
    if count == 0:
        return np.zeros(0, int)
    if count == 1:
        return np.zeros(1, int)
    distances = 1.0 - embeddings @ embeddings.T
    condensed = np.clip(distances[np.triu_indices(count, 1)], 0.0, 2.0)
    tree = linkage(condensed, method="average")
    labels = fcluster(tree, t=1.0 - SAME_SPEAKER_SIMILARITY, criterion="distance")
    weights = np.ones(count) if seconds is None else np.asarray(seconds, dtype=np.float64)
    least = max(MIN_SPEAKER_SECONDS, MIN_SPEAKER_FRACTION * float(weights.sum()))
    labels = fold_small_clusters(embeddings, labels, weights, least)
    if num_speakers is not None:
        wanted = min(num_speakers, count)
        if np.unique(labels).size > wanted:
            labels = merge_closest_clusters(embeddings, labels, wanted)
        elif np.unique(labels).size < wanted:  # more voices than the cut found: split the tree
            labels = fcluster(tree, t=wanted, criterion="maxclust")
    _, dense = np.unique(labels, return_inverse=True)
    return dense.astype(int)


def merge_closest_clusters(embeddings: np.ndarray, labels: np.ndarray, wanted: int) -> np.ndarray:
    """The two clusters with the most alike centroids merged until wanted are left."""
    labels = np.asarray(labels).copy()
    while np.unique(labels).size > wanted:
        names = np.unique(labels)
        centroids = np.stack([embeddings[labels == name].mean(axis=0) for name in names])
        centroids /= np.linalg.norm(centroids, axis=1, keepdims=True) + 1e-12
        similarity = centroids @ centroids.T
        np.fill_diagonal(similarity, -np.inf)
        first, second = np.unravel_index(int(np.argmax(similarity)), similarity.shape)
        labels[labels == names[second]] = names[first]
    return labels


def fold_small_clusters(
    embeddings: np.ndarray, labels: np.ndarray, seconds: np.ndarray, min_seconds: float
) -> np.ndarray:
    """Clusters speaking less than min_seconds merged, smallest first, into the cluster
    whose centroid is closest to theirs (while more than one cluster is left)."""
    labels = np.asarray(labels).copy()
    while True:
        names = np.unique(labels)
        if names.size < 2:
            return labels
        totals = np.array([seconds[labels == name].sum() for name in names])
        smallest = int(np.argmin(totals))
        if totals[smallest] >= min_seconds:
            return labels
        centroids = np.stack([embeddings[labels == name].mean(axis=0) for name in names])
        centroids /= np.linalg.norm(centroids, axis=1, keepdims=True) + 1e-12
        similarity = centroids @ centroids[smallest]
        similarity[smallest] = -np.inf
        labels[labels == names[smallest]] = names[int(np.argmax(similarity))]


def pooled_centroids(
    encoder: TurnEncoder,
    pieces: Sequence[SampleSpan],
    maps: Sequence[FrameMapLike],
    turns: Sequence[SampleSpan],
    labels: np.ndarray,
) -> np.ndarray:
    """(k, d) unit centroid per speaker: the mean of their turns pooled from the frame maps
    (the space the labelling windows live in), weighted by duration."""
    k = int(labels.max()) + 1
    sums: list[np.ndarray | None] = [None] * k
    for (start, end), label in zip(turns, labels):
        piece_index = next(i for i, (a, b) in enumerate(pieces) if a <= start < b)
        offset = pieces[piece_index][0]
        vector = encoder.pooled(maps[piece_index], np.array([[start - offset, end - offset]]))[0]
        weighted = vector * (end - start)
        current = sums[label]
        sums[label] = weighted if current is None else current + weighted
    vectors = np.stack([s if s is not None else np.zeros_like(next(v for v in sums if v is not None)) for s in sums])
    return vectors / (np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12)


# ---------------------------------------------------------------- 3. resegmentation


def label_scores(
    encoder: TurnEncoder, frames: FrameMapLike, piece: SampleSpan, centroids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Grid points (samples from the piece start) and their (points, k) cosine to each
    speaker, from a LABEL_WINDOW_SECONDS window centred on each point."""
    length = piece[1] - piece[0]
    step = round(GRID_SECONDS * SAMPLE_RATE_HZ)
    half = round(LABEL_WINDOW_SECONDS * SAMPLE_RATE_HZ / 2)
    grid = np.arange(step // 2, max(length, 1), step)
    if grid.size == 0:
        grid = np.array([length // 2])
    windows = np.stack([np.clip(grid - half, 0, length), np.clip(grid + half, 0, length)], 1)
    # Near the piece's edges keep the window full length inside the piece.
    short = windows[:, 1] - windows[:, 0] < 2 * half
    windows[short & (windows[:, 0] == 0), 1] = min(length, 2 * half)
    windows[short & (windows[:, 1] == length), 0] = max(0, length - 2 * half)
    return grid, encoder.pooled(frames, windows) @ centroids.T


def viterbi(scores: np.ndarray, switch_cost: float) -> np.ndarray:
    """The label path maximising the summed scores minus switch_cost per change."""
    points, k = scores.shape
    if k == 1:
        return np.zeros(points, int)
    total = scores[0].copy()
    back = np.zeros((points, k), int)
    for index in range(1, points):
        stay = total
        best_other = int(np.argmax(total))
        switch = total[best_other] - switch_cost
        back[index] = np.where(stay >= switch, np.arange(k), best_other)
        total = np.maximum(stay, switch) + scores[index]
    path = np.zeros(points, int)
    path[-1] = int(np.argmax(total))
    for index in range(points - 1, 0, -1):
        path[index - 1] = back[index, path[index]]
    return path


def runs_to_turns(grid: np.ndarray, path: np.ndarray, scores: np.ndarray, piece: SampleSpan) -> list[Turn]:
    """Runs of one label as turns (boundaries halfway between grid points), each with its
    confidence: the mean margin of its speaker over the best other, mapped to 0-1."""
    start, end = piece
    changes = np.flatnonzero(np.diff(path)) + 1
    bounds = [0, *changes.tolist(), path.size]
    turns = []
    for first, last in itertools.pairwise(bounds):
        speaker = int(path[first])
        begin = start if first == 0 else start + int((grid[first - 1] + grid[first]) // 2)
        finish = end if last == path.size else start + int((grid[last - 1] + grid[last]) // 2)
        own = scores[first:last, speaker]
        if scores.shape[1] > 1:
            others = np.delete(scores[first:last], speaker, axis=1).max(axis=1)
            confidence = float(np.clip(0.5 + np.mean(own - others), 0.0, 1.0))
        else:
            confidence = float(np.clip(np.mean(own), 0.0, 1.0))
        if finish > begin:
            turns.append(Turn(begin, finish, speaker, round(confidence, 3)))
    return turns


def refine_boundaries(
    encoder: TurnEncoder,
    frames: FrameMapLike,
    piece: SampleSpan,
    turns: list[Turn],
    centroids: np.ndarray,
) -> list[Turn]:
    """Each change between two speakers moved to where one-sided windows agree best: the
    point within REFINE_RADIUS_SECONDS maximising how much the window before it sounds
    like the earlier speaker and the window after it like the later one (the centred
    labelling windows blur a change over their width)."""
    if len(turns) < 2:
        return turns
    rate = SAMPLE_RATE_HZ
    step = round(REFINE_STEP_SECONDS * rate)
    radius = round(REFINE_RADIUS_SECONDS * rate)
    side = round(REFINE_WINDOW_SECONDS * rate)
    offset = piece[0]
    refined = list(turns)
    for index in range(1, len(refined)):
        before, after = refined[index - 1], refined[index]
        if before.end != after.start or before.speaker == after.speaker:
            continue
        low = max(before.start + step, after.start - radius)
        high = min(after.end - step, after.start + radius)
        if high <= low:
            continue
        points = np.arange(low, high + 1, step) - offset
        left_edge = max(before.start - offset, 0)
        right_edge = min(after.end - offset, piece[1] - offset)
        left = np.stack([np.maximum(points - side, left_edge), points], 1)
        right = np.stack([points, np.minimum(points + side, right_edge)], 1)
        a, b = centroids[before.speaker], centroids[after.speaker]
        left_vectors, right_vectors = (
            encoder.pooled(frames, left),
            encoder.pooled(frames, right),
        )
        gain = left_vectors @ (a - b) + right_vectors @ (b - a)
        cut = int(points[int(np.argmax(gain))]) + offset
        refined[index - 1] = Turn(before.start, cut, before.speaker, before.confidence)
        refined[index] = Turn(cut, after.end, after.speaker, after.confidence)
    return refined


def overlap_spans(grid: np.ndarray, scores: np.ndarray, piece: SampleSpan) -> list[SampleSpan]:
    """Grid stretches where the two closest speakers score within OVERLAP_MARGIN of each
    other and both above OVERLAP_MIN_SIMILARITY: a window that sounds like two people at
    once. An estimate (no overlap detector's weights are reachable here)."""
    if scores.shape[1] < 2 or grid.size == 0:
        return []
    ordered = np.sort(scores, axis=1)
    both = (ordered[:, -1] - ordered[:, -2] < OVERLAP_MARGIN) & (ordered[:, -2] >= OVERLAP_MIN_SIMILARITY)
    step = round(GRID_SECONDS * SAMPLE_RATE_HZ)
    spans = []
    padded = np.concatenate([[False], both, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    for first, last in zip(edges[::2], edges[1::2]):
        begin = piece[0] + max(0, int(grid[first]) - step // 2)
        finish = piece[0] + min(piece[1] - piece[0], int(grid[last - 1]) + step // 2)
        if finish > begin:
            spans.append((begin, finish))
    return spans


def renumbered(turns: list[Turn]) -> list[Turn]:
    """Turns in time order, neighbours of one speaker merged, speakers numbered by first
    appearance (speakers the resegmentation never chose disappear)."""
    order: dict[int, int] = {}
    merged: list[Turn] = []
    for turn in sorted(turns, key=lambda t: t.start):
        speaker = order.setdefault(turn.speaker, len(order))
        if merged and merged[-1].speaker == speaker and merged[-1].end >= turn.start:
            previous = merged[-1]
            weight = previous.seconds + turn.seconds
            confidence = (previous.confidence * previous.seconds + turn.confidence * turn.seconds) / weight
            merged[-1] = Turn(previous.start, turn.end, speaker, round(confidence, 3))
        else:
            merged.append(Turn(turn.start, turn.end, speaker, turn.confidence))
    return merged


# ---------------------------------------------------------------- RTTM


def rttm_lines(diarization: Diarization, file_id: str, names: Sequence[str]) -> list[str]:
    """NIST RTTM: one SPEAKER line per turn (start and duration in seconds)."""
    return [
        f"SPEAKER {file_id} 1 {turn.start / SAMPLE_RATE_HZ:.3f} {turn.seconds:.3f} "
        f"<NA> <NA> {names[turn.speaker]} <NA> <NA>"
        for turn in diarization.turns
    ]
