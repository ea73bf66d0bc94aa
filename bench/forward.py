"""Forward: one model segment through htdemucs per precision, batch size and attention path.

The engine's knobs measured where they act, without audio I/O: seconds per forward of
``batch`` 7.8 s segments, seconds per segment, and how far the output moves from the
float32 default (dB of the error relative to the output). On the device the service
would pick (CUDA when present). What the engine's defaults rest on:
  - attention fast path on/off (CPU: off is faster, see engines.torch_runtime);
  - BATCH_SEGMENTS_CPU / BATCH_SEGMENTS_CUDA in engines.separate;
  - what the ``precision`` parameter buys.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from audiomill.models.demucs_stream import autocast
from bench import common
from bench.common import print_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-size", choices=["full", "small"], default="full")
    parser.add_argument(
        "--batches",
        type=int,
        nargs="+",
        default=None,
        help="segments per forward (default: 1 2 on CPU, 1 4 8 16 on CUDA)",
    )
    parser.add_argument("--precision", nargs="+", default=["float32", "bfloat16", "float16"])
    parser.add_argument("--repeats", type=int, default=None, help="timed forwards per setting")


def run(args: argparse.Namespace) -> None:
    import torch
    from demucs.pretrained import get_model

    common.header(f"Forward: htdemucs segments per precision and batch ({args.model_size}, random weights)")
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    batches = args.batches or ([1, 4, 8, 16] if cuda else [1, 2])
    repeats = args.repeats or (10 if cuda else 2)
    precisions = [p for p in args.precision if cuda or p != "float16"]
    model = get_model(common.MODEL_NAME, repo=common.ensure_model(args.model_size)).models[0]
    model.to(device).eval()
    frames = int(model.segment * model.samplerate)
    generator = torch.Generator().manual_seed(0)

    def timed(batch: torch.Tensor, precision: str) -> tuple[float, torch.Tensor]:
        with torch.inference_mode(), autocast(device, getattr(torch, precision)):
            out = model(batch)  # warm-up: cuDNN / oneDNN pick their kernels here
            if cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
            for _ in range(repeats):
                out = model(batch)
            if cuda:
                torch.cuda.synchronize()
        return (time.perf_counter() - start) / repeats, out.float()

    rows: list[list[object]] = []
    for fastpath in (True, False):
        torch.backends.mha.set_fastpath_enabled(fastpath)
        for batch_size in batches:
            batch = torch.randn(batch_size, model.audio_channels, frames, generator=generator).to(device)
            reference: torch.Tensor | None = None
            for precision in precisions:
                seconds, out = timed(batch, precision)
                if reference is None:
                    reference = out
                rows.append(
                    [
                        "on" if fastpath else "off",
                        batch_size,
                        precision,
                        f"{seconds:.4f}",
                        f"{seconds / batch_size:.4f}",
                        f"{_db_from(out, reference):.0f}" if precision != "float32" else "-",
                    ]
                )
            del batch
    print(f"threads: {torch.get_num_threads()}, segment: {frames} frames, {repeats} timed forwards each")
    print_table(["MHA fast path", "batch", "precision", "s per forward", "s per segment", "dB from float32"], rows)
    _against_cpu_float32(model, frames, precisions, device)


def _against_cpu_float32(model: Any, frames: int, precisions: list[str], device: str) -> None:
    """How far each setting lands from true float32 on CPU, for one segment.

    On CUDA, "float32" convolutions run in TF32 by default (cuDNN), for demucs' CLI too:
    this puts the reduced precisions next to the deviation demucs' own GPU run has.
    """
    import torch

    segment = torch.randn(1, model.audio_channels, frames, generator=torch.Generator().manual_seed(1))
    settings = [("cpu", "float32"), ("cpu", "bfloat16")]
    if device == "cuda":
        settings += [("cuda", precision) for precision in precisions]
    outputs: dict[tuple[str, str], torch.Tensor] = {}
    for where, precision in settings:
        model.to(where)
        with torch.inference_mode(), autocast(where, getattr(torch, precision)):
            outputs[(where, precision)] = model(segment.to(where)).float().cpu()
    model.to(device)
    reference = outputs[("cpu", "float32")]
    rows: list[list[object]] = []
    for (where, precision), out in outputs.items():
        if (where, precision) == ("cpu", "float32"):
            continue
        note = " (TF32 convolutions, torch's CUDA default)" if (where, precision) == ("cuda", "float32") else ""
        rows.append([f"{where} {precision}{note}", f"{_db_from(out, reference):.1f}"])
    print("\nfrom true float32 on CPU, one segment:")
    print_table(["setting", "dB from CPU float32"], rows)


def _db_from(out: Any, reference: Any) -> float:
    """Relative error of ``out`` against ``reference``, in dB."""
    import torch

    error = (out - reference).norm() / reference.norm()
    return 20 * torch.log10(error.clamp_min(1e-12)).item()
