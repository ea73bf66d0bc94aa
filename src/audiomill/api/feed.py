"""The per-user live feed: every change to a user's jobs, as typed events, to each of that
user's WebSockets (``/api/v1/events``, and seed 001's ``/ws/processing/``).

One hub per API process does the work once, whatever the number of clients: it hears
every job's events on the process's event bus (a tap, not one listener per job), turns each
into the job's public JSON (the same as ``GET /api/v1/jobs/{id}``) once, and hands the
serialized text to that owner's subscriptions. Progress events patch the job as last read
(no database read); status events read the row. Because a job may run where this process
hears nothing (another API process, a Celery worker without Redis events), the hub also
reads the rows its subscribers' jobs changed in since its last look, every second, and
notices rows that disappeared (deleted elsewhere, expired).

The hub lives in its own thread (it reads the database there, never on an event loop) and
only while someone listens; each subscription belongs to its WebSocket's event loop.

A client that falls behind gets the newest state of each job: waiting progress events of
a job are replaced by newer ones, status events never are; one that falls far behind is
closed (1013) and should reconnect and re-list.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import select

from audiomill.api.schemas import JobPublic, eta_from, job_public
from audiomill.errors import NotFound
from audiomill.jobs import reads
from audiomill.jobs.events import JobEvent
from audiomill.jobs.states import JobStatus
from audiomill.runtime import Runtime
from audiomill.store.tables import Job, utc_now

log = logging.getLogger(__name__)

FeedEventType = Literal[
    "job.created", "job.started", "job.progress", "job.completed", "job.failed", "job.cancelled", "job.deleted"
]


class JobFeedEvent(BaseModel):
    """One message of ``/api/v1/events``: what happened, and the job as it is now."""

    type: FeedEventType = Field(
        description="job.created (queued), job.started (a worker took it), job.progress (progress, stage or a "
        "requeue), job.completed / job.failed / job.cancelled (its end), job.deleted (gone: `job` is as last seen)"
    )
    job: JobPublic = Field(description="the same JSON as GET /api/v1/jobs/{id}")


class ProcessingUpdate(JobFeedEvent):
    """One message of seed 001's ``/ws/processing/``: the same event, with the integer id
    that seed's ``/api/<service>/files/<file_id>/status/`` routes take."""

    file_id: int = Field(description="the job's integer id (seed 001's file_id)")


_TERMINAL_TYPES: dict[JobStatus, FeedEventType] = {
    JobStatus.completed: "job.completed",
    JobStatus.failed: "job.failed",
    JobStatus.cancelled: "job.cancelled",
}
POLL_INTERVAL_SECONDS = 1.0
# Rows are re-read from a little before the last look: clocks of other machines writing
# updated_at may lag ours. A row seen twice is sent once (unchanged rows are not news).
POLL_OVERLAP_SECONDS = 5.0
DELETION_CHECK_EVERY_POLLS = 5
KNOWN_JOBS = 20_000  # jobs whose owner (and, if watched, last state) the hub remembers
MAX_PENDING_PER_CLIENT = 5_000


def event_type(previous: JobPublic | None, current: JobPublic, hint: str | None = None) -> FeedEventType | None:
    """What changed between two looks at a job; None when nothing worth sending did."""
    status = current.status
    if previous is None:
        if status == JobStatus.pending:
            return "job.created"
        if status == JobStatus.processing:
            return "job.progress" if hint == "progress" or current.progress > 0 else "job.started"
        return _TERMINAL_TYPES[status]
    if _state(previous) == _state(current):
        return None
    if status != previous.status:
        if status == JobStatus.processing:
            return "job.started"
        if status == JobStatus.pending:
            return "job.progress"  # requeued after its worker died: its stage says why
        return _TERMINAL_TYPES[status]
    return "job.progress" if not status.is_terminal else None


def _state(job: JobPublic) -> tuple[Any, ...]:
    return (job.status.value, job.progress, job.stage, job.error, job.attempts)


def _row_state(status: str, progress: float, stage: str, error: str | None, attempts: int) -> tuple[Any, ...]:
    return (status, round(progress, 1), stage, error, attempts)


