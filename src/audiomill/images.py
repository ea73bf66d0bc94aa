"""Images as inputs: what a file is, judged by its bytes, with decompression bombs refused."""

from __future__ import annotations

import warnings
from pathlib import Path

# A 12-megapixel phone photo is 12e6 pixels; 50e6 leaves room for panoramas and refuses
# bombs (a 20000x20000 PNG is 400e6) before their pixels are ever decoded.
MAX_IMAGE_PIXELS = 50_000_000

_MEDIA_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
    "MPO": "image/jpeg",
    "HEIF": "image/heif",
}


def image_media_type(path: Path) -> str | None:
    """The media type of a decodable image of at most MAX_IMAGE_PIXELS, else None."""
    from PIL import Image  # only where images are looked at

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if width * height > MAX_IMAGE_PIXELS:
                    return None
                image_format = image.format or ""
                image.verify()  # PNG: every chunk's CRC, up to IEND (truncated files fail)
            if image_format != "PNG":
                # verify() does not decode JPEG (or most formats): a JPEG cut in half passes
                # it. Decode for real; a JPEG at 1/8 scale (libjpeg reads every coefficient
                # but does little with them: 60-90 ms for 12 MP on a busy 2-core machine).
                with Image.open(path) as image:
                    image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
                    image.load()
            return _MEDIA_TYPES.get(image_format, f"image/{(image_format or 'octet-stream').lower()}")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        return None
