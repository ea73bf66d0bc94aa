"""The Ken Burns sampler against a plain float bilinear reference, its window and its fade."""

from __future__ import annotations

import numpy as np
import pytest

from audiomill.video.motion import ZOOM_END, KenBurns, source_size_for, window_at


def _reference(plane: np.ndarray, left: float, top: float, width: float, height: float, shape: tuple[int, int]):  # type: ignore[no-untyped-def]
    rows, cols = shape
    xs = np.clip(left + (np.arange(cols) + 0.5) * width / cols - 0.5, 0, plane.shape[1] - 1)
    ys = np.clip(top + (np.arange(rows) + 0.5) * height / rows - 0.5, 0, plane.shape[0] - 1)
    x0 = np.minimum(np.floor(xs).astype(int), plane.shape[1] - 2)
    y0 = np.minimum(np.floor(ys).astype(int), plane.shape[0] - 2)
    fx, fy = xs - x0, ys - y0
    p = plane.astype(np.float64)
    upper = p[y0][:, x0] * (1 - fx) + p[y0][:, x0 + 1] * fx
    lower = p[y0 + 1][:, x0] * (1 - fx) + p[y0 + 1][:, x0 + 1] * fx
    return upper * (1 - fy)[:, None] + lower * fy[:, None]


@pytest.mark.parametrize("progress", [0.0, 0.37, 1.0])
def test_frames_match_a_float_bilinear_reference(progress: float) -> None:
    rng = np.random.default_rng(11)
    width, height = 160, 90
    source_width, source_height = source_size_for(width, height, 400, 300)
    luma = rng.integers(16, 236, (source_height, source_width), dtype=np.uint8)
    chroma = [rng.integers(16, 241, (source_height // 2, source_width // 2), dtype=np.uint8) for _ in range(2)]
    out = (np.zeros((height, width), np.uint8), *[np.zeros((height // 2, width // 2), np.uint8) for _ in range(2)])
    KenBurns((luma, *chroma), width, height).frame(progress, 1.0, out)  # type: ignore[arg-type]

    window = window_at(progress, source_width, source_height)
    for plane, got, scale in ((luma, out[0], 1.0), (chroma[0], out[1], 0.5), (chroma[1], out[2], 0.5)):
        expected = _reference(
            plane, window.left * scale, window.top * scale, window.width * scale, window.height * scale, got.shape
        )
        difference = np.abs(got.astype(np.float64) - expected)
        assert difference.max() <= 1.5 and difference.mean() < 0.5, (progress, difference.max(), difference.mean())


def test_window_zooms_in_and_pans_smoothly() -> None:
    start, end = window_at(0.0, 1000, 500), window_at(1.0, 1000, 500)
    assert (start.left, start.top, start.width, start.height) == (0.0, 0.0, 1000.0, 500.0)
    assert end.width == pytest.approx(1000 / ZOOM_END) and end.height == pytest.approx(500 / ZOOM_END)
    windows = [window_at(p, 1000, 500) for p in np.linspace(0, 1, 751)]
    widths = np.array([w.width for w in windows])
    lefts = np.array([w.left for w in windows])
    assert np.all(np.diff(widths) < 0) and np.all(np.diff(lefts) > 0)  # never back and forth
    assert np.diff(lefts).max() < 0.2  # sub-pixel steps: no whole-pixel jumps
    assert end.left + end.width <= 1000 and end.top + end.height <= 500  # inside the photo


def test_fade_goes_to_limited_range_black() -> None:
    planes = (np.full((20, 20), 200, np.uint8), np.full((10, 10), 60, np.uint8), np.full((10, 10), 200, np.uint8))
    motion = KenBurns(planes, 16, 16)
    out = (np.zeros((16, 16), np.uint8), np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8))
    motion.frame(0.5, 0.0, out)
    assert (out[0] == 16).all() and (out[1] == 128).all() and (out[2] == 128).all()
    motion.frame(0.5, 0.5, out)
    assert (out[0] == 108).all() and (out[1] == 94).all() and (out[2] == 164).all()
