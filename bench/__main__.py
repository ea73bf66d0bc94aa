"""``python -m bench [b1|b2|b3|b4] [options]``: run one benchmark, or all with defaults."""

from __future__ import annotations

import argparse
import sys
from types import ModuleType

from bench import b1_track, b2_batch, b3_memory, b4_scaleout, common

BENCHMARKS: dict[str, ModuleType] = {"b1": b1_track, "b2": b2_batch, "b3": b3_memory, "b4": b4_scaleout}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--max-load", type=float, default=common.QUIET_LOAD,
                        help="before each timed peer, wait for the 1-min load average to drop below this")
    parser.add_argument("--max-wait", type=float, default=common.QUIET_WAIT_SECONDS,
                        help="...but wait at most this many seconds, then measure anyway (load is printed)")
    commands = parser.add_subparsers(dest="benchmark")
    for name, module in BENCHMARKS.items():
        sub = commands.add_parser(name, help=(module.__doc__ or "").splitlines()[0])
        module.add_arguments(sub)
    args = parser.parse_args(argv)
    common.QUIET_LOAD, common.QUIET_WAIT_SECONDS = args.max_load, args.max_wait
    if args.benchmark:
        BENCHMARKS[args.benchmark].run(args)
        return
    for name, module in BENCHMARKS.items():
        sub = argparse.ArgumentParser()
        module.add_arguments(sub)
        module.run(sub.parse_args([]))  # each benchmark with its defaults


if __name__ == "__main__":
    sys.exit(main())
