"""The separate engine on tiny random-weight Demucs models loaded through the real code.

The reference everywhere is demucs itself: ``apply_model(model, mix, split=True)`` on the
whole clip, normalised as ``demucs.api.Separator.separate_tensor`` does.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
import torch
from demucs.apply import apply_model

from audiomill import audio
from audiomill.config import Settings
from audiomill.engines import separate
from audiomill.engines import torch_runtime
from audiomill.engines.base import LocalContext
from audiomill.errors import AudiomillError, InvalidInput, JobCancelled, UnsupportedMedia
from audiomill.models import cache, demucs_repo
from audiomill.models.demucs_stream import DemucsStream, mix_statistics
from audiomill.params import SeparateParams, VocalSplitParams
from tests.audio_samples import noise, stereo_chords, write_wav
from tests.fixtures.tiny_demucs import SIX_STEMS, write_tiny_6s, write_tiny_bag, write_tiny_htdemucs

ROOT = Path(__file__).resolve().parents[1]
FOUR = ["drums", "bass", "other", "vocals"]


@pytest.fixture(autouse=True)
def _cold_cache_one_thread() -> Iterator[None]:
    # One torch thread: on a shared 2-core machine two OpenMP threads per process spin
    # against other processes and run 10-50x slower (measured).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    cache.clear()
    yield
    cache.clear()
    torch.set_num_threads(threads)


@pytest.fixture
def engine_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"torch_threads": 1})


@pytest.fixture
def tiny(engine_settings: Settings) -> Path:
    assert engine_settings.models_dir is not None
    return write_tiny_htdemucs(engine_settings.models_dir)


def mix_signal(seconds: float, sample_rate: int = 44100) -> np.ndarray:
    return stereo_chords(seconds, sample_rate) + noise(seconds, sample_rate, 2, 0.05)


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """4.5 s: three 2 s segments of the tiny model, the last one shorter."""
    return write_wav(tmp_path / "clip.wav", mix_signal(4.5), 44100, "FLOAT")


def run_engine(
    settings: Settings, path: Path, out_dir: Path, device: str = "cpu", **params: Any
) -> LocalContext[SeparateParams]:
    ctx = LocalContext(
        params=SeparateParams(**params), inputs={"audio": path}, output_dir=out_dir, settings=settings, device=device
    )
    separate.run(ctx)
    return ctx


def read_stems(ctx: LocalContext[SeparateParams]) -> dict[str, np.ndarray]:
    return {name: audio.decode(path)[0] for name, (path, _) in ctx.outputs.items()}


def demucs_reference(
    settings: Settings, path: Path, device: str = "cpu", **kwargs: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """(sources, mix) as demucs' Separator.separate_tensor computes them on the whole clip.

    "htdemucs" is the tiny random-weight model the ``tiny`` fixture wrote into the test's
    own models folder; with downloads off, nothing here can reach the network.
    """
    assert not settings.models_download and settings.models_dir is not None
    assert (settings.models_dir / "htdemucs.yaml").is_file(), "use the tiny fixture first"
    model = demucs_repo.get_model("htdemucs", settings, device)
    wav = torch.from_numpy(audio.decode(path, model.samplerate, model.audio_channels)[0])
    ref = wav.mean(0)
    mean, std = ref.mean(), ref.std() + 1e-8
    with torch.inference_mode():
        out = apply_model(model, ((wav - mean) / std)[None], split=True, device=device, **kwargs)[0]
    return out.cpu() * std + mean, wav


def error_to_mix_db(error: np.ndarray, mix: np.ndarray) -> float:
    return 10 * np.log10(np.sum(error.astype(np.float64) ** 2) / np.sum(mix.astype(np.float64) ** 2))


# ---------------------------------------------------------------- streaming == demucs


@pytest.mark.parametrize(
    "options",
    [
        {"overlap": 0.25},
        {"overlap": 0.5, "transition_power": 2.0},
        {"overlap": 0.25, "segment_seconds": 1.3},
        {"overlap": 0.1, "batch_segments": 3},
    ],
    ids=["default", "overlap-half-power2", "segment-override", "batched"],
)
def test_stream_equals_apply_model(engine_settings: Settings, tiny: Path, options: dict[str, Any]) -> None:
    model = demucs_repo.get_model("htdemucs", engine_settings)
    mix = torch.from_numpy(mix_signal(4.3))
    kwargs = {k: v for k, v in options.items() if k in ("overlap", "transition_power")}
    reference = apply_model(model, mix[None], shifts=0, split=True, segment=options.get("segment_seconds"), **kwargs)[0]
    stream = DemucsStream(model, shifts=0, **options)
    blocks = [mix[:, i : i + 10007] for i in range(0, mix.shape[1], 10007)]  # odd block size
    streamed = torch.cat(list(stream.separate(blocks)), -1)
    assert streamed.shape == reference.shape
    # Identical arithmetic; a batched forward may round differently in the last bits.
    assert torch.allclose(streamed, reference, atol=1e-6, rtol=0), (streamed - reference).abs().max()


def test_stream_shift_trick_and_bag_match_demucs(engine_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Shifts and bag weights: demucs' own results given the same shift offsets.

    demucs draws each shift's offset after the previous pass's forwards (which consume
    ``random`` too), a stream draws them all upfront: fix the offsets to compare.
    """
    assert engine_settings.models_dir is not None
    write_tiny_bag(engine_settings.models_dir, "htdemucs_ft")
    bag = demucs_repo.get_model("htdemucs_ft", engine_settings)
    mix = torch.from_numpy(mix_signal(3.1))
    offsets = [1000, 22050, 0, 7777]

    def fixed_offsets() -> Any:
        sequence = iter(offsets)
        return lambda low, high: next(sequence)

    monkeypatch.setattr(random, "randint", fixed_offsets())
    reference = apply_model(bag, mix[None], shifts=2, split=True, overlap=0.25)[0]
    monkeypatch.setattr(random, "randint", fixed_offsets())
    blocks = [mix[:, i : i + 40000] for i in range(0, mix.shape[1], 40000)]
    streamed = torch.cat(list(DemucsStream(bag, shifts=2).separate(blocks)), -1)
    assert torch.allclose(streamed, reference, atol=1e-6, rtol=0), (streamed - reference).abs().max()


