"""Music analysis (no HTTP, no jobs): tempo, beats and meter, key, loudness, waveform,
sections, and monophonic transcription of a hummed melody.

    analyze_file(path) -> TrackAnalysis          .as_dict() for JSON
    analyze_samples(audio, sample_rate)          the same for a (channels, frames) array
    warm_up()                                    compile librosa's numba kernels once
"""

from audiomill.analysis.track import (
    TrackAnalysis,
    analyze_file,
    analyze_samples,
    warm_up,
)

__all__ = ["TrackAnalysis", "analyze_file", "analyze_samples", "warm_up"]
