"""``python -m bench.fuzz_openapi_long``: the OpenAPI fuzz of tests/test_openapi_fuzz.py with a
far larger budget (about 20 000 requests by default), for a run before a release or after
a change to the API surface; not part of the test suite.

Every operation of the schema is fuzzed with positive and negative data, first with an API
key, then (a fifth of the budget) with a cookie session + X-CSRFToken. Prints the requests
made per operation and status, the time taken, and every failing response (a 5xx, a
response that breaks the schema, an error that is not JSON, a traceback, schema-violating
data accepted); exits 1 if there was any.

    python -m bench.fuzz_openapi_long                    # ~20k requests, the default seed
    python -m bench.fuzz_openapi_long --requests 50000 --seed 7
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

from tests.test_openapi_fuzz import (
    BearerAuth,
    FuzzReport,
    SessionAuth,
    negatable,
    fuzz,
    fuzz_seed,
    fuzz_target,
    operations,
)

# Share of each operation's examples that are schema-valid (the rest violate the schema).
POSITIVE_SHARE = 0.6
SESSION_SHARE = 0.2


def _budget_per_operation(schema: object, requests: int) -> tuple[int, int]:
    """Examples per operation and mode so the whole run makes about ``requests`` requests.

    Operations without parameters yield one distinct request however many are asked for,
    so only those with something to vary share the budget."""
    varied = [op for op in operations(schema) if negatable(op) or "{" in op.path]
    slots = sum(POSITIVE_SHARE + ((1 - POSITIVE_SHARE) if negatable(op) else 0) for op in varied)
    per_operation = max(1.0, requests / max(slots, 1.0))
    return round(per_operation * POSITIVE_SHARE), round(per_operation * (1 - POSITIVE_SHARE))


def _print_report(title: str, report: FuzzReport, show_failures: int) -> None:
    print(f"\n== {title}")
    print(report.summary())
    for failure in report.failures[:show_failures]:
        print("-" * 100)
        print(failure)
    if len(report.failures) > show_failures:
        print(f"... and {len(report.failures) - show_failures} more failures")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fuzz_openapi_long",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--requests", type=int, default=20_000, help="about how many requests in all")
    parser.add_argument(
        "--seed", type=int, default=None, help="Hypothesis seed (default: AUDIOMILL_FUZZ_SEED or fixed)"
    )
    parser.add_argument("--show-failures", type=int, default=20, help="print at most this many failures in full")
    parser.add_argument("--progress", action="store_true", help="print each operation as it finishes")
    args = parser.parse_args(argv)
    seed = fuzz_seed() if args.seed is None else args.seed
    # The multipart parser warns about every malformed body, and the fixture engine that
    # crashes on purpose logs its traceback each time the fuzz runs it: the report says what
    # matters. Errors from the API itself (an unhandled exception) stay visible.
    logging.disable(logging.WARNING)
    logging.getLogger("audiomill.jobs.runner").setLevel(logging.CRITICAL)

    started = time.monotonic()
    reports: list[tuple[str, FuzzReport]] = []
    with tempfile.TemporaryDirectory(prefix="audiomill-fuzz-") as root:
        with fuzz_target(Path(root) / "api-key") as target:
            positive, negative = _budget_per_operation(target.schema, round(args.requests * (1 - SESSION_SHARE)))
            print(
                f"seed {seed}; API-key pass: {positive} positive + {negative} negative examples per operation",
                flush=True,
            )
            report = fuzz(
                target,
                BearerAuth(target),
                positive,
                negative,
                seed=seed,
                progress=(lambda line: print(line, flush=True)) if args.progress else None,
            )
            reports.append(("API key (Authorization: Bearer)", report))
        with fuzz_target(Path(root) / "session") as target:
            positive, negative = _budget_per_operation(target.schema, round(args.requests * SESSION_SHARE))
            print(f"cookie-session pass: {positive} positive + {negative} negative examples per operation", flush=True)
            report = fuzz(
                target,
                SessionAuth(target),
                positive,
                negative,
                seed=seed + 1,
                progress=(lambda line: print(line, flush=True)) if args.progress else None,
            )
            reports.append(("cookie session (sessionid + X-CSRFToken)", report))

    for title, report in reports:
        _print_report(title, report, args.show_failures)
    total = sum(report.requests for _, report in reports)
    failures = sum(len(report.failures) for _, report in reports)
    server_errors = sum(n for _, report in reports for code, n in report.statuses.items() if code >= 500)
    print(
        f"\nTOTAL: {total} requests in {time.monotonic() - started:.0f} s "
        f"({total / max(time.monotonic() - started, 1e-9):.0f}/s), "
        f"{failures} failures, {server_errors} responses >= 500"
    )
    return 1 if failures or server_errors else 0


if __name__ == "__main__":
    sys.exit(main())
