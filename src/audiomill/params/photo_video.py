"""Parameters of photo-to-music-video (kind ``photo_video``)."""

from __future__ import annotations

from pydantic import BaseModel, Field

MIN_DURATION_SECONDS = 5.0
MAX_DURATION_SECONDS = 120.0
MAX_SEED = 2**31 - 1


class PhotoVideoParams(BaseModel):
    """A photo -> its look and scene understood -> music in its mood -> an mp4 with a slow
    Ken Burns move, the music and the lyric lines as subtitles (kind ``photo_video``)."""

    duration_seconds: float = Field(
        default=30.0,
        ge=MIN_DURATION_SECONDS,
        le=MAX_DURATION_SECONDS,
        description="length of the video and its music in seconds (5-120)",
    )
    prompt: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="what the music should be, in words; default: written from the photo (shown in the result)",
    )
    style: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="music style or genre (e.g. 'jazz', 'lofi', 'cinematic'); default: chosen from the photo's mood",
    )
    seed: int | None = Field(
        default=None, ge=0, le=MAX_SEED, description="music seed; same photo, parameters and seed: the same music"
    )
    width_max: int = Field(
        default=1920, ge=64, le=1920, description="the video is at most this wide (the photo's aspect ratio kept)"
    )
    height_max: int = Field(
        default=1080, ge=64, le=1080, description="the video is at most this high (the photo's aspect ratio kept)"
    )
    fps: int = Field(default=25, ge=10, le=60, description="video frames per second")
    subtitles: bool = Field(default=True, description="write the lyric lines as a soft subtitle track")