def test_mix_statistics_match_torch() -> None:
    wav = torch.from_numpy(mix_signal(1.0)) + 0.2
    stats = mix_statistics(wav[:, i : i + 3000] for i in range(0, wav.shape[1], 3000))
    ref = wav.mean(0)
    assert stats.frames == wav.shape[1]
    assert abs(stats.mean - float(ref.mean())) < 1e-6
    assert abs(stats.std - float(ref.std())) < 1e-6


@pytest.mark.usefixtures("tiny")
def test_engine_output_equals_demucs_on_whole_clip(engine_settings: Settings, clip: Path, tmp_path: Path) -> None:
    ctx = run_engine(
        engine_settings, clip, tmp_path / "out", shifts=0, clip_mode="none", wav_bit_depth=32, precision="float32"
    )
    assert list(ctx.outputs) == FOUR
    assert ctx.result == {
        "model": "htdemucs",
        "stems": FOUR,
        "sample_rate": 44100,
        "duration_seconds": 4.5,
        "precision": "float32",
    }
    reference, _ = demucs_reference(engine_settings, clip, shifts=0, overlap=0.25)
    stems = read_stems(ctx)
    for index, name in enumerate(FOUR):
        assert stems[name].shape == tuple(reference[index].shape)
        # Only the mean/std differ in rounding (float64 running sums vs torch float32).
        np.testing.assert_allclose(stems[name], reference[index].numpy(), atol=1e-5, rtol=0)
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # scratch removed


