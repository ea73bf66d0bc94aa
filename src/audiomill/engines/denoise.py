"""Speech noise reduction (job kind ``denoise``), optionally followed by a loudness boost.

Models (``params.model``):
  deepfilternet3  DeepFilterNet3 (default): clearly better on broadband noise, as good on pink
  rnnoise         RNNoise: lighter, about a third of the CPU time

What they remove: noise that does not sound like speech: hiss, hum, fans, air
conditioning, traffic, rain, keyboard clatter, room tone. What they do NOT remove:
babble. No denoiser here removes other people talking (a crowd, a TV, a second
speaker): both models are trained to keep speech, and when several voices overlap they
cannot tell which one is wanted, so they turn the whole mixture down and distort the
voice that mattered; bench/bench_denoise.py measures SI-SDR getting 10 to 19 dB *worse*
on four-voice babble at 0 and 5 dB SNR, for both models. Taking one voice out of several
is speaker extraction, a different job kind. Reverberation is reduced only a little.

Pipeline, streamed in blocks so memory does not grow with the file:
decode at the native rate -> soxr up to 48 kHz -> 480-sample frames -> the model, one
state per channel -> drop the model's delay (1440 samples for DeepFilterNet3, 960 for
RNNoise) so output lines up with input -> soxr back -> exactly as many frames as the
input. Any sample rate and channel count in, the same out.

With boost_level or target_lufs, the denoised audio goes to a float32 scratch
(audio.ScratchAudio) while it is measured, then audio/mastering.py's second pass (gain
from the one planner + true-peak limiter) writes the output: the same boost as the
boost kind.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

import numpy as np

from audiomill import audio
from audiomill.audio.loudness import LoudnessMeter
from audiomill.audio.mastering import write_boosted
from audiomill.engines.base import EngineContext, counted_blocks
from audiomill.errors import InvalidInput, ModelUnavailable
from audiomill.models import deepfilter, rnnoise
from audiomill.params import EncodeOptions
from audiomill.params.denoise import DenoiseParams


DECODE_BLOCK_FRAMES = 48000  # 1 s at 48 kHz: progress and cancellation every ~0.1 s of work
MODEL_SAMPLE_RATE = 48000  # both models
FRAME_LENGTH = 480  # both models
_DENOISE_END_WITH_BOOST = 0.8  # progress split when a boost follows


class FrameDenoiser(Protocol):
    """A model session: (channels, k * 480) frames at 48 kHz in, delayed frames out."""

    channels: int

    def process(self, frames: np.ndarray) -> np.ndarray: ...


def setup() -> None:
    """Once per worker: load the models so the first job does not wait for them."""
    for load in (deepfilter.deepfilter_pool, rnnoise.rnnoise_library):
        try:
            load()
        except ModelUnavailable:
            pass  # a job that asks for this model fails with the message; others run


def run(ctx: EngineContext[DenoiseParams]) -> None:
    params = ctx.params
    source = ctx.input_path("audio")
    info = audio.probe(source)  # UnsupportedMedia before any model work
    sample_rate, channels = info.sample_rate, info.channels
    total_frames = max(1, round(info.duration_seconds * sample_rate))
    extension = audio.extension_for(params.output_format)
    destination = ctx.output_path("audio", f"denoised.{extension}")
    denoise_end = _DENOISE_END_WITH_BOOST if params.wants_boost() else 1.0

    ctx.progress(0.0, "loading model")
    session_context, delay_frames = open_model(params, channels)
    blocks = counted_blocks(
        ctx,
        audio.iter_decode(source, block_frames=DECODE_BLOCK_FRAMES),
        total_frames,
        lambda done: ctx.progress(denoise_end * done, "denoising"),
    )
    result: dict[str, object] = {
        "model": params.model,
        "attenuation_limit_db": params.attenuation_limit_db,
        "sample_rate": sample_rate,
        "channels": channels,
    }
    if not params.wants_boost():
        with session_context as session:
            denoised = denoise_blocks(blocks, session, delay_frames, sample_rate)
            frames = _write(destination, denoised, sample_rate, channels, params)
        result["duration_seconds"] = frames / sample_rate
        ctx.progress(1.0, "done")
        ctx.set_result(**result)
        return

    with (
        tempfile.TemporaryDirectory(prefix=".denoise-", dir=destination.parent) as scratch,
        audio.ScratchAudio(Path(scratch) / "denoised.f32", channels) as parked,
    ):
        meter = LoudnessMeter(sample_rate, channels)
        with session_context as session:  # model states are freed before boosting
            denoised = denoise_blocks(blocks, session, delay_frames, sample_rate)
            frames = _park(denoised, parked, meter)
        again = counted_blocks(
            ctx,
            parked.blocks(DECODE_BLOCK_FRAMES),
            max(1, frames),
            lambda done: ctx.progress(denoise_end + (1 - denoise_end) * done, "boosting"),
        )
        result.update(write_boosted(again, destination, meter, params))
    result["duration_seconds"] = frames / sample_rate
    ctx.progress(1.0, "done")
    ctx.set_result(**result)


def open_model(params: DenoiseParams, channels: int) -> tuple[AbstractContextManager[FrameDenoiser], int]:
    """A context giving the model's session for ``channels``, and the model's delay."""
    if params.model == "rnnoise":
        return (
            rnnoise.rnnoise_session(channels, params.attenuation_limit_db),
            rnnoise.DELAY_FRAMES,
        )
    pool = deepfilter.deepfilter_pool()
    return pool.session(channels, params.attenuation_limit_db), deepfilter.DELAY_FRAMES


def _write(
    path: Path,
    blocks: Iterable[np.ndarray],
    sample_rate: int,
    channels: int,
    options: EncodeOptions,
) -> int:
    frames = 0
    with audio.AudioWriter(path, sample_rate, channels, options) as writer:
        for block in blocks:
            writer.write(block)
            frames += block.shape[1]
        if frames == 0:
            raise InvalidInput("the input holds no audio samples")
    return frames


def _park(blocks: Iterable[np.ndarray], parked: audio.ScratchAudio, meter: LoudnessMeter) -> int:
    """The denoised audio into the scratch, measured on the way (boost's pass 1)."""
    for block in blocks:
        parked.write(block)
        meter.add(block)
    if parked.frames == 0:
        raise InvalidInput("the input holds no audio samples")
    return parked.frames


def denoise_blocks(
    blocks: Iterable[np.ndarray], session: FrameDenoiser, delay_frames: int, sample_rate: int
) -> Iterator[np.ndarray]:
    """Denoise a stream of (channels, n) blocks at ``sample_rate``; output aligned with
    the input and exactly as long."""
    yield from audio.run_stage(DenoiseStream(session, delay_frames, sample_rate), blocks)


class DenoiseStream:
    """Resampling, framing and delay compensation around a model session."""

    def __init__(self, session: FrameDenoiser, delay_frames: int, sample_rate: int) -> None:
        self.session = session
        self.channels = channels = session.channels
        self.sample_rate = sample_rate
        self._delay_frames = delay_frames
        resampled = sample_rate != MODEL_SAMPLE_RATE
        self._up, self._down = (
            (
                audio.StreamResampler(sample_rate, MODEL_SAMPLE_RATE, channels),
                audio.StreamResampler(MODEL_SAMPLE_RATE, sample_rate, channels),
            )
            if resampled
            else (None, None)
        )
        self._partial_frame = np.zeros((channels, 0), np.float32)  # 48 kHz, < one frame
        self._delay_left = delay_frames  # model output still to drop
        self._model_in = 0  # 48 kHz samples of real input given to the model
        self._model_out = 0  # 48 kHz aligned samples taken from the model
        self._frames_in = 0  # native rate
        self._frames_out = 0
        self._held = np.zeros((channels, 0), np.float32)  # output ahead of the input (rare)

    def process(self, block: np.ndarray) -> np.ndarray:
        if block.shape[0] != self.channels:
            raise InvalidInput(f"expected {self.channels} channels, got {block.shape[0]}")
        self._frames_in += block.shape[1]
        upsampled = self._up.process(block) if self._up else block
        self._model_in += upsampled.shape[1]
        denoised = self._run_model(upsampled)
        return self._emit(self._down.process(denoised) if self._down else denoised)

    def flush(self) -> np.ndarray:
        """The rest of the output; exactly as many frames in total as went in."""
        parts = []
        if self._up:
            tail = self._up.flush()
            self._model_in += tail.shape[1]
            parts.append(self._run_model(tail))
        # silence pushes the model's delay and the last partial frame out
        buffered = self._partial_frame.shape[1]
        silence = -(buffered + self._delay_frames) % FRAME_LENGTH + self._delay_frames
        parts.append(self._run_model(np.zeros((self.channels, silence), np.float32)))
        denoised = np.concatenate(parts, axis=1)
        # model output past the real input is the silence's own: cut it
        overshoot = self._model_out - self._model_in
        if overshoot > 0:
            denoised = denoised[:, : denoised.shape[1] - overshoot]
        if self._down:
            denoised = np.concatenate([self._down.process(denoised), self._down.flush()], axis=1)
        rest = np.concatenate([self._held, denoised], axis=1)
        missing = self._frames_in - self._frames_out
        # the two resamplings can differ from the input's length by a frame or so
        if rest.shape[1] < missing:
            rest = np.pad(rest, ((0, 0), (0, missing - rest.shape[1])))
        self._held = np.zeros((self.channels, 0), np.float32)
        self._frames_out += missing
        return rest[:, :missing]

    def _run_model(self, samples: np.ndarray) -> np.ndarray:
        buffered = np.concatenate([self._partial_frame, samples.astype(np.float32)], axis=1)
        whole = buffered.shape[1] - buffered.shape[1] % FRAME_LENGTH
        self._partial_frame = buffered[:, whole:]
        if whole == 0:
            return np.zeros((self.channels, 0), np.float32)
        out = self.session.process(buffered[:, :whole])
        dropped = min(self._delay_left, out.shape[1])
        self._delay_left -= dropped
        out = out[:, dropped:]
        self._model_out += out.shape[1]
        return out

    def _emit(self, block: np.ndarray) -> np.ndarray:
        block = np.concatenate([self._held, block], axis=1) if self._held.shape[1] else block
        allowed = self._frames_in - self._frames_out
        self._held = block[:, allowed:]
        block = block[:, :allowed]
        self._frames_out += block.shape[1]
        return block
