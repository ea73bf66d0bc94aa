"""Parameters of text-to-music generation (kind ``generate``).

The embedded composer (``model: composer``, the default) runs offline on a CPU and honours
bpm, key, meter and duration exactly; the MusicGen models need their weights (CC-BY-NC-4.0)
and a lot more compute. Explicit parameters win over what the prompt says.
"""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import Field, field_validator

from audiomill.errors import InvalidInput
from audiomill.params.common import EncodeOptions

GenerateModel = Literal["composer", "musicgen-small", "musicgen-medium", "musicgen-large", "musicgen-melody"]
TimeSignatureName = Literal["4/4", "3/4", "6/8"]

MIN_DURATION_SECONDS = 5.0
MAX_DURATION_SECONDS = 300.0
MAX_SEED = 2**31 - 1


class GenerateParams(EncodeOptions):
    """Text to music: a mix, one stem per part and the MIDI (kind ``generate``)."""

    prompt: str = Field(
        min_length=1, max_length=500, description="what the music should be, in words (1-500 characters)"
    )
    duration_seconds: float = Field(
        default=30.0,
        ge=MIN_DURATION_SECONDS,
        le=MAX_DURATION_SECONDS,
        description="length of the result in seconds (5-300), honoured to the sample",
    )
    bpm: float | None = Field(
        default=None,
        ge=40,
        le=300,
        description="tempo in beats per minute (40-300); default: from the prompt or the style",
    )
    key: str | None = Field(
        default=None,
        max_length=20,
        description="key, e.g. 'A minor', 'F# major', 'Bbm'; default: from the prompt or the style",
    )
    mood: str | None = Field(
        default=None,
        max_length=100,
        description="mood in words (e.g. 'energetic', 'calm'), read together with the prompt",
    )
    genre: str | None = Field(
        default=None,
        max_length=100,
        description="genre or style name (e.g. 'jazz', 'lofi', 'cinematic'); wins over the prompt",
    )
    time_signature: TimeSignatureName | None = Field(
        default=None, description="meter; default: the style's (most are 4/4)"
    )
    instruments: list[str] | None = Field(
        default=None,
        max_length=3,
        description="up to 3 instrument names for the melody, chords and pad, in that order (e.g. ['violin', 'piano'])",
    )
    seed: int | None = Field(
        default=None,
        ge=0,
        le=MAX_SEED,
        description="same seed and parameters: the same audio, bit for bit; default: random (reported in the result)",
    )
    variations: int = Field(
        default=1, ge=1, le=8, description="how many different takes to write (seeds seed, seed+1, ...)"
    )
    loop: bool = Field(
        default=False, description="make a seamless loop: no intro or ending; the tail wraps onto the start"
    )
    model: GenerateModel = Field(
        default="composer", description="'composer' (embedded, offline, CPU) or a MusicGen model (needs its weights)"
    )
    preview: bool = Field(default=False, description="also write an mp3 preview of the mix (output 'preview')")
    repo_id: str | None = Field(default=None, description="music project (UUID) to commit the result into")
    commit_id: str | None = Field(default=None, description="commit (UUID) the result builds on")

    @field_validator("prompt")
    @classmethod
    def _prompt_has_words(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("prompt cannot be empty")
        return value

    @field_validator("key")
    @classmethod
    def _key_parses(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from audiomill.music.theory import parse_key

        try:
            return parse_key(value).name
        except InvalidInput as exc:  # -> a 422 naming the field
            raise ValueError(str(exc)) from None

    @field_validator("instruments")
    @classmethod
    def _instruments_known(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        from audiomill.music.prompt import instrument_program

        for name in value:
            try:
                instrument_program(name)
            except InvalidInput as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("repo_id", "commit_id")
    @classmethod
    def _uuid(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise ValueError(f"{value!r} is not a UUID") from None
