"""What a photo looks like, offline, and the music it suggests.

    describe_photo(path, scene_labels=None) -> PhotoDescription

Measured on a copy at most ANALYSIS_EDGE_PIXELS on its long side (the statistics do not need
12 MP): a 5-colour palette (Pillow's median cut), brightness, contrast, saturation, warmth and
edge density. These map to a music style hint: a mood on a valence (bright, warm, colourful)
x arousal (contrast, busy edges, saturation) plane, a tempo, a key (major when the photo is
bright and not cold; the root from the dominant colour's hue), a text prompt for the
generator and 2-4 short caption/lyric lines. Scene labels (e.g. from an ImageNet classifier,
a later step) are optional words woven into the prompt and lines.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

ANALYSIS_EDGE_PIXELS = 256
_EXIF_ORIENTATION = 0x0112
_ORIENTATIONS_SWAPPING_SIDES = {5, 6, 7, 8}  # the 90-degree turns
PALETTE_SIZE = 5
# A luma step (0-1) this large between neighbours counts as an edge.
EDGE_THRESHOLD = 0.08
TEMPO_MIN_BPM = 64
TEMPO_MAX_BPM = 140
# Roots on the circle of fifths, walked by hue (red C ... violet): warm hues get sharp-less,
# familiar keys; the mapping only has to be stable and spread photos over keys.
_ROOTS_BY_HUE = ["C", "G", "D", "A", "E", "B", "F#", "C#", "Ab", "Eb", "Bb", "F"]
_COLOUR_NAMES = {
    "black": (20, 20, 20),
    "white": (240, 240, 240),
    "grey": (128, 128, 128),
    "red": (200, 40, 40),
    "orange": (240, 140, 30),
    "gold": (230, 200, 60),
    "green": (60, 160, 70),
    "teal": (30, 140, 140),
    "blue": (40, 80, 200),
    "navy": (20, 30, 90),
    "purple": (120, 60, 160),
    "pink": (240, 140, 180),
    "brown": (120, 80, 40),
    "sand": (210, 190, 150),
}


@dataclass(frozen=True)
class MusicHint:
    mood: str
    style: str
    tempo_bpm: int
    key: str  # e.g. "D major"
    prompt: str
    lines: list[str]


@dataclass(frozen=True)
class PhotoDescription:
    width: int
    height: int
    palette_hex: list[str]  # most common first
    palette_names: list[str]
    brightness: float  # mean luma, 0 (black) .. 1 (white)
    contrast: float  # luma standard deviation, 0 .. 0.5
    saturation: float  # mean HSV saturation, 0 .. 1
    warmth: float  # mean (red - blue), -1 (cold) .. 1 (warm)
    edge_density: float  # share of pixels on an edge, 0 .. 1
    valence: float  # 0 (sombre) .. 1 (happy)
    arousal: float  # 0 (still) .. 1 (energetic)
    scene_labels: list[str] = field(default_factory=list)
    music: MusicHint | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _analysis_copy(path: Path) -> Image.Image:
    with Image.open(path) as image:
        image.draft("RGB", (ANALYSIS_EDGE_PIXELS * 2, ANALYSIS_EDGE_PIXELS * 2))  # fast JPEG
        upright = ImageOps.exif_transpose(image).convert("RGB")
    upright.thumbnail((ANALYSIS_EDGE_PIXELS, ANALYSIS_EDGE_PIXELS), Image.Resampling.LANCZOS)
    return upright


def palette(image: Image.Image, colours: int = PALETTE_SIZE) -> list[tuple[int, int, int]]:
    """The photo's main colours by median cut, most common first."""
    quantized = image.quantize(colors=colours, method=Image.Quantize.MEDIANCUT)
    flat = quantized.getpalette() or []
    counts = sorted(quantized.getcolors() or [], reverse=True)
    indices = [index for _, index in counts if isinstance(index, int)]
    return [(flat[i * 3], flat[i * 3 + 1], flat[i * 3 + 2]) for i in indices][:colours]


def colour_name(rgb: tuple[int, int, int]) -> str:
    """The nearest plain colour word (for lines and prompts)."""
    return min(
        _COLOUR_NAMES,
        key=lambda name: sum((a - b) ** 2 for a, b in zip(rgb, _COLOUR_NAMES[name], strict=True)),
    )


def _statistics(image: Image.Image) -> dict[str, float]:
    rgb = np.asarray(image, dtype=np.float32) / 255.0
    luma = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    high, low = rgb.max(axis=-1), rgb.min(axis=-1)
    saturation = np.where(high > 0, (high - low) / np.maximum(high, 1e-6), 0.0)
    gradient_x = np.abs(np.diff(luma, axis=1))[:-1, :]
    gradient_y = np.abs(np.diff(luma, axis=0))[:, :-1]
    edges = np.hypot(gradient_x, gradient_y) > EDGE_THRESHOLD
    return {
        "brightness": float(luma.mean()),
        "contrast": float(luma.std()),
        "saturation": float(saturation.mean()),
        "warmth": float((rgb[..., 0] - rgb[..., 2]).mean()),
        "edge_density": float(edges.mean()) if edges.size else 0.0,
    }


