"""One declaration per job kind: the torch-free registry everything else derives from.

The API's validation and OpenAPI, the CLI, Celery routing, the seed routers and the web
page's forms all read a kind's :class:`KindSpec`; adding a kind is one spec here plus one
engine module (``setup()`` + ``run(ctx)``) and its params model in ``params/``.
Nothing in this module imports an engine: engines are imported by the worker that runs them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Literal
from collections.abc import Callable

from pydantic import BaseModel

from audiomill.config import Settings
from audiomill.errors import InvalidInput
from audiomill.params import (
    AnalyzeParams,
    HumToBeatParams,
    BoostParams,
    DenoiseParams,
    SeparateParams,
    SpeakerExtractParams,
    VocalSplitParams,
)
from audiomill.params.generate import GenerateParams

from audiomill.params.mixdown import MixdownParams
from audiomill.params.photo_video import PhotoVideoParams

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
    queue: str = ""  # Celery queue; "" means AUDIOMILL_DEFAULT_QUEUE ("cpu")
    cli_name: str = ""  # "" means the kind's name with "_" as "-"
    # Params the CLI takes as positional arguments (e.g. generate's prompt), after the files.
    cli_arguments: tuple[str, ...] = ()
    # Jobs of this kind one worker process runs at once, in threads. 1 for most engines;
    # more for engines that batch concurrent requests into one model call (MusicGen).
    batch_slots: int = 1
    # Checks that need settings but no model (known model names, stems a model has,
    # weights present): run at submission so a bad request is a 422, not a failed job.
    check: Callable[[Any, Settings], None] | None = None
    # Shortest audio input accepted, in seconds: shorter uploads (a truncated file that
    # decodes to a few samples) are refused at submission with a 422 naming the minimum.
    min_duration_seconds: float = 0.1
    # The output `-o NAME.<its extension>` writes on the CLI (photo_video: the mp4); the
    # other outputs then go beside it as NAME.<their file name>.
    cli_file_output: str = ""

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


def _check_separation(params: Any, settings: Settings) -> None:
    from audiomill.models import demucs_repo  # torch-free: reads demucs' yaml index only

    demucs_repo.check_request(params.model, params.two_stems, settings)


def _check_generation(params: Any, settings: Settings) -> None:
    if params.model != "composer":  # the composer needs no weights
        from audiomill.models import musicgen_catalog  # torch-free

        musicgen_catalog.check_request(params.model, settings)


def _check_hum_to_beat(params: Any, settings: Settings) -> None:
    if params.model != "composer":  # musicgen-melody: its weights must be there
        from audiomill.models import musicgen_catalog  # torch-free

        musicgen_catalog.check_request(params.model, settings, melody_input=True)


def _audio_in(name: str = "audio", description: str = "the audio to process") -> InputSpec:
    return InputSpec(name, "audio", True, description)


KINDS: dict[str, KindSpec] = {}


def register(spec: KindSpec) -> KindSpec:
    KINDS[spec.name] = spec
    return spec


register(
    KindSpec(
        name="separate",
        summary="Split a song into stems (drums, bass, other, vocals) with Demucs",
        params=SeparateParams,
        inputs=(_audio_in(description="the song to separate"),),
        outputs=(OutputSpec("*", AUDIO_OUT, "one file per stem, named after it"),),
        engine="audiomill.engines.separate",
        queue="gpu",
        check=_check_separation,
    )
)
register(
    KindSpec(
        name="vocals",
        summary="Split a song into vocals and instrumental",
        params=VocalSplitParams,
        inputs=(_audio_in(description="the song to split"),),
        outputs=(OutputSpec("vocals", AUDIO_OUT), OutputSpec("instrumental", AUDIO_OUT)),
        engine="audiomill.engines.separate",
        queue="gpu",
        check=_check_separation,
    )
)
register(
    KindSpec(
        name="denoise",
        summary="Remove background noise from speech (DeepFilterNet3 or RNNoise)",
        params=DenoiseParams,
        inputs=(_audio_in(description="noisy speech"),),
        outputs=(OutputSpec("audio", AUDIO_OUT, "the cleaned speech"),),
        engine="audiomill.engines.denoise",
    )
)
register(
    KindSpec(
        name="boost",
        summary="Raise loudness to a target with a true-peak limiter",
        params=BoostParams,
        inputs=(_audio_in(),),
        outputs=(OutputSpec("audio", AUDIO_OUT, "the louder audio"),),
        engine="audiomill.engines.boost",
    )
)
register(
    KindSpec(
        name="extract_speaker",
        summary="Keep one speaker of a conversation, given a sample of their voice",
        params=SpeakerExtractParams,
        inputs=(
            _audio_in("conversation", "the recording with several speakers"),
            _audio_in("target", "a few seconds of the speaker to keep"),
        ),
        outputs=(
            OutputSpec("audio", AUDIO_OUT, "the target speaker's voice, everyone else turned down"),
            OutputSpec(
                "diarization_json",
                "application/json",
                "diarization.json: speakers found, every turn, estimated overlap",
            ),
            OutputSpec("diarization_rttm", "text/plain", "diarization.rttm: who spoke when (NIST RTTM)"),
        ),
        engine="audiomill.engines.extract_speaker",
        min_duration_seconds=1.0,  # a voice sample shorter than this tells the encoder little
    )
)

register(
    KindSpec(
        name="generate",
        summary="Compose music from a text prompt: a mastered mix, one stem per part and the MIDI",
        params=GenerateParams,
        inputs=(),
        outputs=(
            OutputSpec("mix", AUDIO_OUT, "the mastered track (-14 LUFS, -1 dBTP)"),
            OutputSpec(
                "stem:*", AUDIO_OUT, "one file per part (drums, bass, chords, pad, melody); they sum to the mix"
            ),
            OutputSpec("midi", "audio/midi", "every part as a MIDI track"),
            OutputSpec("preview", "audio/mpeg", "with preview: true, the mix as mp3"),
            OutputSpec("v*", AUDIO_OUT, "variation N >= 2: vN:mix, vN:stem:<part>, vN:midi"),
        ),
        engine="audiomill.engines.generate",
        cli_arguments=("prompt",),
        check=_check_generation,
        # Concurrent MusicGen jobs in one worker share one batched generate call.
        batch_slots=4,
    )
)

register(
    KindSpec(
        name="mixdown",
        summary="Mix a repository commit's stems (gain, pan, mute) into one mastered file",
        params=MixdownParams,
        # A family: one input per stem, named after its stem type. The repository service
        # creates these jobs with the commit's stem assets as inputs (no upload, no copy).
        inputs=(InputSpec("*", "audio", True, "one input per stem, named after its stem type (drums, bass, ...)"),),
        outputs=(OutputSpec("mix", AUDIO_OUT, "the mixed, mastered song; becomes the commit's render_url"),),
        engine="audiomill.engines.mixdown",
    )
)


register(
    KindSpec(
        name="analyze",
        summary="Analyse a track: bpm (with half/double candidates), beats, downbeats, meter, key, loudness, waveform, sections",
        params=AnalyzeParams,
        inputs=(_audio_in(description="the track to analyse"),),
        outputs=(
            OutputSpec("analysis", "application/json", "the whole analysis (also the job's result)"),
            OutputSpec("waveform", "image/png", "the waveform drawn from its peaks"),
        ),
        engine="audiomill.engines.analyze",
    )
)
register(
    KindSpec(
        name="hum_to_beat",
        summary="Turn a hummed melody into a track: notes transcribed, harmonised, drums and bass in the mood",
        params=HumToBeatParams,
        inputs=(_audio_in("hum", "a hummed, sung or whistled melody (one voice)"),),
        outputs=(
            OutputSpec("mix", AUDIO_OUT, "the mastered track (-14 LUFS, -1 dBTP)"),
            OutputSpec(
                "stem:*", AUDIO_OUT, "one file per part (drums, bass, chords, pad, melody); they sum to the mix"
            ),
            OutputSpec("melody_midi", "audio/midi", "the transcribed melody alone, quantized to the tempo"),
            OutputSpec("midi", "audio/midi", "every part of the arrangement as a MIDI track"),
        ),
        engine="audiomill.engines.hum_to_beat",
        check=_check_hum_to_beat,
    )
)

register(
    KindSpec(
        name="photo_video",
        summary="Turn a photo into a music video: the photo understood, music composed in its mood, a Ken Burns mp4",
        params=PhotoVideoParams,
        inputs=(InputSpec("photo", "image", True, "the photo (JPEG, PNG, WebP, ...; EXIF orientation honoured)"),),
        outputs=(
            OutputSpec("video", "video/mp4", "video.mp4: H.264 + AAC, faststart, lyric lines as soft subtitles"),
            OutputSpec("poster", "image/jpeg", "poster.jpg: a frame from the middle"),
            OutputSpec("soundtrack", "audio/mpeg", "soundtrack.mp3: the music alone"),
            OutputSpec(
                "understanding",
                "application/json",
                "understanding.json: scene, palette, mood, style, tempo, key, prompt, lyrics (also the job's result)",
            ),
        ),
        engine="audiomill.engines.photo_video",
        cli_file_output="video",
    )
)


def extra_kind_spec(name: str, module_path: str) -> KindSpec:
    """A kind from another package (AUDIOMILL_EXTRA_KINDS): its module declares ``SPEC``
    (a KindSpec), or for older modules ``Params`` and ``input_names``."""
    module = importlib.import_module(module_path)
    spec = getattr(module, "SPEC", None)
    if isinstance(spec, KindSpec):
        return spec
    return KindSpec(
        name=name,
        summary=(module.__doc__ or name).strip().splitlines()[0],
        params=module.Params,
        inputs=tuple(InputSpec(n) for n in module.input_names),
        outputs=(),
        engine=module_path,
    )


def kind_spec(kind: str, extra_kinds: dict[str, str] | None = None) -> KindSpec:
    spec = KINDS.get(kind)
    if spec is not None:
        return spec
    module_path = (extra_kinds or {}).get(kind)
    if module_path is None:
        raise InvalidInput(f"unknown job kind {kind!r}; known kinds: {', '.join(sorted(KINDS))}")
    return extra_kind_spec(kind, module_path)
