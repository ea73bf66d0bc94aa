"""Voice activity detection with silero-vad's ONNX model, as bundled in its wheel.

We run the ONNX graph ourselves instead of calling ``silero_vad.get_speech_timestamps``:
importing the ``silero_vad`` package imports torch and calls ``torch.set_num_threads(1)``
for the whole process (undoing the worker's thread sizing), its ``read_audio`` needs
torchaudio, and its model wrapper keeps the recurrent state on the shared instance, so two
jobs using one cached model at once would corrupt each other. Here the session (which
onnxruntime allows to be shared between threads) is cached and the state lives in the call.
:func:`speech_spans` applies the same rules as silero's ``get_speech_timestamps``
(hysteresis, minimum silence, minimum speech, padding) minus the max-length splitting.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np

from audiomill.errors import ModelUnavailable
from audiomill.models import cache

SAMPLE_RATE_HZ = 16000
CHUNK_SAMPLES = 512  # what the 16 kHz model takes per step (32 ms)
CONTEXT_SAMPLES = 64  # the tail of the previous chunk the model sees before each chunk
_STATE_SHAPE = (2, 1, 128)
_PROGRESS_EVERY_CHUNKS = 500  # ~16 s of audio between progress callbacks

SampleSpan = tuple[int, int]  # [start, end) in samples at SAMPLE_RATE_HZ


class SpeechDetector:
    """Speech probabilities for 16 kHz mono audio, one per 32 ms chunk."""

    sample_rate_hz = SAMPLE_RATE_HZ

    def __init__(self, session: object) -> None:
        self._session = session  # onnxruntime.InferenceSession

    def speech_probabilities(
        self, audio_16k: np.ndarray, on_progress: Callable[[float], None] | None = None
    ) -> np.ndarray:
        """Probability of speech for each CHUNK_SAMPLES chunk (the last one zero-padded).

        ``on_progress(fraction)`` is called now and then; it may raise to stop the work
        (how a cancelled job ends this loop).
        """
        samples = np.asarray(audio_16k, dtype=np.float32).reshape(-1)
        chunk_count = -(-samples.size // CHUNK_SAMPLES)
        padded = np.zeros(chunk_count * CHUNK_SAMPLES + CONTEXT_SAMPLES, np.float32)
        padded[CONTEXT_SAMPLES : CONTEXT_SAMPLES + samples.size] = samples
        state = np.zeros(_STATE_SHAPE, np.float32)
        rate = np.array(SAMPLE_RATE_HZ, dtype=np.int64)
        probabilities = np.zeros(chunk_count, np.float32)
        for index in range(chunk_count):
            if on_progress is not None and index % _PROGRESS_EVERY_CHUNKS == 0:
                on_progress(index / chunk_count)
            start = index * CHUNK_SAMPLES  # the context is the previous chunk's tail
            window = padded[None, start : start + CONTEXT_SAMPLES + CHUNK_SAMPLES]
            output, state = self._session.run(  # type: ignore[attr-defined]
                None, {"input": window, "state": state, "sr": rate}
            )
            probabilities[index] = float(output.reshape(-1)[0])
        return probabilities

    def speech_spans(
        self,
        audio_16k: np.ndarray,
        threshold: float = 0.5,
        on_progress: Callable[[float], None] | None = None,
        min_silence_seconds: float = 0.1,
        pad_seconds: float = 0.03,
    ) -> list[SampleSpan]:
        """Where the audio holds speech, as sample spans (see :func:`speech_spans`)."""
        probabilities = self.speech_probabilities(audio_16k, on_progress)
        return speech_spans(
            probabilities,
            int(np.size(audio_16k)),
            threshold,
            min_silence_seconds=min_silence_seconds,
            pad_seconds=pad_seconds,
        )


def speech_spans(
    probabilities: np.ndarray,
    total_samples: int,
    threshold: float = 0.5,
    min_speech_seconds: float = 0.25,
    min_silence_seconds: float = 0.1,
    pad_seconds: float = 0.03,
) -> list[SampleSpan]:
    """Turn per-chunk speech probabilities into padded speech spans, silero's way.

    Speech starts at a chunk >= threshold and ends after min_silence_seconds of chunks
    below threshold - 0.15 (the hysteresis keeps soft syllables inside a span); spans
    shorter than min_speech_seconds are dropped; each is padded by pad_seconds, or by half
    the gap when two spans are closer than two pads.
    """
    off_threshold = max(threshold - 0.15, 0.01)
    min_speech = min_speech_seconds * SAMPLE_RATE_HZ
    min_silence = min_silence_seconds * SAMPLE_RATE_HZ
    spans: list[list[int]] = []
    start: int | None = None
    silence_start: int | None = None
    for index, probability in enumerate(np.asarray(probabilities, dtype=np.float64)):
        position = index * CHUNK_SAMPLES
        if probability >= threshold:
            silence_start = None
            if start is None:
                start = position
            continue
        if start is None or probability >= off_threshold:
            continue
        if silence_start is None:
            silence_start = position
        if position - silence_start >= min_silence:
            if silence_start - start > min_speech:
                spans.append([start, silence_start])
            start, silence_start = None, None
    if start is not None and total_samples - start > min_speech:
        spans.append([start, total_samples])
    return _padded(spans, total_samples, round(pad_seconds * SAMPLE_RATE_HZ))


def _padded(spans: list[list[int]], total_samples: int, pad: int) -> list[SampleSpan]:
    for index, span in enumerate(spans):
        if index == 0:
            span[0] = max(0, span[0] - pad)
        if index + 1 < len(spans):
            following = spans[index + 1]
            gap = following[0] - span[1]
            if gap < 2 * pad:  # too close for two pads: split the gap between them
                span[1] += gap // 2
                following[0] = max(0, following[0] - gap // 2)
            else:
                span[1] = min(total_samples, span[1] + pad)
                following[0] = max(0, following[0] - pad)
        else:
            span[1] = min(total_samples, span[1] + pad)
    return [(start, end) for start, end in spans]


def silero_vad_model_path() -> Path:
    """The ONNX model inside the installed silero-vad wheel, found without importing it."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable("voice activity detection needs the silero-vad package: pip install silero-vad")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad.onnx"
    if not path.is_file():
        raise ModelUnavailable(f"silero-vad is installed but its model is missing: {path}")
    return path


def load_speech_detector() -> SpeechDetector:
    """The process-wide speech detector (loaded on first use, then kept warm)."""
    return cache.get_or_load(("silero_vad", "onnx"), _load)


def _load() -> SpeechDetector:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    # A tiny recurrent model stepped 32 ms at a time: extra threads only add hand-offs.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        str(silero_vad_model_path()), sess_options=options, providers=["CPUExecutionProvider"]
    )
    return SpeechDetector(session)
