"""Files uploaded on their own (not as a job's input), for later use by jobs and routes.

The same checks as a job's inputs (decodable audio, size and duration limits, the owner's
storage quota), the same content-addressed store. Routers call these; seed 003's
``/api/audio/upload`` is one.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from audiomill.jobs import service
from audiomill.runtime import Runtime
from audiomill.store.tables import Asset

UPLOAD_KIND = "analyze"  # whose duration limit a stand-alone upload obeys


def store_upload(runtime: Runtime, owner_id: int, upload: service.Upload, filename: str) -> Asset:
    """Stage, check and store one file as the owner's asset named ``filename``."""
    staged, info = service._stage_upload(runtime, upload, UPLOAD_KIND)
    try:
        with runtime.db.session() as session:
            service._check_quota(runtime, session, owner_id, staged.size_bytes)
    except BaseException:
        runtime.blobs.discard(staged)
        raise
    committed = runtime.blobs.commit(staged)
    try:
        with runtime.db.session() as session:
            asset = service._asset_from(staged, info, owner_id, filename)
            session.add(asset)
            session.flush()
            session.refresh(asset)
            session.expunge(asset)
    except BaseException:
        with runtime.db.session() as session:
            service.delete_unreferenced_blobs(runtime, session, [committed])
        raise
    return asset


def newest_asset_named(session: Session, owner_id: int, filename: str) -> Asset | None:
    """The owner's most recent file with this exact name (a re-upload replaces the name,
    as writing the same path did in the seed)."""
    return session.scalar(
        select(Asset)
        .where(Asset.owner_id == owner_id, Asset.filename == filename)
        .order_by(Asset.created_at.desc(), Asset.id.desc())
        .limit(1)
    )
