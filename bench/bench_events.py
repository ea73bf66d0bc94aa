"""The live feed under load: 100 jobs updating at once, 20 open ``/api/v1/events`` sockets.

``python -m bench.bench_events [--jobs 100] [--clients 20] [--seconds 15]``

``audiomill serve`` runs as users run it (local executor, 2 worker processes, SQLite) with a
job kind that only reports progress (bench/ticker_engine.py: two progress writes and events
a second per job, the runner's limit). Two phases on the same server, one after the other:

- peer: 100 jobs updating, no socket open: the status reads' latency with the feed idle;
- feed: 100 new jobs updating and 20 sockets listening.

In each, four threads read ``GET /api/v1/jobs/{id}`` of random running jobs back to back;
the feed phase also counts the events the 20 sockets receive (and how many of them were
``job.progress``) per second. The 1-minute load average is printed beside the figures:
other people's work on this 2-core machine steals from whichever phase runs at the time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO_DIR = Path(__file__).resolve().parent.parent
STATUS_READERS = 4


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=os.pathsep.join([str(REPO_DIR / "src"), str(REPO_DIR)]),
        AUDIOMILL_DATA_DIR=str(data_dir),
        AUDIOMILL_EXTRA_KINDS=json.dumps({"bench_ticker": "bench.ticker_engine"}),
        AUDIOMILL_WORKER_CONCURRENCY="2",
        AUDIOMILL_MAX_ACTIVE_JOBS_PER_USER="0",
        AUDIOMILL_RATE_LIMIT_PER_MINUTE="0",
        AUDIOMILL_ACCESS_LOG="false",
        AUDIOMILL_DEVICE="cpu",
    )
    log = open(data_dir.parent / "server.log", "wb")
    return subprocess.Popen(
        [sys.executable, "-m", "audiomill.cli", "serve", "--port", str(port)],
        env=env,
        cwd=REPO_DIR,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_ready(base: str, proc: subprocess.Popen[bytes], timeout_seconds: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(base + "/health", timeout=2).status_code == 200:
                httpx.get(base + "/api/v1/jobs", timeout=10).raise_for_status()  # creates the local user
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError("server not ready")


def submit_jobs(base: str, count: int, seconds: float) -> list[str]:
    with httpx.Client(base_url=base, timeout=60) as client:
        ids = []
        for _ in range(count):
            response = client.post("/api/v1/jobs", json={"kind": "bench_ticker", "params": {"seconds": seconds}})
            response.raise_for_status()
            ids.append(response.json()["id"])
        return ids


def wait_processing(base: str, ids: list[str], timeout_seconds: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_seconds
    with httpx.Client(base_url=base, timeout=60) as client:
        while time.monotonic() < deadline:
            running = client.get("/api/v1/jobs", params={"status": "processing", "limit": 500}).json()["count"]
            if running >= len(ids):
                return
            time.sleep(0.5)
    raise RuntimeError("the jobs did not all start")


@dataclass
class Reads:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0


def read_statuses(base: str, ids: list[str], stop: threading.Event, reads: Reads, lock: threading.Lock) -> None:
    with httpx.Client(base_url=base, timeout=30) as client:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                ok = client.get(f"/api/v1/jobs/{random.choice(ids)}").status_code == 200
            except httpx.HTTPError:
                ok = False
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                if ok:
                    reads.latencies_ms.append(elapsed)
                else:
                    reads.errors += 1


@dataclass
class Listener:
    events: int = 0
    progress_events: int = 0
    ready: threading.Event = field(default_factory=threading.Event)


def listen(url: str, stop: threading.Event, listener: Listener, counting: threading.Event) -> None:
    from websockets.sync.client import connect

    with connect(url, max_size=None) as ws:
        listener.ready.set()
        while not stop.is_set():
            try:
                message = ws.recv(timeout=0.5)
            except TimeoutError:
                continue
            if counting.is_set():
                listener.events += 1
                if '"type":"job.progress"' in str(message):
                    listener.progress_events += 1


def p(values: list[float], quantile: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(quantile * len(ordered)))] if ordered else float("nan")


def phase(base: str, jobs: int, clients: int, seconds: float) -> dict[str, float]:
    job_seconds = seconds + 60.0  # still running when the window closes
    stop, counting = threading.Event(), threading.Event()
    listeners = [Listener() for _ in range(clients)]
    ws_url = base.replace("http://", "ws://") + "/api/v1/events"
    threads = [threading.Thread(target=listen, args=(ws_url, stop, lst, counting), daemon=True) for lst in listeners]
    for thread in threads:
        thread.start()
    for lst in listeners:
        if not lst.ready.wait(30):
            raise RuntimeError("a socket did not open")
    ids = submit_jobs(base, jobs, job_seconds)
    wait_processing(base, ids)
    reads, lock = Reads(), threading.Lock()
    readers = [
        threading.Thread(target=read_statuses, args=(base, ids, stop, reads, lock), daemon=True)
        for _ in range(STATUS_READERS)
    ]
    load_before = os.getloadavg()[0]
    counting.set()
    started = time.monotonic()
    for reader in readers:
        reader.start()
    time.sleep(seconds)
    counting.clear()
    window = time.monotonic() - started
    stop.set()
    for thread in readers + threads:
        thread.join(timeout=10)
    with httpx.Client(base_url=base, timeout=60) as client:
        for job_id in ids:
            client.post(f"/api/v1/jobs/{job_id}/cancel")
    total = sum(lst.events for lst in listeners)
    per_client = [lst.events / window for lst in listeners]
    return {
        "events_per_second": total / window,
        "events_per_second_per_client_min": min(per_client) if per_client else 0.0,
        "events_per_second_per_client_median": statistics.median(per_client) if per_client else 0.0,
        "progress_share": sum(lst.progress_events for lst in listeners) / total if total else 0.0,
        "status_reads_per_second": len(reads.latencies_ms) / window,
        "status_p50_ms": p(reads.latencies_ms, 0.50),
        "status_p99_ms": p(reads.latencies_ms, 0.99),
        "status_errors": reads.errors,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }


def run(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="audiomill-bench-events-"))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = serve(root / "data", port)
    try:
        wait_ready(base, proc)
        print(f"cores: {len(os.sched_getaffinity(0))}; load average (1 min) at start: {os.getloadavg()[0]:.2f}")
        peer = phase(base, args.jobs, 0, args.seconds)
        time.sleep(3)  # the cancelled jobs leave
        feed = phase(base, args.jobs, args.clients, args.seconds)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(root, ignore_errors=True)
    print(f"{args.jobs} jobs updating (~2 progress writes/s each), {args.seconds:.0f} s windows")
    print(f"{'':34} {'peer (no sockets)':>18} {f'feed ({args.clients} sockets)':>18}")
    rows = [
        ("events delivered / s (all sockets)", "events_per_second", "{:.0f}"),
        ("  per socket, median / s", "events_per_second_per_client_median", "{:.1f}"),
        ("  per socket, slowest / s", "events_per_second_per_client_min", "{:.1f}"),
        ("  share that were job.progress", "progress_share", "{:.2f}"),
        ("GET /api/v1/jobs/{id} / s", "status_reads_per_second", "{:.0f}"),
        ("  p50 ms", "status_p50_ms", "{:.1f}"),
        ("  p99 ms", "status_p99_ms", "{:.1f}"),
        ("  errors", "status_errors", "{:.0f}"),
        ("load average before / after", None, ""),
    ]
    for label, key, fmt in rows:
        if key is None:
            cells = [f"{r['load_before']:.1f} / {r['load_after']:.1f}" for r in (peer, feed)]
        else:
            cells = [fmt.format(r[key]) for r in (peer, feed)]
        print(f"{label:34} {cells[0]:>18} {cells[1]:>18}")
    ratio = feed["status_p99_ms"] / peer["status_p99_ms"] if peer["status_p99_ms"] else float("nan")
    print(f"status p99 with the feed busy / without: {ratio:.2f}x")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs", type=int, default=100, help="jobs updating at once")
    parser.add_argument("--clients", type=int, default=20, help="open /api/v1/events sockets")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each measured window")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_events", description=__doc__.splitlines()[0])
    add_arguments(parser)
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
