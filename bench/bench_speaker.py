"""Speaker extraction: how much of the target it keeps, how much of the other voice it drops.

``python -m bench.bench_speaker [--no-peer] [--turns N]``

Conversations alternate utterances of two recorded flite voices (every pair among slt, rms,
awb) with 0.3 s pauses; the target sample is the target voice saying other words. For each
conversation and each of its two voices as target, measured on the output:
  kept dB      output energy / input energy over the target's utterances (goal ~0)
  other dB     the same over the other voice's utterances
  separation   kept dB - other dB (goal >= 15)
  score        result.similarity_score (goal >= 70)
Then each conversation with the third voice as target (nobody to find): the score, and
the score of the conversation's best-matching voice ("closest voice"), goal <= 50.
Then back-to-back turns (utterances trimmed, no pause) to show the limit of the windowed
decision where a speaker change has no silence to cut at (no goal: reported as measured).

Peer, run on the same conversations one after another: the wheel's own
StreamingVoiceFilter (open-voicefilter-lite's mask model, enrolled with the same sample),
measured the same way.
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from bench import common
from bench.common import print_table, verdict

RATE = 16000
VOICES = ("slt", "rms", "awb")
PAUSE_SECONDS = 0.3
TEXTS = [
    "Please send the quarterly report to the finance team by Friday.",
    "We should meet again next week to discuss the new design.",
    "The train to the city leaves from platform nine at noon.",
    "A cup of hot tea makes a cold morning feel much better.",
    "Our neighbours painted their fence a bright shade of yellow.",
    "Remember to water the plants before you leave for the airport.",
]
SAMPLE_TEXT = "My sample is a different sentence about gardens and flowers in spring."
GOAL_SEPARATION_DB = 15.0
GOAL_SAME_SCORE = 70.0
GOAL_OTHER_SCORE = 50.0
SCRATCH = common.OUT_DIR / "speaker"


@dataclass(frozen=True)
class Conversation:
    name: str
    path: Path
    audio: np.ndarray  # mono, RATE
    regions: dict[str, np.ndarray]  # voice -> boolean mask of its utterances


@dataclass(frozen=True)
class Extraction:
    kept_db: float
    other_db: float
    score: float | None
    seconds: float
    segments: int

    @property
    def separation_db(self) -> float:
        return self.kept_db - self.other_db


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--turns", type=int, default=3, help="utterances per voice")
    parser.add_argument("--no-peer", action="store_true", help="skip StreamingVoiceFilter")


def run(args: argparse.Namespace) -> None:
    if shutil.which("flite") is None:
        sys.exit("flite is not installed (apt-get install flite): no recorded voices to test")
    common.header("speaker extraction on flite voices (slt, rms, awb)")
    shutil.rmtree(SCRATCH, ignore_errors=True)
    SCRATCH.mkdir(parents=True)
    pairs = list(itertools.combinations(VOICES, 2))
    paused = {pair: conversation(*pair, args.turns, paused=True) for pair in pairs}
    back_to_back = {pair: conversation(*pair, args.turns, paused=False) for pair in pairs}
    samples = {voice: sample(voice) for voice in VOICES}

    same_rows, worst_separation, worst_same = [], np.inf, np.inf
    for pair, talk in paused.items():
        for target in pair:
            ours = extract(talk, samples[target], target)
            peer = None if args.no_peer else voicefilter_peer(talk, samples[target], target)
            worst_separation = min(worst_separation, ours.separation_db)
            worst_same = min(worst_same, ours.score or 0.0)
            same_rows.append(_row(talk, target, ours, peer))
    print("\ntarget in the conversation (0.3 s pauses between turns)")
    print_table(
        ["conversation", "target", "kept dB", "other dB", "separation", "score", "segments",
         "seconds", "peer separation"],
        same_rows,
    )

    other_rows, worst_other, worst_closest = [], -np.inf, -np.inf
    for pair, talk in paused.items():
        stranger = next(voice for voice in VOICES if voice not in pair)
        result = extract_result(talk, samples[stranger])
        worst_other = max(worst_other, result["similarity_score"])
        worst_closest = max(worst_closest, result["closest_voice_score"])
        other_rows.append(
            [talk.name, stranger, result["similarity_score"], result["closest_voice_score"],
             result["target_seconds"]]
        )
    print("\ntarget not in the conversation")
    print_table(["conversation", "target", "score", "closest voice", "kept s"], other_rows)

    tight_rows = []
    for pair, talk in back_to_back.items():
        for target in pair:
            ours = extract(talk, samples[target], target)
            tight_rows.append(_row(talk, target, ours, None)[:-1])
    print("\nback-to-back turns, no pause (informative, no goal)")
    print_table(
        ["conversation", "target", "kept dB", "other dB", "separation", "score", "segments",
         "seconds"],
        tight_rows,
    )

    print(
        f"\nworst separation {worst_separation:.1f} dB (goal >= {GOAL_SEPARATION_DB:g}): "
        f"{verdict(worst_separation >= GOAL_SEPARATION_DB)}"
    )
    print(
        f"lowest same-speaker score {worst_same:.1f} (goal >= {GOAL_SAME_SCORE:g}): "
        f"{verdict(worst_same >= GOAL_SAME_SCORE)}"
    )
    print(
        f"highest other-speaker score {worst_other:.1f}, best-matching stranger's voice "
        f"{worst_closest:.1f} (goal <= {GOAL_OTHER_SCORE:g}): "
        f"{verdict(max(worst_other, worst_closest) <= GOAL_OTHER_SCORE)}"
    )


def _row(
    talk: Conversation, target: str, ours: Extraction, peer: Extraction | None
) -> list[object]:
    return [
        talk.name, target, ours.kept_db, ours.other_db, ours.separation_db, ours.score,
        ours.segments, ours.seconds, "-" if peer is None else peer.separation_db,
    ]


# ---------------------------------------------------------------- voices


def say(voice: str, text: str) -> np.ndarray:
    path = SCRATCH / f"{voice}-{sum(map(ord, text))}.wav"
    if not path.exists():
        subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(path)], check=True)
    samples, rate = soundfile.read(path, dtype="float32")
    assert rate == RATE, f"flite wrote {rate} Hz"
    return samples


def _trimmed(samples: np.ndarray) -> np.ndarray:
    """The utterance without flite's leading and trailing silence."""
    loud = np.flatnonzero(np.abs(samples) > 0.01)
    return samples[loud[0] : loud[-1] + 1]


