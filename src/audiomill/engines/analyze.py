"""Music analysis (job kind ``analyze``): bpm with confidence and half/double candidates,
beats, downbeats, meter, key with confidence, loudness (LUFS, range, true peak), sections
(start/end, repeat letter, a guessed name) and a waveform (min/max peaks in the result, a
PNG as an output). See audiomill.analysis.

Outputs: ``analysis`` (analysis.json, the same dict as the result) and ``waveform``
(waveform.png).
"""

from __future__ import annotations

import json

from audiomill.analysis import analyze_file, warm_up
from audiomill.analysis.waveform import draw_waveform_png
from audiomill.engines.base import EngineContext, raise_if_cancelled
from audiomill.params.analyze import AnalyzeParams


def setup() -> None:
    """Compile librosa's numba kernels once per worker: the first beat track otherwise
    costs seconds (17 s measured here) inside someone's job."""
    warm_up()


def run(ctx: EngineContext[AnalyzeParams]) -> None:
    params = ctx.params
    ctx.progress(0.05, "analysing")
    analysis = analyze_file(ctx.input_path("audio"), peaks_columns=params.waveform_columns)
    raise_if_cancelled(ctx)
    ctx.progress(0.85, "drawing the waveform")
    draw_waveform_png(
        analysis.peaks,
        ctx.output_path("waveform", "waveform.png"),
        width=params.waveform_width,
        height=params.waveform_height,
    )
    result = analysis.as_dict()
    ctx.output_path("analysis", "analysis.json").write_text(json.dumps(result), encoding="utf-8")
    ctx.set_result(**result)
    ctx.progress(1.0, "done")
