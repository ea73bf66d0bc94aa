"""Stem separation with a Demucs model (job kind ``separate``), streaming.

Memory does not grow with the track. Three passes over disk, each a stream:
  1. decode the input once at the model's rate, accumulating demucs' mean/std
     normalisation and parking the samples in a float32 scratch;
  2. separate from that scratch, writing each stem to its own float32 scratch while
     its peak is tracked;
  3. encode each stem to the requested format with the clip policy applied (it needs
     the peak, known only after pass 2).
The scratches are raw float32 (audio.ScratchAudio): no second decode of the upload and
no container to parse on the way back. The forward passes run in float32 or under
bfloat16/float16 autocast, per ``precision`` (``compute_dtype_for`` says when ``auto``
picks which).

Clip policy (``clip_mode``), as demucs' ``prevent_clip`` but per stem:
  rescale  divide the stem by ``max(1.01 * peak, 1)``;
  clamp    hard clip to ±0.99;
  none     write as is (only 32-bit float wav keeps samples beyond ±1).
With ``residual=True`` the stems are meant to sum to the mix, so ``rescale`` applies ONE
common factor (from the loudest stem) to every stem: they then sum to the mix times that
factor, reported as ``result.output_gain`` (1.0 when nothing needed scaling, and with
``none`` or ``clamp``). ``clamp`` can still break the sum where a stem is clipped;
``none`` with float wav keeps it exactly (the ``vocals`` kind's default, see
params/separate.py's VocalSplitParams).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from audiomill import audio
from audiomill.config import Settings, get_settings
from audiomill.engines.base import EngineContext, raise_if_cancelled
from audiomill.engines.torch_runtime import check_device, configure_torch, cpu_computes_bfloat16
from audiomill.errors import InvalidInput
from audiomill.models import demucs_repo
from audiomill.models.demucs_stream import DemucsStream, MixStatistics, mix_statistics
from audiomill.params import SeparateParams


# Segments per forward pass (bench/forward.py measures them). 2 CPU cores, full-size
# random-weight htdemucs: batches of 2 and 4 cost 3-16 % more CPU time per segment and
# 0.5-1 GB more peak RSS than one at a time, so CPU runs one. H100: one segment 0.035 s,
# four 0.07 s (0.018 s each), eight 0.12 s; four takes most of the gain and leaves room on
# smaller GPUs.
BATCH_SEGMENTS_CPU = 1
BATCH_SEGMENTS_CUDA = 4

DECODE_BLOCK_FRAMES = 65536
CLAMP_LIMIT = 0.99  # demucs' prevent_clip(mode="clamp")
RESCALE_HEADROOM = 1.01  # demucs' prevent_clip(mode="rescale")

# Progress split across the stages (fractions of the whole job).
_LOAD_END, _ANALYSE_END, _SEPARATE_END = 0.05, 0.1, 0.9


def setup() -> None:
    """Once per worker: size torch's thread pool to this worker's share of the cores."""
    configure_torch(get_settings())


@dataclass(frozen=True)
class StemPlan:
    """Which stems to write and how they are made from the model's sources."""

    names: tuple[str, ...]
    keep: str | None  # two_stems: the source kept as is
    residual_into: str | None  # the stem that receives mix - sum(sources)


def plan_stems(sources: list[str], params: SeparateParams) -> StemPlan:
    if params.two_stems is None:
        target = "other" if "other" in sources else sources[-1]
        return StemPlan(tuple(sources), None, target if params.residual else None)
    if params.two_stems not in sources:
        raise InvalidInput(
            f"stem {params.two_stems!r} is not in model {params.model!r}; its stems are: {', '.join(sources)}"
        )
    complement = params.complement_name or f"no_{params.two_stems}"
    if complement == params.two_stems:
        raise InvalidInput("complement_name must differ from two_stems")
    return StemPlan((params.two_stems, complement), params.two_stems, complement if params.residual else None)


