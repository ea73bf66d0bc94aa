"""The polled read paths (jobs.reads: Core rows) answer exactly what the ORM paths do."""

from __future__ import annotations

from datetime import timedelta

import pytest

from audiomill.api.compat.demucs_api import seed_job
from audiomill.api.schemas import job_public
from audiomill.config import Settings
from audiomill.errors import NotFound
from audiomill.jobs import reads, service
from audiomill.jobs.states import JobStatus
from audiomill.runtime import build_runtime
from audiomill.store.tables import Asset, Job, JobFile, User, utc_now


def test_views_match_the_orm_and_keep_owners_apart(settings: Settings) -> None:
    runtime = build_runtime(settings)
    with runtime.db.session() as session:
        owner = service.ensure_local_user(session)
        other = User(username="other")
        session.add(other)
        session.flush()
        now = utc_now()
        uuids = []
        for index in range(12):
            kind = "separate" if index % 3 else "boost"
            status = ["completed", "pending", "failed", "processing"][index % 4]
            job = Job(
                kind=kind,
                owner_id=owner.id if index != 5 else other.id,
                status=status,
                progress=50.0,
                params={"n": index},
                result={"r": index},
                created_at=now - timedelta(seconds=index),
                started_at=now - timedelta(seconds=index + 9) if status != "pending" else None,
            )
            session.add(job)
            session.flush()
            for role, name in [("input", "audio")] + ([("output", "vocals"), ("output", "bass")] if index % 2 else []):
                asset = Asset(
                    owner_id=job.owner_id,
                    sha256=f"{index:02d}{name}".ljust(64, "0"),
                    filename=f"{name}.wav",
                    media_type="audio/wav",
                    size_bytes=10,
                    duration_seconds=1.0,
                    sample_rate=8000,
                    channels=1,
                )
                session.add(asset)
                session.flush()
                session.add(JobFile(job_id=job.id, role=role, name=name, asset_id=asset.id))
            uuids.append(job.uuid)
        owner_id, other_id = owner.id, other.id

    with runtime.db.session() as session:
        for index, uuid in enumerate(uuids):
            mine = index != 5
            view = reads.get_job(session, owner_id if mine else other_id, uuid)
            row = service.get_job(session, owner_id if mine else other_id, uuid)
            assert job_public(view) == job_public(row)  # type: ignore[arg-type]
            if row.kind == "separate":
                assert seed_job(view) == seed_job(row)  # type: ignore[arg-type]
            with pytest.raises(NotFound):  # someone else's job is not found
                reads.get_job(session, other_id if mine else owner_id, uuid)
        with pytest.raises(NotFound):  # nor is a job of another kind
            reads.get_job(session, owner_id, uuids[0], ["separate"])
        cases = [
            (owner_id, None, None, 50, 0),
            (owner_id, None, None, 5, 0),
            (owner_id, None, None, 5, 10),
            (owner_id, ["separate"], None, 3, 2),
            (owner_id, None, JobStatus.pending, 50, 0),
            (owner_id, None, None, 50, 100),
            (None, None, None, 50, 0),
            (other_id, None, None, 50, 0),
        ]
        for case in cases:
            views, view_count = reads.list_jobs(session, *case)
            rows, row_count = service.list_jobs(session, *case)
            assert view_count == row_count, case
            assert [job_public(v) for v in views] == [job_public(r) for r in rows], case  # type: ignore[arg-type]
    runtime.db.dispose()