def _clip01(value: float) -> float:
    return float(min(1.0, max(0.0, value)))


def music_hint(
    stats: dict[str, float],
    palette_rgb: Sequence[tuple[int, int, int]],
    scene_labels: Sequence[str] = (),
) -> tuple[float, float, MusicHint]:
    """(valence, arousal, hint) from the photo's statistics: the mapping, kept pure."""
    brightness, contrast = stats["brightness"], stats["contrast"]
    saturation, warmth, edges = stats["saturation"], stats["warmth"], stats["edge_density"]
    valence = _clip01(0.55 * brightness + 0.25 * (0.5 + warmth) + 0.2 * saturation)
    arousal = _clip01(0.35 * saturation + 0.35 * min(1.0, edges * 3) + 0.3 * min(1.0, contrast * 3))
    tempo_bpm = round(TEMPO_MIN_BPM + (TEMPO_MAX_BPM - TEMPO_MIN_BPM) * (0.6 * arousal + 0.4 * valence))
    major = brightness >= 0.45 and warmth > -0.1 or brightness >= 0.65
    dominant = palette_rgb[0] if palette_rgb else (128, 128, 128)
    hue, _, _ = colorsys.rgb_to_hls(*(channel / 255 for channel in dominant))
    key = f"{_ROOTS_BY_HUE[int(hue * 12) % 12]} {'major' if major else 'minor'}"
    if valence >= 0.5:
        mood, style, instruments = (
            ("euphoric", "upbeat indie pop", "bright guitars, claps and a driving beat")
            if arousal >= 0.45
            else ("warm and serene", "acoustic folk", "fingerpicked guitar, soft piano and strings")
        )
    else:
        mood, style, instruments = (
            ("tense and dramatic", "cinematic electronic", "pulsing synths and big drums")
            if arousal >= 0.45
            else ("melancholic", "ambient piano", "slow piano, pads and distant reverb")
        )
    colours = [colour_name(rgb) for rgb in palette_rgb[:3]]
    scene = ", ".join(scene_labels[:3])
    prompt = (
        f"{style}, {mood}, {tempo_bpm} BPM, {key}, {instruments}; "
        f"colours of {', '.join(dict.fromkeys(colours))}" + (f"; a scene of {scene}" if scene else "")
    )
    lines = _lines(mood, colours, list(scene_labels))
    return valence, arousal, MusicHint(mood, style, tempo_bpm, key, prompt, lines)


def _lines(mood: str, colours: list[str], scene_labels: list[str]) -> list[str]:
    # Two different colour words; a one-colour photo pairs its colour with a mood word.
    fallback = {
        "euphoric": "sunlight",
        "warm and serene": "amber",
        "tense and dramatic": "shadow",
        "melancholic": "shadow",
    }[mood]
    first, second = (list(dict.fromkeys(colours)) + [fallback, fallback])[:2]
    subject = scene_labels[0] if scene_labels else f"{first} light"
    by_mood = {
        "euphoric": [
            f"{first.capitalize()} and {second}, the day is wide awake",
            f"Here with the {subject}, turn it up",
            "Hold this moment, let it shine",
        ],
        "warm and serene": [
            f"Soft {first} light on a quiet afternoon",
            f"The {subject} and me, nowhere else to be",
            "Breathe slow, stay a while",
        ],
        "tense and dramatic": [
            f"Shadows cut through {first} and {second}",
            f"The {subject} stands against the storm",
            "Something's coming, hold on",
        ],
        "melancholic": [
            f"Deep {first} fading into {second}",
            f"The {subject} remembers",
            "Quiet now, the night is long",
        ],
    }
    return by_mood[mood]


def describe_photo(path: Path, scene_labels: Sequence[str] | None = None) -> PhotoDescription:
    """The photo's look and the music it suggests (offline, about 20 ms on a 12-MP JPEG)."""
    with Image.open(path) as original:
        width, height = original.size
        if original.getexif().get(_EXIF_ORIENTATION) in _ORIENTATIONS_SWAPPING_SIDES:
            width, height = height, width
    image = _analysis_copy(path)
    palette_rgb = palette(image)
    stats = _statistics(image)
    labels = list(scene_labels or [])
    valence, arousal, hint = music_hint(stats, palette_rgb, labels)
    return PhotoDescription(
        width=width,
        height=height,
        palette_hex=[f"#{r:02x}{g:02x}{b:02x}" for r, g, b in palette_rgb],
        palette_names=[colour_name(rgb) for rgb in palette_rgb],
        brightness=round(stats["brightness"], 4),
        contrast=round(stats["contrast"], 4),
        saturation=round(stats["saturation"], 4),
        warmth=round(stats["warmth"], 4),
        edge_density=round(stats["edge_density"], 4),
        valence=round(valence, 4),
        arousal=round(arousal, 4),
        scene_labels=labels,
        music=hint,
    )
