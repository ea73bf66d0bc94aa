"""Parameters of stem separation (kind ``separate``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from audiomill.params.common import EncodeOptions

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
Precision = Literal["auto", "float32", "bfloat16", "float16"]
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
    precision: Precision = Field(
        default="auto",
        description="arithmetic of the model's forward passes. float32: demucs' own CPU "
        "result. bfloat16: about 1.5-1.8x faster on CPUs that compute it natively (AVX-512 "
        "BF16 or AMX), -47 dB from float32 (demucs' own default GPU run, TF32, lands -44.5 "
        "dB from it). float16: CUDA only. auto (default): bfloat16 on such CPUs, float32 "
        "on other CPUs and on GPUs; the job's result says which ran",
    )
    residual: bool = Field(
        default=False,
        description="add what the model left out to 'other' (or the complement) so the "
        "stems sum back to the mix",
    )


class VocalSplitParams(SeparateParams):
    """Vocal split (kind ``vocals``): the separation engine with two stems, vocals and
    instrumental."""

    two_stems: Literal["vocals"] = "vocals"  # type: ignore[assignment]
    complement_name: Literal["instrumental"] = "instrumental"  # type: ignore[assignment]
    # The instrumental is the mix minus the vocals, so the two add back up to the upload.
    residual: bool = True