@pytest.mark.usefixtures("tiny")
def test_bfloat16_precision_is_close_to_demucs_but_its_own_arithmetic(
    engine_settings: Settings, clip: Path, tmp_path: Path
) -> None:
    ctx = run_engine(
        engine_settings, clip, tmp_path / "out", shifts=0, clip_mode="none", wav_bit_depth=32, precision="bfloat16"
    )
    reference, _ = demucs_reference(engine_settings, clip, shifts=0, overlap=0.25)
    stems = read_stems(ctx)
    for index, name in enumerate(FOUR):
        expected = reference[index].numpy()
        error_db = error_to_mix_db(stems[name] - expected, expected)
        # Autocast really ran (float32 agrees to about -120 dB) and stayed close to it.
        assert -90 < error_db < -25, (name, error_db)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none on this machine)")
@pytest.mark.parametrize("precision,max_error_db", [("float32", -90.0), ("float16", -40.0), ("bfloat16", -35.0)])
def test_cuda_matches_demucs_on_cuda(
    engine_settings: Settings, tiny: Path, tmp_path: Path, precision: str, max_error_db: float
) -> None:
    """On a GPU: batched segments (BATCH_SEGMENTS_CUDA) and each precision, against demucs'
    apply_model on the same GPU. (cuDNN's TF32 convolutions, on by default for both, put
    float32 about -40 dB from a CPU result. Measured on an H100: float32 -133 dB, float16
    -71 dB, bfloat16 -52 dB.)"""
    long_clip = write_wav(tmp_path / "long.wav", mix_signal(13.0), 44100, "FLOAT")  # > 4 segments
    ctx = run_engine(
        engine_settings,
        long_clip,
        tmp_path / "out",
        device="cuda",
        shifts=0,
        clip_mode="none",
        wav_bit_depth=32,
        precision=precision,
    )
    reference, _ = demucs_reference(engine_settings, long_clip, "cuda", shifts=0, overlap=0.25)
    stems = read_stems(ctx)
    for index, name in enumerate(FOUR):
        expected = reference[index].numpy()
        assert stems[name].shape == expected.shape
        error_db = error_to_mix_db(stems[name] - expected, expected)
        print(f"{precision} {name}: {error_db:.1f} dB from demucs on CUDA")
        assert error_db < max_error_db, (name, precision, error_db)


@pytest.mark.usefixtures("tiny")
def test_auto_precision_is_bfloat16_only_on_cpus_that_compute_it(
    engine_settings: Settings, clip: Path, tmp_path: Path
) -> None:
    ctx = run_engine(engine_settings, clip, tmp_path / "out", shifts=0)
    expected = "bfloat16" if torch_runtime.cpu_computes_bfloat16() else "float32"
    assert ctx.result["precision"] == expected
    assert separate.compute_dtype_for("auto", "cuda") == torch.float32  # GPUs keep float32
    assert separate.compute_dtype_for("float32", "cpu") == torch.float32


