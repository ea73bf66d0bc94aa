"""Diff of two commits, stem by stem, for A/B listening."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy.orm import Session

from audiomill.errors import InvalidInput
from audiomill.runtime import Runtime
from audiomill.store.tables import Commit, Repository, Stem, User
from audiomill.vcs import service
from audiomill.vcs.access import readable_repo
from audiomill.vcs.diff import AudioChange, compare_audio

StemStatus = Literal["added", "removed", "unchanged", "changed"]


@dataclass(frozen=True)
class StemDiff:
    stem_type: str
    status: StemStatus
    a: Stem | None
    b: Stem | None
    change: AudioChange | None  # for "changed" stems only


@dataclass(frozen=True)
class CommitDiff:
    repo: Repository
    a: Commit
    b: Commit
    stems: list[StemDiff]


def diff_commits(
    runtime: Runtime, session: Session, caller: User, repo_uuid: str, a: str | None = None, b: str | None = None
) -> CommitDiff:
    """Per stem of two revisions (commit ids, branch or tag names): added, removed,
    unchanged (same bytes: same sha256) or changed, with what changed measured from the
    audio (loudness, length, the time ranges that differ). ``b`` defaults to the default
    branch's head and ``a`` to ``b``'s first parent: what the last commit changed."""
    repo = readable_repo(session, caller, repo_uuid)
    commit_b = service.resolve_revision(session, repo, b or repo.default_branch)
    if a is not None:
        commit_a = service.resolve_revision(session, repo, a)
    elif commit_b.parent_id is not None:
        commit_a = service.load_commit(session, commit_b.parent_id)
    else:
        raise InvalidInput(f"commit {commit_b.uuid} has no parent: name the revision to compare it with in 'a'")
    stems_a, stems_b = service.stems_by_type(commit_a), service.stems_by_type(commit_b)
    result: list[StemDiff] = []
    for name in sorted(set(stems_a) | set(stems_b)):
        old, new = stems_a.get(name), stems_b.get(name)
        if old is None:
            result.append(StemDiff(name, "added", None, new, None))
        elif new is None:
            result.append(StemDiff(name, "removed", old, None, None))
        elif old.asset.sha256 == new.asset.sha256:
            result.append(StemDiff(name, "unchanged", old, new, None))
        else:
            change = compare_audio(runtime.blobs.path(old.asset.sha256), runtime.blobs.path(new.asset.sha256))
            result.append(StemDiff(name, "changed", old, new, change))
    return CommitDiff(repo, commit_a, commit_b, result)
