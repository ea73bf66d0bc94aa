"""What a completed job does to a repository (registered with audiomill.jobs.hooks).

Any job whose params carry ``repo_id``:

- kind ``mixdown``: its ``mix`` output becomes the render of the commit ``commit_id``;
- any other kind (``generate``, ...): its audio outputs become a new commit of that
  repository: each output a stem named after it, except ``mix``, which becomes the
  commit's render (and its only stem when there is nothing else). The parent is
  ``commit_id`` when given, else the head of ``branch`` (default: the default branch);
  the message is the prompt; the job's params are kept as the commit's
  ``generation_params``. The job's result gains ``repo_commit_id``.

The job's owner must (still) be allowed to write to the repository.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from audiomill.errors import InvalidInput
from audiomill.jobs import service as jobs_service
from audiomill.jobs.hooks import on_completed
from audiomill.runtime import Runtime
from audiomill.store.tables import Asset, Job, User
from audiomill.vcs import service
from audiomill.vcs.access import writable_repo

RENDER_OUTPUT = "mix"
MIXDOWN_KIND = "mixdown"


@on_completed
def commit_job_outputs(runtime: Runtime, session: Session, job: Job) -> None:
    params: dict[str, Any] = job.params or {}
    repo_uuid = params.get("repo_id")
    if not repo_uuid:
        return
    owner = session.get(User, job.owner_id)
    assert owner is not None
    repo = writable_repo(session, owner, str(repo_uuid))
    outputs = {
        name: asset for name, asset in jobs_service.output_files(job).items() if asset.duration_seconds is not None
    }
    if job.kind == MIXDOWN_KIND:
        commit = service.commit_in_repo(session, repo, str(params["commit_id"]))
        if RENDER_OUTPUT not in outputs:
            raise InvalidInput(f"mixdown job {job.uuid} has no '{RENDER_OUTPUT}' output")
        service.set_render(session, repo, commit, outputs[RENDER_OUTPUT])
        job.result = {
            **(job.result or {}),
            "repo_commit_id": commit.uuid,
            "render_url": service.render_url(repo, commit),
        }
        return
    stems: list[tuple[service.StemSource, Asset]] = []
    for name, asset in sorted(outputs.items()):
        if name == RENDER_OUTPUT:
            continue
        stem_type = service.check_stem_type(name.removeprefix("stem:"))
        stems.append((service.StemSource(stem_type, asset_id=asset.uuid), asset))
    render = outputs.get(RENDER_OUTPUT)
    if not stems and render is not None:
        stems.append((service.StemSource(RENDER_OUTPUT, asset_id=render.uuid), render))
    if not stems:
        raise InvalidInput(f"job {job.uuid} produced no audio to commit")
    result: dict[str, Any] = job.result or {}
    prompt = str(params.get("prompt") or "").strip()
    meta = service.CommitMeta(
        message=prompt or f"{job.kind} job {job.uuid}",
        bpm=_number(result.get("bpm", params.get("bpm"))),
        key_signature=result.get("key_signature") or params.get("key_signature"),
        generation_params={"kind": job.kind, "job_id": job.uuid, **params},
    )
    outcome = service.commit_to(
        session,
        repo,
        owner,
        meta,
        stems,
        parent_uuid=str(params["commit_id"]) if params.get("commit_id") else None,
        branch=params.get("branch"),
    )
    if render is not None:
        service.set_render(session, repo, outcome.commit, render)
    job.result = {**result, "repo_commit_id": outcome.commit.uuid}


def _number(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
