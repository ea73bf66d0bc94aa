"""What an audio file is: container, codec, sample rate, channels, duration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from audiomill.audio._source import AudioSource


@dataclass(frozen=True)
class AudioInfo:
    container: str  # FFmpeg demuxer name: "mp3", "wav", "ogg", "mov,mp4,m4a,3gp,3g2,mj2", ...
    codec: str  # "mp3", "pcm_s16le", "aac", "opus", ...
    sample_rate: int
    channels: int
    duration_seconds: float


def probe(path: Path) -> AudioInfo:
    """Describe the file's audio, judged by its content, never by its name.

    Decodes one frame to prove the audio is really there; decodes the whole stream only
    when the container does not say how long it is. Raises UnsupportedMedia for empty,
    non-audio, truncated or corrupt files and for files without an audio track.
    """
    with AudioSource(Path(path)) as source:
        duration_seconds = source.declared_duration_seconds()
        if duration_seconds is None:
            decoded_frames = sum(chunk.shape[1] for chunk in source.chunks())
            duration_seconds = decoded_frames / source.sample_rate
        return AudioInfo(
            container=source.container_name,
            codec=source.codec_name,
            sample_rate=source.sample_rate,
            channels=source.channels,
            duration_seconds=duration_seconds,
        )
