"""Seed 003 (BeatFlow): repositories and version control, in its own shapes.

    POST /api/repositories/create?owner_id=…   {name, description, is_public, genre}
    GET  /api/repositories/{repo_id}
    POST /api/vcs/commit/{repo_id}             {parent_commit_id?, message, bpm?, key_signature?,
                                                generation_params?, stems?: [{type, url | asset_id}]}
    GET  /api/vcs/commit/{commit_id}
    GET  /api/vcs/history/{repo_id}
    POST /api/vcs/fork                         original_repo_id, fork_name, owner_id as query
                                                parameters or as a JSON body

Translation only, onto audiomill.vcs (the same service as /api/v1/repos). Where the seed
was careless it is fixed underneath: owner_id must be the caller's own uuid (admins may
name another user), private repositories are invisible to others, only owners write, and
a fork copies no rows of history and no audio.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from audiomill.api.deps import CurrentUser, SessionDep
from audiomill.api.schemas import as_utc
from audiomill.store.tables import Commit, Repository
from audiomill.vcs import service

router = APIRouter(tags=["seed 003: BeatFlow version control"])

# Errors are {"detail": "<what is wrong>"} (422 from request validation: FastAPI's list).
SEED_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "owner_id is not yours, or only the owner and collaborators may write"},
    404: {"description": "No such repository or commit (or a private one not yours)"},
    409: {"description": "Conflicting state"},
    422: {"description": "Invalid request"},
}


def _bpm(value: float | None) -> float | int | None:
    """The seed's bpm is an integer; a whole number comes back as one."""
    return int(value) if value is not None and float(value).is_integer() else value


class RepositoryCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    is_public: bool = False
    genre: str = Field(default="", max_length=100)


class StemRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str = Field(min_length=1, max_length=64)
    url: str | None = Field(default=None, max_length=2000)
    asset_id: str | None = Field(default=None, max_length=36)


class CommitRequest(BaseModel):
    parent_commit_id: str | None = None
    message: str = Field(max_length=10_000)
    bpm: float | None = Field(default=None, ge=1, le=999)
    key_signature: str | None = Field(default=None, max_length=50)
    generation_params: dict[str, Any] | None = None
    stems: list[StemRef] = Field(default_factory=list, max_length=64)


class ForkRequest(BaseModel):
    original_repo_id: str | None = None
    fork_name: str | None = Field(default=None, max_length=200)
    owner_id: str | None = None


def _owner_uuid(session: Session, repo: Repository) -> str:
    return service.owner_of(session, repo).uuid


@router.post("/api/repositories/create", responses=SEED_ERRORS)
def create_repository(
    request: RepositoryCreate,
    user: CurrentUser,
    session: SessionDep,
    owner_id: Annotated[
        str | None, Query(description="your user uuid (GET /api/v1/auth/me); admins may name another")
    ] = None,
) -> dict[str, Any]:
    repo = service.create_repo(
        session, user, request.name, request.description, request.is_public, request.genre, owner_id
    )
    return {
        "id": repo.uuid,
        "name": repo.name,
        "owner_id": _owner_uuid(session, repo),
        "created_at": as_utc(repo.created_at),
    }


@router.get("/api/repositories/{repo_id}", responses=SEED_ERRORS)
def get_repository(repo_id: str, user: CurrentUser, session: SessionDep) -> dict[str, Any]:
    repo = service.get_repo(session, user, repo_id)
    return {
        "id": repo.uuid,
        "name": repo.name,
        "description": repo.description,
        "is_public": repo.is_public,
        "genre": repo.genre,
        "created_at": as_utc(repo.created_at),
        "owner_id": _owner_uuid(session, repo),
    }


def _parent_uuid(session: Session, commit: Commit) -> str | None:
    parent = session.get(Commit, commit.parent_id) if commit.parent_id else None
    return parent.uuid if parent else None


@router.post("/api/vcs/commit/{repo_id}", responses=SEED_ERRORS)
def create_commit(repo_id: str, request: CommitRequest, user: CurrentUser, session: SessionDep) -> dict[str, Any]:
    meta = service.CommitMeta(request.message, request.bpm, request.key_signature, request.generation_params)
    stems = [service.StemSource(s.type, s.url, s.asset_id) for s in request.stems]
    outcome = service.create_commit(session, user, repo_id, meta, stems, parent_uuid=request.parent_commit_id)
    commit = outcome.commit
    return {
        "id": commit.uuid,
        "repo_id": outcome.repo.uuid,
        "parent_commit_id": _parent_uuid(session, commit),
        "message": commit.message,
        "timestamp": as_utc(commit.created_at),
    }


@router.get("/api/vcs/commit/{commit_id}", responses=SEED_ERRORS)
def get_commit(commit_id: str, user: CurrentUser, session: SessionDep) -> dict[str, Any]:
    repo, commit = service.find_commit(session, user, commit_id)
    return {
        "id": commit.uuid,
        "message": commit.message,
        "bpm": _bpm(commit.bpm),
        "key_signature": commit.key_signature,
        "render_url": service.render_url(repo, commit),
        "timestamp": as_utc(commit.created_at),
        "stems": [
            {"type": s.stem_type, "url": service.stem_url(repo, commit, s.stem_type), "duration": s.duration_seconds}
            for s in commit.stems
        ],
    }


@router.get("/api/vcs/history/{repo_id}", responses=SEED_ERRORS)
def get_commit_history(repo_id: str, user: CurrentUser, session: SessionDep) -> dict[str, Any]:
    repo, entries = service.history(session, user, repo_id)
    if not entries:
        return {"commits": [], "root": None}
    commits = [
        {
            "id": e.uuid,
            "parent_id": e.parent_uuid,
            "message": e.message,
            "timestamp": as_utc(e.created_at),
            "bpm": _bpm(e.bpm),
            "key_signature": e.key_signature,
        }
        for e in entries
    ]
    return {"repo_id": repo.uuid, "commits": commits, "root": commits[0]["id"]}


@router.post("/api/vcs/fork", responses=SEED_ERRORS)
def fork_repository(
    user: CurrentUser,
    session: SessionDep,
    original_repo_id: Annotated[str | None, Query()] = None,
    fork_name: Annotated[str | None, Query(max_length=200)] = None,
    owner_id: Annotated[str | None, Query()] = None,
    body: Annotated[ForkRequest | None, Body()] = None,
) -> dict[str, Any]:
    # The seed's code reads query parameters; its documented example sends a JSON body.
    original = original_repo_id or (body.original_repo_id if body else None)
    name = fork_name or (body.fork_name if body else None)
    owner = owner_id or (body.owner_id if body else None)
    missing = [field for field, value in (("original_repo_id", original), ("fork_name", name)) if not value]
    if missing:  # FastAPI's own validation shape, as if the parameter had been declared required
        raise RequestValidationError(
            [
                {
                    "type": "missing",
                    "loc": ("query", field),
                    "input": None,
                    "msg": "Field required (as a query parameter or in the JSON body)",
                }
                for field in missing
            ]
        )
    fork = service.fork_repo(session, user, str(original), str(name), owner)
    return {
        "id": fork.uuid,
        "name": fork.name,
        "owner_id": _owner_uuid(session, fork),
        "description": fork.description,
        "created_at": as_utc(fork.created_at),
    }


__all__ = ["router"]
