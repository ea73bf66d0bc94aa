"""Repositories, commits, history, forks, branches, tags, revert and merge.

Routers (``/api/v1/repos``, seed 003's compat router), the CLI and job hooks call these;
they hold no business logic of their own. Every function takes the acting user and checks
access through :mod:`audiomill.vcs.access`.

History without copies: a commit belongs to the repository it was made in; a fork records
its origin and the newest commit id it inherits (ids grow with time). A repository's
history is its own commits plus, up its fork chain, each origin's commits up to the
fork's cut-off: one indexed query, and a fork writes one repository row plus its refs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, NamedTuple
from urllib.parse import unquote, urlsplit

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from audiomill.errors import Conflict, InvalidInput, NotFound, UnsupportedMedia
from audiomill.jobs import service as jobs_service
from audiomill.runtime import Runtime
from audiomill.store.tables import (
    Asset,
    Branch,
    Commit,
    RepoCollaborator,
    Repository,
    Stem,
    Tag,
    User,
)
from audiomill.vcs.access import acting_user, can_read, readable_repo, writable_repo

DEFAULT_BRANCH = "main"
STEM_TYPES = ("drums", "bass", "vocals", "melody", "other")  # plus any custom name
STEM_TYPE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
REF_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$")
_STEM_URL = re.compile(r"^/api/v1/repos/([^/]+)/commits/([^/]+)/stems/([^/]+)$")


# ------------------------------------------------------------------------------------
# URLs a client can play (served by audiomill.api.routes.repos)


def stem_url(repo: Repository, commit: Commit, stem_type: str) -> str:
    return f"/api/v1/repos/{repo.uuid}/commits/{commit.uuid}/stems/{stem_type}"


def render_url(repo: Repository, commit: Commit) -> str | None:
    if commit.render_asset_id is None:
        return None
    return f"/api/v1/repos/{repo.uuid}/commits/{commit.uuid}/render"


# ------------------------------------------------------------------------------------
# names


def check_stem_type(raw: str) -> str:
    name = raw.strip().lower()
    if not STEM_TYPE_PATTERN.match(name):
        raise InvalidInput(
            f"stem type {raw!r}: one of {', '.join(STEM_TYPES)} or a custom name of 1-64 "
            "lowercase letters, digits, '_' or '-'"
        )
    return name


def check_ref_name(raw: str, what: str = "branch") -> str:
    if not REF_NAME_PATTERN.match(raw) or ".." in raw or raw.endswith("/"):
        raise InvalidInput(f"{what} name {raw!r}: 1-100 letters, digits, '.', '_', '-' or '/'")
    return raw


# ------------------------------------------------------------------------------------
# repositories


def create_repo(
    session: Session,
    caller: User,
    name: str,
    description: str = "",
    is_public: bool = False,
    genre: str = "",
    owner_uuid: str | None = None,
) -> Repository:
    owner = acting_user(session, caller, owner_uuid)
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise InvalidInput("repository name: 1-200 characters")
    repo = Repository(
        owner_id=owner.id,
        name=name,
        description=description or "",
        is_public=is_public,
        genre=genre or "",
        default_branch=DEFAULT_BRANCH,
    )
    session.add(repo)
    session.flush()
    session.add(Branch(repo_id=repo.id, name=DEFAULT_BRANCH, head_commit_id=None))
    session.flush()
    return repo


def get_repo(session: Session, caller: User, repo_uuid: str) -> Repository:
    return readable_repo(session, caller, repo_uuid)


def list_repos(session: Session, caller: User, include_public: bool = False) -> list[Repository]:
    """The caller's own repositories and those they collaborate on (+ public ones)."""
    collaborating = select(RepoCollaborator.repo_id).where(RepoCollaborator.user_id == caller.id)
    visible: ColumnElement[bool] = or_(Repository.owner_id == caller.id, Repository.id.in_(collaborating))
    if include_public:
        visible = or_(visible, Repository.is_public.is_(True))
    return list(session.scalars(select(Repository).where(visible).order_by(Repository.id)))


def owner_of(session: Session, repo: Repository) -> User:
    user = session.get(User, repo.owner_id)
    assert user is not None
    return user