class Subscription:
    """One WebSocket's waiting events; lives on that socket's event loop."""

    def __init__(self, owner_id: int, loop: asyncio.AbstractEventLoop, with_file_id: bool) -> None:
        self.owner_id = owner_id
        self.loop = loop
        self.with_file_id = with_file_id
        self.overflowed = False
        self._ready = asyncio.Event()
        # Keyed so that a job's waiting progress event is replaced by its next one, while
        # a status event (and the progress after it) always gets a new place in line.
        self._pending: dict[tuple[str, int, bool], str] = {}
        self._generation: dict[str, int] = {}

    def offer(self, items: Sequence[tuple[str, bool, str]]) -> None:
        """(job uuid, is a progress event, text) in order; called on ``self.loop``."""
        for job_uuid, is_progress, text in items:
            generation = self._generation.get(job_uuid, 0)
            if not is_progress:
                generation = self._generation[job_uuid] = generation + 1
            self._pending[(job_uuid, generation, is_progress)] = text
        if len(self._pending) > MAX_PENDING_PER_CLIENT:
            self.overflowed = True
        self._ready.set()

    async def next_batch(self) -> list[str]:
        await self._ready.wait()
        self._ready.clear()
        texts = list(self._pending.values())
        self._pending.clear()
        self._generation.clear()
        return texts


@dataclass
class _Known:
    owner_id: int
    job_id: int
    snapshot: JobPublic | None = None  # kept while the owner has subscribers


@dataclass(frozen=True)
class _Outgoing:
    owner_id: int
    job_id: int
    event: JobFeedEvent

    def text(self, with_file_id: bool) -> str:
        if with_file_id:
            return ProcessingUpdate(type=self.event.type, job=self.event.job, file_id=self.job_id).model_dump_json()
        return self.event.model_dump_json()


