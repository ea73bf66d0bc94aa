"""Parameters of music analysis (kind ``analyze``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class AnalyzeParams(BaseModel):
    """Tempo, beats, meter, key, loudness and a waveform of a track (kind ``analyze``)."""

    model_config = ConfigDict(extra="forbid")

    waveform_columns: int = Field(
        default=2000,
        ge=16,
        le=20000,
        description="columns of min/max waveform peaks in the result (for drawing); 16-20000",
    )
    waveform_width: int = Field(default=1200, ge=64, le=8000, description="width of waveform.png in pixels")
    waveform_height: int = Field(default=200, ge=16, le=2000, description="height of waveform.png in pixels")
