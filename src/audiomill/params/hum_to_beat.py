"""Parameters of hum-to-beat (kind ``hum_to_beat``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from audiomill.params.common import EncodeOptions

MAX_SEED = 2**31 - 1
MIN_DURATION_SECONDS = 1.0
MAX_DURATION_SECONDS = 300.0

HumToBeatModel = Literal["composer", "musicgen-melody"]


class HumToBeatParams(EncodeOptions):
    """A hummed melody, transcribed and arranged into a track (kind ``hum_to_beat``)."""

    bpm: int = Field(
        default=120,
        ge=60,
        le=300,
        description="tempo of the result in beats per minute (60-300); "
        "the hum's notes are quantized to sixteenths of it",
    )
    mood: str = Field(
        default="neutral",
        min_length=1,
        max_length=100,
        description="mood in words (e.g. 'happy', 'dark', 'chill'): picks the style of drums, bass and chords",
    )
    key: str | None = Field(
        default=None,
        max_length=20,
        description="key to harmonise in, e.g. 'A minor'; default: found from the hummed notes",
    )
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED, description="arrangement seed; same seed, same result")
    model: HumToBeatModel = Field(
        default="composer",
        description="'composer' (default: embedded, offline, CPU; stems and MIDI) or 'musicgen-melody' "
        "(MusicGen following the hum's chroma; one mixed track; needs its weights, which are "
        "CC-BY-NC-4.0: non-commercial use only)",
    )
    duration_seconds: float | None = Field(
        default=None,
        ge=MIN_DURATION_SECONDS,
        le=MAX_DURATION_SECONDS,
        description="length of the result in seconds (1-300); default: up to the end of the bar "
        "holding the last hummed note",
    )
