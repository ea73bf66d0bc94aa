"""Apply a Demucs model to a stream of audio, in constant memory.

``demucs.apply.apply_model(model, mix, split=True)`` needs the whole track as one tensor
and returns all stems for the whole track at once: memory grows with track length.
This module computes the same result from a stream of blocks and yields the stems block
by block, holding only about one segment (plus a batch) of audio at a time.

It keeps demucs' chunking semantics exactly:

- segments of ``int(samplerate * segment)`` frames every ``int((1 - overlap) * length)``
  frames, each run through ``apply_model(sub_model, chunk, shifts=0, split=False)`` so
  padding, ``valid_length`` and trimming stay demucs' own;
- overlap-add with triangular weights ``** transition_power``, normalised by the summed
  weights: done here as a rolling buffer, finalising a frame once no later segment
  overlaps it;
- the shift trick as demucs does it: each shift prepends ``max_shift - randint(0, max_shift)``
  zeros to the *whole* track, splits that, and drops the prefix again. Shifts cannot be
  pushed into the per-chunk call: HTDemucs refuses inputs longer than its training
  segment. Each (sub-model, shift) pair is a "lane" with its own overlap-add buffer and
  all lanes advance over the same stream. The offsets come from the same generator
  (``random.randint``), drawn upfront: demucs draws each after the previous pass's
  forwards (its transformer consumes ``random`` too), so a seeded run gets different
  offsets, but given the same offsets the result is demucs' own (tested);
- bags of models: per-source weights averaged as ``BagOfModels`` does.

Several segments with the same shape go through one forward pass as a batch.
``compute_dtype`` runs the forward passes under autocast (bfloat16/float16): not demucs'
own arithmetic any more, so it is an explicit choice of the caller.
"""

from __future__ import annotations

import contextlib
import math
import random
from dataclasses import dataclass, field
from collections.abc import Callable, Iterable, Iterator, Sequence

import torch
from demucs.apply import BagOfModels, Model, TensorChunk, apply_model
from demucs.htdemucs import HTDemucs

from audiomill.errors import InvalidInput


@dataclass(frozen=True)
class MixStatistics:
    """Mean and standard deviation of the mono mix, as demucs normalises a track."""

    mean: float
    std: float
    frames: int
    peak: float


def mix_statistics(blocks: Iterable[torch.Tensor]) -> MixStatistics:
    """One cheap pass over (channels, frames) blocks: demucs' ``ref = wav.mean(0)``
    then ``ref.mean()`` / ``ref.std()`` (unbiased), accumulated in float64."""
    total = 0.0
    total_sq = 0.0
    frames = 0
    peak = 0.0
    shift: float | None = None  # subtracting a first estimate keeps the variance exact
    for block in blocks:
        if block.shape[-1] == 0:
            continue
        ref = block.to(torch.float64).mean(0)
        if shift is None:
            shift = float(ref[: min(4096, ref.numel())].mean())
        centred = ref - shift
        total += float(centred.sum())
        total_sq += float((centred * centred).sum())
        frames += ref.numel()
        peak = max(peak, float(block.abs().max()))
    if frames == 0 or shift is None:
        return MixStatistics(0.0, 0.0, 0, 0.0)
    mean_centred = total / frames
    # One frame has no spread; 0 (not torch's nan) keeps a 1-sample input finite.
    variance = (total_sq - frames * mean_centred**2) / (frames - 1) if frames > 1 else 0.0
    return MixStatistics(shift + mean_centred, math.sqrt(max(variance, 0.0)), frames, peak)


