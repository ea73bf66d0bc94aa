"""Serving stored outputs: one file (with HTTP Range) or a zip of several."""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from audiomill.runtime import Runtime
from audiomill.store.tables import Asset

# Only text is deflated. Compressed audio gains nothing, and PCM wav gains ~10 % for a
# cost that dominated downloads (deflating a 90 MiB 4-stem archive took ~6 s of a 3-min
# track's job in bench B1; storing takes a file copy).
_DEFLATED_EXTENSIONS = {".txt", ".json", ".csv", ".mid", ".midi"}


def file_response(runtime: Runtime, asset: Asset) -> FileResponse:
    return FileResponse(
        runtime.blobs.path(asset.sha256), media_type=asset.media_type, filename=asset.filename
    )


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
                method = zipfile.ZIP_DEFLATED if Path(arcname).suffix.lower() in _DEFLATED_EXTENSIONS else zipfile.ZIP_STORED
                archive.write(runtime.blobs.path(asset.sha256), arcname=arcname, compress_type=method)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return FileResponse(
        path, media_type="application/zip", filename=archive_name,
        background=BackgroundTask(path.unlink, missing_ok=True),
    )
