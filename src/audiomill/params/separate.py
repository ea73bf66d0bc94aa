"""Parameters of stem separation (kind ``separate``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from audiomill.params.common import EncodeOptions, OutputFormat

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
    two_stems: StemName | None = Field(default=None, description="keep this stem and write the rest as its complement")
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
        description="add what the model left out to 'other' (or the complement) so the stems sum back to the mix",
    )

    @model_validator(mode="after")
    def _complement_needs_two_stems(self) -> SeparateParams:
        # Parameters that contradict each other are refused at submission, not ignored.
        if self.complement_name is not None and self.two_stems is None:
            raise ValueError("complement_name names the complement of two_stems; give two_stems too")
        return self


class VocalSplitParams(SeparateParams):
    """Vocal split (kind ``vocals``): the separation engine with two stems, vocals and
    instrumental, that add back up to the upload.

    The instrumental is the mix minus the vocals (``residual``), so vocals + instrumental
    equals the upload (at the model's 44.1 kHz, in stereo). Clipping is what could break
    that: on a loud master the two stems can peak above full scale where they cancel.
    So by default the stems are 32-bit float wav, which keeps such peaks, and nothing is
    scaled: the sum is exact to float32 precision. Ask for 16/24-bit wav, flac, mp3 or
    m4a and, unless ``clip_mode`` is given, both stems are scaled by one shared gain
    (``rescale``) that keeps them under full scale: they then sum to the upload times
    that gain, which the job's result reports as ``output_gain`` (1.0: exact).
    """

    two_stems: Literal["vocals"] = "vocals"  # type: ignore[assignment]
    complement_name: Literal["instrumental"] = "instrumental"  # type: ignore[assignment]
    residual: bool = True
    wav_bit_depth: Literal[16, 24, 32] = Field(
        default=32,
        description="wav sample format: 32-bit float (default: keeps every peak, so vocals "
        "+ instrumental sum exactly to the upload) or 16/24-bit integer",
    )
    clip_mode: Literal["rescale", "clamp", "none"] = Field(
        default="none",
        description="none (default for 32-bit float wav: nothing clips, nothing is scaled); "
        "for every other format the default is rescale: both stems scaled by one shared "
        "gain, reported as the result's output_gain, so they sum to the upload times it",
    )

    @model_validator(mode="after")
    def _clip_policy_for_the_format(self) -> VocalSplitParams:
        keeps_overs = self.output_format == OutputFormat.wav and self.wav_bit_depth == 32
        if "clip_mode" not in self.model_fields_set and not keeps_overs:
            self.clip_mode = "rescale"
        return self
