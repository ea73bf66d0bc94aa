"""B2: a burst of short clips sent to the API at once, against demucs' CLI once per clip.

The service's edge is that it starts Python, imports torch and loads the model once for
the whole burst, while the CLI pays that per file. Peers run one after another:
  demucs CLI   one ``python -m demucs.separate`` per clip, sequentially;
  API c=N      a fresh ``audiomill serve`` with AUDIOMILL_WORKER_CONCURRENCY=N (torch
               threads per job = cores / N), every clip POSTed at once, each archive
               downloaded as soon as its job is seen completed. Timed from the first
               POST to the last archive received, cold model load included. Once per
               ``precision`` job parameter: float32 is demucs' own arithmetic (the CLI's),
               auto is the service's default (bfloat16 on CPUs that compute it natively,
               else float32), reported apart.
Goal: the best API setting is >= 2x faster than the CLI loop.
"""

from __future__ import annotations

import argparse
import shutil

from bench import common
from bench.common import JobRun, Server, print_table, verdict

GOAL_SPEEDUP = 2.0
PARAMS = {"output_format": "wav"}
PRECISIONS = ("float32", "auto", "bfloat16")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clips", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15.0, help="clip length")
    parser.add_argument("--model-size", choices=["full", "small"], default="full")
    parser.add_argument(
        "--concurrency",
        type=int,
        nargs="+",
        default=[1, 2],
        help="AUDIOMILL_WORKER_CONCURRENCY values to try (default: 1 2)",
    )
    parser.add_argument(
        "--precision",
        nargs="+",
        choices=PRECISIONS,
        default=["float32", "auto"],
        help="separate's precision parameter values to try (default: float32 auto)",
    )
    parser.add_argument("--poll", type=float, default=0.2, help="API poll interval in seconds")


def run(args: argparse.Namespace) -> None:
    common.header(f"B2: {args.clips} clips of {args.seconds:g} s at once ({args.model_size} htdemucs, random weights)")
    models_dir = common.ensure_model(args.model_size)
    clips = common.ensure_clips(args.clips, args.seconds)
    scratch = common.OUT_DIR / "b2"
    shutil.rmtree(scratch, ignore_errors=True)
    loads: dict[str, float] = {}

    loads["demucs CLI loop"] = common.wait_for_quiet()
    cli_runs = [
        common.demucs_cli(clip, models_dir, scratch / "demucs", scratch / f"demucs-{clip.stem}.log") for clip in clips
    ]
    cli_seconds = sum(m.seconds for m in cli_runs)
    cli_cpu = sum(m.cpu_seconds for m in cli_runs)

    # (concurrency, precision) -> (seconds, server CPU s, jobs, server CPU ms per status GET)
    api: dict[tuple[int, str], tuple[float, float, list[JobRun], float]] = {}
    throttled: dict[tuple[int, str], int] = {}  # 429 answers the client waited out
    for precision in args.precision:
        for concurrency in args.concurrency:
            key = (concurrency, precision)
            loads[f"API c={concurrency} {precision}"] = common.wait_for_quiet()
            data_dir = scratch / f"api-data-c{concurrency}-{precision}"
            with Server(models_dir, data_dir, concurrency=concurrency) as server:
                cpu0 = server.cpu_seconds()
                client = common.Client(server.base)
                params = {**PARAMS, "precision": precision}
                jobs = common.run_jobs(client, clips, params, args.poll, poll_list=True)
                cpu = server.cpu_seconds() - cpu0
                get_ms = common.poll_cost_ms(server, "/api/v1/jobs?kind=separate&limit=500")
                throttled[key] = client.throttled
            total = max(j.t_downloaded for j in jobs) - min(j.t_submit for j in jobs)
            api[key] = (total, cpu, jobs, get_ms)

    print("load averages before each peer: " + ", ".join(f"{k} {v:.2f}" for k, v in loads.items()))
    rows: list[list[object]] = [
        [
            f"demucs CLI x{len(clips)} sequential",
            cli_seconds,
            cli_cpu,
            common.torch_threads(),
            f"{cli_seconds / len(clips):.2f}",
            "1.00",
        ]
    ]
    for (concurrency, precision), (total, cpu, _jobs, _) in api.items():
        rows.append(
            [
                f"API, worker concurrency {concurrency}, {precision}",
                total,
                cpu,
                common.service_threads(concurrency),
                f"{total / len(clips):.2f}",
                f"{cli_seconds / total:.2f}",
            ]
        )
    print_table(["peer", "total s", "CPU s", "torch threads/job", "s per clip", "speed-up vs CLI"], rows)

    for precision in args.precision:
        runs = {key: value for key, value in api.items() if key[1] == precision}
        best = min(runs, key=lambda key: runs[key][0])
        speedup = cli_seconds / runs[best][0]
        note = {"float32": " (the CLI's arithmetic)", "auto": " (the service's default)"}.get(precision, "")
        print(
            f"\nbest {precision}{note}: concurrency {best[0]}, speed-up {speedup:.2f}x  "
            f"goal >= {GOAL_SPEEDUP:.1f}x  {verdict(speedup >= GOAL_SPEEDUP)}"
        )
    one = cli_runs[0]
    print(
        f"demucs CLI per clip: {cli_seconds / len(clips):.2f} s wall "
        f"(first clip {one.seconds:.2f} s, {one.cpu_seconds:.2f} CPU s)"
    )
    details: list[list[object]] = []
    for (concurrency, precision), (_total, _, jobs, get_ms) in api.items():
        processing = [j.phases()["processing (server)"] for j in jobs]
        uploads = max(j.t_created for j in jobs) - min(j.t_submit for j in jobs)
        tail_ = [j.phases()["poll notice delay"] + j.phases()["archive download"] for j in jobs]
        # One list GET per interval while any job runs (an upper bound: a poll round
        # takes longer than the sleep alone).
        gets = (max(j.t_seen_done for j in jobs) - min(j.t_created for j in jobs)) / args.poll
        details.append(
            [
                f"API c={concurrency} {precision}",
                uploads,
                f"{min(processing):.2f} / {sum(processing) / len(jobs):.2f} / {max(processing):.2f}",
                sum(tail_) / len(jobs),
                get_ms,
                f"<= {gets * get_ms / 1000:.1f}",
                throttled[(concurrency, precision)],
            ]
        )
    print("\nwhere the API time went (processing = server-side run time of one job):")
    print_table(
        [
            "peer",
            "all POSTs answered s",
            "processing min/mean/max s",
            "notice+download s/job",
            "list GET ms CPU",
            "polling CPU s",
            "429s",
        ],
        details,
    )
