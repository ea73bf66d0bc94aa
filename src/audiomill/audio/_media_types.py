"""File names -> HTTP media types, and output formats -> file extensions.

A fixed table rather than the mimetypes module, whose answers depend on the host
(/etc/mime.types says audio/x-wav on some systems, nothing for .m4a on others).
"""

from __future__ import annotations

from pathlib import PurePath

from audiomill.params import OutputFormat

_MEDIA_TYPE_BY_EXTENSION: dict[str, str] = {
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "flac": "audio/flac",
    "m4a": "audio/mp4",
    "aac": "audio/aac",
    "ogg": "audio/ogg",
    "oga": "audio/ogg",
    "opus": "audio/ogg",
    "mid": "audio/midi",
    "midi": "audio/midi",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "webm": "video/webm",
    "zip": "application/zip",
    "json": "application/json",
    "rttm": "text/plain",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
}

_DEFAULT_MEDIA_TYPE = "application/octet-stream"

_EXTENSION_BY_FORMAT: dict[OutputFormat, str] = {
    OutputFormat.wav: "wav",
    OutputFormat.flac: "flac",
    OutputFormat.mp3: "mp3",
    OutputFormat.m4a: "m4a",
}


def media_type_for(filename: str) -> str:
    """The Content-Type to serve a file under, from its name's extension."""
    extension = PurePath(filename).suffix.lower().lstrip(".")
    return _MEDIA_TYPE_BY_EXTENSION.get(extension, _DEFAULT_MEDIA_TYPE)


def extension_for(fmt: OutputFormat) -> str:
    """File extension (no dot) for an output format."""
    return _EXTENSION_BY_FORMAT[OutputFormat(fmt)]


def format_for_extension(extension: str) -> OutputFormat | None:
    """The output format a file extension names ("mp3" or ".MP3"), or None."""
    wanted = extension.lower().lstrip(".")
    for fmt, known in _EXTENSION_BY_FORMAT.items():
        if known == wanted:
            return fmt
    return None
