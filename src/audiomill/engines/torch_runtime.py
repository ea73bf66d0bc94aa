"""Which device a torch engine runs on, and how many CPU threads it may use.

Torch's default is one intra-op thread per visible core *per process*; the share each
worker takes instead comes from engines/threads.py (the one thread-budget rule, shared
with the onnxruntime engines).
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from pathlib import Path

import torch

from audiomill.config import Settings
from audiomill.engines.threads import available_cores, select_threads
from audiomill.errors import InvalidInput

_configure_lock = threading.Lock()


@dataclass(frozen=True)
class TorchRuntime:
    device: str
    threads: int


def select_device(settings: Settings) -> str:
    """``settings.device`` when given (checked), else CUDA when present, else CPU."""
    if settings.device:
        return check_device(settings.device)
    return "cuda" if torch.cuda.is_available() else "cpu"


def check_device(device: str) -> str:
    """Refuse a device this process cannot use, with a message instead of a CUDA trace."""
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise InvalidInput(f"unknown torch device {device!r} (use cpu, cuda or cuda:N)") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise InvalidInput(f"device {device!r} was asked for but CUDA is not available")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise InvalidInput(f"device {device!r} does not exist ({torch.cuda.device_count()} CUDA devices)")
    elif parsed.type != "cpu":
        raise InvalidInput(f"unsupported torch device {device!r} (use cpu, cuda or cuda:N)")
    return str(parsed)


@functools.cache
def cpu_computes_bfloat16() -> bool:
    """Whether this CPU has bfloat16 arithmetic (AVX-512 BF16 or AMX), which oneDNN uses
    for convolutions and matmuls under autocast. Without it bfloat16 is emulated and
    slower than float32."""
    for probe in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        check = getattr(torch.cpu, probe, None)  # torch >= 2.3; private but stable
        if check is not None and check():
            return True
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def configure_torch(settings: Settings) -> TorchRuntime:
    """Apply the thread count to this process and return the device to use.

    Idempotent and cheap: engines call it from ``setup()``; ``set_num_threads`` is
    process-wide, so the lock only keeps concurrent setups from interleaving.
    """
    threads = select_threads(settings)
    device = select_device(settings)
    with _configure_lock:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        if device == "cpu":
            # nn.MultiheadAttention's inference "fast path" computes self-attention on CPU
            # with plain bmm + softmax, while the regular path goes through
            # scaled_dot_product_attention's flash kernel. Measured on full-size htdemucs
            # (2 cores, one 7.8 s segment): 2.99 s with the fast path, 2.48 s without,
            # outputs equal within 3e-7. Process-wide, like the thread count.
            torch.backends.mha.set_fastpath_enabled(False)
    return TorchRuntime(device=device, threads=threads)


__all__ = ["TorchRuntime", "available_cores", "check_device", "configure_torch", "select_device", "select_threads"]
