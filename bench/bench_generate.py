"""Generate: the embedded composer, end to end through the API, time and peak memory.

``python -m bench.bench_generate [--durations 30 300] [--max-wait 60]``

An ``audiomill serve`` subprocess (local executor: jobs run in the service process) on a
fresh data folder. One warm-up job (5 s) loads the prompt model; then, per duration, one
track through seed 002's routes as a user makes it: POST /music/generate, poll
/music/status every 0.2 s, GET the wav from /music/download. Reported per track:

  server s   processing time the job itself took (started -> finished, server clock)
  e2e s      POST sent -> wav fully downloaded (client clock)
  x real     audio seconds / server seconds, and / end-to-end seconds
  cpu s      CPU seconds the server and its worker processes (jobs run in a spawned
             worker) spent on the job, all threads: what the speed would be on an idle
             machine, whatever the load average says
  peak MB    the largest VmHWM (peak resident memory so far) of the server and each of
             its worker processes after the job: the worker's is the job's

and the engine alone (bench/generate_alone.py in a fresh process, as the CLI runs it):
wall, CPU and that process's peak memory, which the server's own baseline does not blur.

Goals: >= 20x faster than real time on 2 CPU cores; a 300 s track in <= 500 MB.
The MusicGen-small CPU peer is measured by the MusicGen benchmark (same machine).
Timings wait (bounded) for a quiet machine and print the 1-minute load average.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from datetime import datetime
from pathlib import Path

from bench import common
from bench.common import print_table, verdict

GOAL_TIMES_REAL_TIME = 20.0
GOAL_PEAK_MB_300S = 500.0
PROMPT = "upbeat electronic dance music, energetic, with a catchy synth lead"
SCRATCH = common.OUT_DIR / "generate"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--durations", type=float, nargs="+", default=[30.0, 300.0], help="track lengths in seconds")
    parser.add_argument("--poll", type=float, default=0.2, help="status poll interval in seconds")


def _process_tree(pid: int) -> list[int]:
    """The server and every process below it (its job workers), from /proc."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _tree_cpu_seconds(server: common.Server) -> float:
    # workers that ended and were reaped count in the server's cutime + cstime
    fields = Path(f"/proc/{server.pid}/stat").read_text().rsplit(")", 1)[1].split()
    total = (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    for pid in _process_tree(server.pid):
        try:
            total += common._proc_cpu_seconds(pid)
        except OSError:
            pass  # ended meanwhile
    return total


def _tree_peak_mb(server: common.Server) -> float:
    peaks = []
    for pid in _process_tree(server.pid):
        try:
            peaks.append(common._proc_status_mb(pid, "VmHWM"))
        except OSError:
            pass
    return max(peaks, default=float("nan"))


def _track(client: common.Client, server: common.Server, duration: float, poll_seconds: float) -> dict[str, float]:
    cpu_before = _tree_cpu_seconds(server)
    t_submit = time.time()
    made = client.request("POST", "/music/generate", json={"prompt": PROMPT, "duration": int(duration)}).json()
    track = made["track_id"]
    while True:
        status = client.request("GET", f"/music/status/{track}").json()
        if status["status"] != "processing":
            break
        time.sleep(poll_seconds)
    if status["status"] != "completed":
        raise RuntimeError(f"track {track} {status['status']}: {status}")
    wav = client.request("GET", status["download_url"]).content
    t_done = time.time()
    job = client.request("GET", "/api/v1/jobs", params={"kind": "generate", "limit": 1}).json()["data"][0]
    started, finished = (datetime.fromisoformat(job[k]).timestamp() for k in ("started_at", "finished_at"))
    return {
        "duration": duration,
        "server_s": finished - started,
        "e2e_s": t_done - t_submit,
        "cpu_s": _tree_cpu_seconds(server) - cpu_before,
        "peak_mb": _tree_peak_mb(server),
        "wav_mb": len(wav) / 1e6,
        "estimate_s": float(made["estimated_processing_time"]),
    }


def run(args: argparse.Namespace) -> None:
    common.header("Generate: the embedded composer through the API (seed 002 routes)")
    (SCRATCH / "models").mkdir(parents=True, exist_ok=True)
    rows, results = [], []
    with common.Server(models_dir=SCRATCH / "models", data_dir=SCRATCH / "data") as server:
        client = common.Client(server.base)
        idle_mb = _tree_peak_mb(server)
        _track(client, server, 5.0, args.poll)  # warm-up: the prompt model loads
        warm_mb = _tree_peak_mb(server)
        for duration in args.durations:
            load = common.wait_for_quiet()
            result = _track(client, server, duration, args.poll)
            result["load"] = load
            results.append(result)
            rows.append(
                [
                    f"{duration:g}",
                    f"{result['server_s']:.2f}",
                    f"{result['e2e_s']:.2f}",
                    f"{duration / result['server_s']:.1f}",
                    f"{duration / result['e2e_s']:.1f}",
                    f"{result['cpu_s']:.2f}",
                    f"{duration / max(result['cpu_s'], 1e-9):.1f}",
                    f"{result['peak_mb']:.0f}",
                    f"{result['estimate_s']:.0f}",
                    f"{load:.1f}",
                ]
            )
    print(f"server resident memory: {idle_mb:.0f} MB idle, {warm_mb:.0f} MB peak after the 5 s warm-up job")
    for duration in args.durations:  # the engine alone, in a fresh process: its own peak memory
        common.wait_for_quiet()
        out = subprocess.run(
            [common.PYTHON, "-m", "bench.generate_alone", str(duration)],
            cwd=common.REPO_DIR,
            env=common.base_env(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        _, seconds, wall, cpu, peak_mb, load = out.split()[-6:]
        rows.append(
            [
                f"{seconds} (engine alone)",
                "",
                f"{float(wall):.2f}",
                "",
                f"{float(seconds) / float(wall):.1f}",
                f"{float(cpu):.2f}",
                f"{float(seconds) / float(cpu):.1f}",
                peak_mb,
                "",
                load,
            ]
        )
    print_table(
        [
            "audio s",
            "server s",
            "e2e s",
            "x real (server)",
            "x real (e2e)",
            "cpu s",
            "x real (cpu)",
            "peak MB",
            "estimate s",
            "load",
        ],
        rows,
    )
    for result in results:
        ratio = result["duration"] / result["e2e_s"]
        print(
            f"{result['duration']:g} s: {ratio:.1f}x real time end to end "
            f"(goal >= {GOAL_TIMES_REAL_TIME:g}x): {verdict(ratio >= GOAL_TIMES_REAL_TIME)}"
        )
        if result["duration"] >= 300:
            print(
                f"300 s peak {result['peak_mb']:.0f} MB (goal <= {GOAL_PEAK_MB_300S:g}): "
                f"{verdict(result['peak_mb'] <= GOAL_PEAK_MB_300S)}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-load", type=float, default=common.QUIET_LOAD)
    parser.add_argument("--max-wait", type=float, default=60.0)
    add_arguments(parser)
    args = parser.parse_args()
    common.QUIET_LOAD, common.QUIET_WAIT_SECONDS = args.max_load, args.max_wait
    run(args)


if __name__ == "__main__":
    main()
