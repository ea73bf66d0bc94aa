"""B4: Celery throughput with 1, 2 and 4 worker processes on a fixed-cost engine, and the
per-job dispatch overhead (PostgreSQL + Redis, real `audiomill worker` processes).

Scaling ratio = throughput with N workers / throughput with 1; goal ≥ 0.9 × N up to the
core count (beyond it the CPU is the limit, not the dispatch). Dispatch overhead = wall
time per job of a zero-cost job through the whole path (create row, broker, claim,
heartbeat thread, outputs, completion) on one worker.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from audiomill.config import Settings
from audiomill.engines.base import KINDS, KindSpec
from audiomill.jobs import service
from audiomill.jobs.executors.celery_executor import CeleryExecutor
from audiomill.runtime import build_runtime
from audiomill.store.tables import Job
from bench import fixed_cost_engine
from tests.audio_samples import sine, write_wav
from tests.scaleout import (
    REDIS_URL,
    Processes,
    create_database,
    drop_database,
    private_queues,
    require_services,
    settings_env,
    wait_for_workers,
)

KIND = "bench_fixed_cost"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", default="1,2,4", help="worker process counts to compare")
    parser.add_argument("--jobs", type=int, default=24, help="jobs per measurement")
    parser.add_argument("--job-cpu-seconds", type=float, default=0.5, help="CPU cost of each job")
    parser.add_argument("--overhead-jobs", type=int, default=100, help="zero-cost jobs for the overhead")


def _measure(folder: Path, workers: int, jobs: int, job_seconds: float) -> float:
    """Wall seconds from the first submission to the last completion."""
    url = create_database()
    queue = str(private_queues()["default_queue"])
    settings = Settings(
        data_dir=folder / f"data-{workers}-{job_seconds}",
        database_url=url,
        executor="celery",
        broker_url=REDIS_URL,
        events_url=REDIS_URL,
        extra_kinds={KIND: "bench.fixed_cost_engine"},
        worker_concurrency=1,
        torch_threads=1,
        rate_limit_per_minute=0,
        max_active_jobs_per_user=0,
        queue_by_kind={KIND: queue},
        default_queue=queue,
    )
    env = settings_env(settings)
    # One core per job, like torch_threads=1: numpy's BLAS would otherwise use every core
    # from a single worker and hide the scaling being measured.
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    processes = Processes(folder)
    try:
        for index in range(workers):
            processes.worker(env, f"worker-{workers}-{index}")
        runtime = build_runtime(settings)
        wait_for_workers(settings, workers)
        runtime.executor = CeleryExecutor(settings)
        tone = write_wav(folder / "tone.wav", sine(440.0, 0.1, 8000), 8000)
        with runtime.db.session() as session:
            owner = service.ensure_local_user(session).id
        started = time.perf_counter()
        for _ in range(jobs):
            with tone.open("rb") as handle:
                service.create_job(runtime, owner, KIND, {"seconds": job_seconds}, [service.Upload(handle, "tone.wav")])
        while True:
            with runtime.db.session() as session:
                done = session.scalar(select(func.count()).where(Job.status == "completed")) or 0
            if done >= jobs:
                return time.perf_counter() - started
            time.sleep(0.02)
    finally:
        processes.stop_all()
        drop_database(url)


def run(args: argparse.Namespace) -> None:
    require_services("postgres", "redis")
    # This process submits the kind too (the workers load it from AUDIOMILL_EXTRA_KINDS).
    KINDS[KIND] = KindSpec(fixed_cost_engine.Params, fixed_cost_engine.input_names, "bench.fixed_cost_engine")
    counts = [int(n) for n in args.workers.split(",")]
    cores = len(os.sched_getaffinity(0))
    print(f"\n=== B4: Celery throughput by worker processes ({cores} cores, load {os.getloadavg()[0]:.2f}) ===")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        per_job = _measure(folder, 1, args.overhead_jobs, 0.0) / args.overhead_jobs
        print(f"dispatch overhead: {per_job * 1000:.1f} ms per zero-cost job, end to end, 1 worker")
        baseline = None
        print(f"{'workers':>8} {'jobs':>5} {'wall s':>8} {'jobs/s':>8} {'scaling':>8} {'goal':>8}")
        for workers in counts:
            wall = _measure(folder, workers, args.jobs, args.job_cpu_seconds)
            throughput = args.jobs / wall
            baseline = baseline or throughput
            ratio = throughput / baseline
            goal = 0.9 * min(workers, cores)
            verdict = "PASS" if ratio >= goal else "MISS"
            print(f"{workers:>8} {args.jobs:>5} {wall:>8.2f} {throughput:>8.2f} {ratio:>7.2f}x {goal:>6.2f}x {verdict}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    add_arguments(parser)
    run(parser.parse_args())
