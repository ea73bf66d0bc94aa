"""Deleting a repository without breaking its forks, and releasing the audio only it held.

A fork owns no copy of the history it inherited: it reads its origin's commits up to its
cut-off (see audiomill.vcs.service). So before the origin goes, the commits its forks
still read are handed over to one of them, the *heir*: the fork with the newest cut-off,
which reads every commit any sibling reads. The other forks then read through the heir
(their cut-offs are unchanged, and the heir's own commits all come after every cut-off,
so no sibling gains a commit), and the heir reads on through the deleted repository's
own origin. Only the commits no fork reads are deleted, with their stems.

An asset those commits used (stem audio, renders) goes when nothing else holds it: no
other stem or render (in any repository), no job, and not a file its owner uploaded on
its own (those stay in the owner's assets until deleted there). Its bytes go when no
asset row names them any more.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select, update

from audiomill.errors import Forbidden
from audiomill.jobs import service as jobs_service
from audiomill.runtime import Runtime
from audiomill.store.tables import Branch, Commit, RepoCollaborator, Repository, Stem, Tag, User
from audiomill.vcs.access import readable_repo

DELETE_RULE = "only the repository's owner (or an admin) may delete it"


@dataclass(frozen=True)
class RepoDeletion:
    repo_id: str
    name: str
    commits_deleted: int
    commits_handed_over: int  # still read by forks: now held by the heir
    heir_id: str | None  # the fork that now holds them
    assets_released: int
    blobs_deleted: int


def delete_repo(runtime: Runtime, caller: User, repo_uuid: str) -> RepoDeletion:
    """Delete a repository the caller owns (admins: any); its forks keep their history."""
    with runtime.db.session() as session:
        repo = readable_repo(session, caller, repo_uuid)
        if not (caller.is_admin or repo.owner_id == caller.id):
            raise Forbidden(f"{DELETE_RULE}; repository {repo.uuid} is not yours")
        repo_id, name = repo.uuid, repo.name
        forks = list(session.scalars(select(Repository).where(Repository.forked_from_id == repo.id)))
        heir: Repository | None = None
        heir_id: str | None = None
        handed_over = 0
        if forks:
            heir = max(forks, key=lambda fork: (fork.forked_at_commit_id or 0, -fork.id))
            cut = heir.forked_at_commit_id or 0
            moved = session.execute(
                update(Commit)
                .where(Commit.repo_id == repo.id, Commit.id <= cut)
                .values(repo_id=heir.id)
                .execution_options(synchronize_session=False)
            )
            handed_over = moved.rowcount  # type: ignore[attr-defined]
            for fork in forks:
                if fork is not heir:
                    fork.forked_from_id = heir.id
            heir.forked_from_id = repo.forked_from_id
            heir.forked_at_commit_id = None if repo.forked_from_id is None else min(cut, repo.forked_at_commit_id or 0)
            session.flush()
            heir_id = heir.uuid
        dropped = list(session.scalars(select(Commit.id).where(Commit.repo_id == repo.id)))
        asset_ids = list(session.scalars(select(Stem.asset_id).where(Stem.commit_id.in_(dropped))))
        asset_ids += [
            asset_id
            for asset_id in session.scalars(select(Commit.render_asset_id).where(Commit.id.in_(dropped)))
            if asset_id is not None
        ]
        for table in (Tag, Branch, RepoCollaborator):
            session.execute(delete(table).where(table.repo_id == repo.id))
        session.execute(delete(Stem).where(Stem.commit_id.in_(dropped)))
        # parents before children is not needed: one statement, checked when it ends
        session.execute(delete(Commit).where(Commit.id.in_(dropped)))
        session.execute(delete(Repository).where(Repository.id == repo.id))
        session.expire_all()
        digests = jobs_service.release_assets(session, asset_ids)
    with runtime.db.session() as session:
        present = {d for d in set(digests) if runtime.blobs.exists(d)}
        jobs_service.delete_unreferenced_blobs(runtime, session, digests)
        blobs_deleted = sum(1 for d in present if not runtime.blobs.exists(d))
    return RepoDeletion(repo_id, name, len(dropped), handed_over, heir_id, len(digests), blobs_deleted)
