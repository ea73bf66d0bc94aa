"""Composition shared by generation, hum-to-beat, photo-to-video and mixdown.

The small public surface (imported lazily, so ``audiomill.music.theory`` alone stays light):

    understand(prompt, rng, bpm=, key=, mood=, genre=, time_signature=, instruments=) -> Brief
    compose(brief, duration_seconds, seed, loop=False, soundfont=None)       -> Composition
    compose_for_melody(notes, bpm, key=None, mood="neutral", seed=0, ...)  -> Composition
    Note(pitch, start_seconds, duration_seconds, velocity=90)
    STYLES / STYLES_BY_NAME                                                 the catalogue

A Composition gives mastered stems and the mix as float32 (channels, frames) blocks
(``blocks(name)``, ``read(name)``; names in ``stem_names`` plus ``"mix"``), the MIDI
(``midi``, ``write_midi(path)``), and a JSON description (``describe()``); ``close()``
deletes its scratch files. Every stem and the mix are mastered with one per-sample gain
(-14 LUFS, -1 dBTP), so the stems sum to the mix.

Modules: theory (keys, chords, voice leading), styles, prompt (understanding: prompt -> Brief), meter,
drums, arrange (form and parts), render (SoundFont -> stems), master (loudness),
embed (the sentence-embedding ranker), pipeline (compose, compose_for_melody).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Note": "audiomill.music.arrange",
    "Composition": "audiomill.music.pipeline",
    "compose": "audiomill.music.pipeline",
    "compose_for_melody": "audiomill.music.pipeline",
    "harmonize": "audiomill.music.pipeline",
    "STYLES": "audiomill.music.styles",
    "STYLES_BY_NAME": "audiomill.music.styles",
    "Style": "audiomill.music.styles",
    "Key": "audiomill.music.theory",
    "parse_key": "audiomill.music.theory",
    "Brief": "audiomill.music.prompt",
    "understand": "audiomill.music.prompt",
}

__all__ = [
    "STYLES",
    "STYLES_BY_NAME",
    "Brief",
    "Composition",
    "Key",
    "Note",
    "Style",
    "compose",
    "compose_for_melody",
    "harmonize",
    "parse_key",
    "understand",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'audiomill.music' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
