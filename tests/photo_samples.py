"""Photos made here (no network) and checks on the videos made of them."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import av
import numpy as np
from PIL import Image

FIXTURE_PHOTOS = Path(__file__).parent / "fixtures" / "photos"


def detailed_rgb(width: int, height: int, seed: int = 3) -> np.ndarray:
    """Gradients, a grid and a few discs: detail everywhere, so any move changes pixels."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack(
        [x * 255 // max(1, width), y * 255 // max(1, height), ((x // 12 + y // 12) % 2) * 150 + 40], axis=-1
    ).astype(np.int16)
    for _ in range(6):
        cx, cy, radius = rng.integers(0, width), rng.integers(0, height), rng.integers(8, max(9, width // 5))
        disc = (x - cx) ** 2 + (y - cy) ** 2 < radius**2
        rgb[disc] = rng.integers(0, 255, 3)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def jpeg_bytes(width: int = 320, height: int = 240, orientation: int | None = None, quality: int = 90) -> bytes:
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    buffer = io.BytesIO()
    Image.fromarray(detailed_rgb(width, height)).save(buffer, format="JPEG", quality=quality, exif=exif)
    return buffer.getvalue()


def png_bytes(width: int = 320, height: int = 240) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(detailed_rgb(width, height)).save(buffer, format="PNG")
    return buffer.getvalue()


def incompressible_png(size_bytes: int) -> bytes:
    """A valid PNG of noise at least size_bytes long (stored uncompressed: fast to make)."""
    side = int(np.ceil(np.sqrt(size_bytes / 3)))
    noise = np.random.default_rng(1).integers(0, 256, (side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="PNG", compress_level=0)
    return buffer.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A real, complete 1-bit PNG of width x height black pixels: tens of kilobytes that
    would decode to 400 megapixels (1.2 GB as RGB). Written by hand: Pillow would need
    the pixels in memory to save it."""
    row = b"\x00" + bytes((width + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


MINIMAL_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


def check_music_video(path: Path, width: int, height: int, duration_seconds: float) -> None:
    """One H.264 stream of this size, one AAC stream, the duration, a moving picture and
    sound that is not silence."""
    with av.open(str(path)) as container:
        videos, audios = container.streams.video, container.streams.audio
        assert len(videos) == 1 and videos[0].codec_context.name == "h264"
        assert len(audios) == 1 and audios[0].codec_context.name == "aac"
        assert (videos[0].width, videos[0].height) == (width, height)
        assert container.duration is not None
        assert abs(container.duration / av.time_base - duration_seconds) <= 0.1
        frames = [f.to_ndarray(format="gray").astype(np.int16) for f in container.decode(video=0)]
        container.seek(0)
        samples = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    assert abs(len(frames) / float(videos[0].average_rate or 25) - duration_seconds) <= 0.1
    # Five looks a second through the middle third: each differs from the one before (the
    # move never stalls). Not every frame: a slow move on a small picture advances a
    # fraction of a pixel a frame, and the encoder may repeat a frame outright.
    middle = frames[len(frames) // 3 : 2 * len(frames) // 3 : max(1, round(float(videos[0].average_rate or 25) / 5))]
    steps = [np.abs(a - b).mean() for a, b in zip(middle, middle[1:], strict=False)]
    assert min(steps) > 0.02, steps
    assert np.abs(middle[0] - middle[-1]).mean() > 1.0  # and it goes somewhere
    assert np.sqrt(np.mean(samples.astype(np.float64) ** 2)) > 0.02  # music, not silence
