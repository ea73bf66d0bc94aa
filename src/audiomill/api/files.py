"""Serving stored outputs: one file (with HTTP Range) or a zip of several.

Every route that serves a file with GET answers HEAD too (the same headers, no body):
stack ``@router.head(path, include_in_schema=False)`` on its ``@router.get`` (one
operation in OpenAPI). Starlette's FileResponse sends only the headers for HEAD.

Names users see: an archive is named after the upload (``song (stems).zip``), and the
Content-Disposition header carries an ASCII ``filename`` for old clients plus the exact
name as RFC 5987 ``filename*`` (UTF-8), so non-ASCII names arrive intact.
"""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePath
from urllib.parse import quote

from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from audiomill.runtime import Runtime
from audiomill.store.tables import Asset, Job

# What an archive of each kind holds, in its name: "song (stems).zip"
_ARCHIVE_LABELS = {"separate": "stems", "vocals": "vocals + instrumental"}
# Characters that are unsafe in a file name on some system a download lands on
_UNSAFE_NAME_CHARS = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
_MAX_NAME_CHARS = 150

# Only text is deflated. Compressed audio gains nothing, and PCM wav gains ~10 % for a
# cost that dominated downloads (deflating a 90 MiB 4-stem archive took ~6 s of a 3-min
# track's job in bench B1; storing takes a file copy).
_DEFLATED_EXTENSIONS = {".txt", ".json", ".csv", ".mid", ".midi"}


def file_response(runtime: Runtime, asset: Asset) -> FileResponse:
    return FileResponse(
        runtime.blobs.path(asset.sha256),
        media_type=asset.media_type,
        headers={"content-disposition": attachment(asset.filename)},
    )


def safe_download_name(name: str, default: str = "download") -> str:
    """A name safe to save on any system: no path separators, control characters or
    Windows-reserved characters, no leading dots or trailing spaces/dots, at most 150
    characters (the extension kept)."""
    name = unicodedata.normalize("NFC", name)
    name = _UNSAFE_NAME_CHARS.sub("_", name).strip().lstrip(".").rstrip(". ")
    if len(name) > _MAX_NAME_CHARS:
        suffix = PurePath(name).suffix[:16]
        name = name[: _MAX_NAME_CHARS - len(suffix)].rstrip(". ") + suffix
    return name or default


def attachment(filename: str) -> str:
    """Content-Disposition for a download: ASCII fallback and RFC 5987 UTF-8 name."""
    name = safe_download_name(filename)
    ascii_name = name.encode("ascii", "replace").decode("ascii").replace("?", "_")
    ascii_name = ascii_name.replace("\\", "_").replace('"', "_")
    if quote(name, safe=" ()+,;=@[]{}!#$&'~") == name:  # plain ASCII: no filename* needed
        return f'attachment; filename="{name}"'
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def archive_name(job: Job) -> str:
    """``<upload name without extension> (<what it holds>).zip``, e.g. ``song (stems).zip``."""
    inputs = [f.asset for f in job.files if f.role == "input"]
    stem = PurePath(inputs[0].filename).stem if inputs else ""
    label = _ARCHIVE_LABELS.get(job.kind, job.kind.replace("_", " "))
    return safe_download_name(f"{stem or job.kind} ({label}).zip")


def zip_response(runtime: Runtime, assets: Mapping[str, Asset], archive_name: str) -> FileResponse:
    """Write a zip to scratch space and stream it; the scratch file goes when sent."""
    scratch = runtime.settings.work_dir / "archives"
    scratch.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix="archive-", suffix=".zip", dir=scratch)
    os.close(handle)
    path = Path(name)
    try:
        with zipfile.ZipFile(path, "w") as archive:
            used: set[str] = set()
            for key, asset in assets.items():
                arcname = asset.filename if asset.filename not in used else f"{key}-{asset.filename}"
                used.add(arcname)
                method = (
                    zipfile.ZIP_DEFLATED if Path(arcname).suffix.lower() in _DEFLATED_EXTENSIONS else zipfile.ZIP_STORED
                )
                archive.write(runtime.blobs.path(asset.sha256), arcname=arcname, compress_type=method)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return FileResponse(
        path,
        media_type="application/zip",
        headers={"content-disposition": attachment(archive_name)},
        background=BackgroundTask(path.unlink, missing_ok=True),
    )
