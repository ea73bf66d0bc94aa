"""Songs written and rendered by audiomill's own composer (src/audiomill/music), with the
truth the arrangement knows: tempo, key, meter, drums or not, and the section boundaries.

They widen the analysis tests and bench beyond tests/music_renders.py's one-pattern songs:
fourteen styles (swung lofi and jazz, four-on-the-floor house, half-time trap, 3/4 waltz,
6/8 lullaby, drumless ambient and piano), tempos 60-190, with and without drums, dynamics
and fills per section.

Tempo convention: ``bpm`` counts the beat a listener taps, as the composer does
(music/meter.py): the quarter note in 4/4 and 3/4, the dotted quarter in 6/8 (two beats a
bar; the rendered MIDI tempo is 1.5 times it in quarter notes, music/render.py). So a 48 bpm
lullaby has eighth notes at 144 a minute, and the analysis must report 48 and "6/8".
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np

from audiomill.music.prompt import Brief
from audiomill.music.styles import STYLES_BY_NAME
from audiomill.music.theory import NOTE_NAMES, Key

SAMPLE_RATE = 44100
STYLE_NAMES = tuple(sorted(STYLES_BY_NAME))


@dataclass(frozen=True)
class ComposedSpec:
    style: str
    tonic: int
    mode: str  # "major" | "minor"
    bpm: float
    drums: bool = True
    duration_seconds: float = 24.0
    seed: int = 0

    @property
    def key_name(self) -> str:
        return f"{NOTE_NAMES[self.tonic]} {self.mode}"

    @property
    def time_signature(self) -> str:
        return STYLES_BY_NAME[self.style].time_signature

    @property
    def beats_per_bar(self) -> int:
        return {"4/4": 4, "3/4": 3, "6/8": 2}[self.time_signature]

    @property
    def swing(self) -> float:
        return STYLES_BY_NAME[self.style].swing


def compose_song(spec: ComposedSpec) -> tuple[np.ndarray, dict[str, Any]]:
    """(mix as float32 (2, frames) at 44.1 kHz, the composition's description with its
    sections)."""
    from audiomill.music.pipeline import compose

    style = STYLES_BY_NAME[spec.style]
    brief = Brief(
        style=style,
        bpm=spec.bpm,
        key=Key(spec.tonic, "minor" if spec.mode == "minor" else "major"),
        time_signature=style.time_signature,
        drums=spec.drums,
        programs={},
    )
    with compose(brief, spec.duration_seconds, seed=spec.seed) as composition:
        return composition.read("mix"), composition.describe()


def composer_set(count: int, seed: int = 0, duration_seconds: float = 24.0) -> list[ComposedSpec]:
    """``count`` songs cycling through every style, each at a random tempo in its style's
    range widened by a quarter each way (within 60-190; a 6/8 style's dotted-quarter pulse
    within 40-70: a 186 bpm ambient pad or a 60 bpm rock song would have no right answer),
    a random key and mode, a third without drums."""
    rng = random.Random(seed)
    specs = []
    for index in range(count):
        style = STYLE_NAMES[index % len(STYLE_NAMES)]
        low, high = STYLES_BY_NAME[style].tempo_range
        floor, ceiling = (40, 70) if STYLES_BY_NAME[style].time_signature == "6/8" else (60, 190)
        bpm = float(rng.randrange(max(floor, round(low * 0.75)), min(ceiling, round(high * 1.25)) + 1))
        specs.append(
            ComposedSpec(
                style=style,
                tonic=rng.randrange(12),
                mode=rng.choice(("major", "minor")),
                bpm=bpm,
                drums=rng.random() > 1 / 3 and STYLES_BY_NAME[style].groove is not None,
                duration_seconds=duration_seconds,
                seed=seed * 1000 + index,
            )
        )
    return specs
