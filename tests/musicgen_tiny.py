"""A tiny random-weight MusicGen saved in the Hugging Face layout of facebook/musicgen-*.

Same files as the real repos (config.json, generation_config.json, model.safetensors,
tokenizer.json + tokenizer_config.json of a T5 Unigram tokenizer), so tests load it through
the same ``from_pretrained(folder, local_files_only=True)`` path as real weights. Shapes:
T5 d_model 32 / 2 layers, EnCodec hidden 16 / 4 filters / codebook 64, decoder hidden 32 /
2 layers / 4 codebooks; a 3200-sample hop (10 codes per second at 32 kHz instead of
MusicGen's 50) keeps each second of audio at 10 generation steps.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

CODEBOOK_SIZE = 64
SAMPLE_RATE = 32000
UPSAMPLING_RATIOS = [8, 5, 8, 10]  # hop 3200 samples: 10 frames per second

_WORDS = [
    "piano",
    "guitar",
    "drums",
    "bass",
    "synth",
    "strings",
    "calm",
    "upbeat",
    "relaxing",
    "energetic",
    "electronic",
    "dance",
    "music",
    "melody",
    "for",
    "meditation",
    "lofi",
    "studying",
    "bpm",
    "key",
    "minor",
    "major",
    "mood",
    "genre",
    "instruments",
    "time",
]


def build_tiny_musicgen(folder: Path, seed: int = 0, melody_preprocessor: dict[str, Any] | None = None) -> Path:
    """Write the tiny model and tokenizer into ``folder`` and return it. With
    ``melody_preprocessor``: a MusicGen-melody (model_type ``musicgen_melody``), that dict
    written as its preprocessor_config.json (tests/musicgen_melody_tiny.py)."""
    import torch
    from transformers import (
        EncodecConfig,
        MusicgenConfig,
        MusicgenDecoderConfig,
        MusicgenForConditionalGeneration,
        MusicgenMelodyConfig,
        MusicgenMelodyDecoderConfig,
        MusicgenMelodyForConditionalGeneration,
        T5Config,
        T5Tokenizer,
    )

    melody = melody_preprocessor is not None
    config_class = MusicgenMelodyConfig if melody else MusicgenConfig
    decoder_config_class = MusicgenMelodyDecoderConfig if melody else MusicgenDecoderConfig
    model_class = MusicgenMelodyForConditionalGeneration if melody else MusicgenForConditionalGeneration

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
    decoder = decoder_config_class(
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
    config = config_class(
        text_encoder=text.to_dict(),
        audio_encoder=codec.to_dict(),
        decoder=decoder.to_dict(),
    )
    config.pad_token_id = CODEBOOK_SIZE
    config.decoder_start_token_id = CODEBOOK_SIZE
    torch.manual_seed(seed)
    model = model_class(config).eval()
    # EnCodec's codebooks start at zero (they are learnt by k-means): every code would decode
    # to the same sound. Random codebooks make the audio depend on the codes, as in a real model.
    with torch.no_grad():
        for layer in model.audio_encoder.quantizer.layers:
            layer.codebook.embed.normal_()
            layer.codebook.embed_avg.copy_(layer.codebook.embed)
        if melody:
            # The chroma projection is what carries the melody: make it loud enough that the
            # tiny decoder's choices depend on it (random init at 0.02 barely moves them).
            model.audio_enc_to_dec_proj.weight.normal_(0.0, 1.0)
    # As on the hub: sampling defaults written in generation_config.json.
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
    if melody_preprocessor is not None:
        (folder / "preprocessor_config.json").write_text(json.dumps(melody_preprocessor, indent=2), encoding="utf-8")

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    vocab += [("\u2581" + word, -1.0) for word in _WORDS]
    vocab += [(char, -5.0) for char in "abcdefghijklmnopqrstuvwxyz0123456789#/.,:-"]
    tokenizer = T5Tokenizer(vocab=vocab, extra_ids=0)
    tokenizer.save_pretrained(folder)
    return folder


_built: dict[str, Path] = {}


def session_tiny_musicgen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model folder ``.../facebook/musicgen-small``, built once per test session
    (several test modules use it; building costs a few seconds)."""
    if "folder" not in _built:
        root = tmp_path_factory.mktemp("musicgen-models")
        _built["folder"] = build_tiny_musicgen(root / "facebook" / "musicgen-small")
    return _built["folder"]
