"""Runs one job: claim it, feed its inputs to its engine, store its outputs, record the end.

The only caller of the state machine's transitions during a run. Executors (local worker
processes, Celery workers) carry nothing but a job id and call :func:`run_job` in the
process that runs engines: this module imports no torch itself (device selection does,
lazily, in that process), so importing it costs the API process nothing.
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import select

from audiomill import audio
from audiomill.config import Settings
from audiomill.engines.base import Engine, LocalContext, kind_spec
from audiomill.errors import AudiomillError, JobCancelled
from audiomill.jobs import hooks, lifecycle, service, states
from audiomill.jobs.states import JobStatus
from audiomill.kinds import KindSpec
from audiomill.runtime import Runtime
from audiomill.store.tables import Asset, Job, JobFile

log = logging.getLogger(__name__)

PROGRESS_WRITE_INTERVAL_SECONDS = 0.5
CANCEL_CHECK_INTERVAL_SECONDS = 0.5

_setup_lock = threading.Lock()
# Engine modules set up in this process (two kinds may share one engine: separate, vocals).
_set_up_kinds: set[str] = set()


def _ensure_setup(spec: KindSpec) -> Engine:
    """Engines set up once per worker process (models stay warm between jobs)."""
    engine: Engine = importlib.import_module(spec.engine)
    with _setup_lock:
        if spec.engine not in _set_up_kinds:
            engine.setup()
            _set_up_kinds.add(spec.engine)
    return engine


_devices: dict[str | None, str] = {}


def _device(settings: Settings) -> str:
    """The torch device jobs run on, chosen once per worker process. "cpu" needs no torch
    (kinds without torch never import it); anything else asks torch what exists."""
    if settings.device == "cpu":
        return "cpu"
    if settings.device not in _devices:
        from audiomill.engines.torch_runtime import select_device

        _devices[settings.device] = select_device(settings)
    return _devices[settings.device]


WORKER_NAME = f"{socket.gethostname()}:{os.getpid()}"


def new_attempt_token() -> str:
    return f"{WORKER_NAME}/{uuid.uuid4().hex[:12]}"


class RunnerContext(LocalContext[Any]):
    """A LocalContext whose progress and cancellation go through the job's DB row."""

    def __init__(self, runtime: Runtime, job: Job, attempt_token: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._runtime = runtime
        self._job_id = job.id
        self._job_uuid = job.uuid
        self._kind = job.kind
        self._attempt_token = attempt_token
        self._last_write = 0.0
        self._last_stage = ""
        self._last_cancel_check = 0.0
        self._cancelled = False
        self._chosen_device: str | None = None  # LocalContext's "cpu" default is not a choice

    @property
    def device(self) -> str:
        """Chosen when an engine first asks: kinds that never do (boost, denoise) never
        import torch in the worker process."""
        if self._chosen_device is None:
            self._chosen_device = _device(self._runtime.settings)
        return self._chosen_device

    @device.setter
    def device(self, value: str) -> None:
        self._chosen_device = value

    def progress(self, fraction: float, stage: str) -> None:
        now = time.monotonic()
        fraction = min(max(fraction, 0.0), 1.0)
        if stage == self._last_stage and now - self._last_write < PROGRESS_WRITE_INTERVAL_SECONDS:
            return
        if stage != self._last_stage:
            lifecycle.stage(self._job_uuid, self._kind, stage, fraction * 100.0)
        self._last_write, self._last_stage = now, stage
        percent = round(fraction * 100.0, 2)
        with self._runtime.db.session() as session:
            still_running = states.report_progress(session, self._job_id, percent, stage, self._attempt_token)
        if not still_running:
            self._cancelled = True
        self._runtime.events.publish(
            self._job_uuid,
            {"type": "progress", "job_id": self._job_uuid, "status": "processing", "progress": percent, "stage": stage},
        )

    def cancelled(self) -> bool:
        now = time.monotonic()
        if not self._cancelled and now - self._last_cancel_check >= CANCEL_CHECK_INTERVAL_SECONDS:
            self._last_cancel_check = now
            with self._runtime.db.session() as session:
                row = session.execute(
                    select(Job.status, Job.cancel_requested, Job.attempt_token).where(Job.id == self._job_id)
                ).first()
            self._cancelled = (
                row is None
                or row.cancel_requested
                or row.status != JobStatus.processing
                or row.attempt_token != self._attempt_token  # replaced by another attempt
            )
        return self._cancelled

    def stop(self) -> None:
        """Make the engine stop at its next check (the attempt lost the job)."""
        self._cancelled = True


@contextmanager
def heartbeat(runtime: Runtime, ctx: RunnerContext, job_id: int, attempt_token: str) -> Iterator[None]:
    """Beat into the job's row while the engine works, even through long silent stretches
    (model loading), so only a dead worker ever looks silent."""
    done = threading.Event()

    def beat() -> None:
        while not done.wait(runtime.settings.heartbeat_interval_seconds):
            try:
                with runtime.db.session() as session:
                    alive = states.heartbeat(session, job_id, attempt_token)
            except Exception:  # the database is briefly away: try again next beat
                log.warning("heartbeat for job %s failed", job_id, exc_info=True)
                continue
            if not alive:
                ctx.stop()
                return

    thread = threading.Thread(target=beat, name=f"heartbeat-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()


def _work_dir(runtime: Runtime, job: Job, attempt_token: str) -> Path:
    # One folder per attempt: an attempt presumed dead can never write into its successor's.
    return runtime.settings.work_dir / "jobs" / f"{job.uuid}-{attempt_token.rsplit('/', 1)[-1]}"


def run_job(runtime: Runtime, job_id: int, spec: KindSpec | None = None) -> JobStatus | None:
    """Run a job to its end; returns its final status, or None if it was not ours to run.

    ``spec``: the kind as the process that submitted the job knows it (the local executor
    passes it, so a kind registered there at run time runs here the same); None: this
    process's registry."""
    attempt_token = new_attempt_token()
    with runtime.db.session() as session:
        if not states.claim(session, job_id, attempt_token):
            return None
        session.commit()
        job = session.get(Job, job_id)
        assert job is not None
        input_digests = {name: asset.sha256 for name, asset in service.input_files(job).items()}
    runtime.events.publish(job.uuid, service.job_event(job))

    # A redelivered job starts from a clean folder: partial outputs are never mixed in.
    work_dir = _work_dir(runtime, job, attempt_token)
    shutil.rmtree(work_dir, ignore_errors=True)
    ctx = RunnerContext(
        runtime,
        job,
        attempt_token,
        params=None,
        inputs={},
        output_dir=work_dir / "outputs",
        settings=runtime.settings,
    )
    try:
        with heartbeat(runtime, ctx, job_id, attempt_token):
            # Inside the try: a store that cannot deliver an input (S3 down) fails the job
            # with its message instead of leaving it processing.
            spec = spec or kind_spec(job.kind)
            ctx.params = spec.params.model_validate(job.params)
            ctx.inputs = {name: runtime.blobs.path(digest) for name, digest in input_digests.items()}
            _ensure_setup(spec).run(ctx)
            if ctx.cancelled():
                raise JobCancelled()
            final = _finish(runtime, job, ctx, attempt_token)
    except JobCancelled:
        with runtime.db.session() as session:
            states.cancel(session, job_id, job.uuid)  # a no-op when the job was replaced or deleted
        final = JobStatus.cancelled
    except AudiomillError as exc:
        final = _record_failure(runtime, job, exc.message, attempt_token)
    except Exception as exc:  # an engine bug must end the job, not the worker
        log.exception("job %s (%s) crashed", job.uuid, job.kind)
        final = _record_failure(runtime, job, f"internal error: {type(exc).__name__}: {exc}", attempt_token)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    _publish_final(runtime, job_id)
    return final


def _record_failure(runtime: Runtime, job: Job, message: str, attempt_token: str) -> JobStatus:
    with runtime.db.session() as session:
        states.fail(session, job.id, message, attempt_token, job.uuid)
    return JobStatus.failed


def _finish(runtime: Runtime, job: Job, ctx: RunnerContext, attempt_token: str) -> JobStatus:
    """Store the outputs and complete the job in one transaction, or store nothing."""
    staged = {name: (runtime.blobs.stage_file(path), filename) for name, (path, filename) in ctx.outputs.items()}
    old_assets: list[int] = []
    with runtime.db.session() as session:
        if not states.complete(session, job.id, ctx.result, attempt_token, job.uuid):
            session.rollback()  # cancelled or deleted meanwhile: nothing is kept
            return JobStatus.cancelled
        for link in session.scalars(select(JobFile).where(JobFile.job_id == job.id, JobFile.role == "output")):
            old_assets.append(link.asset_id)
            session.delete(link)
        session.flush()
        for name, (file, filename) in staged.items():
            runtime.blobs.commit(file)
            info = _probe_quietly(runtime.blobs.path(file.sha256))
            asset = Asset(
                owner_id=job.owner_id,
                sha256=file.sha256,
                filename=filename,
                media_type=audio.media_type_for(filename),
                size_bytes=file.size_bytes,
                duration_seconds=info.duration_seconds if info else None,
                sample_rate=info.sample_rate if info else None,
                channels=info.channels if info else None,
            )
            session.add(asset)
            session.flush()
            session.add(JobFile(job_id=job.id, role="output", name=name, asset_id=asset.id))
        session.flush()
        completed = session.get(Job, job.id)
        if completed is not None:  # in this transaction: whoever sees "completed" sees what hooks did
            hooks.run_completed(runtime, session, completed)
        digests = service.release_assets(session, old_assets)
    with runtime.db.session() as session:
        service.delete_unreferenced_blobs(runtime, session, digests)
    return JobStatus.completed


def _probe_quietly(path: Path) -> audio.AudioInfo | None:
    try:
        return audio.probe(path)
    except AudiomillError:
        return None  # not audio (e.g. a video or a JSON report): no audio metadata


def _publish_final(runtime: Runtime, job_id: int) -> None:
    with runtime.db.session() as session:
        job = session.get(Job, job_id)
        if job is not None:
            runtime.events.publish(job.uuid, service.job_event(job))
