"""Test conversations made from recorded voices, with the truth of who speaks when.

flite's ``slt``, ``rms``, ``awb`` and ``kal`` voices are recordings of four different
people (``flite -lv``). A conversation is a script of turns (0.4-7 s) said by "A", "B"
(and "C"); each utterance is trimmed of flite's own leading and trailing silence and the
turns are laid end to end with no pause, so every speaker change is back to back and a
VAD cannot find it. Used by tests/test_extract_speaker.py and bench/bench_speaker.py.
Also: the real AMI meeting excerpts in ../shared/data/ami, when present.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
import soxr

RATE = 16000
VOICES = ("slt", "rms", "awb", "kal")
TRIM_LEVEL = 0.01  # |sample| above this is where flite's utterance starts and ends

# Turns of 0.4-7 s: long statements, back-to-back replies, short interjections.
TWO_PERSON_SCRIPT: tuple[tuple[str, str], ...] = (
    (
        "A",
        (
            "Please send the quarterly report to the finance team by Friday, and copy "
            "the regional managers so they can check their numbers before the meeting."
        ),
    ),
    ("B", "Yes."),
    ("A", "We should meet again next week to discuss the new design."),
    ("B", "The train to the city leaves from platform nine at noon."),
    ("A", "Okay, right."),
    ("B", "A cup of hot tea makes a cold morning feel much better."),
    ("A", "Our neighbours painted their fence a bright shade of yellow."),
    ("B", "Mm, I see."),
    ("A", "Remember to water the plants before you leave for the airport."),
    (
        "B",
        ("The library closes early on Sundays, so bring the books back on Saturday afternoon if you can."),
    ),
)
THREE_PERSON_SCRIPT: tuple[tuple[str, str], ...] = (
    ("A", "Please send the quarterly report to the finance team by Friday."),
    ("B", "We should meet again next week to discuss the new design."),
    ("C", "Sure."),
    ("A", "The train to the city leaves from platform nine at noon."),
    ("C", "A cup of hot tea makes a cold morning feel much better."),
    ("B", "Okay, right."),
    ("A", "Remember to water the plants before you leave for the airport."),
    ("B", "Our neighbours painted their fence a bright shade of yellow."),
)
ENROLLMENT_TEXT = "My sample is a different sentence about gardens and flowers in spring, said slowly and clearly."


@dataclass(frozen=True)
class Conversation:
    path: Path
    audio: np.ndarray  # mono float32 at RATE
    owner: np.ndarray  # (samples,) the voice speaking at each sample ("" for none)
    turns: list[tuple[float, float, str]]  # (start s, end s, voice)

    def mask(self, voice: str) -> np.ndarray:
        return self.owner == voice

    @property
    def voices(self) -> list[str]:
        return sorted({voice for _, _, voice in self.turns})


def flite_missing_reason() -> str | None:
    if shutil.which("flite") is None:
        return "flite is not installed (scripts/ensure-system-packages.sh): no recorded voices"
    return None


class FliteVoices:
    """Utterances (cached as files), conversations and enrollment samples."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def say(self, voice: str, text: str, trimmed: bool = True) -> np.ndarray:
        path = self.folder / f"{voice}-{zlib.crc32(text.encode())}.wav"
        if not path.exists():
            subprocess.run(
                ["flite", "-voice", voice, "-t", text, "-o", str(path)],
                check=True,
                capture_output=True,
            )
        samples, rate = soundfile.read(path, dtype="float32")
        if rate != RATE:  # kal is recorded at 8 kHz
            samples = soxr.resample(samples, rate, RATE).astype(np.float32)
        if not trimmed:
            return samples
        loud = np.flatnonzero(np.abs(samples) > TRIM_LEVEL)
        return samples[loud[0] : loud[-1] + 1]

    def conversation_script(
        self,
        cast: dict[str, str],
        script: tuple[tuple[str, str], ...] = TWO_PERSON_SCRIPT,
    ) -> Conversation:
        """The script said by cast (role -> voice), turns back to back."""
        pieces, owners, turns, position = [], [], [], 0
        for role, text in script:
            voice = cast[role]
            utterance = self.say(voice, text)
            pieces.append(utterance)
            owners.append(np.full(utterance.size, voice))
            turns.append((position / RATE, (position + utterance.size) / RATE, voice))
            position += utterance.size
        lead = np.zeros(RATE // 2, np.float32)  # a little silence at both ends
        audio = np.concatenate([lead, *pieces, lead])
        owner = np.concatenate([np.full(lead.size, ""), *owners, np.full(lead.size, "")])
        shift = lead.size / RATE
        turns = [(start + shift, end + shift, voice) for start, end, voice in turns]
        name = "-".join(f"{role}{voice}" for role, voice in sorted(cast.items()))
        path = self.folder / f"talk-{name}-{len(script)}.wav"
        soundfile.write(path, audio, RATE, subtype="FLOAT")
        return Conversation(path, audio, owner, turns)

    def enrollment(self, voice: str) -> Path:
        """The voice saying words that are in no conversation (about 5 s)."""
        path = self.folder / f"enroll-{voice}.wav"
        if not path.exists():
            soundfile.write(path, self.say(voice, ENROLLMENT_TEXT, trimmed=False), RATE)
        return path


# ---------------------------------------------------------------- real meetings (AMI)

AMI_FOLDER = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "ami"


def ami_folder() -> Path | None:
    """../shared/data/ami when present (AMI Meeting Corpus, CC BY 4.0, as excerpted in
    pyannote-audio's test data, MIT)."""
    for folder in (
        AMI_FOLDER,
        Path(os.environ.get("AUDIOMILL_SHARED", "/work/shared")) / "data" / "ami",
    ):
        if (folder / "turns.rttm").is_file():
            return folder.resolve()
    return None


def ami_turns(folder: Path) -> dict[str, list[tuple[float, float, str]]]:
    """file -> [(start s, end s, speaker)] from turns.rttm."""
    turns: dict[str, list[tuple[float, float, str]]] = {}
    for line in (folder / "turns.rttm").read_text().splitlines():
        fields = line.split()
        if len(fields) >= 8 and fields[0] == "SPEAKER":
            start, duration = float(fields[3]), float(fields[4])
            turns.setdefault(fields[1], []).append((start, start + duration, fields[7]))
    return turns


def speaker_masks(
    turns: list[tuple[float, float, str]], samples: int, rate: int = RATE
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per speaker, where they speak; and where two or more speak at once."""
    masks: dict[str, np.ndarray] = {}
    for start, end, speaker in turns:
        mask = masks.setdefault(speaker, np.zeros(samples, bool))
        mask[round(start * rate) : round(end * rate)] = True
    count = np.sum(list(masks.values()), axis=0) if masks else np.zeros(samples, int)
    return masks, count >= 2


# ---------------------------------------------------------------- diarization error rate

DER_COLLAR_SECONDS = 0.25  # pyannote.metrics' usual collar (0.25 s either side of each edge)


def diarization_error_rate(
    reference: list[tuple[float, float, str]],
    hypothesis: list[tuple[float, float, str]],
    duration_seconds: float,
    collar: float = DER_COLLAR_SECONDS,
    step: float = 0.01,
) -> float:
    """NIST-style DER on a 10 ms grid: frames within ``collar`` of a reference boundary are
    not scored; speakers mapped one to one to maximise agreement (Hungarian); per frame the
    error is max(reference count, hypothesis count) - correctly mapped count.

    Overlapped reference speech counts (a one-label-per-instant hypothesis misses all but
    one of the voices there): see :func:`overlap_floor`."""
    from scipy.optimize import linear_sum_assignment

    frames = int(np.ceil(duration_seconds / step))
    times = (np.arange(frames) + 0.5) * step

    def activity(turns: list[tuple[float, float, str]]) -> tuple[list[str], np.ndarray]:
        names = sorted({speaker for _, _, speaker in turns})
        active = np.zeros((len(names), frames), bool)
        for start, end, speaker in turns:
            active[names.index(speaker), (times >= start) & (times < end)] = True
        return names, active

    _, ref = activity(reference)
    _, hyp = activity(hypothesis)
    scored = np.ones(frames, bool)
    for start, end, _ in reference:
        for edge in (start, end):
            scored &= np.abs(times - edge) > collar
    ref, hyp = ref[:, scored], hyp[:, scored]
    total = ref.sum()
    if total == 0:
        return 0.0
    correct = 0
    if len(hyp):
        agreement = (ref[:, None, :] & hyp[None, :, :]).sum(axis=2)
        rows, cols = linear_sum_assignment(-agreement)
        mapped = np.zeros_like(ref)
        for r, c in zip(rows, cols):
            mapped[r] = ref[r] & hyp[c]
        correct = mapped.sum(axis=0)
    errors = np.maximum(ref.sum(axis=0), hyp.sum(axis=0) if len(hyp) else 0) - correct
    return float(errors.sum() / total)


def overlap_floor(reference: list[tuple[float, float, str]], duration_seconds: float, step: float = 0.01) -> float:
    """The DER a perfect one-speaker-per-instant diarization still scores: the voices beyond
    the first where several speak at once (same collar and grid as diarization_error_rate)."""
    frames = int(np.ceil(duration_seconds / step))
    times = (np.arange(frames) + 0.5) * step
    names = sorted({speaker for _, _, speaker in reference})
    active = np.zeros((len(names), frames), bool)
    scored = np.ones(frames, bool)
    for start, end, speaker in reference:
        active[names.index(speaker), (times >= start) & (times < end)] = True
        for edge in (start, end):
            scored &= np.abs(times - edge) > DER_COLLAR_SECONDS
    voices = active[:, scored].sum(axis=0)
    return float(np.maximum(voices - 1, 0).sum() / max(1, voices.sum()))
