"""Parameters of target-speaker extraction (kind ``extract_speaker``)."""

from __future__ import annotations

from pydantic import Field, model_validator

from audiomill.params.boost import BoostLevel, LoudnessFields


class SpeakerExtractParams(LoudnessFields):
    """Keep one speaker's speech from a conversation, given a sample of their voice.

    The conversation is diarized (who speaks when: speech turns clustered into speakers
    with the CAM++ speaker encoder); the speaker whose voice is closest to the sample is
    kept, everyone else is turned down by ``attenuation_db``. Only ``boost_level`` (or
    ``target_lufs``), ``num_speakers`` and the output options matter to most callers; the
    rest are tuning knobs with defaults measured in bench/bench_speaker.py.
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
        description="how far everything that is not the target's speech is turned down, in dB (20-120)",
    )
    ramp_ms: float = Field(
        default=30.0,
        ge=5.0,
        le=200.0,
        description="raised-cosine fade at each edge of kept speech, in ms (5-200), so cuts do not click",
    )
    num_speakers: int | None = Field(
        default=None,
        ge=1,
        le=20,
        description="how many people speak in the conversation (1-20), when known; "
        "None: estimated from how alike the speech turns sound",
    )
    similarity_threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="override: keep every diarized speaker whose voice has at least this "
        "cosine similarity (0-1) to the sample, instead of the one closest speaker; "
        "None (default): the closest speaker, if it matches at all (similarity_score >= 50)",
    )
    vad_threshold: float = Field(
        default=0.5,
        ge=0.05,
        le=0.95,
        description="speech probability (0.05-0.95) above which silero-vad calls audio "
        "speech; lower keeps softer speech",
    )

    @model_validator(mode="after")
    def _one_goal(self) -> SpeakerExtractParams:
        self._check_one_goal()
        return self
