"""Rendering a commit: a ``mixdown`` job whose inputs are the commit's stem assets.

The job's input files point at the assets the stems already use (named after their stem
types), so starting a render uploads and copies nothing. When the job completes,
audiomill.vcs.hooks makes its output the commit's render.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from audiomill.errors import InvalidInput
from audiomill.jobs import service as jobs_service
from audiomill.jobs import states
from audiomill.runtime import Runtime
from audiomill.store.tables import Job, JobFile, User
from audiomill.vcs import service
from audiomill.vcs.access import writable_repo

KIND = "mixdown"


def submit_mixdown(
    runtime: Runtime, caller: User, repo_uuid: str, revision: str, params: Mapping[str, Any] | None = None
) -> Job:
    """Queue a mixdown of a commit (id, branch or tag) of a repository the caller may write."""
    with runtime.db.session() as session:
        repo = writable_repo(session, caller, repo_uuid)
        commit = service.resolve_revision(session, repo, revision)
        stems = service.stems_by_type(commit)
        if not stems:
            raise InvalidInput(f"commit {commit.uuid} has no stems to mix")
        raw = {**dict(params or {}), "repo_id": repo.uuid, "commit_id": commit.uuid, "stems": sorted(stems)}
        validated = jobs_service.validate_params(KIND, raw)
        jobs_service._check_active_jobs(runtime, session, caller.id)
        job = Job(kind=KIND, owner_id=caller.id, params=validated.model_dump(mode="json"))
        session.add(job)
        session.flush()
        for name, stem in sorted(stems.items()):
            job.files.append(JobFile(role="input", name=name, asset_id=stem.asset_id))
        session.flush()
        session.refresh(job)
        states.created(session, job)  # webhooks hear of it as of any job
    runtime.events.publish(job.uuid, jobs_service.job_event(job))
    runtime.submit(job.id, KIND)
    return job
