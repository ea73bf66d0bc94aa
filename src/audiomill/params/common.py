"""Parameters shared by several kinds: how audio outputs are written."""

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
