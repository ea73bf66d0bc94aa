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
                image.verify()  # reads the whole stream: truncated files fail here
                return _MEDIA_TYPES.get(image.format or "", f"image/{(image.format or 'octet-stream').lower()}")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        return None
