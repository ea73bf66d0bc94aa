"""Parameters of target-speaker extraction (kind ``extract_speaker``)."""

from __future__ import annotations

from pydantic import Field, model_validator

from audiomill.params.boost import BoostLevel, LoudnessFields


class SpeakerExtractParams(LoudnessFields):
    """Keep one speaker's speech from a conversation, given a sample of their voice.

    Only ``boost_level`` (or ``target_lufs``) and the output options matter to most
    callers; the rest are tuning knobs with defaults measured on recorded voices (see
    bench/bench_speaker.py).
    """

    boost_level: BoostLevel = Field(
        default="none",
        description="after extraction, raise loudness: '2x' (+6 dB), '3x' (+9.5), '4x' "
        "(+12), '5x' (+14), true-peak limited",
    )
    attenuation_db: float = Field(
        default=60.0,
        ge=20.0,
        le=120.0,
        description="how far everything that is not the target's speech is turned down",
    )
    ramp_ms: float = Field(
        default=30.0,
        ge=5.0,
        le=200.0,
        description="raised-cosine fade at each edge of kept speech, so cuts do not click",
    )
    similarity_threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="cosine similarity to the target sample a stretch of speech needs to be "
        "kept; None: calibrated per conversation between its target and other voices",
    )
    vad_threshold: float = Field(
        default=0.5,
        ge=0.05,
        le=0.95,
        description="speech probability above which silero-vad calls audio speech",
    )
    window_hop_seconds: float = Field(
        default=0.25,
        ge=0.1,
        le=0.8,
        description="step between speaker-embedding windows: smaller finds speaker changes "
        "more precisely and costs proportionally more time",
    )

    @model_validator(mode="after")
    def _one_goal(self) -> SpeakerExtractParams:
        self._check_one_goal()
        return self
