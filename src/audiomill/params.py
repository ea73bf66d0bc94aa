"""Validated parameters, one pydantic model per job kind.

Kept apart from the engines so the API validates a request without importing torch.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class OutputFormat(StrEnum):
    wav = "wav"
    flac = "flac"
    mp3 = "mp3"
    m4a = "m4a"


class EncodeOptions(BaseModel):
    """How an engine writes its audio outputs."""

    model_config = ConfigDict(extra="forbid")

    output_format: OutputFormat = OutputFormat.wav
    bitrate_kbps: int = Field(default=320, ge=32, le=320, description="mp3/m4a bitrate")
    wav_bit_depth: Literal[16, 24, 32] = Field(
        default=16, description="wav sample format: 16/24-bit integer or 32-bit float"
    )


SeparationModelName = Literal[
    "htdemucs",
    "htdemucs_ft",
    "htdemucs_6s",
    "hdemucs_mmi",
    "mdx",
    "mdx_extra",
    "mdx_q",
    "mdx_extra_q",
]
StemName = Literal["vocals", "drums", "bass", "other", "guitar", "piano"]


class SeparateParams(EncodeOptions):
    """Stem separation with a Demucs model (kind ``separate``)."""

    model: str = Field(
        default="htdemucs",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="Demucs model name (htdemucs, htdemucs_ft, htdemucs_6s, hdemucs_mmi, "
        "mdx_extra, …) or the name of a model in AUDIOMILL_MODELS_DIR",
    )
    two_stems: StemName | None = Field(
        default=None, description="keep this stem and write the rest as its complement"
    )
    complement_name: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9_]{1,32}$",
        description="name of the complement stem with two_stems (default no_<stem>)",
    )
    shifts: int = Field(default=1, ge=0, le=20, description="random shift passes averaged")
    overlap: float = Field(default=0.25, ge=0.0, le=0.9)
    segment_seconds: float | None = Field(
        default=None, gt=0.5, le=600, description="model segment length; default: the model's"
    )
    clip_mode: Literal["rescale", "clamp", "none"] = Field(
        default="rescale",
        description="rescale: scale a stem down if it would clip; clamp: hard clip; "
        "none: write as is (float wav only keeps overs)",
    )
    residual: bool = Field(
        default=False,
        description="add what the model left out to 'other' (or the complement) so the "
        "stems sum back to the mix",
    )