def run(ctx: EngineContext[SeparateParams]) -> None:
    params = ctx.params
    input_path = ctx.input_path("audio")
    info = audio.probe(input_path)  # UnsupportedMedia before any model work
    stream, plan = _prepare(ctx)
    sample_rate, channels = stream.sample_rate, stream.channels

    extension = audio.extension_for(params.output_format)
    outputs = {stem: ctx.output_path(stem, f"{stem}.{extension}") for stem in plan.names}
    # Scratch beside the outputs: same disk, and removed with the job's folder.
    scratch_parent = next(iter(outputs.values())).parent
    with (
        tempfile.TemporaryDirectory(prefix=".separate-", dir=scratch_parent) as scratch,
        contextlib.ExitStack() as open_files,  # closed before the folder is removed
    ):
        folder = Path(scratch)
        ctx.progress(_LOAD_END, "analysing")
        mix = open_files.enter_context(audio.ScratchAudio(folder / "mix.f32", channels))
        decoded = _mix_blocks(ctx, input_path, info.channels, sample_rate, channels)
        stats = mix_statistics(_parked(decoded, mix))
        if stats.frames == 0:
            raise InvalidInput("the input holds no audio samples")
        stems = {
            stem: open_files.enter_context(audio.ScratchAudio(folder / f"{stem}.f32", channels)) for stem in plan.names
        }
        ctx.progress(_ANALYSE_END, "separating")
        peaks = _separate_to_scratch(ctx, stream, plan, stats, mix, stems)
        gains = _clip_gains(peaks, params.clip_mode, params.residual)
        for index, stem in enumerate(plan.names):
            raise_if_cancelled(ctx)
            ctx.progress(_SEPARATE_END + (1 - _SEPARATE_END) * index / len(plan.names), "encoding")
            _encode_stem(ctx, stems[stem], outputs[stem], sample_rate, gains[stem], params)
    ctx.progress(1.0, "done")
    result: dict[str, object] = {
        "model": params.model,
        "stems": list(plan.names),
        "sample_rate": sample_rate,
        "duration_seconds": stats.frames / sample_rate,
        "precision": str(stream.compute_dtype).removeprefix("torch."),
    }
    if params.residual:
        # the stems sum to the mix times this (1.0: exactly), see the module docstring
        result["output_gain"] = gains[plan.names[0]]
    ctx.set_result(**result)


def _prepare(ctx: EngineContext[SeparateParams]) -> tuple[DemucsStream, StemPlan]:
    """Threads, device and the warm model, checked against the parameters."""
    params = ctx.params
    settings: Settings = getattr(ctx, "settings", None) or get_settings()
    configure_torch(settings)
    device = check_device(ctx.device)
    ctx.progress(0.0, "loading model")
    model = demucs_repo.get_model(params.model, settings, device, _download_progress(ctx))
    plan = plan_stems(list(model.sources), params)
    stream = DemucsStream(
        model,
        shifts=params.shifts,
        overlap=params.overlap,
        segment_seconds=params.segment_seconds,
        batch_segments=BATCH_SEGMENTS_CUDA if device.startswith("cuda") else BATCH_SEGMENTS_CPU,
        device=device,
        compute_dtype=compute_dtype_for(params.precision, device),
    )
    raise_if_cancelled(ctx)
    return stream, plan


def compute_dtype_for(precision: str, device: str) -> torch.dtype:
    """The autocast dtype for ``precision`` on ``device``, refused where it cannot run.

    ``auto`` takes bfloat16 only where it is both faster and closer to float32 than a
    GPU's default float32 (TF32 convolutions) is: CPUs with native bfloat16 (measured
    with bench/forward.py on full-size htdemucs: -46.9 dB from CPU float32, while CUDA
    float32 lands at -44.5 dB; 1.5x faster per segment than our float32 on 2 Zen 4
    cores). GPUs keep float32: on an H100 bfloat16 bought at most 22 % per segment and
    nothing end to end (B2).
    """
    if precision == "auto":
        precision = "bfloat16" if not device.startswith("cuda") and cpu_computes_bfloat16() else "float32"
    if precision == "float32":
        return torch.float32
    if precision == "float16":
        if not device.startswith("cuda"):
            raise InvalidInput("precision float16 needs a CUDA device; on CPU use bfloat16")
        return torch.float16
    if device.startswith("cuda") and not torch.cuda.is_bf16_supported():
        raise InvalidInput("this GPU has no bfloat16 support; use float16 or float32")
    return torch.bfloat16


# ---------------------------------------------------------------- input


def _mix_blocks(
    ctx: EngineContext[SeparateParams],
    path: Path,
    native_channels: int,
    sample_rate: int,
    channels: int,
) -> Iterator[torch.Tensor]:
    """The input at the model's rate and channel count, as (channels, frames) tensors."""
    # Like demucs' convert_audio_channels: more channels than the model takes -> keep the
    # first ones (the audio module only mixes down to mono or up from mono).
    decode_channels = channels if native_channels <= channels or channels == 1 else None
    for block in audio.iter_decode(path, sample_rate, decode_channels, DECODE_BLOCK_FRAMES):
        raise_if_cancelled(ctx)
        yield torch.from_numpy(np.ascontiguousarray(block[:channels]))


def _parked(blocks: Iterable[torch.Tensor], scratch: audio.ScratchAudio) -> Iterator[torch.Tensor]:
    """Pass the blocks through, keeping a copy in ``scratch`` for the next pass."""
    for block in blocks:
        scratch.write(block.numpy())
        yield block


