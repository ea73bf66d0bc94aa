"""Status and listing reads under load: req/s, p99 and errors at 8, 64 and 256 connections.

``python -m bench.bench_status [--before /path/to/main-tree] [--postgres URL]``

Each peer is a source tree (``--before``: e.g. a worktree of git ``main``; the "after"
peer is this tree) served as users serve it, on a fresh data folder seeded with finished
jobs, with the per-user rate limit off (one client hammers one user). wrk, in its own
process, drives ``GET /status/{id}`` (seed 000), ``GET /api/v1/jobs/{id}``,
``GET /api/v1/jobs?limit=50`` and ``/health``. After each burst the bench waits one second
and times a single request: a service that queued the burst without bound answers it late.

Peers run one after another in the same invocation (2 shared cores: never concurrently);
the 1-minute load average is printed with every row, because other people's work on this
machine steals from whichever peer runs at the time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Self

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
OUT_DIR = BENCH_DIR / "out" / "status"
PYTHON = sys.executable

JOBS_SEEDED = 120  # more than one page of ?limit=50
CONNECTIONS = (8, 64, 256)
GOAL_RPS_AT_64 = 1500.0
GOAL_P99_MS_AT_64 = 50.0
WRK_TIMEOUT_SECONDS = 2  # wrk's default: a request unanswered this long counts as an error

# Runs inside the peer's own interpreter path (its src/ first), so each tree seeds with its
# own tables. Prints the uuid of the job the reads target.
_SEED_SCRIPT = r"""
import sys
from datetime import timedelta
from audiomill.config import Settings
from audiomill.runtime import build_runtime
from audiomill.jobs import service
from audiomill.store.tables import Asset, Job, JobFile, utc_now

settings = Settings()
runtime = build_runtime(settings)
with runtime.db.session() as session:
    user = service.ensure_local_user(session)
    now = utc_now()
    target = None
    for index in range(int(sys.argv[1])):
        job = Job(kind="separate", owner_id=user.id, status="completed", progress=100.0,
                  stage="done", params={"model": "htdemucs", "output_format": "mp3"},
                  result={}, attempts=1, created_at=now - timedelta(seconds=index),
                  started_at=now - timedelta(seconds=index + 30), finished_at=now - timedelta(seconds=index))
        session.add(job)
        session.flush()
        names = [("input", "audio", "song.wav")] + [
            ("output", stem, f"{stem}.mp3") for stem in ("bass", "drums", "other", "vocals")]
        for role, name, filename in names:
            asset = Asset(owner_id=user.id, sha256=f"{index:08d}{name:>8}".replace(" ", "0") * 4,
                          filename=filename, media_type="audio/mpeg", size_bytes=1000,
                          duration_seconds=180.0, sample_rate=44100, channels=2)
            session.add(asset)
            session.flush()
            session.add(JobFile(job_id=job.id, role=role, name=name, asset_id=asset.id))
        target = target or job.uuid