def add_collaborator(session: Session, caller: User, repo_uuid: str, username: str) -> User:
    repo = writable_repo(session, caller, repo_uuid)
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"user {username!r} not found")
    if session.get(RepoCollaborator, (repo.id, user.id)) is None and user.id != repo.owner_id:
        session.add(RepoCollaborator(repo_id=repo.id, user_id=user.id))
        session.flush()
    return user


def remove_collaborator(session: Session, caller: User, repo_uuid: str, username: str) -> None:
    repo = writable_repo(session, caller, repo_uuid)
    user = session.scalar(select(User).where(User.username == username))
    row = session.get(RepoCollaborator, (repo.id, user.id)) if user else None
    if row is None:
        raise NotFound(f"{username!r} is not a collaborator of repository {repo.uuid}")
    session.delete(row)
    session.flush()


def list_collaborators(session: Session, caller: User, repo_uuid: str) -> list[User]:
    repo = readable_repo(session, caller, repo_uuid)
    query = select(User).join(RepoCollaborator, RepoCollaborator.user_id == User.id)
    return list(session.scalars(query.where(RepoCollaborator.repo_id == repo.id).order_by(User.username)))


# ------------------------------------------------------------------------------------
# history scope


def history_scope(session: Session, repo: Repository) -> list[tuple[int, int | None]]:
    """(repository id, newest commit id included or None for all) up the fork chain."""
    scope: list[tuple[int, int | None]] = [(repo.id, None)]
    cut: int | None = None
    current = repo
    while current.forked_from_id is not None:
        point = current.forked_at_commit_id or 0
        cut = point if cut is None else min(cut, point)
        origin = session.get(Repository, current.forked_from_id)
        if origin is None:
            break
        scope.append((origin.id, cut))
        current = origin
    return scope


def in_history(session: Session, repo: Repository) -> ColumnElement[bool]:
    return or_(
        *(
            Commit.repo_id == repo_id if cut is None else and_(Commit.repo_id == repo_id, Commit.id <= cut)
            for repo_id, cut in history_scope(session, repo)
        )
    )


def commit_in_repo(session: Session, repo: Repository, commit_uuid: str) -> Commit:
    commit = session.scalar(select(Commit).where(Commit.uuid == str(commit_uuid), in_history(session, repo)))
    if commit is None:
        raise NotFound(f"commit {commit_uuid} not found in repository {repo.uuid}")
    return commit


def find_commit(session: Session, caller: User, commit_uuid: str) -> tuple[Repository, Commit]:
    """A commit by id alone (seed 003): found through the first repository the caller may
    read whose history holds it: the one it was made in, else a fork that inherited it."""
    commit = session.scalar(select(Commit).where(Commit.uuid == str(commit_uuid)))
    if commit is not None:
        frontier = [session.get(Repository, commit.repo_id)]
        while frontier:
            repo = frontier.pop(0)
            if repo is None:
                continue
            if can_read(session, repo, caller):
                return repo, commit
            frontier.extend(
                session.scalars(
                    select(Repository).where(
                        Repository.forked_from_id == repo.id, Repository.forked_at_commit_id >= commit.id
                    )
                )
            )
    raise NotFound(f"commit {commit_uuid} not found")


class HistoryEntry(NamedTuple):
    """One line of a history (a tuple: a history of thousands is built in milliseconds)."""

    id: int
    uuid: str
    parent_uuid: str | None
    merge_parent_uuid: str | None
    message: str
    bpm: float | None
    key_signature: str | None
    created_at: Any


def history(
    session: Session, caller: User, repo_uuid: str, branch: str | None = None
) -> tuple[Repository, list[HistoryEntry]]:
    """Every commit of the repository, oldest first; with ``branch``, only those its head
    reaches (through both parents of merges)."""
    repo = readable_repo(session, caller, repo_uuid)
    rows = session.execute(
        select(
            Commit.id,
            Commit.uuid,
            Commit.parent_id,
            Commit.merge_parent_id,
            Commit.message,
            Commit.bpm,
            Commit.key_signature,
            Commit.created_at,
        )
        .where(in_history(session, repo))
        .order_by(Commit.id)
    ).all()
    plain: list[tuple[Any, ...]] = [tuple(row) for row in rows]  # attribute access on Row costs more than the query
    uuid_of = {row[0]: row[1] for row in plain}
    entries = [
        HistoryEntry(id_, uuid, uuid_of.get(parent), uuid_of.get(merge_parent), message, bpm, key, created_at)
        for id_, uuid, parent, merge_parent, message, bpm, key, created_at in plain
    ]
    if branch is not None:
        head = get_branch(session, repo, branch).head_commit_id
        reached = _ancestors({row[0]: (row[2], row[3]) for row in plain}, head)
        entries = [entry for entry in entries if entry.id in reached]
    return repo, entries


