"""B1: one 3-minute track end to end through the API, against demucs itself.

Peers, run one after another on the same model file and the same wav:
  model        demucs' apply_model in this process (normalised as demucs.api does),
               no I/O, no model load: the floor;
  demucs CLI   ``python -m demucs.separate --repo DIR -n htdemucs`` (16-bit wav out);
  audiomill CLI  our engine without the server (tells engine cost from service cost);
  API          ``audiomill serve`` subprocess: POST the wav, poll every 0.2 s, download
               the zip. The first job loads the model (cold); later ones find it warm.
               Jobs run with ``precision`` float32 first (the arithmetic of the other
               peers), then one warm job per further ``--precision`` value (auto: the
               service's default, bfloat16 on CPUs that compute it natively).
Goals: API <= 1.10 x model time, API <= 1.0 x demucs CLI.
"""

from __future__ import annotations

import argparse
import shutil

from bench import common
from bench.common import JobRun, Measured, ModelTime, Server, print_table, verdict

GOAL_VS_MODEL = 1.10
GOAL_VS_CLI = 1.0
PARAMS = {"output_format": "wav"}  # 16-bit wav, as the demucs CLI writes by default


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--minutes", type=float, default=3.0, help="track length (default 3)")
    parser.add_argument("--model-size", choices=["full", "small"], default="full")
    parser.add_argument("--warm-runs", type=int, default=1, help="extra API jobs after the cold one (default 1)")
    parser.add_argument("--no-engine-cli", action="store_true", help="skip the audiomill CLI peer")
    parser.add_argument("--poll", type=float, default=0.2, help="API poll interval in seconds")
    parser.add_argument(
        "--precision",
        nargs="+",
        default=["float32", "auto"],
        help="separate's precision for the API jobs: the first gets the cold job and "
        "--warm-runs, each further one a warm job (default: float32 auto)",
    )


def run(args: argparse.Namespace) -> None:
    common.header(f"B1: {args.minutes:g}-min track through the API ({args.model_size} htdemucs, random weights)")
    models_dir = common.ensure_model(args.model_size)
    track = common.ensure_track(args.minutes * 60)
    scratch = common.OUT_DIR / "b1"
    shutil.rmtree(scratch, ignore_errors=True)
    loads: dict[str, float] = {}

    loads["model"] = common.wait_for_quiet()
    model: ModelTime = common.model_time(models_dir, track)

    loads["demucs CLI"] = common.wait_for_quiet()
    cli: Measured = common.demucs_cli(track, models_dir, scratch / "demucs", scratch / "demucs.log")

    engine_cli: Measured | None = None
    if not args.no_engine_cli:
        loads["audiomill CLI"] = common.wait_for_quiet()
        engine_cli = common.audiomill_cli(
            track, models_dir, scratch / "audiomill", scratch / "audiomill.log", scratch / "cli-data", args.precision[0]
        )

    precisions = [args.precision[0]] * (1 + args.warm_runs) + args.precision[1:]
    api_runs: list[tuple[JobRun, float, str]] = []  # (job, server CPU seconds during it, precision)
    with Server(models_dir, scratch / "api-data", concurrency=1) as server:
        client = common.Client(server.base)
        for i, precision in enumerate(precisions):
            loads[f"API job {i + 1}"] = common.wait_for_quiet()
            cpu0 = server.cpu_seconds()
            (job,) = common.run_jobs(client, [track], {**PARAMS, "precision": precision}, args.poll)
            api_runs.append((job, server.cpu_seconds() - cpu0, precision))
        server_peak = server.peak_rss_mb()
        get_ms = common.poll_cost_ms(server, f"/api/v1/jobs/{api_runs[0][0].job_id}")

    threads_api = common.service_threads(1)
    rows: list[list[object]] = [
        ["model: apply_model (in process)", model.apply_seconds, model.apply_cpu_seconds, model.threads, "-"],
        ["demucs CLI (whole process)", cli.seconds, cli.cpu_seconds, model.threads, f"{cli.peak_rss_mb:.0f}"],
    ]
    if engine_cli is not None:
        rows.append(
            [
                f"audiomill CLI (same engine, no server, {args.precision[0]})",
                engine_cli.seconds,
                engine_cli.cpu_seconds,
                threads_api,
                f"{engine_cli.peak_rss_mb:.0f}",
            ]
        )
    for i, (job, cpu, precision) in enumerate(api_runs):
        label = f"API job 1 (cold: loads model, {precision})" if i == 0 else f"API job {i + 1} (warm, {precision})"
        rows.append([label, job.phases()["end to end"], cpu, threads_api, f"{server_peak:.0f} (server)"])
    print(
        f"track: {args.minutes:g} min, model load in process: {model.load_seconds:.2f} s, "
        f"load averages before each peer: " + ", ".join(f"{k} {v:.2f}" for k, v in loads.items())
    )
    print_table(["peer", "seconds", "CPU s", "torch threads", "peak RSS MB"], rows)

    print("\nratios (lower is better):")
    for i, (job, _, precision) in enumerate(api_runs):
        api = job.phases()["end to end"]
        tag = f"job {i + 1} ({'cold' if i == 0 else 'warm'}, {precision})"
        print(
            f"  API {tag} / model      = {api / model.apply_seconds:.3f}  goal <= {GOAL_VS_MODEL:.2f}  "
            f"{verdict(api <= GOAL_VS_MODEL * model.apply_seconds)}"
        )
        print(
            f"  API {tag} / demucs CLI = {api / cli.seconds:.3f}  goal <= {GOAL_VS_CLI:.2f}  "
            f"{verdict(api <= GOAL_VS_CLI * cli.seconds)}"
        )
    if engine_cli is not None:
        print(
            f"  audiomill CLI / demucs CLI = {engine_cli.seconds / cli.seconds:.3f} (engine + process start, no server)"
        )

    polls = api_runs[0][0].phases()["processing (server)"] / args.poll
    print(
        f"\npolling: one GET /api/v1/jobs/{{id}} costs the server {get_ms:.1f} ms CPU; "
        f"~{polls:.0f} polls per job = ~{polls * get_ms / 1000:.2f} CPU s"
    )
    for i, (job, _, _) in enumerate(api_runs):
        print(
            f"\nwhere API job {i + 1}'s {job.phases()['end to end']:.2f} s went "
            f"(archive {job.archive_bytes / 2**20:.0f} MiB):"
        )
        for phase, seconds in job.phases().items():
            print(f"  {phase:<28} {seconds:7.2f} s")
        print("  stages seen by polling:")
        for stage, seconds in job.stage_seconds():
            print(f"    {stage:<26} {seconds:7.2f} s")