# ---------------------------------------------------------------- separation


class _FrameFifo:
    """Mix frames read ahead of the model's output, kept to build the residual."""

    def __init__(self) -> None:
        self._blocks: deque[torch.Tensor] = deque()

    def push(self, block: torch.Tensor) -> None:
        self._blocks.append(block)

    def pop(self, frames: int) -> torch.Tensor:
        parts = []
        while frames > 0:
            head = self._blocks[0]
            take = min(frames, head.shape[-1])
            parts.append(head[:, :take])
            if take == head.shape[-1]:
                self._blocks.popleft()
            else:
                self._blocks[0] = head[:, take:]
            frames -= take
        return torch.cat(parts, -1)


def _separate_to_scratch(
    ctx: EngineContext[SeparateParams],
    stream: DemucsStream,
    plan: StemPlan,
    stats: MixStatistics,
    mix: audio.ScratchAudio,
    stems_out: dict[str, audio.ScratchAudio],
) -> dict[str, float]:
    """Pass 2: the model over the parked mix; each stem to its scratch. Returns peaks."""
    mean, std = stats.mean, stats.std + 1e-8  # demucs' separate_tensor, to the letter
    fifo = _FrameFifo()
    need_mix = plan.residual_into is not None

    def normalised() -> Iterator[torch.Tensor]:
        for samples in mix.blocks(DECODE_BLOCK_FRAMES):
            raise_if_cancelled(ctx)
            block = torch.from_numpy(samples)
            if need_mix:
                fifo.push(block)
            yield (block - mean) / std

    def on_segments(_segments: int, frames_done: int) -> None:
        raise_if_cancelled(ctx)
        span = _SEPARATE_END - _ANALYSE_END
        ctx.progress(_ANALYSE_END + span * frames_done / stats.frames, "separating")

    source_index = {name: i for i, name in enumerate(stream.sources)}
    peaks = dict.fromkeys(plan.names, 0.0)
    with torch.inference_mode():
        for estimates in stream.separate(normalised(), on_segments):
            estimates = estimates * std + mean
            stems = _stems_from_sources(estimates, plan, source_index)
            if plan.residual_into is not None:
                original = fifo.pop(estimates.shape[-1])
                stems[plan.residual_into] = stems[plan.residual_into] + (original - estimates.sum(0))
            for stem, samples in stems.items():
                block = samples.numpy()
                peaks[stem] = max(peaks[stem], float(np.abs(block).max(initial=0.0)))
                stems_out[stem].write(block)
    return peaks


def _stems_from_sources(
    estimates: torch.Tensor, plan: StemPlan, source_index: dict[str, int]
) -> dict[str, torch.Tensor]:
    if plan.keep is None:
        return {name: estimates[source_index[name]] for name in plan.names}
    kept = estimates[source_index[plan.keep]]
    # The complement is the sum of the other sources (demucs' CLI --other-method add).
    others = estimates.sum(0) - kept
    return {plan.names[0]: kept, plan.names[1]: others}


# ---------------------------------------------------------------- output


def _clip_gains(peaks: dict[str, float], clip_mode: str, residual: bool) -> dict[str, float]:
    """The factor each stem is multiplied by before encoding (see the module docstring)."""
    if clip_mode != "rescale":
        return dict.fromkeys(peaks, 1.0)
    if residual:
        common = 1.0 / max(RESCALE_HEADROOM * max(peaks.values()), 1.0)
        return dict.fromkeys(peaks, common)
    return {stem: 1.0 / max(RESCALE_HEADROOM * peak, 1.0) for stem, peak in peaks.items()}


def _encode_stem(
    ctx: EngineContext[SeparateParams],
    stem: audio.ScratchAudio,
    out_path: Path,
    sample_rate: int,
    gain: float,
    params: SeparateParams,
) -> None:
    """Pass 3: one stem from its scratch to the output format, clip policy applied."""
    with audio.AudioWriter(out_path, sample_rate, stem.channels, params) as writer:
        for block in stem.blocks(DECODE_BLOCK_FRAMES):
            raise_if_cancelled(ctx)
            if gain != 1.0:
                block = block * np.float32(gain)
            if params.clip_mode == "clamp":
                block = np.clip(block, -CLAMP_LIMIT, CLAMP_LIMIT)
            writer.write(block)


def _download_progress(ctx: EngineContext[SeparateParams]) -> demucs_repo.DownloadProgress:
    def report(done: int, total: int | None) -> None:
        raise_if_cancelled(ctx)
        fraction = done / total if total else 0.0
        ctx.progress(_LOAD_END * fraction, f"downloading model ({done // 2**20} MiB)")

    return report


__all__ = ["setup", "run", "plan_stems", "StemPlan"]