def _parents_map(session: Session, repo: Repository) -> dict[int, tuple[int | None, int | None]]:
    rows = session.execute(
        select(Commit.id, Commit.parent_id, Commit.merge_parent_id).where(in_history(session, repo))
    ).all()
    return {row.id: (row.parent_id, row.merge_parent_id) for row in rows}


def _ancestors(parents: Mapping[int, tuple[int | None, int | None]], start: int | None) -> set[int]:
    """``start`` and every commit it descends from."""
    seen: set[int] = set()
    stack = [start] if start is not None else []
    while stack:
        current = stack.pop()
        if current in seen or current not in parents:
            continue
        seen.add(current)
        stack.extend(p for p in parents[current] if p is not None)
    return seen


# ------------------------------------------------------------------------------------
# commits


@dataclass(frozen=True)
class StemSource:
    """Where a new stem's audio comes from: a URL we handed out, or an asset id."""

    stem_type: str
    url: str | None = None
    asset_id: str | None = None
    generation_params: dict[str, Any] | None = None


@dataclass
class _StemState:
    asset: Asset
    generation_params: dict[str, Any] | None = None


@dataclass(frozen=True)
class CommitMeta:
    message: str = ""
    bpm: float | None = None
    key_signature: str | None = None
    generation_params: dict[str, Any] | None = None


@dataclass(frozen=True)
class CommitOutcome:
    repo: Repository
    commit: Commit
    branch: str | None  # the branch it advanced; None: a commit beside the heads


def load_commit(session: Session, commit_id: int) -> Commit:
    commit = session.get(Commit, commit_id)
    if commit is None:  # foreign keys make this impossible; say so if it ever happens
        raise NotFound(f"commit #{commit_id} is missing")
    return commit


def get_branch(session: Session, repo: Repository, name: str) -> Branch:
    branch = session.scalar(select(Branch).where(Branch.repo_id == repo.id, Branch.name == name))
    if branch is None:
        raise NotFound(f"branch {name!r} not found in repository {repo.uuid}")
    return branch


def resolve_stem_asset(session: Session, caller: User, source: StemSource) -> Asset:
    """The asset a stem points at: one of the caller's assets (by id or by a media URL we
    handed out), or a stem of a commit the caller may read (by its stem URL)."""
    if (source.url is None) == (source.asset_id is None):
        raise InvalidInput(f"stem {source.stem_type!r}: give exactly one of url or asset_id")
    asset: Asset | None
    if source.asset_id is not None:
        asset = session.scalar(select(Asset).where(Asset.uuid == str(source.asset_id), Asset.owner_id == caller.id))
        if asset is None:
            raise NotFound(f"stem {source.stem_type!r}: asset {source.asset_id} not found")
    else:
        assert source.url is not None
        path = unquote(urlsplit(source.url.strip()).path)
        match = _STEM_URL.match(path)
        if match:
            repo = readable_repo(session, caller, match.group(1))
            commit = commit_in_repo(session, repo, match.group(2))
            asset = next((s.asset for s in commit.stems if s.stem_type == match.group(3)), None)
            if asset is None:
                raise NotFound(f"stem {source.stem_type!r}: {source.url} not found")
        else:
            from audiomill.api.routes.media import asset_for_client_path  # the one resolver of handed-out URLs

            try:
                asset = asset_for_client_path(session, caller.id, path)
            except NotFound:
                raise NotFound(f"stem {source.stem_type!r}: {source.url} is not a file we handed out to you") from None
    if asset.duration_seconds is None:
        raise UnsupportedMedia(f"stem {source.stem_type!r}: {asset.filename} is not audio")
    return asset


