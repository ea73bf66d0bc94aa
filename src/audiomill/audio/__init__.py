"""Audio in and out: probe and decode any input, encode wav/flac/mp3/m4a, resample.

Arrays are float32 shaped (channels, frames) throughout. Files are judged by content,
never by name; anything that is not decodable audio raises UnsupportedMedia (HTTP 415).

    probe(path) -> AudioInfo                       what the file is, cheaply
    probe_complete(path) -> AudioInfo              probe, refusing files that hold far less
                                                   than their header claims (uploads)
    decode(path, sample_rate, channels)            whole file -> (array, sample_rate)
    iter_decode(path, ..., block_frames)           the same, in constant memory
    AudioWriter(path, sample_rate, channels, ...)  streaming encoder (context manager)
    encode(path, audio, sample_rate, ...)          whole array -> file
    run_stage(stage, blocks)                       drive a process/flush step over a stream
    ScratchAudio(path, channels)                   float32 parked on disk between two passes
    resample(audio, from_rate, to_rate)            soxr HQ
    StreamResampler(from_rate, to_rate, channels)  the same, block by block (process/flush)
    media_type_for(filename), extension_for(fmt)
"""

from audiomill.audio._blocks import BlockStage, run_stage
from audiomill.audio._decode import decode, iter_decode
from audiomill.audio._encode import AudioWriter, encode
from audiomill.audio._media_types import extension_for, media_type_for
from audiomill.audio._probe import AudioInfo, probe, probe_complete
from audiomill.audio._resample import StreamResampler, resample
from audiomill.audio._scratch import ScratchAudio

__all__ = [
    "AudioInfo",
    "AudioWriter",
    "BlockStage",
    "ScratchAudio",
    "StreamResampler",
    "decode",
    "encode",
    "extension_for",
    "iter_decode",
    "media_type_for",
    "probe",
    "probe_complete",
    "resample",
    "run_stage",
]
