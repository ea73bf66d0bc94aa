"""Parameters of target-speaker extraction (kind ``extract_speaker``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from audiomill.params.common import EncodeOptions

# The seed's boost levels: a loudness target reached through a true-peak limiter, not a
# plain gain (see engines/boost.py).
SpeakerBoostLevel = Literal["none", "2x", "3x", "4x", "5x"]


class SpeakerExtractParams(EncodeOptions):
    """Keep one speaker's speech from a conversation, given a sample of their voice.

    Only ``boost_level`` and the output options matter to most callers; the rest are
    tuning knobs with defaults measured on recorded voices (see bench/bench_speaker.py).
    """

    boost_level: SpeakerBoostLevel = Field(
        default="none", description="loudness boost applied after extraction"
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
        default=0.2,
        ge=0.1,
        le=0.8,
        description="step between speaker-embedding windows: smaller finds speaker changes "
        "more precisely and costs proportionally more time",
    )
