"""MusicGen through transformers: load once, generate any length, batch across jobs.

* Weights come from :mod:`audiomill.models.musicgen_catalog` (a Hugging Face layout folder)
  and load only through ``MusicgenForConditionalGeneration.from_pretrained(folder,
  local_files_only=True)`` and ``AutoTokenizer.from_pretrained(folder, local_files_only=True)``.
* Past the 30 s MusicGen was trained on, generation goes on in windows: the last
  ``context_seconds`` of audio *codes* of the previous window are the decoder prompt of the
  next one (as audiocraft's ``generate`` does for long durations), so the music continues
  instead of restarting; each window is decoded with that context and joined with a short
  crossfade.
* Sampling (top-k, temperature) is done per request with its own ``torch.Generator``
  through the Gumbel-max trick inside a logits processor while transformers runs "greedy":
  a request's random stream does not depend on which other requests share its batch, so a
  seed reproduces the same music whether it ran alone or in a batch of 16.
* Every window of every job goes through the model's :class:`Batcher`: concurrent windows
  with the same context length and similar lengths become one ``generate`` call.
* MusicGen-melody (``model_type`` ``musicgen_melody``) loads the same way through
  ``MusicgenMelodyForConditionalGeneration``; each window is conditioned on the one-hot
  chroma (:mod:`audiomill.models.musicgen_chroma`, librosa) of the melody under it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audiomill.config import Settings
from audiomill.errors import InvalidInput, JobCancelled, ModelUnavailable
from audiomill.models import cache, musicgen_catalog
from audiomill.models.musicgen_chroma import ChromaSettings, window_chroma
from audiomill.models.batcher import Batcher, Slot

# MusicGen was trained on 30 s excerpts: a window never asks for more.
WINDOW_SECONDS = 30.0
# Audio of the previous window the next one continues from (audiocraft's extend_stride is 18 s
# of a 30 s window, i.e. 12 s of context; 10 s keeps 20 s of new music per window).
CONTEXT_SECONDS = 10.0
MAX_DURATION_SECONDS = 300.0
# Crossfade where a window's audio meets the previous one (both decode the same codes there).
CROSSFADE_SECONDS = 0.05

# MusicGen's published sampling defaults (audiocraft and the hub's generation_config.json).
GUIDANCE_SCALE = 3.0
TOP_K = 250
TEMPERATURE = 1.0

# How long the batcher waits for more requests after the first one arrives, and how many
# windows one generate call may carry (per-step latency bound: 16 cost about what 1 does on
# a GPU; on a CPU the step grows with the batch, so fewer).
COLLECT_SECONDS = 0.15
MAX_BATCH_CUDA = 16
MAX_BATCH_CPU = 4

ProgressFn = Callable[[float, str], None]
CancelledFn = Callable[[], bool]


# ---------------------------------------------------------------------------- the prompt


def fold_prompt(
    prompt: str,
    *,
    bpm: float | None = None,
    key: str | None = None,
    mood: str | None = None,
    genre: str | None = None,
    instruments: Sequence[str] | str | None = None,
    time_signature: str | None = None,
) -> str:
    """One text description the way MusicGen's training metadata reads ("..., 120 bpm").

    MusicGen has no tempo or key input: written in the text is all it can use (it follows
    them only roughly, which the result says)."""
    parts = [prompt.strip().rstrip(".")]
    if genre:
        parts.append(f"genre: {genre}")
    if mood:
        parts.append(f"mood: {mood}")
    if instruments:
        names = instruments if isinstance(instruments, str) else ", ".join(instruments)
        parts.append(f"instruments: {names}")
    if key:
        parts.append(f"key: {key}")
    if bpm is not None:
        parts.append(f"{bpm:g} bpm")
    if time_signature:
        parts.append(f"{time_signature} time")
    return ". ".join(part for part in parts if part)


# ---------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class WindowRequest:
    """One window of one job: what the batcher groups and the model generates."""

    text: str
    prompt_codes: torch.Tensor | None  # (codebooks, context_frames) long, CPU; None: first window
    new_frames: int
    generator: torch.Generator  # on the model's device; carries the job's seed across windows
    # MusicGen-melody: (chroma frames, 12) one-hot chroma of the melody under this window.
    chroma: np.ndarray | None = None

    @property
    def context_frames(self) -> int:
        return 0 if self.prompt_codes is None else int(self.prompt_codes.shape[-1])


@dataclass(frozen=True)
class WindowResult:
    codes: torch.Tensor  # (codebooks, context_frames + new_frames) long, CPU
    audio: np.ndarray  # (channels, samples) float32: context + new frames, decoded together


@dataclass
class LoadedMusicgen:
    """A model, its tokenizer and its batcher, kept warm per (folder, device)."""

    name: str
    folder: Path
    model: Any  # MusicgenForConditionalGeneration (typed loosely: transformers' stubs are partial)
    tokenizer: Any
    device: str
    num_codebooks: int
    frame_rate: float  # codes per second
    sample_rate: int
    channels: int
    samples_per_frame: int
    start_token_id: int
    # MusicGen-melody: the chroma recipe and how many chroma frames the model reads (235).
    melody: ChromaSettings | None = None
    chroma_length: int = 0
    batcher: Batcher[WindowRequest, WindowResult] = field(init=False)
    generate_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        on_gpu = self.device.startswith("cuda")
        self.batcher = Batcher(
            self._run_batch,
            max_batch_size=MAX_BATCH_CUDA if on_gpu else MAX_BATCH_CPU,
            collect_seconds=COLLECT_SECONDS,
            compatible=self._compatible,
            name=f"musicgen-batcher-{self.name}",
        )

    def frames_for(self, seconds: float) -> int:
        return max(1, math.ceil(seconds * self.frame_rate - 1e-9))

    def _compatible(self, leader: WindowRequest, other: WindowRequest) -> bool:
        # One call generates the longest request's frames for all: keep lengths within
        # 25 % (or one second) so nobody pays much for a neighbour's length.
        if leader.context_frames != other.context_frames:
            return False
        if (leader.chroma is None) != (other.chroma is None):
            return False
        longer = max(leader.new_frames, other.new_frames)
        shorter = min(leader.new_frames, other.new_frames)
        return longer - shorter <= max(self.frame_rate, 0.25 * longer)

    def _run_batch(self, slots: Sequence[Slot[WindowRequest, WindowResult]]) -> list[WindowResult]:
        with self.generate_lock:
            return generate_windows(self, slots)


def load(name: str, settings: Settings, device: str = "cpu") -> LoadedMusicgen:
    """The warm model ``name`` (``musicgen-small`` ...) on ``device``, resolved every call."""
    folder = musicgen_catalog.resolve(name, settings)
    return load_folder(folder, device, name=name)


def load_folder(folder: Path, device: str = "cpu", name: str | None = None) -> LoadedMusicgen:
    stamps = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(folder.iterdir()) if p.is_file())
    key = ("musicgen", str(folder), device, stamps)
    return cache.get_or_load(key, lambda: _load(folder, device, name or folder.name))


def _load(folder: Path, device: str, name: str) -> LoadedMusicgen:
    try:
        from transformers import (
            AutoConfig,
            AutoTokenizer,
            MusicgenForConditionalGeneration,
            MusicgenMelodyForConditionalGeneration,
        )
    except ImportError as exc:  # pragma: no cover - transformers is a dependency
        raise ModelUnavailable(f"MusicGen needs the 'transformers' package: {exc}") from None
    classes: dict[str, Any] = {
        "musicgen": MusicgenForConditionalGeneration,
        "musicgen_melody": MusicgenMelodyForConditionalGeneration,
    }
    try:
        config = AutoConfig.from_pretrained(folder, local_files_only=True)
        if config.model_type not in classes:
            raise ModelUnavailable(
                f"{folder} holds a {config.model_type!r} model; audiomill runs MusicGen checkpoints "
                "(model_type 'musicgen' or 'musicgen_melody')"
            )
        model: Any = classes[config.model_type].from_pretrained(folder, local_files_only=True, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except ModelUnavailable:
        raise
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelUnavailable(
            f"cannot load MusicGen from {folder}: {exc}. Missing files: "
            f"{', '.join(musicgen_catalog.missing_files(folder)) or 'none'}"
        ) from None
    return wrap_model(model, tokenizer, device, name, folder)


def wrap_model(model: Any, tokenizer: Any, device: str, name: str, folder: Path) -> LoadedMusicgen:
    """A loaded model and tokenizer ready to generate (benchmarks build one in memory)."""
    model.to(device).eval()
    audio_config = model.config.audio_encoder
    sample_rate = int(audio_config.sampling_rate)
    samples_per_frame = int(np.prod(audio_config.upsampling_ratios))
    start = model.generation_config.decoder_start_token_id
    if start is None:
        start = model.config.decoder.pad_token_id
    melody = model.config.model_type == "musicgen_melody"
    return LoadedMusicgen(
        name=name,
        folder=folder,
        model=model,
        tokenizer=tokenizer,
        device=device,
        num_codebooks=int(model.decoder.num_codebooks),
        frame_rate=sample_rate / samples_per_frame,
        sample_rate=sample_rate,
        channels=int(model.config.decoder.audio_channels),
        samples_per_frame=samples_per_frame,
        start_token_id=int(start),
        melody=ChromaSettings.from_folder(folder) if melody else None,
        chroma_length=int(model.config.chroma_length) if melody else 0,
    )


# ---------------------------------------------------------------------------- one generate call


class _SeededSampler:
    """Guidance, top-k and temperature, then a draw with one generator per request.

    transformers runs greedy search (argmax) over the scores this returns: adding Gumbel
    noise to log-probabilities and taking the argmax draws from their softmax, so each
    request's draw depends only on its own generator, whatever shares its batch.

    transformers appends its classifier-free-guidance processor *after* the custom ones, so
    the scores arrive as ``2 * batch * codebooks`` rows (conditional, then unconditional).
    The guidance is applied here, and both halves returned equal: the later processor's
    ``uncond + (cond - uncond) * scale`` then passes the result through unchanged. Were the
    order ever reversed (``batch * codebooks`` rows), the draw alone happens here."""

    # Finite, so the later guidance arithmetic stays finite (-inf - -inf would be NaN).
    _EXCLUDED = -1e9

    def __init__(
        self,
        generators: Sequence[torch.Generator],
        num_codebooks: int,
        guidance_scale: float,
        top_k: int,
        temperature: float,
    ):
        self.generators = list(generators)
        self.num_codebooks = num_codebooks
        self.guidance_scale = guidance_scale
        self.top_k = top_k
        self.temperature = temperature

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        rows = len(self.generators) * self.num_codebooks
        guided_here = scores.shape[0] == 2 * rows
        if guided_here:
            cond, uncond = scores.float().split(rows, dim=0)
            scores = uncond + (cond - uncond) * self.guidance_scale
        elif scores.shape[0] != rows:
            raise RuntimeError(f"MusicGen scores have {scores.shape[0]} rows, expected {rows} or {2 * rows}")
        scores = torch.log_softmax(scores.float() / self.temperature, dim=-1)
        if 0 < self.top_k < scores.shape[-1]:
            kth = torch.topk(scores, self.top_k, dim=-1).values[..., -1:]
            scores = scores.masked_fill(scores < kth, self._EXCLUDED)
        per_request = scores.view(len(self.generators), self.num_codebooks, -1)
        noise = torch.empty_like(per_request)
        for index, generator in enumerate(self.generators):
            uniform = torch.rand(
                per_request.shape[1:],
                generator=generator,
                device=per_request.device,
                dtype=per_request.dtype,
            )
            noise[index] = -torch.log(-torch.log(uniform.clamp_(1e-10, 1.0 - 1e-7)))
        drawn = (per_request + noise).view(rows, -1)
        return torch.cat([drawn, drawn], dim=0) if guided_here else drawn


class _StepWatch:
    """Per step: keeps the ids (codes come from them), updates progress, stops when all cancelled."""

    def __init__(
        self,
        slots: Sequence[Slot[WindowRequest, WindowResult]],
        num_codebooks: int,
        steps_total: int,
    ):
        self.slots = slots
        self.num_codebooks = num_codebooks
        self.steps_total = max(1, steps_total)
        self.steps = 0
        self.last_ids: torch.Tensor | None = None

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        self.last_ids = input_ids
        self.steps += 1
        fraction = min(1.0, self.steps / self.steps_total)
        for slot in self.slots:
            slot.fraction = fraction
        stop = all(slot.cancelled for slot in self.slots)
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)


def _criteria(watch: _StepWatch) -> Any:
    from transformers import StoppingCriteria, StoppingCriteriaList

    class _Watch(StoppingCriteria):
        def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:  # type: ignore[override]
            return watch(input_ids, scores, **kwargs)

    return StoppingCriteriaList([_Watch()])


def _processors(sampler: _SeededSampler) -> Any:
    from transformers import LogitsProcessor, LogitsProcessorList

    class _Sample(LogitsProcessor):
        def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
            return sampler(input_ids, scores)

    return LogitsProcessorList([_Sample()])


def generate_windows(loaded: LoadedMusicgen, slots: Sequence[Slot[WindowRequest, WindowResult]]) -> list[WindowResult]:
    """One ``model.generate`` call for every window in ``slots`` (same context length)."""
    requests = [slot.request for slot in slots]
    context = requests[0].context_frames
    if any(r.context_frames != context for r in requests):
        raise ValueError("windows of one batch must share their context length")
    codebooks = loaded.num_codebooks
    new_frames = max(r.new_frames for r in requests)
    # The delay pattern (codebook k lags k steps) costs codebooks - 1 extra steps.
    max_new_tokens = new_frames + codebooks - 1
    device = loaded.device
    text = loaded.tokenizer(
        [r.text for r in requests],
        padding=True,
        truncation=True,
        max_length=256,
        return_tensors="pt",
    )
    kwargs: dict[str, Any] = {
        "input_ids": text["input_ids"].to(device),
        "attention_mask": text["attention_mask"].to(device),
        "max_new_tokens": max_new_tokens,
        "do_sample": False,  # sampling happens in _SeededSampler (per-request generators)
        "top_k": None,
        "top_p": None,
        "temperature": None,
        "guidance_scale": GUIDANCE_SCALE,
    }
    chromas = [r.chroma for r in requests]
    if loaded.melody is not None and any(c is not None for c in chromas):
        if any(c is None for c in chromas):
            raise ValueError("windows of one batch must all have a melody or none")
        features = np.stack([_fit_chroma(c, loaded.chroma_length) for c in chromas if c is not None])
        kwargs["input_features"] = torch.from_numpy(features).to(device)
    prompt_ids = None
    if context:
        prompt = torch.stack([r.prompt_codes for r in requests if r.prompt_codes is not None])
        prompt_ids = prompt.reshape(len(requests) * codebooks, context).to(device)
        kwargs["decoder_input_ids"] = prompt_ids
    watch = _StepWatch(slots, codebooks, max_new_tokens)
    sampler = _SeededSampler([r.generator for r in requests], codebooks, GUIDANCE_SCALE, TOP_K, TEMPERATURE)
    with torch.inference_mode():
        audio = loaded.model.generate(
            **kwargs,
            logits_processor=_processors(sampler),
            stopping_criteria=_criteria(watch),
        )
    if all(slot.cancelled for slot in slots):
        raise JobCancelled()
    if watch.last_ids is None:
        raise RuntimeError("MusicGen generated no tokens")
    codes = _undelay(loaded, watch.last_ids, prompt_ids, len(requests))
    audio_np = audio.float().cpu().numpy()
    results = []
    for index, request in enumerate(requests):
        frames = context + request.new_frames
        samples = frames * loaded.samples_per_frame
        results.append(
            WindowResult(
                codes[index, :, :frames].clone(),
                np.ascontiguousarray(audio_np[index, :, :samples]),
            )
        )
    return results


def _fit_chroma(chroma: np.ndarray, length: int) -> np.ndarray:
    """Repeat, then cut, to the model's ``chroma_length`` as the model itself does: windows of
    different lengths then stack into one batch and each reads what it would have alone."""
    repeats = math.ceil(length / chroma.shape[0])
    return np.tile(chroma, (repeats, 1))[:length].astype(np.float32)


def _undelay(
    loaded: LoadedMusicgen,
    ids: torch.Tensor,
    prompt_ids: torch.Tensor | None,
    batch: int,
) -> torch.Tensor:
    """(batch * codebooks, length) delayed ids -> (batch, codebooks, frames) codes, on CPU.

    Same as generate's own ending (apply the delay mask, drop the pattern's pad tokens):
    codebook k of frame t sits at position 1 + t + k (position 0 is the start token)."""
    codebooks = loaded.num_codebooks
    length = ids.shape[-1]
    start = torch.full(
        (batch * codebooks, 1),
        loaded.start_token_id,
        dtype=torch.long,
        device=ids.device,
    )
    seed_ids = start if prompt_ids is None else torch.cat([start, prompt_ids], dim=-1)
    _, pattern = loaded.model.decoder.build_delay_pattern_mask(
        seed_ids, pad_token_id=loaded.start_token_id, max_length=length
    )
    ids = torch.where(pattern[..., :length] == -1, ids, pattern[..., :length])
    ids = ids.reshape(batch, codebooks, length)
    frames = length - codebooks
    codes = torch.stack([ids[:, k, 1 + k : 1 + k + frames] for k in range(codebooks)], dim=1)
    return codes.cpu()


# ---------------------------------------------------------------------------- any duration


@dataclass(frozen=True)
class GeneratedMusic:
    audio: np.ndarray  # (channels, samples) float32
    sample_rate: int
    windows: int
    codes: torch.Tensor  # (codebooks, frames)


def plan_windows(total_frames: int, window_frames: int, context_frames: int) -> list[int]:
    """New frames per window: the first up to a full window, then ``window - context`` each."""
    if context_frames >= window_frames:
        raise ValueError("the context must be shorter than the window")
    plan = [min(total_frames, window_frames)]
    while sum(plan) < total_frames:
        plan.append(min(total_frames - sum(plan), window_frames - context_frames))
    return plan


def generate_music(
    loaded: LoadedMusicgen,
    text: str,
    duration_seconds: float,
    seed: int,
    *,
    progress: ProgressFn | None = None,
    cancelled: CancelledFn = lambda: False,
    window_seconds: float = WINDOW_SECONDS,
    context_seconds: float = CONTEXT_SECONDS,
    melody_chroma: np.ndarray | None = None,
) -> GeneratedMusic:
    """``duration_seconds`` of music for ``text``, exact to the sample, reproducible by seed.

    ``melody_chroma`` (MusicGen-melody only): the melody's one-hot chroma from
    :func:`audiomill.models.musicgen_chroma.one_hot_chroma`; each window follows the part
    under its own span of the output (looped past the melody's end)."""
    if melody_chroma is not None and loaded.melody is None:
        raise InvalidInput(f"model {loaded.name!r} takes no melody; use musicgen-melody")
    if not 0 < duration_seconds <= MAX_DURATION_SECONDS:
        raise InvalidInput(f"duration_seconds must be in (0, {MAX_DURATION_SECONDS:g}]; got {duration_seconds}")
    total_samples = round(duration_seconds * loaded.sample_rate)
    total_frames = math.ceil(total_samples / loaded.samples_per_frame)
    window_frames = loaded.frames_for(window_seconds)
    context_frames = loaded.frames_for(context_seconds)
    plan = plan_windows(total_frames, window_frames, context_frames)
    generator = torch.Generator(device=loaded.device)
    generator.manual_seed(seed)
    crossfade = max(1, round(CROSSFADE_SECONDS * loaded.sample_rate))
    pieces: list[np.ndarray] = []
    all_codes: torch.Tensor | None = None
    done_frames = 0
    for index, new_frames in enumerate(plan):
        prompt = None if all_codes is None else all_codes[:, -context_frames:]
        chroma = None
        if melody_chroma is not None and loaded.melody is not None:
            context = 0 if prompt is None else prompt.shape[-1]
            start_seconds = (done_frames - context) / loaded.frame_rate
            span_seconds = (context + new_frames) / loaded.frame_rate
            chroma = window_chroma(melody_chroma, start_seconds, span_seconds, loaded.melody.frames_per_second)
        request = WindowRequest(text, prompt, new_frames, generator, chroma)
        stage = f"generating window {index + 1} of {len(plan)}" if len(plan) > 1 else "generating"

        def report(
            fraction: float,
            frames_before: int = done_frames,
            frames: int = new_frames,
            stage: str = stage,
        ) -> None:
            if progress is not None:
                progress((frames_before + fraction * frames) / total_frames, stage)

        result = loaded.batcher.run(request, cancelled=cancelled, progress=report)
        context = request.context_frames
        new_codes = result.codes[:, context:]
        all_codes = new_codes if all_codes is None else torch.cat([all_codes, new_codes], dim=-1)
        if pieces:
            start = context * loaded.samples_per_frame
            _crossfade_into(pieces, result.audio[:, start - crossfade :], crossfade)
        else:
            pieces.append(result.audio)
        done_frames += new_frames
    audio = np.concatenate(pieces, axis=-1)[:, :total_samples]
    if audio.shape[-1] < total_samples:  # the codec can return a few samples short
        audio = np.pad(audio, ((0, 0), (0, total_samples - audio.shape[-1])))
    assert all_codes is not None
    return GeneratedMusic(
        np.ascontiguousarray(audio, dtype=np.float32),
        loaded.sample_rate,
        len(plan),
        all_codes,
    )


def _crossfade_into(pieces: list[np.ndarray], continuation: np.ndarray, crossfade: int) -> None:
    """Append ``continuation`` whose first ``crossfade`` samples overlap the end of ``pieces``.

    Both sides decode the same codes there (the previous window without right context, the
    next one with left context), so an equal-gain linear fade is click-free."""
    tail = pieces[-1]
    overlap = min(crossfade, tail.shape[-1], continuation.shape[-1])
    fade_in = np.linspace(0.0, 1.0, overlap, dtype=np.float32)
    mixed = tail[:, tail.shape[-1] - overlap :] * (1.0 - fade_in) + continuation[:, :overlap] * fade_in
    pieces[-1] = np.concatenate([tail[:, : tail.shape[-1] - overlap], mixed], axis=-1)
    pieces.append(continuation[:, overlap:])


# ---------------------------------------------------------------------------- the job


def run(ctx: Any) -> None:
    """A ``generate`` job with ``model: musicgen-*`` (called by engines/generate.py)."""
    from audiomill.models import musicgen_job

    musicgen_job.run(ctx)