print(target)
runtime.db.dispose()
"""


@dataclass
class Peer:
    name: str
    tree: Path

    @property
    def has_serve_module(self) -> bool:
        return (self.tree / "src" / "audiomill" / "api" / "serve.py").exists()

    def env(self, data_dir: Path, port: int, database_url: str | None, workers: int) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            PYTHONPATH=str(self.tree / "src"),
            AUDIOMILL_DATA_DIR=str(data_dir),
            AUDIOMILL_PORT=str(port),
            AUDIOMILL_RATE_LIMIT_PER_MINUTE="0",
            AUDIOMILL_MODELS_DOWNLOAD="false",
        )
        if database_url:
            env["AUDIOMILL_DATABASE_URL"] = database_url
        else:
            env.pop("AUDIOMILL_DATABASE_URL", None)
        return env

    def serve_command(self, workers: int) -> list[str]:
        # Served as `audiomill serve` serves it: a tree with the serve module through it
        # (what the CLI calls), an older tree through its CLI.
        if self.has_serve_module:
            return [PYTHON, "-m", "audiomill.api.serve", "--workers", str(workers)]
        return [PYTHON, "-m", "audiomill.cli", "serve"]


@dataclass
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int  # socket errors (connect/read/write/timeout) + non-2xx answers
    non_2xx: int
    timeouts: int
    after_burst_ms: float
    cpu_ms_per_request: float  # the server's CPU (all its processes) per answered request


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        return float("nan")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def run_wrk(url: str, connections: int, seconds: float) -> tuple[float, float, float, int, int, int, int]:
    threads = min(2, connections)
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds:g}s",
            "--latency",
            "--timeout",
            f"{WRK_TIMEOUT_SECONDS}s",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    non_2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)) else 0
    socket_errors = 0
    timeouts = 0
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        socket_errors = sum(int(g) for g in m.groups())
        timeouts = int(m.group(4))
    answered = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return rps, p50, p99, socket_errors + non_2xx, non_2xx, timeouts, answered


def group_cpu_seconds(pgid: int) -> float:
    """utime + stime of every live process in a process group (the server and its children)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def timed_get(url: str, timeout_seconds: float = 30.0) -> float:
    """Milliseconds one GET took (any answer counts); inf when none came in time."""
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=timeout_seconds) as response:
            response.read()
    except urllib.error.HTTPError:
        pass
    except OSError:  # timed out or reset: the service was deaf
        return float("inf")
    return (time.perf_counter() - start) * 1000


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """One peer's server on a fresh, seeded data folder (or a wiped PostgreSQL schema)."""

    def __init__(self, peer: Peer, database_url: str | None, workers: int) -> None:
        self.peer = peer
        self.database_url = database_url
        self.workers = workers
        self.data_dir = OUT_DIR / f"{peer.name}-data"
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.job_id = ""

    def __enter__(self) -> Self:
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.data_dir.mkdir(parents=True)
        if self.database_url:
            _reset_postgres(self.database_url)
        env = self.peer.env(self.data_dir, self.port, self.database_url, self.workers)
        seeded = subprocess.run(
            [PYTHON, "-c", _SEED_SCRIPT, str(JOBS_SEEDED)],
            env=env,
            cwd=self.peer.tree,
            capture_output=True,
            text=True,
            check=False,
        )
        if seeded.returncode != 0:
            raise RuntimeError(f"seeding {self.peer.name} failed:\n{seeded.stderr[-3000:]}")
        self.job_id = seeded.stdout.strip().splitlines()[-1]
        log = open(OUT_DIR / f"{self.peer.name}.server.log", "wb")
        self.proc = subprocess.Popen(
            self.peer.serve_command(self.workers),
            env=env,
            cwd=self.peer.tree,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.peer.name} server exited {self.proc.returncode}")
            try:
                with urllib.request.urlopen(self.base + "/health", timeout=2):
                    return self
            except OSError:  # refused, reset or timed out: not ready yet
                time.sleep(0.2)
        raise RuntimeError(f"{self.peer.name} server not ready after 60 s")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def _reset_postgres(database_url: str) -> None:
    """Drop every table so the peer migrates a fresh schema (a database of its own, please)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def targets(job_id: str) -> dict[str, str]:
    return {
        "GET /status/{id}": f"/status/{job_id}",
        "GET /api/v1/jobs/{id}": f"/api/v1/jobs/{job_id}",
        "GET /api/v1/jobs?limit=50": "/api/v1/jobs?limit=50",
        "GET /health": "/health",
    }


def measure(served: Served, seconds: float, connections: tuple[int, ...]) -> dict[tuple[str, int], WrkResult]:
    results: dict[tuple[str, int], WrkResult] = {}
    for label, path in targets(served.job_id).items():
        url = served.base + path
        for _ in range(20):  # warm: first-use imports, the pool's connections
            timed_get(url)
        for count in connections:
            assert served.proc is not None
            cpu_before = group_cpu_seconds(served.proc.pid)
            rps, p50, p99, errors, non_2xx, timeouts, answered = run_wrk(url, count, seconds)
            cpu_ms = (group_cpu_seconds(served.proc.pid) - cpu_before) * 1000 / max(answered, 1)
            time.sleep(1.0)  # "one second after the burst ends"
            after_ms = timed_get(url)
            results[(label, count)] = WrkResult(rps, p50, p99, errors, non_2xx, timeouts, after_ms, cpu_ms)
            time.sleep(1.0)
    return results


def print_results(
    title: str,
    peers: dict[str, dict[tuple[str, int], WrkResult]],
    connections: tuple[int, ...],
    loads: dict[str, float],
) -> None:
    print(f"\n=== {title} ===")
    for name, load in loads.items():
        print(f"{name}: 1-min load average when it started: {load:.2f}")
    headers = ["request", "conns"] + [
        f"{name} {col}" for name in peers for col in ("req/s", "p99 ms", "err", "+1s ms", "cpu ms/req")
    ]
    if len(peers) == 2:
        headers.append("req/s ratio")
    rows = []
    labels = list(dict.fromkeys(label for result in peers.values() for label, _ in result))
    for label in labels:
        for count in connections:
            row: list[object] = [label, count]
            values = []
            for result in peers.values():
                r = result[(label, count)]
                values.append(r.requests_per_second)
                row += [
                    f"{r.requests_per_second:.0f}",
                    f"{r.p99_ms:.1f}",
                    r.errors,
                    f"{r.after_burst_ms:.1f}",
                    f"{r.cpu_ms_per_request:.2f}",
                ]
            if len(values) == 2:
                row.append(f"{values[1] / values[0]:.1f}x" if values[0] else "inf")
            rows.append(row)
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows)]
    for line in [headers, *rows]:
        print("  ".join(str(x).rjust(w) for x, w in zip(line, widths)))


def run(args: argparse.Namespace) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install -y wrk)")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    peers = []
    if args.before:
        peers.append(Peer("before", Path(args.before).resolve()))
    peers.append(Peer("after", REPO_DIR))
    connections = tuple(args.connections)
    backends = [("SQLite", None)] + ([("PostgreSQL", args.postgres)] if args.postgres else [])
    summary: dict[str, object] = {}
    for backend, url in backends:
        results: dict[str, dict[tuple[str, int], WrkResult]] = {}
        loads: dict[str, float] = {}
        for peer in peers:
            loads[peer.name] = os.getloadavg()[0]
            with Served(peer, url, args.workers) as served:
                results[peer.name] = measure(served, args.seconds, connections)
        print_results(
            f"{backend}: {args.seconds:g} s per cell, wrk --timeout {WRK_TIMEOUT_SECONDS}s, "
            f"workers={args.workers}; err = timeouts + socket errors + non-2xx; "
            "+1s ms = one GET one second after the burst",
            results,
            connections,
            loads,
        )
        summary[backend] = {
            name: {f"{label} @{count}": vars(r) for (label, count), r in result.items()}
            for name, result in results.items()
        }
        after = results["after"]
        for label in ("GET /status/{id}", "GET /api/v1/jobs/{id}"):
            if 64 in connections:
                r = after[(label, 64)]
                ok = r.requests_per_second >= GOAL_RPS_AT_64 and r.p99_ms <= GOAL_P99_MS_AT_64 and r.errors == 0
                print(
                    f"goal {label} @64 (>= {GOAL_RPS_AT_64:.0f} req/s, p99 <= {GOAL_P99_MS_AT_64:.0f} ms, no errors): "
                    f"{'met' if ok else 'NOT met'} ({r.requests_per_second:.0f} req/s, p99 {r.p99_ms:.1f} ms)"
                )
    (OUT_DIR / "results.json").write_text(json.dumps(summary, indent=2))
    print(f"\nload average (1 min) at the end: {os.getloadavg()[0]:.2f}; raw figures: {OUT_DIR / 'results.json'}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--before", help="source tree to compare against (e.g. a worktree of git main)")
    parser.add_argument("--postgres", help="also run on this PostgreSQL URL (its public schema is wiped!)")
    parser.add_argument("--seconds", type=float, default=5.0, help="wrk duration per cell")
    parser.add_argument("--connections", type=int, nargs="+", default=list(CONNECTIONS))
    parser.add_argument("--workers", type=int, default=1, help="API processes for trees with the serve module")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_status", description=__doc__.splitlines()[0])
    add_arguments(parser)
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
