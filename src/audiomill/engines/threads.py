"""How many CPU threads one job's compute may use: the one thread-budget rule.

Numeric libraries (torch, onnxruntime) default to one thread per visible core *per
process*: with several worker processes (or several jobs at once in one) on a machine they
oversubscribe the cores and every job slows down. So each job takes its share: the cores
this process may run on (its CPU affinity, which containers and ``taskset`` narrow)
divided by the number of jobs the worker runs at once, unless ``torch_threads`` is set.
Torch-free, so onnxruntime engines use it without importing torch.
"""

from __future__ import annotations

import os

from audiomill.config import Settings


def available_cores() -> int:
    """Cores this process may run on (affinity), not the machine's total."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS/Windows have no affinity API
        return os.cpu_count() or 1


def select_threads(settings: Settings) -> int:
    """``settings.torch_threads`` when set, else this job's share of the cores (>= 1)."""
    if settings.torch_threads is not None:
        return max(1, settings.torch_threads)
    return max(1, available_cores() // max(1, settings.worker_concurrency))