def test_float16_precision_needs_cuda(engine_settings: Settings, tiny: Path, clip: Path, tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: float16 is allowed here")
    with pytest.raises(InvalidInput, match="float16 needs a CUDA device"):
        run_engine(engine_settings, clip, tmp_path / "out", precision="float16")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# ---------------------------------------------------------------- stems, residual, formats


@pytest.mark.usefixtures("tiny")
def test_two_stems_complement_is_the_sum_of_the_others(engine_settings: Settings, clip: Path, tmp_path: Path) -> None:
    ctx = run_engine(
        engine_settings,
        clip,
        tmp_path / "out",
        shifts=0,
        two_stems="vocals",
        clip_mode="none",
        wav_bit_depth=32,
        precision="float32",
    )
    assert list(ctx.outputs) == ["vocals", "no_vocals"]
    assert [path.name for path, _ in ctx.outputs.values()] == ["vocals.wav", "no_vocals.wav"]
    assert ctx.result["stems"] == ["vocals", "no_vocals"]
    reference, _ = demucs_reference(engine_settings, clip, shifts=0)
    stems = read_stems(ctx)
    np.testing.assert_allclose(stems["vocals"], reference[3].numpy(), atol=1e-5, rtol=0)
    np.testing.assert_allclose(stems["no_vocals"], reference[:3].sum(0).numpy(), atol=2e-5, rtol=0)

    named = run_engine(engine_settings, clip, tmp_path / "named", shifts=0, two_stems="drums", complement_name="rest")
    assert list(named.outputs) == ["drums", "rest"]


@pytest.mark.parametrize("two_stems", [None, "bass"])
@pytest.mark.usefixtures("tiny")
def test_residual_makes_stems_sum_to_the_mix(
    engine_settings: Settings, clip: Path, tmp_path: Path, two_stems: str | None
) -> None:
    ctx = run_engine(
        engine_settings,
        clip,
        tmp_path / "out",
        shifts=1,
        residual=True,
        two_stems=two_stems,
        clip_mode="none",
        wav_bit_depth=32,
    )
    mix = audio.decode(clip)[0]
    total = sum(read_stems(ctx).values())
    assert error_to_mix_db(total - mix, mix) < -60


@pytest.mark.usefixtures("tiny")
def test_residual_with_rescale_uses_one_common_gain(engine_settings: Settings, tmp_path: Path) -> None:
    loud = write_wav(tmp_path / "loud.wav", 0.99 * mix_signal(2.5) / np.abs(mix_signal(2.5)).max(), 44100, "FLOAT")
    ctx = run_engine(
        engine_settings, loud, tmp_path / "out", shifts=0, residual=True, clip_mode="rescale", wav_bit_depth=32
    )
    gain = ctx.result["output_gain"]
    assert 0 < gain <= 1
    stems = read_stems(ctx)
    assert max(float(np.abs(s).max()) for s in stems.values()) <= 1.0
    mix = audio.decode(loud)[0]
    assert error_to_mix_db(sum(stems.values()) - gain * mix, mix) < -60


@pytest.mark.usefixtures("tiny")
def test_vocals_and_instrumental_sum_to_the_upload(engine_settings: Settings, tmp_path: Path) -> None:
    """The vocals kind's promise: vocals + instrumental == the upload (README)."""
    signal = mix_signal(2.5)
    loud = write_wav(tmp_path / "loud.wav", 0.99 * signal / np.abs(signal).max(), 44100, "FLOAT")
    mix = audio.decode(loud)[0]

    def split(out: str, **fields: Any) -> tuple[LocalContext[VocalSplitParams], dict[str, np.ndarray]]:
        ctx = LocalContext(
            params=VocalSplitParams(**fields),
            inputs={"audio": loud},
            output_dir=tmp_path / out,
            settings=engine_settings,
            device="cpu",
        )
        separate.run(ctx)
        return ctx, read_stems(ctx)

    # default: 32-bit float wav, nothing scaled, the residual is float32 rounding only
    ctx, stems = split("float")
    assert list(stems) == ["vocals", "instrumental"]
    assert soundfile.info(ctx.outputs["vocals"][0]).subtype == "FLOAT"
    assert ctx.result["output_gain"] == 1.0
    assert error_to_mix_db(stems["vocals"] + stems["instrumental"] - mix, mix) < -100

    # 16-bit: one shared gain keeps both under full scale; the sum is the upload times it
    ctx, stems = split("pcm16", wav_bit_depth=16)
    gain = ctx.result["output_gain"]
    assert 0 < gain <= 1 and VocalSplitParams(wav_bit_depth=16).clip_mode == "rescale"
    assert max(float(np.abs(s).max()) for s in stems.values()) <= 1.0
    assert error_to_mix_db(stems["vocals"] + stems["instrumental"] - gain * mix, mix) < -70


@pytest.mark.parametrize(
    ("output_format", "bit_depth", "subtype"),
    [
        ("wav", 16, "PCM_16"),
        ("wav", 24, "PCM_24"),
        ("wav", 32, "FLOAT"),
        ("flac", 16, "PCM_16"),
        ("mp3", 16, None),
        ("m4a", 16, None),
    ],
)
@pytest.mark.usefixtures("tiny")
def test_each_output_format(
    engine_settings: Settings, tmp_path: Path, output_format: str, bit_depth: int, subtype: str | None
) -> None:
    song = write_wav(tmp_path / "song.wav", mix_signal(1.5), 44100)
    ctx = run_engine(
        engine_settings,
        song,
        tmp_path / "out",
        shifts=0,
        output_format=output_format,
        wav_bit_depth=bit_depth,
        bitrate_kbps=128,
    )
    for name, (path, filename) in ctx.outputs.items():
        assert filename == f"{name}.{output_format}" and path.is_file()
        info = audio.probe(path)
        assert info.channels == 2 and info.sample_rate == 44100
        assert abs(info.duration_seconds - 1.5) < 0.1
        if subtype is not None:
            assert soundfile.info(str(path)).subtype == subtype


# ---------------------------------------------------------------- progress, cancellation, inputs


def test_progress_stages_and_cancellation(engine_settings: Settings, tiny: Path, clip: Path, tmp_path: Path) -> None:
    seen: list[tuple[float, str]] = []
    ctx = LocalContext(
        params=SeparateParams(shifts=0),
        inputs={"audio": clip},
        output_dir=tmp_path / "out",
        settings=engine_settings,
        on_progress=lambda f, s: seen.append((f, s)),
        is_cancelled=lambda: any(stage == "separating" and f > 0.2 for f, stage in seen),
    )
    with pytest.raises(JobCancelled):
        separate.run(ctx)
    stages = [stage for _, stage in seen]
    assert stages[0] == "loading model" and "separating" in stages and "encoding" not in stages
    assert [f for f, _ in seen] == sorted(f for f, _ in seen)
    assert not any((tmp_path / "out").iterdir())  # no stems, no scratch left behind

    done: list[tuple[float, str]] = []
    ok = LocalContext(
        params=SeparateParams(shifts=0),
        inputs={"audio": clip},
        output_dir=tmp_path / "ok",
        settings=engine_settings,
        on_progress=lambda f, s: done.append((f, s)),
    )
    separate.run(ok)
    assert {"loading model", "analysing", "separating", "encoding"} <= {s for _, s in done}
    assert done[-1][0] == 1.0


@pytest.mark.parametrize(
    ("name", "signal", "sample_rate"),
    [
        ("mono-48k", np.ascontiguousarray(mix_signal(1.2, 48000)[:1]), 48000),
        ("silent", np.zeros((2, 44100), np.float32), 44100),
        ("one-sample", np.full((2, 1), 0.25, np.float32), 44100),
        ("shorter-than-a-segment", mix_signal(0.3), 44100),
    ],
)
@pytest.mark.usefixtures("tiny")
def test_awkward_inputs_work(
    engine_settings: Settings, tmp_path: Path, name: str, signal: np.ndarray, sample_rate: int
) -> None:
    path = write_wav(tmp_path / f"{name}.wav", signal, sample_rate, "FLOAT")
    ctx = run_engine(
        engine_settings, path, tmp_path / "out", shifts=1, residual=True, clip_mode="none", wav_bit_depth=32
    )
    expected_frames = round(signal.shape[1] * 44100 / sample_rate)
    assert ctx.result["sample_rate"] == 44100
    for stem in read_stems(ctx).values():
        assert stem.shape[0] == 2 and abs(stem.shape[1] - expected_frames) <= 1
        assert np.isfinite(stem).all()
    if name == "silent":
        assert all(np.abs(s).max() < 1e-6 for s in read_stems(ctx).values())


def test_bad_inputs_are_clear_errors(engine_settings: Settings, tiny: Path, tmp_path: Path) -> None:
    empty = write_wav(tmp_path / "empty.wav", np.zeros((2, 0), np.float32), 44100)
    with pytest.raises((InvalidInput, UnsupportedMedia)):
        run_engine(engine_settings, empty, tmp_path / "out")
    text = tmp_path / "notes.wav"
    text.write_text("not audio at all")
    with pytest.raises(UnsupportedMedia):
        run_engine(engine_settings, text, tmp_path / "out")
    song = write_wav(tmp_path / "song.wav", mix_signal(0.5), 44100)
    with pytest.raises(InvalidInput, match="guitar"):
        run_engine(engine_settings, song, tmp_path / "out", two_stems="guitar")
    with pytest.raises(InvalidInput, match="maximum is 2"):
        run_engine(engine_settings, song, tmp_path / "out", segment_seconds=5.0)
    with pytest.raises(InvalidInput, match="complement_name"):
        run_engine(engine_settings, song, tmp_path / "out", two_stems="drums", complement_name="drums")
    with pytest.raises(AudiomillError, match="unknown model"):
        run_engine(engine_settings, song, tmp_path / "out", model="nope")


def test_six_stem_model(engine_settings: Settings, tmp_path: Path) -> None:
    assert engine_settings.models_dir is not None
    write_tiny_6s(engine_settings.models_dir)
    song = write_wav(tmp_path / "song.wav", mix_signal(1.0), 44100)
    ctx = run_engine(engine_settings, song, tmp_path / "out", model="htdemucs_6s", shifts=0)
    assert list(ctx.outputs) == list(SIX_STEMS)
    guitar = run_engine(engine_settings, song, tmp_path / "g", model="htdemucs_6s", shifts=0, two_stems="guitar")
    assert list(guitar.outputs) == ["guitar", "no_guitar"]


# ---------------------------------------------------------------- memory


MEMORY_CHILD = textwrap.dedent(
    """
    import json, resource, sys
    from pathlib import Path
    from audiomill.config import Settings
    from audiomill.engines import separate
    from audiomill.engines.base import LocalContext
    from audiomill.params import SeparateParams, VocalSplitParams

    models, warmup, target, out = map(Path, sys.argv[1:5])
    settings = Settings(data_dir=out / "data", models_dir=models, models_cache_dir=out / "cache",
                        models_download=False, torch_threads=1)

    def run(path, folder):
        ctx = LocalContext(params=SeparateParams(shifts=0), inputs={"audio": path},
                           output_dir=out / folder, settings=settings)
        separate.run(ctx)

    run(warmup, "warm")  # model loaded, every buffer shape allocated once
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    run(target, "target")
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"growth_mib": (after - before) / 1024}))
    """
)


def _write_long_wav(path: Path, seconds: int, sample_rate: int) -> Path:
    """Written in pieces, so the test itself stays small too."""
    with soundfile.SoundFile(str(path), "w", sample_rate, 1, "PCM_16") as out:
        for second in range(seconds):
            t = (np.arange(sample_rate) + second * sample_rate) / sample_rate
            out.write((0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * np.sin(2 * np.pi * 31 * t)).astype(np.float32))
    return path


def _peak_growth_mib(models: Path, warmup: Path, target: Path, out: Path) -> float:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]))
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, str(models), str(warmup), str(target), str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return float(json.loads(result.stdout.strip().splitlines()[-1])["growth_mib"])