def _stems_of(commit: Commit | None) -> dict[str, _StemState]:
    if commit is None:
        return {}
    return {s.stem_type: _StemState(s.asset, s.generation_params) for s in commit.stems}


def _write_commit(
    session: Session,
    repo: Repository,
    author: User,
    parent: Commit | None,
    stems: Mapping[str, _StemState],
    meta: CommitMeta,
    merge_parent: Commit | None = None,
) -> Commit:
    commit = Commit(
        repo_id=repo.id,
        parent_id=parent.id if parent else None,
        merge_parent_id=merge_parent.id if merge_parent else None,
        author_id=author.id,
        message=meta.message,
        bpm=meta.bpm,
        key_signature=meta.key_signature,
        generation_params=meta.generation_params,
    )
    commit.stems = [
        Stem(
            stem_type=name,
            asset_id=state.asset.id,
            asset=state.asset,
            duration_seconds=state.asset.duration_seconds,
            file_size=state.asset.size_bytes,
            generation_params=state.generation_params,
        )
        for name, state in sorted(stems.items())
    ]
    session.add(commit)
    session.flush()
    return commit


def create_commit(
    session: Session,
    caller: User,
    repo_uuid: str,
    meta: CommitMeta,
    stems: Sequence[StemSource] = (),
    remove_stems: Sequence[str] = (),
    parent_uuid: str | None = None,
    branch: str | None = None,
    inherit_stems: bool = True,
) -> CommitOutcome:
    """A new commit: the parent's stems (unless ``inherit_stems`` is off) with ``stems``
    put in and ``remove_stems`` taken out.

    Without ``parent_uuid`` it goes on the branch's head (default: the default branch)
    and moves it. With a parent that is that branch's head, likewise. With another parent
    and no branch named it becomes a new line in the tree beside the heads (seed 003's
    "commit with a parent"); naming a branch whose head is elsewhere is a Conflict.
    """
    repo = writable_repo(session, caller, repo_uuid)
    return commit_to(
        session,
        repo,
        caller,
        meta,
        [(s, resolve_stem_asset(session, caller, s)) for s in stems],
        remove_stems,
        parent_uuid,
        branch,
        inherit_stems,
    )


def commit_to(
    session: Session,
    repo: Repository,
    author: User,
    meta: CommitMeta,
    stems: Sequence[tuple[StemSource, Asset]],
    remove_stems: Sequence[str] = (),
    parent_uuid: str | None = None,
    branch: str | None = None,
    inherit_stems: bool = True,
) -> CommitOutcome:
    """create_commit once access is checked and the stems' assets are resolved."""
    ref = _branch_or_none(session, repo, branch)
    if parent_uuid is not None:
        parent: Commit | None = commit_in_repo(session, repo, parent_uuid)
        assert parent is not None
        if ref is not None and ref.head_commit_id != parent.id:
            if branch is not None:
                raise Conflict(
                    f"branch {branch!r} is not at commit {parent_uuid}; commit on its head, or create a "
                    f"branch from {parent_uuid} first"
                )
            ref = None  # a new line in the tree, beside the heads
    else:
        parent = session.get(Commit, ref.head_commit_id) if ref and ref.head_commit_id else None
    state = _stems_of(parent) if inherit_stems else {}
    for name in remove_stems:
        stem_type = check_stem_type(name)
        if state.pop(stem_type, None) is None:
            raise InvalidInput(f"remove_stems: the parent commit has no stem {stem_type!r}")
    seen: set[str] = set()
    for source, asset in stems:
        stem_type = check_stem_type(source.stem_type)
        if stem_type in seen:
            raise InvalidInput(f"stem {stem_type!r} is given twice")
        seen.add(stem_type)
        state[stem_type] = _StemState(asset, source.generation_params)
    if parent is not None:  # tempo and key carry on unless the commit says otherwise
        meta = replace(
            meta,
            bpm=meta.bpm if meta.bpm is not None else parent.bpm,
            key_signature=meta.key_signature if meta.key_signature is not None else parent.key_signature,
        )
    commit = _write_commit(session, repo, author, parent, state, meta)
    if ref is not None:
        advance_branch(session, ref, parent.id if parent else None, commit.id)
    return CommitOutcome(repo, commit, ref.name if ref else None)


