"""Parameters of noise reduction (kind ``denoise``), optionally followed by a boost."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from audiomill.params.boost import BoostLevel, LoudnessFields

DenoiseModelName = Literal["deepfilternet3", "rnnoise"]


class DenoiseParams(LoudnessFields):
    """Speech noise reduction (kind ``denoise``); see engines/denoise.py for what it removes."""

    model: DenoiseModelName = Field(
        default="deepfilternet3",
        description="deepfilternet3: best quality; rnnoise: lighter and faster",
    )
    attenuation_limit_db: float | None = Field(
        default=None,
        gt=0.0,
        le=100.0,
        description="reduce noise by at most this many dB (e.g. 12 keeps some ambience); default: no limit",
    )
    boost_level: BoostLevel = Field(
        default="none",
        description="after denoising, raise loudness: '2x' (+6 dB), '3x' (+9.5), '4x' "
        "(+12), '5x' (+14), true-peak limited",
    )

    @model_validator(mode="after")
    def _one_goal(self) -> DenoiseParams:
        self._check_one_goal()
        return self