def test_memory_does_not_grow_with_track_length(tmp_path: Path) -> None:
    """10 min of audio costs no more memory than 1 min.

    A 4 kHz mono tiny model without its transformer keeps it fast; the engine path is the
    same as at 44.1 kHz. For scale: demucs' whole-track apply_model on the same kind of
    model grew 18 MiB at 1 min and 171 MiB at 10 min (8 kHz), where this engine grew < 4.
    """
    models = tmp_path / "models"
    write_tiny_htdemucs(models, samplerate=4000, audio_channels=1, segment_seconds=4, t_layers=0)
    warmup = _write_long_wav(tmp_path / "warm.wav", 5, 4000)
    one_minute = _write_long_wav(tmp_path / "one.wav", 60, 4000)
    ten_minutes = _write_long_wav(tmp_path / "ten.wav", 600, 4000)
    growth_one = _peak_growth_mib(models, warmup, one_minute, tmp_path / "run1")
    growth_ten = _peak_growth_mib(models, warmup, ten_minutes, tmp_path / "run10")
    # Holding ten minutes of 4 float32 stems alone would take 37 MiB, the input 9 MiB more.
    print(f"peak RSS growth: 1 min {growth_one:.1f} MiB, 10 min {growth_ten:.1f} MiB")
    assert growth_ten < growth_one + 15, (growth_one, growth_ten)
