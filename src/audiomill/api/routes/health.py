"""/health: is the service up, and on what."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from audiomill import __version__
from audiomill.api.deps import RuntimeDep
from audiomill.api.schemas import HealthPublic

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthPublic)
def health(runtime: RuntimeDep) -> HealthPublic:
    with runtime.db.session() as session:
        session.execute(text("SELECT 1"))
    return HealthPublic(
        status="healthy",
        version=__version__,
        executor=runtime.settings.executor,
        database=runtime.db.engine.dialect.name,
    )
