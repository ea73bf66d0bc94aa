"""describe_photo: sensible, different music for a warm bright photo and a dark blue one."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

from audiomill.photo.understand import colour_name, describe_photo


def _save(path: Path, rgb: np.ndarray, orientation: int | None = None) -> Path:
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    Image.fromarray(rgb.astype(np.uint8)).save(path, quality=92, exif=exif)
    return path


def _warm_bright_busy(width: int = 600, height: int = 400) -> np.ndarray:
    """Sunlit oranges and yellows with stripes: bright, warm, saturated, lots of edges."""
    y, x = np.mgrid[0:height, 0:width]
    stripes = ((x // 12 + y // 12) % 2).astype(np.float32)
    red = np.full((height, width), 250.0)
    green = 150 + 80 * stripes
    blue = 40 + 30 * stripes
    return np.stack([red, green, blue], axis=-1)


def _dark_blue_smooth(width: int = 600, height: int = 400) -> np.ndarray:
    """A night sky: dark navy gradient, no edges."""
    y, _ = np.mgrid[0:height, 0:width]
    shade = y / height
    return np.stack([10 + 10 * shade, 15 + 15 * shade, 60 + 40 * shade], axis=-1)


def test_warm_bright_vs_dark_blue(tmp_path: Path) -> None:
    warm = describe_photo(_save(tmp_path / "warm.jpg", _warm_bright_busy()))
    dark = describe_photo(_save(tmp_path / "dark.jpg", _dark_blue_smooth()))

    assert warm.brightness > 0.55 > 0.2 > dark.brightness
    assert warm.warmth > 0.5 and dark.warmth < -0.1
    assert warm.saturation > dark.saturation - 0.3  # both colourful; the warm one busy
    assert warm.edge_density > 0.05 > 0.001 > dark.edge_density
    assert warm.valence > dark.valence and warm.arousal > dark.arousal

    assert warm.music is not None and dark.music is not None
    assert warm.music.mood == "euphoric" and warm.music.key.endswith("major")
    assert dark.music.mood == "melancholic" and dark.music.key.endswith("minor")
    assert warm.music.tempo_bpm >= dark.music.tempo_bpm + 30
    assert 64 <= dark.music.tempo_bpm and warm.music.tempo_bpm <= 140
    assert f"{warm.music.tempo_bpm} BPM" in warm.music.prompt
    assert 2 <= len(warm.music.lines) <= 4 and all(len(line) < 60 for line in warm.music.lines)

    for description in (warm, dark):
        assert len(description.palette_hex) == 5 or len(set(description.palette_hex)) < 5
        assert all(re.fullmatch(r"#[0-9a-f]{6}", colour) for colour in description.palette_hex)
    assert warm.palette_names[0] in {"orange", "gold", "sand"}
    assert dark.palette_names[0] == "navy"
    assert "navy fading into navy" not in " ".join(dark.music.lines)
    assert warm.to_dict()["music"]["mood"] == "euphoric"


def test_scene_labels_reach_prompt_and_lines(tmp_path: Path) -> None:
    photo = _save(tmp_path / "warm.jpg", _warm_bright_busy())
    described = describe_photo(photo, scene_labels=["espresso", "coffee mug"])
    assert described.music is not None
    assert "espresso" in described.music.prompt
    assert any("espresso" in line for line in described.music.lines)


def test_size_honours_exif_orientation(tmp_path: Path) -> None:
    photo = _save(tmp_path / "turned.jpg", _dark_blue_smooth(300, 200), orientation=6)
    described = describe_photo(photo)
    assert (described.width, described.height) == (200, 300)


def test_colour_names() -> None:
    assert colour_name((250, 140, 20)) == "orange"
    assert colour_name((15, 25, 85)) == "navy"
    assert colour_name((250, 250, 250)) == "white"
