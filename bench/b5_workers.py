"""B5: engines in worker processes: the API process's memory, and what handing a job to a
warm worker process costs compared with the old in-process worker thread.

Peers, measured one after another in this run:
  before   the tree at ``--before`` (default: the commit this branch started from, git
           ``main`` then): worker threads in the API process, which imported torch;
  after    this tree: spawned worker processes, torch only in them.
(a) ``audiomill serve`` RSS after start-up and after 100 status calls (goal: no torch in
    the API process, <= 150 MB).
(b) dispatch overhead: a no-op job (``bench_noop``) is written, then handed to the
    executor; from that hand-over to the row's started_at (claimed) and finished_at, over
    many jobs on one warm worker (goal: process - thread <= 20 ms).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

from bench import common
from bench.common import print_table, verdict

GOAL_RSS_MB = 150.0
GOAL_OVERHEAD_MS = 20.0
DEFAULT_BEFORE = "9d3380f"  # main when this branch started (threads + torch in the API)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs", type=int, default=60, help="no-op jobs timed per peer (default 60)")
    parser.add_argument("--status-calls", type=int, default=100, help="status calls before the 2nd RSS reading")
    parser.add_argument("--before", default=DEFAULT_BEFORE, help="git revision of the 'before' peer")


def _tree(revision: str) -> Path:
    """The ``src`` folder of ``revision``, exported once to bench/out (git archive: no worktree)."""
    target = common.OUT_DIR / f"tree-{revision}"
    if not (target / "src" / "audiomill").is_dir():
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "archive", "--format=tar", revision, "src"], cwd=common.REPO_DIR, check=True, capture_output=True
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(target, filter="data")
    return target / "src"


def _env(src: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    # The peer's sources first; the repo root for bench.noop_engine.
    env["PYTHONPATH"] = os.pathsep.join([str(src), str(common.REPO_DIR)])
    env["AUDIOMILL_EXTRA_KINDS"] = json.dumps({"bench_noop": "bench.noop_engine"})
    env["HF_HUB_OFFLINE"] = "1"
    env.update(extra)
    return env


def _rss_mb(pid: int) -> float:
    return common._proc_status_mb(pid, "VmRSS")


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _modules_loaded(pid: int, names: tuple[str, ...]) -> list[str]:
    """Which of these shared libraries the process has mapped (torch: libtorch_cpu)."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return [name for name in names if name in maps]


def memory(src: Path, label: str, status_calls: int, scratch: Path) -> list[object]:
    import requests

    data_dir = scratch / f"{label}-data"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    port = common._free_port()
    base = f"http://127.0.0.1:{port}"
    env = _env(
        src,
        AUDIOMILL_DATA_DIR=str(data_dir),
        AUDIOMILL_WORKER_CONCURRENCY="1",
        AUDIOMILL_PORT=str(port),
        AUDIOMILL_RATE_LIMIT_PER_MINUTE="0",
        AUDIOMILL_MODELS_DOWNLOAD="false",
    )
    log = scratch / f"{label}.server.log"
    with open(log, "wb") as sink:
        proc = subprocess.Popen(
            [common.PYTHON, "-m", "audiomill.cli", "serve", "--port", str(port)],
            env=env,
            cwd=scratch,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(base + "/health", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{label} server did not start:\n{common.tail(log)}")
            time.sleep(0.2)
        requests.get(base + "/api/v1/jobs", params={"limit": 1}, timeout=10).raise_for_status()
        time.sleep(1.0)
        started_mb = _rss_mb(proc.pid)
        wav = common.ensure_clips(1, 1.0)[0]
        with open(wav, "rb") as handle:
            job = requests.post(
                base + "/api/v1/jobs",
                data={"kind": "bench_noop", "params": "{}"},
                files={"file": ("clip.wav", handle)},
                timeout=60,
            ).json()
        session = requests.Session()
        deadline = time.monotonic() + 180  # the job done first: the worker is up and warm
        while session.get(f"{base}/api/v1/jobs/{job['id']}", timeout=60).json()["status"] in ("pending", "processing"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{label}: job {job['id']} did not finish:\n{common.tail(log)}")
            time.sleep(0.2)
        for _ in range(status_calls):
            session.get(f"{base}/api/v1/jobs/{job['id']}", timeout=60).raise_for_status()
        status = session.get(f"{base}/api/v1/jobs/{job['id']}", timeout=60).json()["status"]
        after_mb = _rss_mb(proc.pid)
        hwm_mb = common._proc_status_mb(proc.pid, "VmHWM")
        heavy = _modules_loaded(proc.pid, ("libtorch_cpu", "onnxruntime"))
        workers_mb = sum(_rss_mb(child) for child in _children(proc.pid))
        return [label, started_mb, after_mb, hwm_mb, workers_mb or "-", ", ".join(heavy) or "none", status]
    finally:
        proc.send_signal(2)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def dispatch(src: Path, label: str, jobs: int, scratch: Path) -> dict[str, float]:
    data_dir = scratch / f"{label}-dispatch"
    shutil.rmtree(data_dir, ignore_errors=True)
    out = subprocess.run(
        [common.PYTHON, "-m", "bench.b5_dispatch_peer", str(data_dir), str(jobs), str(common.ensure_clips(1, 1.0)[0])],
        env=_env(src),
        cwd=common.REPO_DIR,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{label} dispatch peer failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(args: argparse.Namespace) -> None:
    common.header("B5: worker processes: API memory and dispatch overhead (before = threads in the API process)")
    scratch = common.OUT_DIR / "b5"
    scratch.mkdir(parents=True, exist_ok=True)
    peers = {"before": _tree(args.before), "after": common.REPO_DIR / "src"}

    rows = []
    for label, src in peers.items():
        common.wait_for_quiet()
        rows.append(memory(src, label, args.status_calls, scratch))
    print(f"\n(a) `audiomill serve` resident memory, MB (1 worker; {args.status_calls} status calls)")
    print_table(
        [
            "peer",
            "after start",
            f"after {args.status_calls} calls",
            "peak (HWM)",
            "worker procs",
            "torch/onnxruntime mapped",
            "job",
        ],
        rows,
    )
    after_rss = float(rows[1][2])  # type: ignore[arg-type]
    print(
        f"after / before = {after_rss / float(rows[0][2]):.2f}  "  # type: ignore[arg-type]
        f"goal <= {GOAL_RSS_MB:g} MB, no torch: {verdict(after_rss <= GOAL_RSS_MB and rows[1][5] == 'none')}"
    )

    timings = {}
    for label, src in peers.items():
        common.wait_for_quiet()
        timings[label] = dispatch(src, label, args.jobs, scratch)
    print(f"\n(b) no-op job handed to a warm worker, ms ({args.jobs} jobs each, median / p90)")
    print_table(
        ["peer", "to claimed (median)", "to claimed (p90)", "to finished (median)", "to finished (p90)"],
        [
            [label, t["claimed_median_ms"], t["claimed_p90_ms"], t["finished_median_ms"], t["finished_p90_ms"]]
            for label, t in timings.items()
        ],
    )
    overhead = timings["after"]["finished_median_ms"] - timings["before"]["finished_median_ms"]
    print(
        f"process - thread, to finished (median) = {overhead:.1f} ms  goal <= {GOAL_OVERHEAD_MS:g} ms  "
        f"{verdict(overhead <= GOAL_OVERHEAD_MS)}"
    )
