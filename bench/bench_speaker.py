"""Speaker extraction, old engine vs new, on recorded voices and real meetings.

``python -m bench.bench_speaker [--no-old] [--no-flite] [--no-ami]``

Conversations:
- flite: tests/conversations.py's scripts (turns of 0.4-7 s, back to back, no pauses,
  short interjections) said by two or three of flite's recorded voices (slt, rms, awb,
  kal); the enrollment is the target saying other words; the wrong enrollment is a voice
  not in the conversation.
- AMI: the four real meeting excerpts in ../shared/data/ami (AMI Meeting Corpus, CC BY
  4.0, as excerpted in pyannote-audio's test data, MIT). The target is the speaker with
  the most solo speech; trn07/trn08 (one meeting) enroll the target from the other
  excerpt, trn04/trn09 from the target's solo speech in the same excerpt (marked "self");
  the wrong enrollment is a speaker of another meeting.

Per conversation and engine:
  sep dB      target/other energy ratio: output/input energy over the target's solo speech
              minus the same over the other speakers' solo speech (overlaps left out);
              goal >= 15 on real two-person recordings
  DER         diarization error rate with a 0.25 s collar (our own scorer: optimal
              one-to-one speaker mapping; missed + false alarm + confusion over reference
              speech; overlapped reference speech counts); the old engine does not diarize
  right/wrong similarity_score with the right and with the wrong enrollment (goals >= 70
              and <= 50)
  kept        seconds kept with the right enrollment
  overlap     overlap_seconds reported / in the reference
The "old" engine is the previous d-vector engine (bench/speaker_dvector_engine.py), run
on the same files in the same process.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import soundfile

from bench import common
from bench.common import print_table, verdict
from tests.conversations import (
    THREE_PERSON_SCRIPT,
    FliteVoices,
    ami_folder,
    ami_turns,
    diarization_error_rate,
    flite_missing_reason,
    overlap_floor,
    speaker_masks,
)

RATE = 16000
GOAL_SEPARATION_DB = 15.0
GOAL_RIGHT_SCORE = 70.0
GOAL_WRONG_SCORE = 50.0
SCRATCH = common.OUT_DIR / "speaker"

Turns = list[tuple[float, float, str]]


@dataclass(frozen=True)
class Case:
    name: str
    conversation: Path
    turns: Turns  # reference (start s, end s, speaker)
    target: str
    right: Path  # enrollment of the target
    wrong: Path  # enrollment of someone not in the conversation
    note: str = ""
    speakers_in_talk: int = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-old", action="store_true", help="skip the previous engine")
    parser.add_argument("--no-flite", action="store_true", help="skip the flite conversations")
    parser.add_argument("--no-ami", action="store_true", help="skip the AMI excerpts")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads for CAM++ (AUDIOMILL_TORCH_THREADS; 1 by default: "
        "the figures that matter here are quality, not speed)",
    )


def run(args: argparse.Namespace) -> None:
    SCRATCH.mkdir(parents=True, exist_ok=True)
    os.environ["AUDIOMILL_TORCH_THREADS"] = str(args.threads)
    from audiomill.config import reset_settings_cache

    reset_settings_cache()
    common.header("speaker extraction: old engine (d-vector) vs new (CAM++ diarization)")
    cases: list[Case] = []
    if not args.no_flite:
        reason = flite_missing_reason()
        if reason:
            print(f"flite conversations skipped: {reason}")
        else:
            cases += flite_cases(FliteVoices(SCRATCH / "voices"))
    if not args.no_ami:
        folder = ami_folder()
        if folder is None:
            print("AMI excerpts skipped: ../shared/data/ami is absent")
        else:
            cases += ami_cases(folder)
    engines = {"new": new_engine()}
    if not args.no_old:
        engines["old"] = old_engine()
    rows, two_person_real = [], []
    for case in cases:
        for name, engine in engines.items():
            figures = measure(case, engine)
            rows.append([case.name, case.target, case.note, name, *figures.row()])
            if name == "new" and case.name.startswith("trn") and case.speakers_in_talk == 2:
                two_person_real.append(figures)
            print(f"  {case.name} {name}: {rows[-1]}", flush=True)
    print()
    print_table(
        [
            "conversation",
            "target",
            "enroll",
            "engine",
            "sep dB",
            "DER",
            "floor",
            "right",
            "wrong",
            "kept s",
            "overlap s",
            "run s",
        ],
        rows,
    )
    news = [r for r in rows if r[3] == "new"]
    if news:
        worst_right = min(float(r[7]) for r in news)
        worst_wrong = max(float(r[8]) for r in news)
        print(
            f"\nnew engine: lowest right-speaker score {worst_right:.1f} (goal >= "
            f"{GOAL_RIGHT_SCORE:g}): {verdict(worst_right >= GOAL_RIGHT_SCORE)}"
        )
        print(
            f"new engine: highest wrong-speaker score {worst_wrong:.1f} (goal <= "
            f"{GOAL_WRONG_SCORE:g}): {verdict(worst_wrong <= GOAL_WRONG_SCORE)}"
        )
    if two_person_real:
        worst = min(f.separation_db for f in two_person_real)
        print(
            f"new engine: worst sep on real two-person excerpts {worst:.1f} dB (goal >= "
            f"{GOAL_SEPARATION_DB:g}): {verdict(worst >= GOAL_SEPARATION_DB)}"
        )
    else:
        print(
            "no real excerpt has only two speakers: the 2-person sep goal is read off the multi-speaker AMI rows above"
        )


# ---------------------------------------------------------------- the conversations


def flite_cases(voices: FliteVoices) -> list[Case]:
    cases = []
    for first, second, target, wrong in (
        ("slt", "rms", "rms", "awb"),
        ("awb", "kal", "awb", "slt"),
    ):
        talk = voices.conversation_script({"A": first, "B": second})
        cases.append(
            Case(
                f"{first}+{second}",
                talk.path,
                talk.turns,
                target,
                voices.enrollment(target),
                voices.enrollment(wrong),
                "other words",
            )
        )
    talk = voices.conversation_script({"A": "rms", "B": "kal", "C": "slt"}, THREE_PERSON_SCRIPT)
    cases.append(
        Case(
            "rms+kal+slt",
            talk.path,
            talk.turns,
            "slt",
            voices.enrollment("slt"),
            voices.enrollment("awb"),
            "other words",
            3,
        )
    )
    return cases


def ami_cases(folder: Path) -> list[Case]:
    turns = ami_turns(folder)
    audio = {name: soundfile.read(folder / f"{name}.wav", dtype="float32")[0] for name in turns}

    def solo(name: str, speaker: str) -> np.ndarray:
        masks, overlapped = speaker_masks(turns[name], audio[name].size)
        return masks[speaker] & ~overlapped

    def enrollment(name: str, speaker: str) -> Path:
        path = SCRATCH / f"enroll-{name}-{speaker}.wav"
        soundfile.write(path, audio[name][solo(name, speaker)], RATE)
        return path

    def main_speaker(name: str) -> str:
        speakers = sorted({s for _, _, s in turns[name]})
        return max(speakers, key=lambda s: int(solo(name, s).sum()))

    wrong_of = {
        "trn04": ("trn09", "FEE083"),
        "trn07": ("trn04", "MEE075"),
        "trn08": ("trn04", "MEE075"),
        "trn09": ("trn04", "MEE075"),
    }
    other_excerpt = {"trn07": "trn08", "trn08": "trn07"}
    cases = []
    for name in sorted(turns):
        target = main_speaker(name)
        source = other_excerpt.get(name, name)
        if source != name and solo(source, target).sum() < RATE:
            source = name
        wrong_file, wrong_speaker = wrong_of.get(name, ("trn04", "MEE075"))
        cases.append(
            Case(
                name,
                folder / f"{name}.wav",
                turns[name],
                target,
                enrollment(source, target),
                enrollment(wrong_file, wrong_speaker),
                "self" if source == name else source,
                len({s for _, _, s in turns[name]}),
            )
        )
    return cases


# ---------------------------------------------------------------- the engines


Engine = Callable[[Path, Path, Path], dict[str, Any]]


def new_engine() -> Engine:
    from audiomill.engines import extract_speaker

    return _engine(extract_speaker)


def old_engine() -> Engine:
    from bench import speaker_dvector_engine

    return _engine(speaker_dvector_engine)


def _engine(module: ModuleType) -> Engine:
    from audiomill.engines.base import LocalContext
    from audiomill.params.speaker import SpeakerExtractParams

    def extract(conversation: Path, enrollment: Path, out: Path) -> dict[str, Any]:
        ctx = LocalContext(
            params=SpeakerExtractParams(wav_bit_depth=32),
            inputs={"conversation": conversation, "target": enrollment},
            output_dir=out,
        )
        module.run(ctx)
        return {"result": ctx.result, "outputs": ctx.outputs}

    return extract


# ---------------------------------------------------------------- measuring


@dataclass(frozen=True)
class Figures:
    separation_db: float
    der: float | None
    der_floor: float  # the DER overlapped speech alone costs a one-label-per-instant diarization
    right_score: float
    wrong_score: float
    kept_seconds: float
    overlap_reported: float | None
    overlap_reference: float
    seconds: float

    def row(self) -> list[object]:
        return [
            round(self.separation_db, 1),
            "-" if self.der is None else f"{100 * self.der:.1f}%",
            f"{100 * self.der_floor:.1f}%",
            self.right_score,
            self.wrong_score,
            round(self.kept_seconds, 1),
            (
                f"{'-' if self.overlap_reported is None else round(self.overlap_reported, 1)} / "
                f"{self.overlap_reference:.1f}"
            ),
            round(self.seconds, 1),
        ]


def measure(case: Case, engine: Engine) -> Figures:
    talk, _ = soundfile.read(case.conversation, dtype="float32", always_2d=True)
    talk = talk[:, 0]
    out = SCRATCH / "out"
    started = time.perf_counter()
    right = engine(case.conversation, case.right, out)
    seconds = time.perf_counter() - started
    output, _ = soundfile.read(right["outputs"]["audio"][0], dtype="float32", always_2d=True)
    der = None
    if "diarization_rttm" in right["outputs"]:
        hypothesis = read_rttm(right["outputs"]["diarization_rttm"][0])
        der = diarization_error_rate(case.turns, hypothesis, talk.size / RATE)
    wrong = engine(case.conversation, case.wrong, out)
    masks, overlapped = speaker_masks(case.turns, talk.size)
    target = masks[case.target] & ~overlapped
    others = ~masks[case.target] & ~overlapped & np.any(list(masks.values()), axis=0)
    separation = _gain_db(talk, output[:, 0], target) - _gain_db(talk, output[:, 0], others)
    return Figures(
        separation_db=separation,
        der=der,
        der_floor=overlap_floor(case.turns, talk.size / RATE),
        right_score=right["result"]["similarity_score"],
        wrong_score=wrong["result"]["similarity_score"],
        kept_seconds=right["result"]["target_seconds"],
        overlap_reported=right["result"].get("overlap_seconds"),
        overlap_reference=float(overlapped.sum()) / RATE,
        seconds=seconds,
    )


def _gain_db(before: np.ndarray, after: np.ndarray, where: np.ndarray) -> float:
    energy_before = np.sum(np.square(before[where], dtype=np.float64))
    energy_after = np.sum(np.square(after[where], dtype=np.float64))
    return float(10 * np.log10((energy_after + 1e-20) / (energy_before + 1e-20)))


def read_rttm(path: Path) -> Turns:
    turns = []
    for line in path.read_text().splitlines():
        fields = line.split()
        if len(fields) >= 8 and fields[0] == "SPEAKER":
            start = float(fields[3])
            turns.append((start, start + float(fields[4]), fields[7]))
    return turns


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_speaker", description=__doc__)
    add_arguments(parser)
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
