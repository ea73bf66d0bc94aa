"""Loudness boost (job kind ``boost``): gain toward a loudness target, true-peak limited.

Two streamed passes, so memory does not grow with the file (beyond the meter's
1.56 ms statistics, about 18 MB per hour, see audio/loudness.py):

1. measure: integrated loudness and true peak of the input;
2. plan the static gain (audio/loudness.py's ``plan_loudness``, the one planner boost,
   denoise and extract_speaker share: target - measured, raised where the limiter would
   take loudness back, held where the limiter would take more than ``max_limiting_db``
   off the peaks), then decode again, apply the gain through the look-ahead
   true-peak limiter and encode; the output is measured on its way out.

Any sample rate and channel count in, the same out, with the same number of frames.
The "after" figures are measured on the samples handed to the encoder: a lossy output
(mp3, m4a) can decode with true peaks a few tenths of a dB higher, which is what the
default -1 dBTP ceiling leaves room for.
The result says what was reached: when the target cannot be reached cleanly (a loud
master asked for '5x') the gain stops where the limiter would take ``max_limiting_db``
off the peaks, ``target_reached`` is false and ``note`` says why, with the loudness
reached.

Both passes live in audio/mastering.py (``measure_stream`` / ``write_boosted``), which
denoise ends with too: one way to boost.
"""

from __future__ import annotations

from audiomill import audio
from audiomill.audio.mastering import measure_stream, write_boosted
from audiomill.engines.base import EngineContext, counted_blocks
from audiomill.errors import InvalidInput
from audiomill.params import BoostParams

DECODE_BLOCK_FRAMES = 65536

_MEASURE_END = 0.3  # progress split: measuring is cheaper than limiting + encoding


def setup() -> None:
    """Nothing to load: the limiter is plain DSP."""


def run(ctx: EngineContext[BoostParams]) -> None:
    params = ctx.params
    source = ctx.input_path("audio")
    info = audio.probe(source)  # UnsupportedMedia before any work
    total_frames = max(1, round(info.duration_seconds * info.sample_rate))

    ctx.progress(0.0, "measuring loudness")
    blocks = counted_blocks(
        ctx,
        audio.iter_decode(source, block_frames=DECODE_BLOCK_FRAMES),
        total_frames,
        lambda done: ctx.progress(_MEASURE_END * done, "measuring loudness"),
    )
    meter = measure_stream(blocks, info.sample_rate, info.channels)
    if meter.finish().duration_seconds == 0:
        raise InvalidInput("the input holds no audio samples")

    extension = audio.extension_for(params.output_format)
    destination = ctx.output_path("audio", f"boosted.{extension}")
    again = counted_blocks(
        ctx,
        audio.iter_decode(source, block_frames=DECODE_BLOCK_FRAMES),  # pass 2 decodes again
        total_frames,
        lambda done: ctx.progress(_MEASURE_END + (1 - _MEASURE_END) * done, "boosting"),
    )
    result = write_boosted(again, destination, meter, params)
    ctx.progress(1.0, "done")
    ctx.set_result(**result)
