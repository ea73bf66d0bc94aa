"""Waveform overview: min/max per column (for drawing at any width) and a PNG."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

DEFAULT_COLUMNS = 2000


@dataclass(frozen=True)
class WaveformPeaks:
    minimum: tuple[float, ...]
    maximum: tuple[float, ...]

    @property
    def columns(self) -> int:
        return len(self.minimum)

    def as_dict(self) -> dict[str, object]:
        return {"columns": self.columns, "min": list(self.minimum), "max": list(self.maximum)}


def waveform_peaks(audio: NDArray[np.floating], columns: int = DEFAULT_COLUMNS) -> WaveformPeaks:
    """Lowest and highest sample (over all channels) in each of ``columns`` equal spans.

    A track shorter than ``columns`` samples gets one column per sample."""
    frames = audio.shape[1]
    if frames == 0:
        return WaveformPeaks((), ())
    columns = max(1, min(columns, frames))
    edges = np.linspace(0, frames, columns + 1).astype(np.int64)
    low = np.minimum.reduceat(audio.min(axis=0), edges[:-1])
    high = np.maximum.reduceat(audio.max(axis=0), edges[:-1])
    return WaveformPeaks(
        tuple(np.round(low.astype(np.float64), 4).tolist()), tuple(np.round(high.astype(np.float64), 4).tolist())
    )


def draw_waveform_png(
    peaks: WaveformPeaks,
    path: Path,
    width: int = 1200,
    height: int = 200,
    color: tuple[int, int, int] = (64, 132, 220),
    background: tuple[int, int, int, int] = (0, 0, 0, 0),
) -> None:
    """A PNG of the peaks, one vertical line per pixel column, transparent background."""
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (width, height), background)
    draw = ImageDraw.Draw(image)
    if peaks.columns:
        low = np.asarray(peaks.minimum)
        high = np.asarray(peaks.maximum)
        # Resample the columns to the image width, keeping extremes.
        edges = np.linspace(0, peaks.columns, width + 1).astype(np.int64)
        edges = np.minimum(edges, peaks.columns - 1)
        middle = (height - 1) / 2.0
        for x in range(width):
            start, stop = edges[x], max(edges[x + 1], edges[x] + 1)
            top = float(np.max(high[start:stop]))
            bottom = float(np.min(low[start:stop]))
            y0 = middle - np.clip(top, -1.0, 1.0) * middle
            y1 = middle - np.clip(bottom, -1.0, 1.0) * middle
            draw.line([(x, round(y0)), (x, round(max(y1, y0 + 1)))], fill=(*color, 255))
    image.save(path, format="PNG", optimize=True)
