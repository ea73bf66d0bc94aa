"""B3: peak memory separating a long track vs a 1-minute one.

Each peer is its own process, so its peak RSS (ru_maxrss from wait4) is its own:
  audiomill CLI, 1 min   the baseline: model + one segment's working set;
  audiomill CLI, N min   must stay within 1.2x of the baseline (the engine streams);
  demucs CLI, N min      for reference: it holds the whole track and every stem.
With ``--model-size small`` (a reduced HTDemucs, same code paths) N=60 runs in minutes;
its constant part (weights, one segment's activations) is smaller, so anything that
grows with the track weighs more in the ratio: the small-model ratio is the stricter one.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from bench import common
from bench.common import Measured, print_table, verdict

GOAL_RATIO = 1.2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--minutes", type=float, default=60.0, help="long track length (default 60)")
    parser.add_argument(
        "--model-size",
        choices=["full", "small"],
        default="small",
        help="small (default: minutes, not hours, on 2 cores) or full",
    )
    parser.add_argument("--no-demucs", action="store_true", help="skip the demucs CLI peer")


def run(args: argparse.Namespace) -> None:
    common.header(f"B3: peak RSS, {args.minutes:g}-min vs 1-min track ({args.model_size} htdemucs, random weights)")
    models_dir = common.ensure_model(args.model_size)
    short, long_ = common.ensure_track(60), common.ensure_track(args.minutes * 60)
    scratch = common.OUT_DIR / "b3"
    shutil.rmtree(scratch, ignore_errors=True)

    def ours(track_minutes: float, track: Path) -> Measured:
        name = f"audiomill-{track_minutes:g}min"
        return common.audiomill_cli(
            track, models_dir, scratch / name, scratch / f"{name}.log", scratch / f"{name}-data"
        )

    loads = {"1 min": common.wait_for_quiet()}
    base = ours(1, short)
    loads[f"{args.minutes:g} min"] = common.wait_for_quiet()
    long_run = ours(args.minutes, long_)
    demucs: Measured | None = None
    if not args.no_demucs:
        loads["demucs"] = common.wait_for_quiet()
        demucs = common.demucs_cli(long_, models_dir, scratch / "demucs", scratch / "demucs.log")

    print("load averages before each peer: " + ", ".join(f"{k} {v:.2f}" for k, v in loads.items()))
    rows: list[list[object]] = [
        ["audiomill CLI, 1 min", base.peak_rss_mb, base.seconds, base.cpu_seconds, "1.00"],
        [
            f"audiomill CLI, {args.minutes:g} min",
            long_run.peak_rss_mb,
            long_run.seconds,
            long_run.cpu_seconds,
            f"{long_run.peak_rss_mb / base.peak_rss_mb:.2f}",
        ],
    ]
    if demucs is not None:
        rows.append(
            [
                f"demucs CLI, {args.minutes:g} min",
                demucs.peak_rss_mb,
                demucs.seconds,
                demucs.cpu_seconds,
                f"{demucs.peak_rss_mb / base.peak_rss_mb:.2f}",
            ]
        )
    print(f"torch threads: {common.torch_threads()} in each CLI (audiomill: cores / 1 job)")
    print_table(["peer", "peak RSS MB", "seconds", "CPU s", "x audiomill 1-min peak"], rows)
    ratio = long_run.peak_rss_mb / base.peak_rss_mb
    print(
        f"\naudiomill {args.minutes:g} min / 1 min peak = {ratio:.3f}  goal <= {GOAL_RATIO:.2f}  {verdict(ratio <= GOAL_RATIO)}"
    )
    if demucs is not None:
        print(
            f"demucs CLI / audiomill at {args.minutes:g} min = {demucs.peak_rss_mb / long_run.peak_rss_mb:.2f}x the memory"
        )
