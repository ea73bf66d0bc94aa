"""/api/v1/assets: upload a file once, use it in many jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Query, UploadFile
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel

from audiomill.api.deps import CurrentUser, RuntimeDep, SessionDep
from audiomill.api.files import file_response
from audiomill.api.schemas import as_utc
from audiomill.jobs import service
from audiomill.store.tables import Asset

router = APIRouter(prefix="/api/v1/assets", tags=["assets"])

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such asset (or not yours)"},
    413: {"description": "Upload over the size limit"},
    415: {"description": "Neither audio nor an image we can decode"},
}


class AssetPublic(BaseModel):
    id: str
    filename: str
    media_type: str
    size_bytes: int
    sha256: str
    duration_seconds: float | None
    sample_rate: int | None
    channels: int | None
    created_at: datetime
    url: str


class AssetsPublic(BaseModel):
    data: list[AssetPublic]
    count: int


def asset_public(asset: Asset) -> AssetPublic:
    return AssetPublic(
        id=asset.uuid,
        filename=asset.filename,
        media_type=asset.media_type,
        size_bytes=asset.size_bytes,
        sha256=asset.sha256,
        duration_seconds=asset.duration_seconds,
        sample_rate=asset.sample_rate,
        channels=asset.channels,
        created_at=as_utc(asset.created_at),  # type: ignore[arg-type]
        url=f"/api/v1/assets/{asset.uuid}/content",
    )


@router.post("", status_code=201, response_model=AssetPublic, responses=ERRORS)
def upload_asset(
    runtime: RuntimeDep,
    user: CurrentUser,
    file: Annotated[UploadFile, File(description="audio or an image; judged by its content")],
) -> AssetPublic:
    """Store a file for later jobs (`"inputs": {"audio": "<id>"}`). Uploading the same bytes
    again returns the asset you already have."""
    asset = service.upload_asset(runtime, user.id, service.Upload(stream=file.file, filename=file.filename))
    return asset_public(asset)


@router.get("", response_model=AssetsPublic)
def list_assets(
    session: SessionDep,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> AssetsPublic:
    assets, count = service.list_assets(session, user.id, limit, offset)
    return AssetsPublic(data=[asset_public(a) for a in assets], count=count)


@router.get("/{asset_id}", response_model=AssetPublic, responses=ERRORS)
def get_asset(asset_id: str, session: SessionDep, user: CurrentUser) -> AssetPublic:
    return asset_public(service.get_asset(session, user.id, asset_id))


@router.head("/{asset_id}/content", include_in_schema=False)
@router.get("/{asset_id}/content", response_class=FileResponse, responses=ERRORS)
def asset_content(asset_id: str, runtime: RuntimeDep, session: SessionDep, user: CurrentUser) -> FileResponse:
    return file_response(runtime, service.get_asset(session, user.id, asset_id))


@router.delete("/{asset_id}", status_code=204, responses=ERRORS)
def delete_asset(asset_id: str, runtime: RuntimeDep, user: CurrentUser) -> Response:
    service.delete_asset(runtime, user.id, asset_id)
    return Response(status_code=204)
