"""Keys, scales, chords and voice leading: the small amount of music theory the composer needs.

Pitches are MIDI note numbers (60 = middle C); pitch classes are 0-11 (0 = C).
A key is a tonic pitch class and a mode ("major" or "minor"); chords are built by stacking
thirds of the key's scale on a degree (0 = the tonic), so every chord is diatonic except
the dominant of a minor key, which takes the leading tone (harmonic minor) as real music does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import product
from typing import Literal

from audiomill.errors import InvalidInput

Mode = Literal["major", "minor"]

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_FLAT_NAMES = {"Db": 1, "Eb": 3, "Gb": 6, "Ab": 8, "Bb": 10, "Cb": 11, "Fb": 4}
_SHARP_EXTRA = {"E#": 5, "B#": 0}
SCALE_STEPS: dict[Mode, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
}

# A key as a whole parameter: "A minor", "F#", "Bbm", "c# min"
_KEY_PARAM = re.compile(r"^\s*([A-Ga-g])\s*(#|♯|b|♭|sharp|flat)?\s*(major|minor|maj|min|m)?\s*$", re.IGNORECASE)
# A key inside prose: the note letter in capitals and the mode spelled out ("in F# minor"),
# or glued short forms ("Am", "F#m", "Ebmaj"); "I am" and "a minor change" must not match.
_KEY_IN_PROSE = re.compile(r"(?<![\w#])([A-G])(#|♯|b|♭)?(?:\s*(major|minor|Major|Minor)\b|(m|maj|min)(?![\w#]))")


@dataclass(frozen=True)
class Key:
    tonic: int  # pitch class 0-11
    mode: Mode

    @property
    def name(self) -> str:
        return f"{NOTE_NAMES[self.tonic]} {self.mode}"

    def scale_pitch_classes(self) -> tuple[int, ...]:
        return tuple((self.tonic + step) % 12 for step in SCALE_STEPS[self.mode])

    def degree_pitch(self, degree: int, octave_base: int = 60) -> int:
        """The MIDI pitch of scale degree ``degree`` (any integer: 7 is the tonic an
        octave up), counted from the tonic in the octave starting at ``octave_base``."""
        steps = SCALE_STEPS[self.mode]
        octave, index = divmod(degree, 7)
        base = octave_base + ((self.tonic - octave_base) % 12)
        return base + 12 * octave + steps[index]


def pitch_class(name: str) -> int:
    name = name.strip()
    if not name:
        raise InvalidInput("empty note name")
    letter = name[0].upper()
    accidental = name[1:].strip().lower()
    spelled = letter + {"#": "#", "♯": "#", "sharp": "#", "b": "b", "♭": "b", "flat": "b", "": ""}.get(accidental, "?")
    if spelled in NOTE_NAMES:
        return NOTE_NAMES.index(spelled)
    if spelled in _FLAT_NAMES:
        return _FLAT_NAMES[spelled]
    if spelled in _SHARP_EXTRA:
        return _SHARP_EXTRA[spelled]
    raise InvalidInput(f"unknown note name {name!r}")


def parse_key(text: str) -> Key:
    """'A minor', 'F# major', 'Bb min', 'C#m', 'D' (major) -> Key; InvalidInput otherwise."""
    match = _KEY_PARAM.match(text)
    if match is None:
        raise InvalidInput(f"key {text!r} is not understood: write a note and a mode, e.g. 'A minor' or 'F# major'")
    letter, accidental, mode_word = match.groups()
    tonic = pitch_class(letter.upper() + (accidental or ""))
    mode: Mode = "minor" if (mode_word or "").lower() in ("minor", "min", "m") else "major"
    return Key(tonic, mode)


def find_key(text: str) -> Key | None:
    """The first key written in free text ('... in F# minor ...', '... in Am'), or None."""
    match = _KEY_IN_PROSE.search(text)
    if match is None:
        return None
    letter, accidental, long_mode, short_mode = match.groups()
    mode_word = (long_mode or short_mode).lower()
    mode: Mode = "minor" if mode_word in ("minor", "min", "m") else "major"
    return Key(pitch_class(letter + (accidental or "")), mode)


@dataclass(frozen=True)
class Chord:
    """A chord on a scale degree of a key: its root and its pitch classes (root first)."""

    degree: int
    root: int  # pitch class
    pitch_classes: tuple[int, ...]
    symbol: str


def chord_on(key: Key, degree: int, seventh: bool = False) -> Chord:
    scale = key.scale_pitch_classes()
    tones = [scale[(degree + 2 * i) % 7] for i in range(4 if seventh else 3)]
    if key.mode == "minor" and degree % 7 == 4:
        # the dominant of a minor key takes the leading tone: a major V (V7) leads home
        tones[1] = (tones[1] + 1) % 12
    third = (tones[1] - tones[0]) % 12
    fifth = (tones[2] - tones[0]) % 12
    quality = "" if third == 4 else "m"
    if fifth == 6:
        quality = "dim"
    if seventh:
        seventh_interval = (tones[3] - tones[0]) % 12
        quality += "maj7" if seventh_interval == 11 and third == 4 else "7"
    return Chord(degree % 7, tones[0], tuple(tones), NOTE_NAMES[tones[0]] + quality)


def voice_chord(chord: Chord, previous: tuple[int, ...] | None, low: int = 52, high: int = 76) -> tuple[int, ...]:
    """Pitches for ``chord`` within [low, high] that move least from ``previous``.

    Every arrangement of the chord's pitch classes into ascending voices (one octave
    choice per voice) is a candidate; the one with the smallest total motion from the
    previous voicing wins (ties: the lower one), which is what voice leading asks for:
    common tones held, the others moving by step.
    """
    pcs = chord.pitch_classes
    candidates: list[tuple[int, ...]] = []
    for octaves in product(range(low // 12, high // 12 + 1), repeat=len(pcs)):
        pitches = tuple(sorted(12 * o + pc for o, pc in zip(octaves, pcs)))
        if pitches[0] < low or pitches[-1] > high or pitches[-1] - pitches[0] > 16:
            continue
        if len(set(pitches)) < len(pitches):
            continue
        candidates.append(pitches)
    if not candidates:
        base = low + ((chord.root - low) % 12)
        return tuple(base + ((pc - chord.root) % 12) for pc in pcs)
    if previous is None:
        centre = (low + high) / 2
        return min(candidates, key=lambda v: (abs(sum(v) / len(v) - centre), v))
    return min(candidates, key=lambda v: (_motion(previous, v), v))


def _motion(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    if len(a) == len(b):
        return sum(abs(x - y) for x, y in zip(a, b))
    # different sizes: each new voice moves to the nearest old one
    return sum(min(abs(x - y) for y in a) for x in b) + sum(min(abs(x - y) for y in b) for x in a)


# Krumhansl-Kessler key profiles (probe-tone ratings), C major and C minor
_MAJOR_PROFILE = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)
_MINOR_PROFILE = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)


def estimate_key(histogram: list[float] | tuple[float, ...]) -> Key:
    """Krumhansl-Schmuckler: the key whose profile correlates best with a 12-bin
    pitch-class histogram (e.g. note durations per pitch class)."""
    import numpy as np

    values = np.asarray(histogram, dtype=np.float64)
    best: tuple[float, Key] | None = None
    for mode, profile in (("major", _MAJOR_PROFILE), ("minor", _MINOR_PROFILE)):
        for tonic in range(12):
            rotated = np.roll(np.asarray(profile), tonic)
            score = float(np.corrcoef(values, rotated)[0, 1])
            if best is None or score > best[0]:
                best = (score, Key(tonic, mode))  # type: ignore[arg-type]
    assert best is not None
    return best[1]
