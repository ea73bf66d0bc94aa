"""The composer engine alone (no server), in this process: ``python -m bench.generate_alone SECONDS``.

Prints wall and CPU time and this process's peak resident memory; bench_generate runs it
in a subprocess as the "engine alone" peer of the API figures.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from audiomill.engines import generate
from audiomill.engines.base import LocalContext
from audiomill.params.generate import GenerateParams

PROMPT = "upbeat electronic dance music, energetic, with a catchy synth lead"


def main() -> None:
    duration = float(sys.argv[1])
    generate.setup()
    before = resource.getrusage(resource.RUSAGE_SELF)
    with tempfile.TemporaryDirectory() as folder:
        ctx: LocalContext[GenerateParams] = LocalContext(
            params=GenerateParams(prompt=PROMPT, duration_seconds=duration, seed=1), inputs={}, output_dir=Path(folder)
        )
        start = time.perf_counter()
        generate.run(ctx)
        wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    print(f"alone {duration:g} {wall:.3f} {cpu:.3f} {after.ru_maxrss / 1024:.0f} {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
