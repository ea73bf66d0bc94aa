"""SQLite hands a deleted job's integer id to the next job: a runner still winding down the
deleted job must not end its successor (seen through the page: delete a cancelled job whose
engine was still stopping, submit another, and the new one came out cancelled)."""

from __future__ import annotations

from audiomill.config import Settings
from audiomill.jobs import service, states
from audiomill.jobs.states import JobStatus
from audiomill.runtime import build_runtime
from audiomill.store.tables import Job


def test_a_stale_runner_cannot_end_the_job_that_inherited_its_id(settings: Settings) -> None:
    runtime = build_runtime(settings)
    try:
        with runtime.db.session() as session:
            owner = service.ensure_local_user(session)
            old = Job(kind="boost", owner_id=owner.id, params={}, result={})
            session.add(old)
            session.commit()
            old_id, old_uuid = old.id, old.uuid
            session.delete(old)
            session.commit()
            successor = Job(kind="boost", owner_id=owner.id, params={}, result={})
            session.add(successor)
            session.commit()
            assert successor.id == old_id  # the reuse this test is about
            successor_uuid = successor.uuid

        with runtime.db.session() as session:
            assert not states.cancel(session, old_id, old_uuid)
            assert not states.fail(session, old_id, "stale", "host:1/old-attempt", old_uuid)
            assert not states.complete(session, old_id, {}, "host:1/old-attempt", old_uuid)
            session.commit()
        with runtime.db.session() as session:
            row = session.get(Job, old_id)
            assert row is not None and row.uuid == successor_uuid and row.status == JobStatus.pending.value

        with runtime.db.session() as session:  # the job's own uuid still ends it
            assert states.cancel(session, old_id, successor_uuid)
            session.commit()
    finally:
        runtime.db.dispose()
