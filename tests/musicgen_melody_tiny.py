"""A tiny random-weight MusicGen-melody saved in the Hugging Face layout of facebook/musicgen-melody.

The files of the real repo: config.json (model_type ``musicgen_melody``, chroma_length 235),
generation_config.json, model.safetensors, preprocessor_config.json (the chroma feature
extractor's parameters, written by hand: saving the extractor itself needs torchaudio) and
a T5 tokenizer. Shapes as tests/musicgen_tiny.py (10 codes per second at 32 kHz).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.musicgen_tiny import _WORDS, CODEBOOK_SIZE, SAMPLE_RATE, UPSAMPLING_RATIOS

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
    """Write the tiny melody model and tokenizer into ``folder`` and return it."""
    import torch
    from transformers import (
        EncodecConfig,
        MusicgenMelodyConfig,
        MusicgenMelodyDecoderConfig,
        MusicgenMelodyForConditionalGeneration,
        T5Config,
        T5Tokenizer,
    )

    text = T5Config(vocab_size=128, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4)
    codec = EncodecConfig(
        hidden_size=16,
        num_filters=4,
        upsampling_ratios=UPSAMPLING_RATIOS,
        codebook_size=CODEBOOK_SIZE,
        codebook_dim=16,
        sampling_rate=SAMPLE_RATE,
        audio_channels=1,
        num_lstm_layers=1,
        target_bandwidths=[2.2],
    )
    decoder = MusicgenMelodyDecoderConfig(
        vocab_size=CODEBOOK_SIZE,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        ffn_dim=64,
        num_codebooks=4,
        pad_token_id=CODEBOOK_SIZE,
        bos_token_id=CODEBOOK_SIZE,
        max_position_embeddings=2048,
    )
    config = MusicgenMelodyConfig(
        text_encoder=text.to_dict(),
        audio_encoder=codec.to_dict(),
        decoder=decoder.to_dict(),
    )
    config.pad_token_id = CODEBOOK_SIZE
    config.decoder_start_token_id = CODEBOOK_SIZE
    torch.manual_seed(seed)
    model = MusicgenMelodyForConditionalGeneration(config).eval()
    with torch.no_grad():  # as in musicgen_tiny: codebooks that make audio depend on codes
        for layer in model.audio_encoder.quantizer.layers:
            layer.codebook.embed.normal_()
            layer.codebook.embed_avg.copy_(layer.codebook.embed)
        # The chroma projection is what carries the melody: make it loud enough that the
        # tiny decoder's choices depend on it (random init at 0.02 barely moves them).
        model.audio_enc_to_dec_proj.weight.normal_(0.0, 1.0)
    generation = model.generation_config
    generation.pad_token_id = CODEBOOK_SIZE
    generation.bos_token_id = CODEBOOK_SIZE
    generation.decoder_start_token_id = CODEBOOK_SIZE
    generation.do_sample = True
    generation.top_k = 250
    generation.guidance_scale = 3.0
    generation.max_length = 1500
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps(PREPROCESSOR, indent=2), encoding="utf-8")

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    vocab += [("\u2581" + word, -1.0) for word in _WORDS]
    vocab += [(char, -5.0) for char in "abcdefghijklmnopqrstuvwxyz0123456789#/.,:-"]
    tokenizer = T5Tokenizer(vocab=vocab, extra_ids=0)
    tokenizer.save_pretrained(folder)
    return folder


_built: dict[str, Path] = {}


def session_tiny_musicgen_melody(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model folder ``.../facebook/musicgen-melody``, built once per test session."""
    if "folder" not in _built:
        root = tmp_path_factory.mktemp("musicgen-melody-models")
        _built["folder"] = build_tiny_musicgen_melody(root / "facebook" / "musicgen-melody")
    return _built["folder"]