class FeedHub:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._lock = threading.Lock()
        self._subscriptions: dict[int, set[Subscription]] = defaultdict(set)
        self._inbox: queue.SimpleQueue[tuple[str, JobEvent]] = queue.SimpleQueue()
        self._known: OrderedDict[str, _Known] = OrderedDict()
        self._thread: threading.Thread | None = None
        self._started_at = self._polled_at = utc_now()
        self._polls = 0

    # -- on the WebSockets' event loops ---------------------------------------------------

    def subscribe(self, owner_id: int, with_file_id: bool = False) -> Subscription:
        subscription = Subscription(owner_id, asyncio.get_running_loop(), with_file_id)
        with self._lock:
            self._subscriptions[owner_id].add(subscription)
            if self._thread is None:
                self._runtime.events.add_tap(self._tap)
                self._started_at = self._polled_at = utc_now()
                self._thread = threading.Thread(target=self._run, name="audiomill-feed", daemon=True)
                self._thread.start()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            subscriptions = self._subscriptions.get(subscription.owner_id)
            if subscriptions is not None:
                subscriptions.discard(subscription)
                if not subscriptions:
                    del self._subscriptions[subscription.owner_id]

    # -- in the publishers' threads ----------------------------------------------------------

    def _tap(self, job_uuid: str, event: JobEvent) -> None:
        self._inbox.put((job_uuid, event))

    # -- in the hub's thread -----------------------------------------------------------------

    def _run(self) -> None:
        next_poll = time.monotonic() + POLL_INTERVAL_SECONDS
        while True:
            with self._lock:
                if not self._subscriptions:  # nobody listens: stop until someone does
                    self._thread = None
                    self._runtime.events.remove_tap(self._tap)
                    self._known.clear()  # what it last saw goes stale while nobody listens
                    return
            heard = self._take(max(0.0, next_poll - time.monotonic()))
            try:
                outgoing = self._from_bus(heard) if heard else []
                if time.monotonic() >= next_poll:
                    next_poll = time.monotonic() + POLL_INTERVAL_SECONDS
                    outgoing += self._poll()
                self._deliver(outgoing)
            except Exception:  # the database is briefly away: the next look catches up
                log.exception("live feed: reading job changes failed; trying again")
                time.sleep(POLL_INTERVAL_SECONDS)

    def _take(self, timeout_seconds: float) -> list[tuple[str, JobEvent]]:
        try:
            heard = [self._inbox.get(timeout=timeout_seconds)]
        except queue.Empty:
            return []
        while True:
            try:
                heard.append(self._inbox.get_nowait())
            except queue.Empty:
                return heard

    def _watched(self, owner_id: int) -> bool:
        with self._lock:
            return owner_id in self._subscriptions

    def _from_bus(self, heard: Sequence[tuple[str, JobEvent]]) -> list[_Outgoing]:
        by_job: dict[str, list[JobEvent]] = {}
        for job_uuid, event in heard:
            by_job.setdefault(job_uuid, []).append(event)
        outgoing: list[_Outgoing] = []
        to_read: list[tuple[str, str | None]] = []
        for job_uuid, events in by_job.items():
            deleted = next((e for e in events if e.get("type") == "deleted"), None)
            if deleted is not None:
                outgoing.extend(self._deleted(job_uuid, deleted))
                continue
            known = self._known.get(job_uuid)
            if known is not None and not self._watched(known.owner_id):
                continue
            last = events[-1]
            if all(e.get("type") == "progress" for e in events) and known is not None and known.snapshot is not None:
                patched = self._patched(known, last)
                if patched is not None:
                    outgoing.append(patched)
                    continue
            to_read.append((job_uuid, str(last.get("type"))))
        outgoing += self._read(to_read)
        return outgoing

    def _patched(self, known: _Known, event: JobEvent) -> _Outgoing | None:
        """A progress event applied to the job as last read, with no database read."""
        snapshot = known.snapshot
        if snapshot is None or snapshot.status != JobStatus.processing or event.get("status") != "processing":
            return None
        progress = round(float(event.get("progress", snapshot.progress)), 1)
        stage = str(event.get("stage", snapshot.stage))
        if (progress, stage) == (snapshot.progress, snapshot.stage):
            return None
        eta = eta_from(JobStatus.processing, snapshot.started_at, progress)
        known.snapshot = snapshot.model_copy(update={"progress": progress, "stage": stage, "eta_seconds": eta})
        return _Outgoing(known.owner_id, known.job_id, JobFeedEvent(type="job.progress", job=known.snapshot))

    def _read(self, jobs: Iterable[tuple[str, str | None]]) -> list[_Outgoing]:
        jobs = list(jobs)
        if not jobs:
            return []
        outgoing: list[_Outgoing] = []
        with self._runtime.db.session() as session:
            for job_uuid, hint in jobs:
                try:
                    view = reads.get_job(session, None, job_uuid)
                except NotFound:
                    outgoing.extend(self._deleted(job_uuid, None))
                    continue
                change = self._observe(view, hint)
                if change is not None:
                    outgoing.append(change)
        return outgoing

    def _observe(self, view: reads.JobView, hint: str | None) -> _Outgoing | None:
        known = self._known.get(view.uuid)
        if known is None:
            known = self._remember(view.uuid, _Known(view.owner_id, view.id))
        else:
            self._known.move_to_end(view.uuid)
        if not self._watched(view.owner_id):
            known.snapshot = None
            return None
        current = job_public(view)  # type: ignore[arg-type]  # a JobView reads like a Job
        kind = event_type(known.snapshot, current, hint)
        known.snapshot = current
        return None if kind is None else _Outgoing(view.owner_id, view.id, JobFeedEvent(type=kind, job=current))

    def _remember(self, job_uuid: str, known: _Known) -> _Known:
        self._known[job_uuid] = known
        while len(self._known) > KNOWN_JOBS:
            self._known.popitem(last=False)
        return known

    def _deleted(self, job_uuid: str, event: JobEvent | None) -> list[_Outgoing]:
        known = self._known.pop(job_uuid, None)
        owner_id = known.owner_id if known is not None else (event or {}).get("owner_id")
        if not isinstance(owner_id, int) or not self._watched(owner_id):
            return []
        snapshot = known.snapshot if known is not None else None
        if snapshot is None:
            if event is None:
                return []
            snapshot = _as_last_seen(job_uuid, event)
        job_id = known.job_id if known is not None else int(event.get("file_id", 0) if event else 0)
        return [_Outgoing(owner_id, job_id, JobFeedEvent(type="job.deleted", job=snapshot))]

    def _poll(self) -> list[_Outgoing]:
        """Changes the bus did not bring: jobs run or deleted where this process hears nothing."""
        with self._lock:
            owners = list(self._subscriptions)
        if not owners:
            return []
        started = utc_now()
        since = self._polled_at - timedelta(seconds=POLL_OVERLAP_SECONDS)
        self._polls += 1
        with self._runtime.db.session() as session:
            rows = session.execute(
                select(Job.uuid, Job.status, Job.progress, Job.stage, Job.error, Job.attempts, Job.updated_at).where(
                    Job.owner_id.in_(owners), Job.updated_at >= since
                )
            ).all()
            missing: list[str] = []
            if self._polls % DELETION_CHECK_EVERY_POLLS == 0:
                missing = self._missing(session, set(owners))
        self._polled_at = started
        changed: list[tuple[str, str | None]] = []
        for row in rows:
            known = self._known.get(row.uuid)
            snapshot = known.snapshot if known is not None else None
            if snapshot is None and _utc(row.updated_at) < self._started_at:
                continue  # changed before anyone listened here: not news (the client lists jobs)
            if snapshot is None or _state(snapshot) != _row_state(
                row.status, row.progress, row.stage, row.error, row.attempts
            ):
                changed.append((row.uuid, None))
        outgoing = self._read(changed)
        for job_uuid in missing:
            outgoing.extend(self._deleted(job_uuid, None))
        return outgoing

    def _missing(self, session: Any, owners: set[int]) -> list[str]:
        watched = [job_uuid for job_uuid, known in self._known.items() if known.owner_id in owners and known.snapshot]
        present: set[str] = set()
        for start in range(0, len(watched), 500):
            chunk = watched[start : start + 500]
            present.update(session.scalars(select(Job.uuid).where(Job.uuid.in_(chunk))))
        return [job_uuid for job_uuid in watched if job_uuid not in present]

    def _deliver(self, outgoing: Sequence[_Outgoing]) -> None:
        if not outgoing:
            return
        by_owner: dict[int, list[_Outgoing]] = defaultdict(list)
        for item in outgoing:
            by_owner[item.owner_id].append(item)
        for owner_id, items in by_owner.items():
            with self._lock:
                subscriptions = list(self._subscriptions.get(owner_id, ()))
            texts: dict[bool, list[tuple[str, bool, str]]] = {}
            for subscription in subscriptions:
                flavour = subscription.with_file_id
                if flavour not in texts:  # serialized once per event, not once per client
                    texts[flavour] = [(i.event.job.id, i.event.type == "job.progress", i.text(flavour)) for i in items]
                try:
                    subscription.loop.call_soon_threadsafe(subscription.offer, texts[flavour])
                except RuntimeError:  # its loop has closed: the client is gone
                    self.unsubscribe(subscription)


def _as_last_seen(job_uuid: str, event: JobEvent) -> JobPublic:
    """A deleted job this process never read: what its deletion event says of it."""
    created = event.get("created_at")
    return JobPublic(
        id=job_uuid,
        kind=str(event.get("kind", "")),
        status=JobStatus(event.get("status", JobStatus.cancelled.value)),
        progress=float(event.get("progress", 0.0)),
        stage=str(event.get("stage", "")),
        eta_seconds=None,
        params={},
        result={},
        error=event.get("error"),
        attempts=0,
        created_at=_utc(datetime.fromisoformat(created)) if isinstance(created, str) else datetime.now(UTC),
        started_at=None,
        finished_at=None,
        inputs=[],
        outputs=[],
        archive_url=None,
    )


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite's are naive UTC


_hub_lock = threading.Lock()


def feed_hub(state: Any) -> FeedHub:
    """The app's hub (``app.state``), made on first use."""
    with _hub_lock:
        hub: FeedHub | None = getattr(state, "feed_hub", None)
        if hub is None:
            hub = state.feed_hub = FeedHub(state.runtime)
        return hub
