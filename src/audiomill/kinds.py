"""One declaration per job kind: the torch-free registry everything else derives from.

The API's validation and OpenAPI, the CLI, Celery routing, the seed routers and the web
page's forms all read a kind's :class:`KindSpec`; adding a kind is one spec here plus one
engine module (``setup()`` + ``run(ctx)``) and its params model in ``params/``.
Nothing in this module imports an engine: engines are imported by the worker that runs them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from audiomill.errors import InvalidInput
from audiomill.params import BoostParams, DenoiseParams, SeparateParams, SpeakerExtractParams, VocalSplitParams

InputMedia = Literal["audio", "image"]


@dataclass(frozen=True)
class InputSpec:
    """One named input file of a kind."""

    name: str
    media: InputMedia = "audio"
    required: bool = True
    description: str = ""


@dataclass(frozen=True)
class OutputSpec:
    """One output a kind promises. ``name`` ending in ``*`` is a family (e.g. ``stem:*``)."""

    name: str
    media_type: str
    description: str = ""


@dataclass(frozen=True)
class KindSpec:
    """What the service knows about a job kind without importing its engine."""

    name: str
    summary: str
    params: type[BaseModel]
    inputs: tuple[InputSpec, ...]
    outputs: tuple[OutputSpec, ...]
    engine: str  # module path, imported lazily so the API never pays for torch
    queue: str = "cpu"
    cli_name: str = ""  # "" means the kind's name with "_" as "-"
    # Jobs of this kind one worker process runs at once, in threads. 1 for most engines;
    # more for engines that batch concurrent requests into one model call (MusicGen).
    batch_slots: int = 1

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.inputs)

    @property
    def command(self) -> str:
        return self.cli_name or self.name.replace("_", "-")

    @property
    def takes_files(self) -> bool:
        return bool(self.inputs)


AUDIO_OUT = "audio/*"


def _audio_in(name: str = "audio", description: str = "the audio to process") -> InputSpec:
    return InputSpec(name, "audio", True, description)


KINDS: dict[str, KindSpec] = {}


def register(spec: KindSpec) -> KindSpec:
    KINDS[spec.name] = spec
    return spec


register(KindSpec(
    name="separate",
    summary="Split a song into stems (drums, bass, other, vocals) with Demucs",
    params=SeparateParams,
    inputs=(_audio_in(description="the song to separate"),),
    outputs=(OutputSpec("*", AUDIO_OUT, "one file per stem, named after it"),),
    engine="audiomill.engines.separate",
    queue="gpu",
))
register(KindSpec(
    name="vocals",
    summary="Split a song into vocals and instrumental",
    params=VocalSplitParams,
    inputs=(_audio_in(description="the song to split"),),
    outputs=(OutputSpec("vocals", AUDIO_OUT), OutputSpec("instrumental", AUDIO_OUT)),
    engine="audiomill.engines.separate",
    queue="gpu",
))
register(KindSpec(
    name="denoise",
    summary="Remove background noise from speech (DeepFilterNet3 or RNNoise)",
    params=DenoiseParams,
    inputs=(_audio_in(description="noisy speech"),),
    outputs=(OutputSpec("audio", AUDIO_OUT, "the cleaned speech"),),
    engine="audiomill.engines.denoise",
))
register(KindSpec(
    name="boost",
    summary="Raise loudness to a target with a true-peak limiter",
    params=BoostParams,
    inputs=(_audio_in(),),
    outputs=(OutputSpec("audio", AUDIO_OUT, "the louder audio"),),
    engine="audiomill.engines.boost",
))
register(KindSpec(
    name="extract_speaker",
    summary="Keep one speaker of a conversation, given a sample of their voice",
    params=SpeakerExtractParams,
    inputs=(
        _audio_in("conversation", "the recording with several speakers"),
        _audio_in("target", "a few seconds of the speaker to keep"),
    ),
    outputs=(
        OutputSpec("audio", AUDIO_OUT, "the target speaker's voice, everyone else turned down"),
        OutputSpec("diarization_json", "application/json",
                   "diarization.json: speakers found, every turn, estimated overlap"),
        OutputSpec("diarization_rttm", "text/plain", "diarization.rttm: who spoke when (NIST RTTM)"),
    ),
    engine="audiomill.engines.extract_speaker",
))


def extra_kind_spec(name: str, module_path: str) -> KindSpec:
    """A kind from another package (AUDIOMILL_EXTRA_KINDS): its module declares ``SPEC``
    (a KindSpec), or for older modules ``Params`` and ``input_names``."""
    module = importlib.import_module(module_path)
    spec = getattr(module, "SPEC", None)
    if isinstance(spec, KindSpec):
        return spec
    return KindSpec(
        name=name, summary=(module.__doc__ or name).strip().splitlines()[0], params=module.Params,
        inputs=tuple(InputSpec(n) for n in module.input_names), outputs=(), engine=module_path,
    )


def kind_spec(kind: str, extra_kinds: dict[str, str] | None = None) -> KindSpec:
    spec = KINDS.get(kind)
    if spec is not None:
        return spec
    module_path = (extra_kinds or {}).get(kind)
    if module_path is None:
        raise InvalidInput(f"unknown job kind {kind!r}; known kinds: {', '.join(sorted(KINDS))}")
    return extra_kind_spec(kind, module_path)
