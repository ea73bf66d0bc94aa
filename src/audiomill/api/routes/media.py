"""/media/…: stored files by URL, for the seeds that hand out file URLs.

A media URL ends in ``/<asset uuid>/<file name>``; what comes before is descriptive
(``/media/uploads/denoised/…``). Only the uuid is looked up, and only among the caller's
own files: the path never reaches the file system.
"""

from __future__ import annotations

import uuid as uuid_module
from urllib.parse import quote, unquote

from fastapi import APIRouter
from fastapi.responses import FileResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from audiomill.api.deps import CurrentUser, RuntimeDep, SessionDep
from audiomill.api.files import file_response
from audiomill.errors import NotFound
from audiomill.store.tables import Asset

router = APIRouter(tags=["media"])


def media_url(category: str, asset: Asset, filename: str | None = None) -> str:
    # Percent-encoded: a display name may hold "%2F", "?", "#" or non-ASCII, and the URL must
    # still decode to the uuid followed by exactly one last segment.
    return f"/media/uploads/{category}/{asset.uuid}/{quote(filename or asset.filename, safe='')}"


def asset_for_media_path(session: Session, owner_id: int, path: str) -> Asset:
    """Resolve a media URL path we handed out to the caller's asset, or NotFound."""
    parts = [p for p in path.split("/") if p]
    if len(parts) < 2:
        raise NotFound("file not found")
    try:
        asset_uuid = str(uuid_module.UUID(parts[-2]))
    except ValueError:
        raise NotFound("file not found") from None
    asset = session.scalar(select(Asset).where(Asset.uuid == asset_uuid, Asset.owner_id == owner_id))
    if asset is None:
        raise NotFound("file not found")
    return asset


# Where a seed takes a server-side ``file_path`` (seed 003's separate-stems and
# analyze-audio), only URLs this service handed out are accepted: these prefixes.
HANDED_OUT_PREFIXES = ("/media/", "/static/audio/")


def asset_for_client_path(session: Session, owner_id: int, client_path: str) -> Asset:
    """Resolve a path a client sent back to us (e.g. ``/media/uploads/x/<uuid>/song.mp3``)
    to the caller's asset. Anything else — a file-system path, ``../``, someone else's
    file — is NotFound; the string never reaches the file system."""
    decoded = unquote(client_path.strip())
    prefix = next((p for p in HANDED_OUT_PREFIXES if decoded.startswith(p)), None)
    if prefix is None or "\0" in decoded:
        raise NotFound("file not found")
    return asset_for_media_path(session, owner_id, decoded[len(prefix) :])


@router.head("/media/{path:path}", include_in_schema=False)
@router.get(
    "/media/{path:path}", response_class=FileResponse, responses={404: {"description": "no such file (or not yours)"}}
)
def media(path: str, runtime: RuntimeDep, session: SessionDep, user: CurrentUser) -> FileResponse:
    return file_response(runtime, asset_for_media_path(session, user.id, path))
