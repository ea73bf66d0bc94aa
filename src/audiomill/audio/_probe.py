"""What an audio file is: container, codec, sample rate, channels, duration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from audiomill.audio._source import AudioSource, present_duration_seconds
from audiomill.errors import UnsupportedMedia


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


# A header may round or pad (an encoder's last frame, an mp3's estimated length); only a
# gap larger than both of these means the file holds less than it says.
_TRUNCATION_TOLERANCE_SECONDS = 0.1
_TRUNCATION_TOLERANCE_FRACTION = 0.05


def probe_complete(path: Path) -> AudioInfo:
    """probe(), and refuse (UnsupportedMedia) a file that holds far less audio than its
    container claims, e.g. a WAV whose header says 1 s with 5 samples after it. The
    duration returned is what is present. For uploads: it reads every packet (not the
    samples), so it costs a pass over the file's bytes."""
    info = probe(path)
    if info.codec.startswith("pcm_"):
        # PCM demuxers (wav, aiff, ...) already derive the duration from the bytes present
        # when the header claims more, so probe() told the truth without a pass
        return info
    present = present_duration_seconds(path)
    if present is None:
        return info
    missing = info.duration_seconds - present
    if missing > max(_TRUNCATION_TOLERANCE_SECONDS, _TRUNCATION_TOLERANCE_FRACTION * info.duration_seconds):
        raise UnsupportedMedia(
            f"the file is truncated: its {info.container} header says "
            f"{info.duration_seconds:.3f} s of audio but only {present:.3f} s is present"
        )
    return info