def autocast(device_type: str, dtype: torch.dtype) -> contextlib.AbstractContextManager[object]:
    """Forward passes in ``dtype``: torch's autocast (convolutions and matmuls in dtype;
    STFT, norms and softmax stay float32), or nothing at all for float32."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type, dtype=dtype)


def segment_seconds_for(model: BagOfModels, segment_seconds: float | None) -> float | None:
    """Check a segment override like demucs' CLI does; None keeps the model's own."""
    if segment_seconds is None:
        return None
    limit = model.max_allowed_segment
    if segment_seconds > limit:
        raise InvalidInput(
            f"segment_seconds={segment_seconds} is longer than this transformer model was "
            f"trained for; the maximum is {float(limit):g}"
        )
    return segment_seconds


@dataclass
class _Lane:
    """One (sub-model, shift) pass over the stream, with its overlap-add buffers."""

    model: Model
    model_index: int
    delay_frames: int  # zeros demucs prepends for this shift (max_shift - offset)
    next_segment: int = 0
    done: bool = False
    out_start: int = 0  # mix frame at index 0 of ``acc`` / ``weight_sum``
    acc: torch.Tensor = field(default_factory=lambda: torch.zeros(0))
    weight_sum: torch.Tensor = field(default_factory=lambda: torch.zeros(0))

    def segment_start(self, index: int, stride_frames: int) -> int:
        """Mix frame where segment ``index`` starts (negative inside the zero prefix)."""
        return index * stride_frames - self.delay_frames

    def frontier(self, stride_frames: int, total_frames: int | None) -> int:
        """Frames before this index get no more contributions from this lane."""
        if self.done:
            assert total_frames is not None
            return total_frames
        return max(0, self.segment_start(self.next_segment, stride_frames))


@dataclass(frozen=True)
class _Job:
    lane: _Lane
    index: int
    start: int  # mix frame of the segment's first frame
    frames: int  # segment length (shorter at the end of the stream)
    left: int  # context frames demucs' TensorChunk.padded reads left of the segment
    right: int


class DemucsStream:
    """Separate a stream with ``model`` exactly as ``apply_model(split=True)`` would."""

    def __init__(
        self,
        model: BagOfModels,
        *,
        shifts: int = 1,
        overlap: float = 0.25,
        segment_seconds: float | None = None,
        transition_power: float = 1.0,
        batch_segments: int = 1,
        device: str | torch.device = "cpu",
        compute_dtype: torch.dtype = torch.float32,
    ) -> None:
        if not 0 <= overlap < 1:
            raise InvalidInput("overlap must be in [0, 1)")
        if transition_power < 1:
            raise InvalidInput("transition_power must be >= 1 (as in demucs)")
        self.model = model
        self.shifts = shifts
        self.segment_override = segment_seconds_for(model, segment_seconds)
        self.batch_segments = max(1, batch_segments)
        self.device = torch.device(device)
        self.compute_dtype = compute_dtype
        self.sources: list[str] = list(model.sources)
        self.channels: int = model.audio_channels
        self.sample_rate: int = model.samplerate
        self.transition_power = transition_power
        self.overlap = overlap

        # Every sub-model of a bag splits with its own ``segment`` in demucs; ours share
        # one grid, so they must agree (true of every released bag).
        segments = {
            float(self.segment_override if self.segment_override is not None else m.segment) for m in model.models
        }
        if len(segments) != 1:
            raise InvalidInput("the models of this bag use different segment lengths")
        segment = self.segment_override if self.segment_override is not None else model.models[0].segment
        self.segment_frames = int(self.sample_rate * segment)
        self.stride_frames = int((1 - overlap) * self.segment_frames)
        if self.segment_frames < 1 or self.stride_frames < 1:
            raise InvalidInput("segment too short for this overlap")
        half = self.segment_frames // 2
        weight = torch.cat([torch.arange(1, half + 1), torch.arange(self.segment_frames - half, 0, -1)])
        self.weight = (weight / weight.max()) ** transition_power

    # ------------------------------------------------------------------ public

    def separate(
        self,
        blocks: Iterable[torch.Tensor],
        on_segments: Callable[[int, int], None] | None = None,
    ) -> Iterator[torch.Tensor]:
        """Yield (sources, channels, frames) blocks covering the input stream, in order.

        ``blocks`` are (channels, frames) float tensors at the model's rate, already
        normalised like demucs does. ``on_segments(segments_done, frames_finalised)`` is
        called after each round of forward passes (``batch_segments`` segments per lane
        at most): a place to report progress, or to raise to cancel.
        """
        lanes = self._make_lanes()
        source = iter(blocks)
        inp = _InputBuffer(self.channels)
        emitted = 0
        segments_done = 0
        total: int | None = None  # known once the stream is exhausted
        per_lane = max(1, math.ceil(self.batch_segments / max(1, self.shifts)))
        while True:
            if total is not None:
                self._finish_lanes(lanes, total)
            jobs = self._ready_jobs(lanes, inp, total, per_lane)
            if total is None and not self._enough(lanes, jobs, per_lane):
                block = next(source, None)
                if block is None:
                    total = inp.end
                else:
                    inp.append(block)
                continue
            for job_batch in self._batches(jobs):
                self._run(job_batch, inp)
                segments_done += len(job_batch)
            if total is not None:
                self._finish_lanes(lanes, total)
            frontier = min(lane.frontier(self.stride_frames, total) for lane in lanes)
            if frontier > emitted:
                yield self._combine(lanes, emitted, frontier)
                emitted = frontier
            if on_segments is not None and jobs:
                on_segments(segments_done, emitted)
            if total is not None and all(lane.done for lane in lanes):
                return
            inp.drop_before(self._keep_input_from(lanes))

    def _finish_lanes(self, lanes: Sequence[_Lane], total: int) -> None:
        for lane in lanes:
            if lane.next_segment * self.stride_frames >= total + lane.delay_frames:
                lane.done = True

    # ------------------------------------------------------------------ lanes

    def _make_lanes(self) -> list[_Lane]:
        lanes = []
        for model_index, sub_model in enumerate(self.model.models):
            if self.shifts:
                max_shift = int(0.5 * sub_model.samplerate)
                for _ in range(self.shifts):
                    # Same draw as apply_model: random.randint on the global generator.
                    offset = random.randint(0, max_shift)
                    lanes.append(_Lane(sub_model, model_index, max_shift - offset))
            else:
                lanes.append(_Lane(sub_model, model_index, 0))
        for lane in lanes:
            lane.acc = torch.zeros(len(self.sources), self.channels, 0)
            lane.weight_sum = torch.zeros(0)
        return lanes

    def _valid_frames(self, model: Model, frames: int) -> int:
        """The padded length ``apply_model(split=False)`` feeds the model (its own rule)."""
        if isinstance(model, HTDemucs) and self.segment_override is not None:
            return int(self.segment_override * model.samplerate)
        if hasattr(model, "valid_length"):
            return int(model.valid_length(frames))
        return frames

    def _job(self, lane: _Lane, index: int, total: int | None) -> _Job:
        start = lane.segment_start(index, self.stride_frames)
        frames = self.segment_frames
        if total is not None:  # demucs' TensorChunk clips the last chunk to the track
            frames = min(frames, total + lane.delay_frames - index * self.stride_frames)
        delta = self._valid_frames(lane.model, frames) - frames
        return _Job(lane, index, start, frames, delta // 2, delta - delta // 2)

    def _ready_jobs(self, lanes: Sequence[_Lane], inp: _InputBuffer, total: int | None, per_lane: int) -> list[_Job]:
        """Up to ``per_lane`` next segments of each lane whose input (with context) is here."""
        jobs = []
        for lane in lanes:
            index = lane.next_segment
            while not lane.done and index < lane.next_segment + per_lane:
                if total is not None and index * self.stride_frames >= total + lane.delay_frames:
                    break
                job = self._job(lane, index, total)
                if total is None and job.start + job.frames + job.right > inp.end:
                    break
                jobs.append(job)
                index += 1
        return jobs

    def _enough(self, lanes: Sequence[_Lane], jobs: Sequence[_Job], per_lane: int) -> bool:
        """Enough input to give every unfinished lane a full batch."""
        for lane in lanes:
            if not lane.done and sum(1 for j in jobs if j.lane is lane) < per_lane:
                return False
        return True

    def _batches(self, jobs: Sequence[_Job]) -> Iterator[list[_Job]]:
        groups: dict[tuple[int, int, int, int], list[_Job]] = {}
        for job in jobs:
            key = (job.lane.model_index, job.frames, job.left, job.right)
            groups.setdefault(key, []).append(job)
        for group in groups.values():
            for i in range(0, len(group), self.batch_segments):
                yield group[i : i + self.batch_segments]

    # ------------------------------------------------------------------ compute

    def _run(self, jobs: Sequence[_Job], inp: _InputBuffer) -> None:
        first = jobs[0]
        windows = torch.stack([inp.window(j.start - j.left, j.start + j.frames + j.right) for j in jobs])
        # A TensorChunk over windows that hold exactly the context demucs would read:
        # apply_model pads, runs and trims it with demucs' own code.
        chunk = TensorChunk(windows, first.left, first.frames)
        with torch.inference_mode(), autocast(self.device.type, self.compute_dtype):
            out = apply_model(
                first.lane.model,
                chunk,
                shifts=0,
                split=False,
                segment=self.segment_override,
                device=self.device,
            )
        out = out.to("cpu", torch.float32)
        for job, estimate in sorted(zip(jobs, out), key=lambda pair: pair[0].index):
            self._accumulate(job, estimate)
            job.lane.next_segment = job.index + 1

    def _accumulate(self, job: _Job, estimate: torch.Tensor) -> None:
        lane = job.lane
        weight = self.weight[: job.frames]
        begin = max(job.start, lane.out_start)  # frames of the zero prefix are dropped
        end = job.start + job.frames
        if end <= begin:
            return
        grow = end - (lane.out_start + lane.weight_sum.numel())
        if grow > 0:
            lane.acc = torch.cat([lane.acc, lane.acc.new_zeros(*lane.acc.shape[:-1], grow)], -1)
            lane.weight_sum = torch.cat([lane.weight_sum, lane.weight_sum.new_zeros(grow)])
        lo, hi = begin - lane.out_start, end - lane.out_start
        skip = begin - job.start
        lane.acc[..., lo:hi] += weight[skip:] * estimate[..., skip:]
        lane.weight_sum[lo:hi] += weight[skip:]

    def _combine(self, lanes: Sequence[_Lane], begin: int, end: int) -> torch.Tensor:
        """Finalise frames [begin, end): per-lane normalisation, shift mean, bag weights."""
        per_model: dict[int, torch.Tensor] = {}
        for lane in lanes:
            lo, hi = begin - lane.out_start, end - lane.out_start
            lane_out = lane.acc[..., lo:hi] / lane.weight_sum[lo:hi]
            if lane.model_index in per_model:
                per_model[lane.model_index] = per_model[lane.model_index] + lane_out
            else:
                per_model[lane.model_index] = lane_out
            lane.acc = lane.acc[..., hi:].clone()
            lane.weight_sum = lane.weight_sum[hi:].clone()
            lane.out_start = end
        estimates: torch.Tensor | float = 0.0
        totals = [0.0] * len(self.sources)
        for model_index, out in per_model.items():
            if self.shifts:
                out = out / self.shifts
            for k, source_weight in enumerate(self.model.weights[model_index]):
                out[k] *= source_weight
                totals[k] += source_weight
            estimates = estimates + out
        assert isinstance(estimates, torch.Tensor)
        for k in range(len(self.sources)):
            estimates[k] /= totals[k]
        return estimates

    def _keep_input_from(self, lanes: Sequence[_Lane]) -> int:
        """Oldest input frame any future segment (with its padding context) may read."""
        starts = [lane.segment_start(lane.next_segment, self.stride_frames) for lane in lanes if not lane.done]
        if not starts:
            return 0
        # The last, shorter segment is padded around its centre: it may reach back up to
        # half a padded segment before its start.
        reach = max(self._valid_frames(m, self.segment_frames) for m in self.model.models)
        return max(0, min(starts) - reach)


class _InputBuffer:
    """The recent part of the input stream, addressed by absolute frame index."""

    def __init__(self, channels: int) -> None:
        self.channels = channels
        self.start = 0  # absolute frame of the first kept frame
        self.end = 0  # absolute frame after the last received frame
        self._parts: list[torch.Tensor] = []

    def append(self, block: torch.Tensor) -> None:
        if block.ndim != 2 or block.shape[0] != self.channels:
            raise ValueError(f"expected ({self.channels}, frames) blocks, got {tuple(block.shape)}")
        if block.shape[-1]:
            self._parts.append(block.to(torch.float32))
            self.end += block.shape[-1]

    def _joined(self) -> torch.Tensor:
        if len(self._parts) != 1:
            self._parts = [torch.cat(self._parts, -1) if self._parts else torch.zeros(self.channels, 0)]
        return self._parts[0]

    def window(self, begin: int, end: int) -> torch.Tensor:
        """Frames [begin, end) with zeros outside what was received (as demucs pads).

        Callers only ask past ``end`` once the stream is over, so those zeros are the
        track's end, as in demucs.
        """
        assert max(begin, 0) >= self.start or begin >= self.end, "input dropped too early"
        out = torch.zeros(self.channels, end - begin)
        lo, hi = max(begin, self.start, 0), min(end, self.end)
        if hi > lo:
            out[:, lo - begin : hi - begin] = self._joined()[:, lo - self.start : hi - self.start]
        return out

    def drop_before(self, frame: int) -> None:
        frame = min(frame, self.end)
        if frame <= self.start:
            return
        data = self._joined()
        self._parts = [data[:, frame - self.start :].clone()]
        self.start = frame
