"""/health: is the service up, and on what."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from audiomill import __version__
from audiomill.api.deps import RuntimeDep, in_session
from audiomill.api.schemas import HealthPublic

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthPublic)
async def health(runtime: RuntimeDep) -> HealthPublic:
    await in_session(runtime, lambda session: session.execute(text("SELECT 1")))
    return HealthPublic(
        status="healthy",
        version=__version__,
        executor=runtime.settings.executor,
        database=runtime.db.engine.dialect.name,
    )
