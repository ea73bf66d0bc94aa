"""Who may see and change a repository.

Private repositories are invisible to everyone but their owner, their collaborators and
admins (NotFound, as if they did not exist); public ones are readable and forkable by any
signed-in user; only the owner, collaborators and admins write. Seed 003's ``owner_id``
must be the caller's own user uuid; admins may name another user.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from audiomill.errors import Forbidden, NotFound
from audiomill.store.tables import RepoCollaborator, Repository, User

WRITE_RULE = "only the repository's owner and the collaborators the owner adds may change it"
OWNER_RULE = (
    "owner_id must be your own user id (the 'uuid' of GET /api/v1/auth/me); only admins may act for other users"
)


def can_write(session: Session, repo: Repository, user: User) -> bool:
    if user.is_admin or repo.owner_id == user.id:
        return True
    return session.get(RepoCollaborator, (repo.id, user.id)) is not None


def can_read(session: Session, repo: Repository, user: User) -> bool:
    return repo.is_public or can_write(session, repo, user)


def repo_by_uuid(session: Session, repo_uuid: str) -> Repository | None:
    return session.scalar(select(Repository).where(Repository.uuid == str(repo_uuid)))


def readable_repo(session: Session, user: User, repo_uuid: str) -> Repository:
    repo = repo_by_uuid(session, repo_uuid)
    if repo is None or not can_read(session, repo, user):
        raise NotFound(f"repository {repo_uuid} not found")
    return repo


def writable_repo(session: Session, user: User, repo_uuid: str) -> Repository:
    repo = readable_repo(session, user, repo_uuid)
    if not can_write(session, repo, user):
        raise Forbidden(f"{WRITE_RULE}; you may fork repository {repo.uuid} and change your fork")
    return repo


def acting_user(session: Session, caller: User, owner_uuid: str | None) -> User:
    """The user a request acts for: the caller, or (admins only) the user ``owner_uuid`` names."""
    if owner_uuid is None or str(owner_uuid) == caller.uuid:
        return session.get(User, caller.id) or caller
    if not caller.is_admin:
        raise Forbidden(OWNER_RULE)
    user = session.scalar(select(User).where(User.uuid == str(owner_uuid)))
    if user is None:
        raise NotFound(f"user {owner_uuid} not found")
    return user