def conversation(first: str, second: str, turns: int, paused: bool) -> Conversation:
    pause = np.zeros(round(PAUSE_SECONDS * RATE) if paused else 0, np.float32)
    pieces, owners = [], []
    for turn in range(turns):
        for index, voice in enumerate((first, second)):
            utterance = say(voice, TEXTS[(2 * turn + index) % len(TEXTS)])
            utterance = utterance if paused else _trimmed(utterance)
            pieces += [utterance, pause]
            owners += [voice] * utterance.size + [""] * pause.size
    audio = np.concatenate(pieces)
    name = f"{first}+{second}"
    path = SCRATCH / f"{name}-{'paused' if paused else 'tight'}.wav"
    soundfile.write(path, audio, RATE, subtype="PCM_16")
    owner_of = np.array(owners)
    return Conversation(name, path, audio, {v: owner_of == v for v in (first, second)})


def sample(voice: str) -> Path:
    path = SCRATCH / f"sample-{voice}.wav"
    soundfile.write(path, say(voice, SAMPLE_TEXT), RATE, subtype="PCM_16")
    return path


# ---------------------------------------------------------------- the peers


def extract_result(talk: Conversation, target_sample: Path) -> dict[str, Any]:
    return _extract(talk, target_sample)[0]


def extract(talk: Conversation, target_sample: Path, target: str) -> Extraction:
    result, output, seconds = _extract(talk, target_sample)
    return _measure(talk, target, output, result["similarity_score"], seconds,
                    len(result["segments"]))


def _extract(
    talk: Conversation, target_sample: Path
) -> tuple[dict[str, Any], np.ndarray, float]:
    from audiomill.engines import extract_speaker
    from audiomill.engines.base import LocalContext
    from audiomill.params.speaker import SpeakerExtractParams

    out = SCRATCH / "out"
    ctx = LocalContext(
        params=SpeakerExtractParams(wav_bit_depth=32),
        inputs={"conversation": talk.path, "target": target_sample},
        output_dir=out,
    )
    started = time.perf_counter()
    extract_speaker.run(ctx)
    seconds = time.perf_counter() - started
    output, _ = soundfile.read(ctx.outputs["audio"][0], dtype="float32")
    return ctx.result, output, seconds


def voicefilter_peer(talk: Conversation, target_sample: Path, target: str) -> Extraction:
    """open-voicefilter-lite's StreamingVoiceFilter, 10 ms at a time as its README shows."""
    from voicefilter_lite import StreamingVoiceFilter

    enrollment, _ = soundfile.read(target_sample, dtype="float32")
    started = time.perf_counter()
    model = StreamingVoiceFilter()
    model.set_enrollment(enrollment)
    hop = model.hop_length
    padded = np.concatenate([talk.audio, np.zeros(-talk.audio.size % hop, np.float32)])
    output = np.concatenate([model.step(padded[i : i + hop]) for i in range(0, padded.size, hop)])
    seconds = time.perf_counter() - started
    return _measure(talk, target, output[: talk.audio.size], None, seconds, 0)


def _measure(
    talk: Conversation, target: str, output: np.ndarray, score: object, seconds: float,
    segments: int,
) -> Extraction:
    other = next(voice for voice in talk.regions if voice != target)
    return Extraction(
        kept_db=_gain_db(talk.audio, output, talk.regions[target]),
        other_db=_gain_db(talk.audio, output, talk.regions[other]),
        score=score if isinstance(score, float) else None,
        seconds=seconds,
        segments=segments,
    )


def _gain_db(before: np.ndarray, after: np.ndarray, where: np.ndarray) -> float:
    energy_before = np.sum(np.square(before[where], dtype=np.float64))
    energy_after = np.sum(np.square(after[where], dtype=np.float64))
    return float(10 * np.log10((energy_after + 1e-20) / (energy_before + 1e-20)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_speaker", description=__doc__)
    add_arguments(parser)
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
