"""/metrics for Prometheus: read from the database at scrape time, so every API process
reports the whole cluster (jobs run by any worker), not only what it saw itself."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from sqlalchemy import func, select

from audiomill.jobs.states import JobStatus
from audiomill.runtime import Runtime
from audiomill.store.tables import Job, Worker, utc_now

router = APIRouter(tags=["health"])

DURATION_BUCKETS_SECONDS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200)


class JobsCollector:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def collect(self) -> Iterator[Metric]:
        settings = self._runtime.settings
        with self._runtime.db.session() as session:
            counts = session.execute(select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status)).all()
            finished = session.execute(
                select(Job.kind, Job.started_at, Job.finished_at).where(
                    Job.status == JobStatus.completed.value, Job.started_at.is_not(None)
                )
            ).all()
            live_since = utc_now() - timedelta(seconds=settings.worker_silence_seconds)
            workers = session.scalar(select(func.count()).select_from(Worker).where(Worker.heartbeat_at >= live_since))

        jobs = GaugeMetricFamily("audiomill_jobs", "Jobs in the database by kind and status", labels=["kind", "status"])
        depth: dict[str, int] = {}
        for kind, status, count in counts:
            jobs.add_metric([kind, status], count)
            if status == JobStatus.pending.value:
                queue = settings.queue_for(kind)
                depth[queue] = depth.get(queue, 0) + count
        yield jobs

        queue_depth = GaugeMetricFamily("audiomill_queue_depth", "Pending jobs per queue", labels=["queue"])
        for queue, count in sorted(depth.items()):
            queue_depth.add_metric([queue], count)
        yield queue_depth

        # Celery workers heartbeat into the workers table (any process sees them); the
        # local executor's workers live in this process and are counted here
        live = (workers or 0) + self._runtime.live_local_workers()
        yield GaugeMetricFamily(
            "audiomill_workers_live",
            "Workers alive: Celery workers heard from recently plus this process's local workers",
            value=live,
        )
        yield _duration_histogram(finished)


def _duration_histogram(rows) -> HistogramMetricFamily:  # type: ignore[no-untyped-def]
    family = HistogramMetricFamily(
        "audiomill_job_duration_seconds", "Run time of completed jobs (start to finish)", labels=["kind"]
    )
    by_kind: dict[str, list[float]] = {}
    for kind, started, finished in rows:
        by_kind.setdefault(kind, []).append(max(0.0, (finished - started).total_seconds()))
    for kind, durations in sorted(by_kind.items()):
        buckets = [(str(edge), sum(1 for d in durations if d <= edge)) for edge in DURATION_BUCKETS_SECONDS]
        buckets.append(("+Inf", len(durations)))
        family.add_metric([kind], buckets, sum_value=sum(durations))
    return family


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(request: Request) -> Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(JobsCollector(request.app.state.runtime))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
