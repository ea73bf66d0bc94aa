"""``python -m bench [b1|b2|b3|b4|forward|workers] [options]``: run one benchmark, or all with defaults."""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

from bench import common

# Imported on use: B4 needs Celery, the others only the service and demucs (a GPU
# machine may carry just those).
BENCHMARKS: dict[str, str] = {
    "b1": "bench.b1_track",
    "b2": "bench.b2_batch",
    "b3": "bench.b3_memory",
    "b4": "bench.b4_scaleout",
    "forward": "bench.forward",
    "workers": "bench.b5_workers",
    "status": "bench.bench_status",
    "events": "bench.bench_events",
}


def _load(name: str) -> ModuleType | ImportError:
    try:
        return importlib.import_module(BENCHMARKS[name])
    except ImportError as exc:
        return exc


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--max-load",
        type=float,
        default=common.QUIET_LOAD,
        help="before each timed peer, wait for the 1-min load average to drop below this",
    )
    parser.add_argument(
        "--max-wait",
        type=float,
        default=common.QUIET_WAIT_SECONDS,
        help="...but wait at most this many seconds, then measure anyway (load is printed)",
    )
    commands = parser.add_subparsers(dest="benchmark")
    modules = {name: _load(name) for name in BENCHMARKS}
    for name, module in modules.items():
        if isinstance(module, ImportError):
            commands.add_parser(name, help=f"unavailable here: {module}")
            continue
        sub = commands.add_parser(name, help=(module.__doc__ or "").splitlines()[0])
        module.add_arguments(sub)
    args = parser.parse_args(argv)
    common.QUIET_LOAD, common.QUIET_WAIT_SECONDS = args.max_load, args.max_wait
    chosen = [args.benchmark] if args.benchmark else list(BENCHMARKS)
    for name in chosen:
        module = modules[name]
        if isinstance(module, ImportError):
            raise SystemExit(f"benchmark {name} cannot run here: {module}")
        if args.benchmark:
            module.run(args)
        else:
            sub = argparse.ArgumentParser()
            module.add_arguments(sub)
            module.run(sub.parse_args([]))  # each benchmark with its defaults


if __name__ == "__main__":
    sys.exit(main())
