"""A ``generate`` job with ``model: musicgen-*``: variations, loop, mastering, files.

The generate engine hands ``model != composer`` jobs to :func:`audiomill.models.musicgen.run`,
which lands here. MusicGen writes one mixed track: no stems and no MIDI (the result says
so). Variations run in threads so their windows meet in the model's batcher: N variations
cost about one generate call per window on a GPU. Each mix is mastered like the
composer's (-14 LUFS, -1 dBTP true peak, with audiomill's one loudness planner and limiter).
"""

from __future__ import annotations

import secrets
import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from audiomill import audio
from audiomill.audio.loudness import MASTER_MAX_LIMITING_DB, loudness_normalize
from audiomill.config import Settings, get_settings
from audiomill.errors import JobCancelled
from audiomill.models import musicgen, musicgen_catalog
from audiomill.params.common import EncodeOptions, OutputFormat

if TYPE_CHECKING:
    from audiomill.engines.base import EngineContext

MAX_SEED = 2**31 - 1
# Extra audio generated for a loop, crossfaded onto the start so the end runs into it.
LOOP_CROSSFADE_SECONDS = 1.0
NO_STEMS_NOTE = "MusicGen writes one mixed track: no stems and no MIDI (use model 'composer' for those)"
TEMPO_NOTE = "MusicGen reads bpm, key and mood from the text only and follows them roughly"
_POLL_SECONDS = 0.2
# The same master as the composer's mix (audio/loudness: BS.1770 planner, true-peak limiter).
TARGET_LUFS = -14.0
CEILING_DBTP = -1.0


@dataclass(frozen=True)
class _Take:
    variation: int
    seed: int
    audio: np.ndarray  # (channels, samples) float32, mastered
    sample_rate: int
    windows: int
    loudness_lufs: float | None
    true_peak_dbtp: float | None


def run(ctx: EngineContext[Any]) -> None:
    params = ctx.params
    name = str(params.model)
    info = musicgen_catalog.model_info(name)  # an unknown name fails here, before any loading
    settings: Settings = getattr(ctx, "settings", None) or get_settings()
    ctx.progress(0.01, f"loading {name}")
    loaded = musicgen.load(name, settings, ctx.device)
    if ctx.cancelled():
        raise JobCancelled()
    text = musicgen.fold_prompt(
        params.prompt,
        bpm=params.bpm,
        key=params.key,
        mood=params.mood,
        genre=params.genre,
        instruments=params.instruments,
        time_signature=params.time_signature,
    )
    seed = params.seed if params.seed is not None else secrets.randbelow(MAX_SEED + 1)
    seeds = [(seed + index) % (MAX_SEED + 1) for index in range(params.variations)]
    takes = _generate_takes(ctx, loaded, text, float(params.duration_seconds), seeds, bool(params.loop))
    for take in takes:
        _write(ctx, take, params)
    first = takes[0]
    ctx.set_result(
        model=name,
        licence=info.licence,
        licence_note=musicgen_catalog.LICENCE_NOTE,
        prompt=params.prompt,
        text_prompt=text,
        seed=first.seed,
        duration_seconds=first.audio.shape[-1] / first.sample_rate,
        sample_rate=first.sample_rate,
        channels=int(first.audio.shape[0]),
        windows=first.windows,
        loop=bool(params.loop),
        bpm_requested=params.bpm,
        key_requested=params.key,
        loudness_lufs=first.loudness_lufs,
        true_peak_dbtp=first.true_peak_dbtp,
        stems=[],
        notes=[NO_STEMS_NOTE, TEMPO_NOTE],
        variations=[
            {
                "variation": t.variation,
                "seed": t.seed,
                "output_prefix": _prefix(t.variation),
                "loudness_lufs": t.loudness_lufs,
                "true_peak_dbtp": t.true_peak_dbtp,
            }
            for t in takes
        ],
    )
    ctx.progress(1.0, "done")


def _generate_takes(
    ctx: EngineContext[Any],
    loaded: musicgen.LoadedMusicgen,
    text: str,
    duration_seconds: float,
    seeds: list[int],
    loop: bool,
) -> list[_Take]:
    """One thread per variation (they batch together); progress and cancel on this thread."""
    stop = threading.Event()
    fractions = [0.0] * len(seeds)
    stages = [""] * len(seeds)
    extra = LOOP_CROSSFADE_SECONDS if loop else 0.0

    def one(index: int) -> _Take:
        def report(fraction: float, stage: str) -> None:
            fractions[index], stages[index] = fraction, stage

        generated = musicgen.generate_music(
            loaded,
            text,
            duration_seconds + extra,
            seeds[index],
            progress=report,
            cancelled=stop.is_set,
        )
        mix = generated.audio
        if loop:
            mix = _wrap_loop(mix, round(duration_seconds * generated.sample_rate))
        mastered, outcome = loudness_normalize(
            mix, generated.sample_rate, TARGET_LUFS, CEILING_DBTP, MASTER_MAX_LIMITING_DB
        )
        after = outcome.after
        return _Take(
            index + 1,
            seeds[index],
            mastered,
            generated.sample_rate,
            generated.windows,
            _finite(after.integrated_lufs),
            _finite(after.true_peak_dbtp),
        )

    with ThreadPoolExecutor(max_workers=len(seeds), thread_name_prefix="musicgen-take") as pool:
        futures = [pool.submit(one, index) for index in range(len(seeds))]
        try:
            while True:
                done, _ = wait(futures, timeout=_POLL_SECONDS, return_when=FIRST_EXCEPTION)
                for future in done:
                    error = future.exception()
                    if error is not None:
                        raise error
                if len(done) == len(futures):
                    break
                if ctx.cancelled():
                    raise JobCancelled()
                label = stages[0] or "generating"
                if len(seeds) > 1:
                    label = f"{len(seeds)} variations: {label}"
                ctx.progress(0.02 + 0.93 * sum(fractions) / len(seeds), label)
        finally:
            stop.set()  # on an error or a cancel, the other takes stop at their next poll
        return [f.result() for f in futures]


def _wrap_loop(mix: np.ndarray, samples: int) -> np.ndarray:
    """The first ``samples`` of ``mix``, with what follows them crossfaded onto the start:
    the last sample then runs into the first as the music ran on."""
    overlap = min(mix.shape[-1] - samples, samples)
    out = np.array(mix[:, :samples], dtype=np.float32)
    if overlap <= 0:
        return out
    # Equal-power: the two sides are different moments of the music (uncorrelated).
    ramp = np.linspace(0.0, np.pi / 2, overlap, dtype=np.float32)
    out[:, :overlap] = out[:, :overlap] * np.sin(ramp) + mix[:, samples : samples + overlap] * np.cos(ramp)
    return out


def _prefix(variation: int) -> str:
    return "" if variation == 1 else f"v{variation}:"


def _write(ctx: EngineContext[Any], take: _Take, options: EncodeOptions) -> None:
    extension = audio.extension_for(options.output_format)
    file_prefix = "" if take.variation == 1 else f"v{take.variation}-"
    path = ctx.output_path(_prefix(take.variation) + "mix", f"{file_prefix}mix.{extension}")
    audio.encode(path, take.audio, take.sample_rate, options)
    if getattr(options, "preview", False):
        preview = EncodeOptions(output_format=OutputFormat.mp3, bitrate_kbps=192)
        path = ctx.output_path(_prefix(take.variation) + "preview", f"{file_prefix}preview.mp3")
        audio.encode(path, take.audio, take.sample_rate, preview)


def _finite(value: float) -> float | None:
    return round(float(value), 2) if np.isfinite(value) else None