def advance_branch(session: Session, ref: Branch, expected_head_id: int | None, new_head_id: int) -> None:
    """Move a branch from the head we built on to the new commit, in one conditional
    UPDATE: if someone moved it meanwhile, Conflict (and the transaction rolls back)
    instead of silently dropping their commit from the branch."""
    current = Branch.head_commit_id.is_(None) if expected_head_id is None else Branch.head_commit_id == expected_head_id
    moved = session.execute(
        update(Branch)
        .where(Branch.id == ref.id, current)
        .values(head_commit_id=new_head_id)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(f"branch {ref.name!r} moved while this change was being made; try again")
    set_committed_value(ref, "head_commit_id", new_head_id)


def _branch_or_none(session: Session, repo: Repository, branch: str | None) -> Branch | None:
    if branch is not None:
        return get_branch(session, repo, branch)
    return session.scalar(select(Branch).where(Branch.repo_id == repo.id, Branch.name == repo.default_branch))


def get_commit(session: Session, caller: User, repo_uuid: str, commit_uuid: str) -> tuple[Repository, Commit]:
    repo = readable_repo(session, caller, repo_uuid)
    return repo, commit_in_repo(session, repo, commit_uuid)


def get_stem(session: Session, caller: User, repo_uuid: str, commit_uuid: str, stem_type: str) -> Stem:
    _, commit = get_commit(session, caller, repo_uuid, commit_uuid)
    stem = next((s for s in commit.stems if s.stem_type == stem_type), None)
    if stem is None:
        raise NotFound(f"commit {commit_uuid} has no stem {stem_type!r}")
    return stem


def get_render(session: Session, caller: User, repo_uuid: str, commit_uuid: str) -> Asset:
    _, commit = get_commit(session, caller, repo_uuid, commit_uuid)
    if commit.render_asset is None:
        raise NotFound(f"commit {commit_uuid} has no render yet: start a mixdown")
    return commit.render_asset


def store_upload(runtime: Runtime, caller: User, repo_uuid: str, upload: jobs_service.Upload) -> Asset:
    """Store an audio file for a later commit of ``repo_uuid`` (writers only); identical
    bytes are stored once."""
    with runtime.db.session() as session:
        writable_repo(session, caller, repo_uuid)
    return jobs_service.upload_asset(runtime, caller.id, upload, media="audio")


def store_stem_audio(runtime: Runtime, session: Session, owner: User, upload: jobs_service.Upload) -> Asset:
    """Store audio that only commits will hold (the CLI's ``repo commit`` and
    ``repo mixdown``), in the caller's transaction: unlike an upload it is not one of the
    owner's files, so deleting the repository releases it. The owner's existing asset of
    the same bytes is reused; the bytes are stored once either way."""
    staged, info = jobs_service._stage_upload(runtime, upload, None, "audio")
    try:
        existing = session.scalar(
            select(Asset).where(Asset.owner_id == owner.id, Asset.sha256 == staged.sha256).order_by(Asset.id).limit(1)
        )
        if existing is not None and existing.duration_seconds is not None:
            runtime.blobs.discard(staged)
            return existing
        jobs_service._check_quota(runtime, session, owner.id, staged.size_bytes)
        runtime.blobs.commit(staged)
    except BaseException:
        runtime.blobs.discard(staged)
        raise
    asset = jobs_service._asset_from(staged, info, owner.id, jobs_service.safe_filename(upload.filename))
    session.add(asset)
    session.flush()
    return asset


# ------------------------------------------------------------------------------------
# forks


def fork_repo(
    session: Session,
    caller: User,
    repo_uuid: str,
    name: str,
    owner_uuid: str | None = None,
    description: str | None = None,
) -> Repository:
    """A new repository sharing ``repo_uuid``'s history so far: one repository row and
    copies of its branch and tag refs; no commit, stem or audio byte is copied."""
    source = readable_repo(session, caller, repo_uuid)
    owner = acting_user(session, caller, owner_uuid)
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise InvalidInput("fork name: 1-200 characters")
    newest = session.scalar(select(func.max(Commit.id)).where(in_history(session, source)))
    fork = Repository(
        owner_id=owner.id,
        name=name,
        description=description if description is not None else f"Fork of {source.name}",
        is_public=source.is_public,
        genre=source.genre,
        default_branch=source.default_branch,
        forked_from_id=source.id,
        forked_at_commit_id=newest or 0,
    )
    session.add(fork)
    session.flush()
    for ref in session.scalars(select(Branch).where(Branch.repo_id == source.id)):
        session.add(Branch(repo_id=fork.id, name=ref.name, head_commit_id=ref.head_commit_id))
    for tag in session.scalars(select(Tag).where(Tag.repo_id == source.id)):
        session.add(Tag(repo_id=fork.id, name=tag.name, commit_id=tag.commit_id, message=tag.message))
    session.flush()
    return fork


# ------------------------------------------------------------------------------------
# branches and tags


def list_branches(
    session: Session, caller: User, repo_uuid: str
) -> tuple[Repository, list[tuple[Branch, Commit | None]]]:
    repo = readable_repo(session, caller, repo_uuid)
    refs = session.scalars(select(Branch).where(Branch.repo_id == repo.id).order_by(Branch.name)).all()
    return repo, [(ref, session.get(Commit, ref.head_commit_id) if ref.head_commit_id else None) for ref in refs]


def create_branch(
    session: Session,
    caller: User,
    repo_uuid: str,
    name: str,
    from_commit: str | None = None,
    from_branch: str | None = None,
) -> tuple[Repository, Branch, Commit | None]:
    repo = writable_repo(session, caller, repo_uuid)
    check_ref_name(name)
    if session.scalar(select(Branch).where(Branch.repo_id == repo.id, Branch.name == name)) is not None:
        raise Conflict(f"branch {name!r} already exists in repository {repo.uuid}")
    if from_commit is not None and from_branch is not None:
        raise InvalidInput("give from_commit or from_branch, not both")
    if from_commit is not None:
        head: Commit | None = commit_in_repo(session, repo, from_commit)
    else:
        base = get_branch(session, repo, from_branch or repo.default_branch)
        head = session.get(Commit, base.head_commit_id) if base.head_commit_id else None
    ref = Branch(repo_id=repo.id, name=name, head_commit_id=head.id if head else None)
    session.add(ref)
    session.flush()
    return repo, ref, head


def delete_branch(session: Session, caller: User, repo_uuid: str, name: str) -> None:
    repo = writable_repo(session, caller, repo_uuid)
    ref = get_branch(session, repo, name)
    if name == repo.default_branch:
        raise Conflict(f"branch {name!r} is the repository's default branch and cannot be deleted")
    session.delete(ref)  # its commits stay in the history
    session.flush()


def list_tags(session: Session, caller: User, repo_uuid: str) -> tuple[Repository, list[tuple[Tag, Commit]]]:
    repo = readable_repo(session, caller, repo_uuid)
    tags = session.scalars(select(Tag).where(Tag.repo_id == repo.id).order_by(Tag.name)).all()
    return repo, [(tag, load_commit(session, tag.commit_id)) for tag in tags]


def create_tag(
    session: Session, caller: User, repo_uuid: str, name: str, commit_uuid: str | None = None, message: str = ""
) -> tuple[Repository, Tag, Commit]:
    repo = writable_repo(session, caller, repo_uuid)
    check_ref_name(name, "tag")
    if session.scalar(select(Tag).where(Tag.repo_id == repo.id, Tag.name == name)) is not None:
        raise Conflict(f"tag {name!r} already exists in repository {repo.uuid}")
    if commit_uuid is not None:
        commit = commit_in_repo(session, repo, commit_uuid)
    else:
        ref = get_branch(session, repo, repo.default_branch)
        if ref.head_commit_id is None:
            raise Conflict("the default branch has no commit to tag yet")
        commit = load_commit(session, ref.head_commit_id)
    tag = Tag(repo_id=repo.id, name=name, commit_id=commit.id, message=message)
    session.add(tag)
    session.flush()
    return repo, tag, commit


def delete_tag(session: Session, caller: User, repo_uuid: str, name: str) -> None:
    repo = writable_repo(session, caller, repo_uuid)
    tag = session.scalar(select(Tag).where(Tag.repo_id == repo.id, Tag.name == name))
    if tag is None:
        raise NotFound(f"tag {name!r} not found in repository {repo.uuid}")
    session.delete(tag)
    session.flush()


def resolve_revision(session: Session, repo: Repository, revision: str) -> Commit:
    """A commit id, a branch name (its head) or a tag name."""
    ref = session.scalar(select(Branch).where(Branch.repo_id == repo.id, Branch.name == revision))
    if ref is not None:
        if ref.head_commit_id is None:
            raise NotFound(f"branch {revision!r} has no commits yet")
        return load_commit(session, ref.head_commit_id)
    tag = session.scalar(select(Tag).where(Tag.repo_id == repo.id, Tag.name == revision))
    if tag is not None:
        return load_commit(session, tag.commit_id)
    return commit_in_repo(session, repo, revision)


# ------------------------------------------------------------------------------------
# revert


def revert_commit(
    session: Session,
    caller: User,
    repo_uuid: str,
    commit_uuid: str,
    branch: str | None = None,
    message: str | None = None,
) -> tuple[CommitOutcome, list[str]]:
    """A new commit on the branch's head that undoes what ``commit_uuid`` did to its
    stems: each stem it changed or removed goes back to its first parent's version, each it
    added goes. Other stems keep the head's version. Returns the restored stem types."""
    repo = writable_repo(session, caller, repo_uuid)
    target = commit_in_repo(session, repo, commit_uuid)
    if target.parent_id is None:
        raise InvalidInput(f"commit {commit_uuid} has no parent whose stems could be restored")
    parent = session.get(Commit, target.parent_id)
    ref = get_branch(session, repo, branch or repo.default_branch)
    head = session.get(Commit, ref.head_commit_id) if ref.head_commit_id else None
    before, after = _stems_of(parent), _stems_of(target)
    state = _stems_of(head)
    touched = sorted(
        name
        for name in set(before) | set(after)
        if (before[name].asset.sha256 if name in before else None)
        != (after[name].asset.sha256 if name in after else None)
    )
    for name in touched:
        if name in before:
            state[name] = before[name]
        else:
            state.pop(name, None)
    meta = CommitMeta(
        message=message or f'Revert "{target.message}"',
        bpm=head.bpm if head else target.bpm,
        key_signature=head.key_signature if head else target.key_signature,
        generation_params={"reverted_commit": target.uuid},
    )
    commit = _write_commit(session, repo, caller, head, state, meta)
    advance_branch(session, ref, head.id if head else None, commit.id)
    return CommitOutcome(repo, commit, ref.name), touched


# ------------------------------------------------------------------------------------
# merge

Side = Literal["source", "target", "base"]


@dataclass(frozen=True)
class StemConflict:
    stem_type: str
    base: Asset | None
    target: Asset | None
    source: Asset | None


class MergeConflict(Conflict):
    """Both branches changed these stems since their common ancestor."""

    def __init__(
        self, message: str, conflicts: list[StemConflict], base: Commit | None, target: Commit, source: Commit
    ) -> None:
        super().__init__(message)
        self.conflicts = conflicts
        self.base, self.target, self.source = base, target, source


@dataclass
class MergeOutcome:
    repo: Repository
    status: Literal["merged", "fast_forward", "up_to_date"]
    head: Commit
    base: Commit | None
    taken: dict[str, str] = field(default_factory=dict)  # stem type -> "source" | "target" | "both" | resolution


def _sha(state: _StemState | None) -> str | None:
    return state.asset.sha256 if state is not None else None


def merge_base(parents: Mapping[int, tuple[int | None, int | None]], a: int, b: int) -> int | None:
    """The newest common ancestor (ids grow with time, so no common ancestor is newer)."""
    common = _ancestors(parents, a) & _ancestors(parents, b)
    return max(common) if common else None


def merge_branches(
    session: Session,
    caller: User,
    repo_uuid: str,
    source: str,
    target: str | None = None,
    resolutions: Mapping[str, Side] | None = None,
    message: str | None = None,
) -> MergeOutcome:
    """Merge branch ``source`` into ``target`` (default branch) stem by stem: a stem only
    one side changed since the common ancestor takes that side; one both changed
    differently is a conflict, which ``resolutions`` settles per stem ("source",
    "target" or "base"); unsettled conflicts raise MergeConflict and change nothing."""
    repo = writable_repo(session, caller, repo_uuid)
    target = target or repo.default_branch
    source_ref, target_ref = get_branch(session, repo, source), get_branch(session, repo, target)
    if source_ref.head_commit_id is None:
        raise Conflict(f"branch {source!r} has no commits to merge")
    source_head = session.get(Commit, source_ref.head_commit_id)
    assert source_head is not None
    if target_ref.head_commit_id is None:
        advance_branch(session, target_ref, None, source_head.id)
        return MergeOutcome(repo, "fast_forward", source_head, None)
    target_head = session.get(Commit, target_ref.head_commit_id)
    assert target_head is not None
    parents = _parents_map(session, repo)
    base_id = merge_base(parents, target_head.id, source_head.id)
    base = session.get(Commit, base_id) if base_id is not None else None
    if base_id == source_head.id:
        return MergeOutcome(repo, "up_to_date", target_head, base)
    if base_id == target_head.id:
        advance_branch(session, target_ref, target_head.id, source_head.id)
        return MergeOutcome(repo, "fast_forward", source_head, base)

    resolutions = dict(resolutions or {})
    base_stems, ours, theirs = _stems_of(base), _stems_of(target_head), _stems_of(source_head)
    merged: dict[str, _StemState] = {}
    taken: dict[str, str] = {}
    conflicts: list[StemConflict] = []
    for name in sorted(set(base_stems) | set(ours) | set(theirs)):
        b, o, t = _sha(base_stems.get(name)), _sha(ours.get(name)), _sha(theirs.get(name))
        if o == t:
            pick, how = ours.get(name), "both"
        elif o == b:
            pick, how = theirs.get(name), "source"
        elif t == b:
            pick, how = ours.get(name), "target"
        elif name in resolutions:
            side = resolutions.pop(name)
            pick = {"source": theirs, "target": ours, "base": base_stems}[side].get(name)
            how = side
        else:
            conflicts.append(
                StemConflict(name, _asset(base_stems.get(name)), _asset(ours.get(name)), _asset(theirs.get(name)))
            )
            continue
        taken[name] = how
        if pick is not None:
            merged[name] = pick
    if resolutions:
        raise InvalidInput(f"resolutions name stems without a conflict: {', '.join(sorted(resolutions))}")
    if conflicts:
        names = ", ".join(c.stem_type for c in conflicts)
        raise MergeConflict(
            f"merge conflict: both {source!r} and {target!r} changed {names} since their common ancestor; "
            "choose a side per stem in 'resolutions' (source, target or base)",
            conflicts,
            base,
            target_head,
            source_head,
        )
    meta = CommitMeta(
        message=message or f"Merge branch '{source}' into '{target}'",
        bpm=target_head.bpm,
        key_signature=target_head.key_signature,
        generation_params={"merged": {"source": source, "target": target, "taken": taken}},
    )
    commit = _write_commit(session, repo, caller, target_head, merged, meta, merge_parent=source_head)
    advance_branch(session, target_ref, target_head.id, commit.id)
    return MergeOutcome(repo, "merged", commit, base, taken)


def _asset(state: _StemState | None) -> Asset | None:
    return state.asset if state else None


# ------------------------------------------------------------------------------------
# used by job hooks


def set_render(session: Session, repo: Repository, commit: Commit, asset: Asset) -> None:
    commit.render_asset_id = asset.id
    session.flush()


def stems_by_type(commit: Commit) -> dict[str, Stem]:
    return {s.stem_type: s for s in commit.stems}


def referenced_asset_ids(session: Session, asset_ids: Iterable[int]) -> set[int]:
    """Those of ``asset_ids`` a stem or a render still points at."""
    ids = list(set(asset_ids))
    if not ids:
        return set()
    used = set(session.scalars(select(Stem.asset_id).where(Stem.asset_id.in_(ids))))
    used |= set(session.scalars(select(Commit.render_asset_id).where(Commit.render_asset_id.in_(ids))))
    return used
