"""Parameters of loudness boost (kind ``boost``), and the loudness fields denoise shares.

A boost is loudness-targeted, never a plain multiplication: either ``boost_level`` raises
the integrated loudness by a fixed number of LU ('2x' = +6 dB, the gain that doubles
amplitude; '3x' +9.5, '4x' +12, '5x' +14) or ``target_lufs`` names the loudness to reach.
Either way a true-peak limiter keeps the result at or under ``ceiling_dbtp``, taking at
most ``max_limiting_db`` off the loudest peak; when that makes the target unreachable the
job reports the loudness it did reach.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from audiomill.params.common import EncodeOptions

BoostLevel = Literal["none", "2x", "3x", "4x", "5x"]
# the boost kind itself has no 'none': asking it for no boost is a mistake worth a 422
BoostOnlyLevel = Literal["2x", "3x", "4x", "5x"]

# 20 * log10(n), rounded: the loudness change a listener expects from "n times louder"
BOOST_LEVEL_GAIN_DB: dict[str, float] = {"2x": 6.0, "3x": 9.5, "4x": 12.0, "5x": 14.0}

TARGET_LUFS_MIN = -40.0
TARGET_LUFS_MAX = -5.0


class LoudnessFields(EncodeOptions):
    """Fields shared by every kind that can end with a loudness boost."""

    boost_level: BoostLevel | None = None  # each kind narrows it and sets its default
    target_lufs: float | None = Field(
        default=None,
        ge=TARGET_LUFS_MIN,
        le=TARGET_LUFS_MAX,
        description="integrated loudness to reach, in LUFS (e.g. -14 streaming, -16 "
        "podcasts, -23 EBU R128); instead of boost_level",
    )
    ceiling_dbtp: float = Field(
        default=-1.0,
        ge=-9.0,
        le=0.0,
        description="highest true peak allowed in the output, in dBTP",
    )
    max_limiting_db: float = Field(
        default=3.0,
        ge=0.0,
        le=20.0,
        description="most gain reduction the true-peak limiter may apply to the loudest "
        "peak, in dB. The gain stops where this is reached, so a loud input is not crushed "
        "to reach its target; the result then says the target was not reached, and how "
        "loud the output is",
    )

    def boost_gain_db(self) -> float | None:
        """The loudness increase boost_level asks for, in dB; None for 'none'."""
        return BOOST_LEVEL_GAIN_DB.get(self.boost_level or "none")

    def wants_boost(self) -> bool:
        return self.target_lufs is not None or self.boost_gain_db() is not None

    def _check_one_goal(self) -> None:
        if self.target_lufs is not None and self.boost_gain_db() is not None:
            raise ValueError(
                "give either boost_level or target_lufs, not both: boost_level raises the "
                "loudness by a fixed amount, target_lufs sets it"
            )


class BoostParams(LoudnessFields):
    """Loudness boost with a true-peak limiter (kind ``boost``)."""

    boost_level: BoostOnlyLevel | None = Field(  # type: ignore[assignment]
        default=None,
        description="'2x' (+6 dB), '3x' (+9.5), '4x' (+12), '5x' (+14) of loudness; "
        "default '3x' when target_lufs is not given",
    )

    @model_validator(mode="after")
    def _one_goal(self) -> BoostParams:
        self._check_one_goal()
        if self.boost_level is None and self.target_lufs is None:
            self.boost_level = "3x"  # the seed's default
        return self
