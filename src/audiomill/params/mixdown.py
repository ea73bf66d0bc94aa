"""Parameters of mixdown (kind ``mixdown``): a commit's stems mixed into one file.

The job's inputs are the commit's stems, named after their stem types (``drums``,
``bass``, ...): the kind declares its inputs as a family (``*``) and ``stems`` lists the
names in mixing order. The repository service fills both from the commit, pointing the
job's inputs at the stems' existing assets, so nothing is uploaded or copied.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from audiomill.params.common import EncodeOptions


class StemMix(BaseModel):
    """How one stem enters the mix."""

    model_config = ConfigDict(extra="forbid")

    gain_db: float = Field(default=0.0, ge=-60.0, le=24.0, description="gain applied to the stem, in dB")
    pan: float = Field(
        default=0.0,
        ge=-1.0,
        le=1.0,
        description="stereo balance: -1 left only, 0 centre (both channels untouched), +1 right only",
    )
    mute: bool = Field(default=False, description="leave the stem out of the mix")


class MixdownParams(EncodeOptions):
    """Mix stems with per-stem gain, pan and mute, then master (loudness + true-peak limit)."""

    repo_id: str | None = Field(default=None, max_length=36, description="repository whose commit is mixed")
    commit_id: str | None = Field(
        default=None,
        max_length=36,
        description="the commit mixed; when the job completes its output becomes the commit's render_url",
    )
    stems: list[str] = Field(
        min_length=1,
        max_length=64,
        description="input names (stem types) to mix, in order; filled from the commit by the service",
    )
    mix: dict[str, StemMix] = Field(default_factory=dict, description="per-stem gain_db / pan / mute, by stem type")
    sample_rate: int = Field(default=44100, ge=8000, le=192000, description="sample rate of the mix, in Hz")
    master: bool = Field(
        default=True,
        description="bring the mix to target_lufs with a true-peak limiter (as generation does); "
        "false: the plain sum of the gained stems",
    )
    target_lufs: float = Field(
        default=-14.0, ge=-40.0, le=-5.0, description="integrated loudness of the master, in LUFS"
    )
    ceiling_dbtp: float = Field(default=-1.0, ge=-9.0, le=0.0, description="highest true peak of the master, in dBTP")

    @model_validator(mode="after")
    def _mix_names_known(self) -> MixdownParams:
        unknown = sorted(set(self.mix) - set(self.stems)) if self.stems else []
        if unknown:
            raise ValueError(
                f"mix names stems the commit does not have: {', '.join(unknown)} (it has {', '.join(self.stems)})"
            )
        if len(set(self.stems)) != len(self.stems):
            raise ValueError("stems lists a name twice")
        return self
