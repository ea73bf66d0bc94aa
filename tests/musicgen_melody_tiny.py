"""A tiny random-weight MusicGen-melody saved in the Hugging Face layout of facebook/musicgen-melody.

The files of the real repo: config.json (model_type ``musicgen_melody``, chroma_length 235),
generation_config.json, model.safetensors, preprocessor_config.json (the chroma feature
extractor's parameters, written by hand: saving the extractor itself needs torchaudio) and
a T5 tokenizer. Shapes as tests/musicgen_tiny.py (10 codes per second at 32 kHz).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.musicgen_tiny import SAMPLE_RATE, build_tiny_musicgen

# facebook/musicgen-melody's preprocessor_config.json (the extractor's defaults).
PREPROCESSOR = {
    "chunk_length": 30,
    "feature_extractor_type": "MusicgenMelodyFeatureExtractor",
    "feature_size": 12,
    "hop_length": 4096,
    "n_fft": 16384,
    "num_chroma": 12,
    "padding_side": "right",
    "padding_value": 0.0,
    "processor_class": "MusicgenMelodyProcessor",
    "return_attention_mask": True,
    "sampling_rate": SAMPLE_RATE,
    "stem_indices": [3, 2],
}


def build_tiny_musicgen_melody(folder: Path, seed: int = 0) -> Path:
    """Write the tiny melody model, its preprocessor config and tokenizer into ``folder``."""
    return build_tiny_musicgen(folder, seed, melody_preprocessor=PREPROCESSOR)


_built: dict[str, Path] = {}


def session_tiny_musicgen_melody(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model folder ``.../facebook/musicgen-melody``, built once per test session."""
    if "folder" not in _built:
        root = tmp_path_factory.mktemp("musicgen-melody-models")
        _built["folder"] = build_tiny_musicgen_melody(root / "facebook" / "musicgen-melody")
    return _built["folder"]
