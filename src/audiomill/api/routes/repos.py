"""/api/v1/repos: music projects under version control (see audiomill.vcs).

Translation only: request models in, service calls, response models out. Private
repositories answer 404 to others; writes by anyone but the owner and collaborators 403.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Query, Response, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from audiomill.api.deps import CurrentUser, RuntimeDep, SessionDep
from audiomill.api.files import file_response
from audiomill.api.routes.media import media_url
from audiomill.api.schemas import JobPublic, as_utc, job_public
from audiomill.jobs import service as jobs_service
from audiomill.store.tables import Asset, Branch, Commit, Repository, Stem, Tag
from audiomill.vcs import compare, service
from audiomill.vcs.diff import AudioChange
from audiomill.vcs.mixdown import submit_mixdown
from audiomill.vcs.removal import delete_repo as remove_repo

router = APIRouter(prefix="/api/v1/repos", tags=["repositories"])

ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "Not allowed: only the owner and collaborators write; owner_id must be yours"},
    404: {"description": "No such repository, commit, branch or tag (or a private one not yours)"},
    409: {"description": "Conflicting state (branch exists, branch not at the parent, merge conflict)"},
    422: {"description": "Invalid request"},
}


# ------------------------------------------------------------------------------------
# shapes


class RepoCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    is_public: bool = False
    genre: str = Field(default="", max_length=100)
    owner_id: str | None = Field(default=None, description="user uuid to create it for (admins only); default: you")


class RepoPublic(BaseModel):
    id: str
    name: str
    description: str
    is_public: bool
    genre: str
    owner_id: str
    owner: str
    default_branch: str
    forked_from: str | None
    created_at: datetime


class ReposPublic(BaseModel):
    data: list[RepoPublic]
    count: int


class ForkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    owner_id: str | None = Field(default=None, description="user uuid to fork for (admins only); default: you")


class StemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str = Field(min_length=1, max_length=64, description="drums, bass, vocals, melody, other or a custom name")
    url: str | None = Field(default=None, max_length=2000, description="a file URL this service handed you")
    asset_id: str | None = Field(default=None, max_length=36, description="an asset id (e.g. from /uploads)")
    generation_params: dict[str, Any] | None = None


class CommitCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Field(default="", max_length=10_000)
    parent_commit_id: str | None = Field(default=None, description="default: the branch's head")
    branch: str | None = Field(default=None, description="branch to commit on; default: the default branch")
    bpm: float | None = Field(default=None, ge=1, le=999)
    key_signature: str | None = Field(default=None, max_length=50)
    generation_params: dict[str, Any] | None = None
    stems: list[StemIn] = Field(default_factory=list, max_length=64)
    remove_stems: list[str] = Field(default_factory=list, max_length=64)
    inherit_stems: bool = Field(default=True, description="start from the parent's stems")


class StemPublic(BaseModel):
    type: str
    url: str
    asset_id: str
    sha256: str
    duration: float | None
    file_size: int
    generation_params: dict[str, Any] | None


class CommitPublic(BaseModel):
    id: str
    repo_id: str
    parent_id: str | None
    merge_parent_id: str | None
    message: str
    bpm: float | None
    key_signature: str | None
    generation_params: dict[str, Any] | None
    render_url: str | None
    created_at: datetime
    stems: list[StemPublic]
    branch: str | None = Field(default=None, description="on creation: the branch the commit moved")


class CommitSummary(BaseModel):
    id: str
    parent_id: str | None
    merge_parent_id: str | None
    message: str
    bpm: float | None
    key_signature: str | None
    created_at: datetime


class HistoryPublic(BaseModel):
    repo_id: str
    data: list[CommitSummary]
    count: int
    root: str | None


class BranchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    from_commit: str | None = None
    from_branch: str | None = None


class BranchPublic(BaseModel):
    name: str
    head_commit_id: str | None
    is_default: bool


class BranchesPublic(BaseModel):
    data: list[BranchPublic]
    count: int


class TagCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    commit_id: str | None = Field(default=None, description="default: the default branch's head")
    message: str = Field(default="", max_length=10_000)


class TagPublic(BaseModel):
    name: str
    commit_id: str
    message: str
    created_at: datetime


class TagsPublic(BaseModel):
    data: list[TagPublic]
    count: int


class RevertCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    branch: str | None = None
    message: str | None = Field(default=None, max_length=10_000)


class RevertPublic(CommitPublic):
    restored_stems: list[str]


Side = Literal["source", "target", "base"]


class MergeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str = Field(description="branch merged in")
    target: str | None = Field(default=None, description="branch merged into; default: the default branch")
    resolutions: dict[str, Side] = Field(default_factory=dict, description="per conflicted stem: which side to keep")
    message: str | None = Field(default=None, max_length=10_000)


class MergePublic(BaseModel):
    status: Literal["merged", "fast_forward", "up_to_date"]
    head_commit_id: str
    base_commit_id: str | None
    taken: dict[str, str]


class TimeRangePublic(BaseModel):
    start_seconds: float
    end_seconds: float


class ChangePublic(BaseModel):
    loudness_a_lufs: float | None
    loudness_b_lufs: float | None
    loudness_change_db: float | None
    duration_a_seconds: float
    duration_b_seconds: float
    length_change_seconds: float
    differing_ranges: list[TimeRangePublic]
    differing_seconds: float


class StemDiffPublic(BaseModel):
    type: str
    status: Literal["added", "removed", "unchanged", "changed"]
    a: StemPublic | None
    b: StemPublic | None
    change: ChangePublic | None


class VersionPublic(BaseModel):
    commit_id: str
    message: str
    render_url: str | None


class DiffPublic(BaseModel):
    repo_id: str
    a: VersionPublic
    b: VersionPublic
    stems: list[StemDiffPublic]


class UploadPublic(BaseModel):
    asset_id: str
    url: str
    filename: str
    sha256: str
    size_bytes: int
    duration_seconds: float | None


class MixdownCreate(BaseModel):
    """Any mixdown parameter except repo_id/commit_id/stems, which come from the commit."""

    model_config = ConfigDict(extra="allow")


class CollaboratorPublic(BaseModel):
    username: str
    user_id: str


# ------------------------------------------------------------------------------------
# presenters


def _when(moment: datetime) -> datetime:
    return as_utc(moment) or moment


def repo_public(session: Session, repo: Repository) -> RepoPublic:
    owner = service.owner_of(session, repo)
    origin = session.get(Repository, repo.forked_from_id) if repo.forked_from_id else None
    return RepoPublic(
        id=repo.uuid,
        name=repo.name,
        description=repo.description,
        is_public=repo.is_public,
        genre=repo.genre,
        owner_id=owner.uuid,
        owner=owner.username,
        default_branch=repo.default_branch,
        forked_from=origin.uuid if origin else None,
        created_at=_when(repo.created_at),
    )


def stem_public(repo: Repository, commit: Commit, stem: Stem) -> StemPublic:
    return StemPublic(
        type=stem.stem_type,
        url=service.stem_url(repo, commit, stem.stem_type),
        asset_id=stem.asset.uuid,
        sha256=stem.asset.sha256,
        duration=stem.duration_seconds,
        file_size=stem.file_size,
        generation_params=stem.generation_params,
    )


def _uuid_of(session: Session, commit_id: int | None) -> str | None:
    if commit_id is None:
        return None
    commit = session.get(Commit, commit_id)
    return commit.uuid if commit else None


def commit_public(session: Session, repo: Repository, commit: Commit, branch: str | None = None) -> CommitPublic:
    return CommitPublic(
        id=commit.uuid,
        repo_id=repo.uuid,
        parent_id=_uuid_of(session, commit.parent_id),
        merge_parent_id=_uuid_of(session, commit.merge_parent_id),
        message=commit.message,
        bpm=commit.bpm,
        key_signature=commit.key_signature,
        generation_params=commit.generation_params,
        render_url=service.render_url(repo, commit),
        created_at=_when(commit.created_at),
        stems=[stem_public(repo, commit, s) for s in commit.stems],
        branch=branch,
    )


def _change_public(change: AudioChange | None) -> ChangePublic | None:
    if change is None:
        return None
    return ChangePublic(
        loudness_a_lufs=change.loudness_a_lufs,
        loudness_b_lufs=change.loudness_b_lufs,
        loudness_change_db=change.loudness_change_db,
        duration_a_seconds=change.duration_a_seconds,
        duration_b_seconds=change.duration_b_seconds,
        length_change_seconds=change.length_change_seconds,
        differing_ranges=[
            TimeRangePublic(start_seconds=r.start_seconds, end_seconds=r.end_seconds) for r in change.differing_ranges
        ],
        differing_seconds=change.differing_seconds,
    )


def _stem_or_none(repo: Repository, commit: Commit, stem: Stem | None) -> StemPublic | None:
    return stem_public(repo, commit, stem) if stem is not None else None


def _asset_public(
    repo: Repository, commit: Commit | None, stem_type: str, asset: Asset | None
) -> dict[str, Any] | None:
    if asset is None or commit is None:
        return None
    return {"sha256": asset.sha256, "url": service.stem_url(repo, commit, stem_type)}


# ------------------------------------------------------------------------------------
# repositories


@router.post("", status_code=201, response_model=RepoPublic, responses=ERRORS)
def create_repo(body: RepoCreate, user: CurrentUser, session: SessionDep) -> RepoPublic:
    repo = service.create_repo(session, user, body.name, body.description, body.is_public, body.genre, body.owner_id)
    return repo_public(session, repo)


@router.get("", response_model=ReposPublic)
def list_repos(
    user: CurrentUser,
    session: SessionDep,
    include_public: Annotated[bool, Query(description="also list others' public repositories")] = False,
) -> ReposPublic:
    repos = service.list_repos(session, user, include_public)
    return ReposPublic(data=[repo_public(session, r) for r in repos], count=len(repos))


@router.get("/{repo_id}", response_model=RepoPublic, responses=ERRORS)
def get_repo(repo_id: str, user: CurrentUser, session: SessionDep) -> RepoPublic:
    return repo_public(session, service.get_repo(session, user, repo_id))


@router.delete("/{repo_id}", status_code=204, responses=ERRORS)
def delete_repo(repo_id: str, runtime: RuntimeDep, user: CurrentUser) -> Response:
    """Delete a repository (owner or admin). Forks keep their whole history; audio that
    nothing else holds is released."""
    remove_repo(runtime, user, repo_id)
    return Response(status_code=204)


@router.post("/{repo_id}/fork", status_code=201, response_model=RepoPublic, responses=ERRORS)
def fork_repo(repo_id: str, body: ForkCreate, user: CurrentUser, session: SessionDep) -> RepoPublic:
    fork = service.fork_repo(session, user, repo_id, body.name, body.owner_id, body.description)
    return repo_public(session, fork)


@router.get("/{repo_id}/collaborators", response_model=list[CollaboratorPublic], responses=ERRORS)
def list_collaborators(repo_id: str, user: CurrentUser, session: SessionDep) -> list[CollaboratorPublic]:
    return [
        CollaboratorPublic(username=u.username, user_id=u.uuid)
        for u in service.list_collaborators(session, user, repo_id)
    ]


@router.put("/{repo_id}/collaborators/{username}", response_model=CollaboratorPublic, responses=ERRORS)
def add_collaborator(repo_id: str, username: str, user: CurrentUser, session: SessionDep) -> CollaboratorPublic:
    added = service.add_collaborator(session, user, repo_id, username)
    return CollaboratorPublic(username=added.username, user_id=added.uuid)


@router.delete("/{repo_id}/collaborators/{username}", status_code=204, responses=ERRORS)
def remove_collaborator(repo_id: str, username: str, user: CurrentUser, session: SessionDep) -> Response:
    service.remove_collaborator(session, user, repo_id, username)
    return Response(status_code=204)


@router.post("/{repo_id}/uploads", status_code=201, response_model=UploadPublic, responses=ERRORS)
def upload_stem_audio(
    repo_id: str,
    runtime: RuntimeDep,
    user: CurrentUser,
    file: Annotated[UploadFile, File(description="an audio file to commit as a stem")],
) -> UploadPublic:
    asset = service.store_upload(runtime, user, repo_id, jobs_service.Upload(stream=file.file, filename=file.filename))
    return UploadPublic(
        asset_id=asset.uuid,
        url=media_url("stems", asset),
        filename=asset.filename,
        sha256=asset.sha256,
        size_bytes=asset.size_bytes,
        duration_seconds=asset.duration_seconds,
    )


# ------------------------------------------------------------------------------------
# commits


def _sources(stems: list[StemIn]) -> list[service.StemSource]:
    return [service.StemSource(s.type, s.url, s.asset_id, s.generation_params) for s in stems]


@router.post("/{repo_id}/commits", status_code=201, response_model=CommitPublic, responses=ERRORS)
def create_commit(repo_id: str, body: CommitCreate, user: CurrentUser, session: SessionDep) -> CommitPublic:
    meta = service.CommitMeta(body.message, body.bpm, body.key_signature, body.generation_params)
    outcome = service.create_commit(
        session,
        user,
        repo_id,
        meta,
        _sources(body.stems),
        body.remove_stems,
        body.parent_commit_id,
        body.branch,
        body.inherit_stems,
    )
    return commit_public(session, outcome.repo, outcome.commit, outcome.branch)


@router.get("/{repo_id}/commits", response_model=HistoryPublic, responses=ERRORS)
def history(
    repo_id: str,
    user: CurrentUser,
    session: SessionDep,
    branch: Annotated[str | None, Query(description="only commits this branch's head reaches")] = None,
) -> HistoryPublic:
    repo, entries = service.history(session, user, repo_id, branch)
    data = [
        CommitSummary(
            id=e.uuid,
            parent_id=e.parent_uuid,
            merge_parent_id=e.merge_parent_uuid,
            message=e.message,
            bpm=e.bpm,
            key_signature=e.key_signature,
            created_at=_when(e.created_at),
        )
        for e in entries
    ]
    return HistoryPublic(repo_id=repo.uuid, data=data, count=len(data), root=data[0].id if data else None)


@router.get("/{repo_id}/commits/{commit_id}", response_model=CommitPublic, responses=ERRORS)
def get_commit(repo_id: str, commit_id: str, user: CurrentUser, session: SessionDep) -> CommitPublic:
    repo, commit = service.get_commit(session, user, repo_id, commit_id)
    return commit_public(session, repo, commit)


@router.get("/{repo_id}/commits/{commit_id}/stems/{stem_type}", response_class=FileResponse, responses=ERRORS)
def stem_audio(
    repo_id: str, commit_id: str, stem_type: str, runtime: RuntimeDep, user: CurrentUser, session: SessionDep
) -> FileResponse:
    return file_response(runtime, service.get_stem(session, user, repo_id, commit_id, stem_type).asset)


@router.get("/{repo_id}/commits/{commit_id}/render", response_class=FileResponse, responses=ERRORS)
def render_audio(
    repo_id: str, commit_id: str, runtime: RuntimeDep, user: CurrentUser, session: SessionDep
) -> FileResponse:
    return file_response(runtime, service.get_render(session, user, repo_id, commit_id))


@router.post("/{repo_id}/commits/{commit_id}/revert", status_code=201, response_model=RevertPublic, responses=ERRORS)
def revert(repo_id: str, commit_id: str, body: RevertCreate, user: CurrentUser, session: SessionDep) -> RevertPublic:
    outcome, restored = service.revert_commit(session, user, repo_id, commit_id, body.branch, body.message)
    public = commit_public(session, outcome.repo, outcome.commit, outcome.branch)
    return RevertPublic(**public.model_dump(), restored_stems=restored)


@router.post("/{repo_id}/commits/{commit_id}/mixdown", status_code=201, response_model=JobPublic, responses=ERRORS)
def mixdown(repo_id: str, commit_id: str, body: MixdownCreate, runtime: RuntimeDep, user: CurrentUser) -> JobPublic:
    job = submit_mixdown(runtime, user, repo_id, commit_id, body.model_dump())
    with runtime.db.session() as session:
        return job_public(jobs_service.get_job(session, user.id, job.uuid))


@router.get("/{repo_id}/diff", response_model=DiffPublic, responses=ERRORS)
def diff(
    repo_id: str,
    runtime: RuntimeDep,
    user: CurrentUser,
    session: SessionDep,
    a: Annotated[str | None, Query(description="commit id, branch or tag (the 'before'); default: b's parent")] = None,
    b: Annotated[
        str | None, Query(description="commit id, branch or tag (the 'after'); default: the default branch")
    ] = None,
) -> DiffPublic:
    result = compare.diff_commits(runtime, session, user, repo_id, a, b)
    repo = result.repo
    return DiffPublic(
        repo_id=repo.uuid,
        a=VersionPublic(
            commit_id=result.a.uuid, message=result.a.message, render_url=service.render_url(repo, result.a)
        ),
        b=VersionPublic(
            commit_id=result.b.uuid, message=result.b.message, render_url=service.render_url(repo, result.b)
        ),
        stems=[
            StemDiffPublic(
                type=d.stem_type,
                status=d.status,
                a=_stem_or_none(repo, result.a, d.a),
                b=_stem_or_none(repo, result.b, d.b),
                change=_change_public(d.change),
            )
            for d in result.stems
        ],
    )


# ------------------------------------------------------------------------------------
# branches, tags, merge


def _branch_public(repo: Repository, ref: Branch, head: Commit | None) -> BranchPublic:
    return BranchPublic(
        name=ref.name, head_commit_id=head.uuid if head else None, is_default=ref.name == repo.default_branch
    )


@router.get("/{repo_id}/branches", response_model=BranchesPublic, responses=ERRORS)
def list_branches(repo_id: str, user: CurrentUser, session: SessionDep) -> BranchesPublic:
    repo, refs = service.list_branches(session, user, repo_id)
    return BranchesPublic(data=[_branch_public(repo, r, h) for r, h in refs], count=len(refs))


@router.post("/{repo_id}/branches", status_code=201, response_model=BranchPublic, responses=ERRORS)
def create_branch(repo_id: str, body: BranchCreate, user: CurrentUser, session: SessionDep) -> BranchPublic:
    repo, ref, head = service.create_branch(session, user, repo_id, body.name, body.from_commit, body.from_branch)
    return _branch_public(repo, ref, head)


@router.delete("/{repo_id}/branches/{name:path}", status_code=204, responses=ERRORS)
def delete_branch(repo_id: str, name: str, user: CurrentUser, session: SessionDep) -> Response:
    service.delete_branch(session, user, repo_id, name)
    return Response(status_code=204)


def _tag_public(tag: Tag, commit: Commit) -> TagPublic:
    return TagPublic(name=tag.name, commit_id=commit.uuid, message=tag.message, created_at=_when(tag.created_at))


@router.get("/{repo_id}/tags", response_model=TagsPublic, responses=ERRORS)
def list_tags(repo_id: str, user: CurrentUser, session: SessionDep) -> TagsPublic:
    _, tags = service.list_tags(session, user, repo_id)
    return TagsPublic(data=[_tag_public(t, c) for t, c in tags], count=len(tags))


@router.post("/{repo_id}/tags", status_code=201, response_model=TagPublic, responses=ERRORS)
def create_tag(repo_id: str, body: TagCreate, user: CurrentUser, session: SessionDep) -> TagPublic:
    _, tag, commit = service.create_tag(session, user, repo_id, body.name, body.commit_id, body.message)
    return _tag_public(tag, commit)


@router.delete("/{repo_id}/tags/{name:path}", status_code=204, responses=ERRORS)
def delete_tag(repo_id: str, name: str, user: CurrentUser, session: SessionDep) -> Response:
    service.delete_tag(session, user, repo_id, name)
    return Response(status_code=204)


@router.post("/{repo_id}/merge", response_model=MergePublic, responses=ERRORS)
def merge(repo_id: str, body: MergeCreate, user: CurrentUser, session: SessionDep) -> MergePublic | JSONResponse:
    try:
        outcome = service.merge_branches(
            session, user, repo_id, body.source, body.target, body.resolutions, body.message
        )
    except service.MergeConflict as conflict:
        repo = service.get_repo(session, user, repo_id)
        conflicts = [
            {
                "type": c.stem_type,
                "base": _asset_public(repo, conflict.base, c.stem_type, c.base),
                "target": _asset_public(repo, conflict.target, c.stem_type, c.target),
                "source": _asset_public(repo, conflict.source, c.stem_type, c.source),
            }
            for c in conflict.conflicts
        ]
        return JSONResponse(status_code=409, content={"detail": conflict.message, "conflicts": conflicts})
    return MergePublic(
        status=outcome.status,
        head_commit_id=outcome.head.uuid,
        base_commit_id=outcome.base.uuid if outcome.base else None,
        taken=outcome.taken,
    )
