"""One peer of B5 (b), run in its own interpreter with that peer's sources first on the
path: time no-op jobs from hand-over to the executor to claimed and to finished.

``python -m bench.b5_dispatch_peer DATA_DIR JOBS WAV`` prints one JSON line.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import sys
import time
from datetime import UTC
from pathlib import Path

WARM_UP_JOBS = 5


def main() -> None:
    data_dir, jobs, wav = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    from audiomill.config import Settings
    from audiomill.jobs import service
    from audiomill.jobs.executors import make_executor
    from audiomill.runtime import build_runtime
    from audiomill.store.tables import Job

    settings = Settings(
        data_dir=data_dir, worker_concurrency=1, device="cpu", rate_limit_per_minute=0, max_active_jobs_per_user=0
    )
    runtime = build_runtime(settings)
    idle = dataclasses.replace(runtime, executor=None)  # writes rows without handing them out
    runtime.executor = make_executor(runtime)
    runtime.executor.start()
    with runtime.db.session() as session:
        owner = service.ensure_local_user(session).id

    claimed_ms: list[float] = []
    finished_ms: list[float] = []
    try:
        for index in range(WARM_UP_JOBS + jobs):
            with wav.open("rb") as handle:
                job = service.create_job(idle, owner, "bench_noop", {}, [service.Upload(handle, "clip.wav")])
            handed = time.time()
            runtime.submit(job.id, job.kind)
            deadline = time.monotonic() + 120
            while True:
                with runtime.db.session() as session:
                    row = session.get(Job, job.id)
                    status, started, finished = row.status, row.started_at, row.finished_at
                if status in ("completed", "failed"):
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"job {job.uuid} still {status}")
                time.sleep(0.002)
            if status != "completed":
                raise SystemExit(f"job {job.uuid} {status}")
            if index >= WARM_UP_JOBS:  # the first jobs pay for the worker's start and imports
                claimed_ms.append((started.replace(tzinfo=UTC).timestamp() - handed) * 1000)
                finished_ms.append((finished.replace(tzinfo=UTC).timestamp() - handed) * 1000)
    finally:
        runtime.executor.stop()

    def p90(values: list[float]) -> float:
        return sorted(values)[int(0.9 * (len(values) - 1))]

    print(
        json.dumps(
            {
                "claimed_median_ms": round(statistics.median(claimed_ms), 2),
                "claimed_p90_ms": round(p90(claimed_ms), 2),
                "finished_median_ms": round(statistics.median(finished_ms), 2),
                "finished_p90_ms": round(p90(finished_ms), 2),
            }
        )
    )


if __name__ == "__main__":
    main()
