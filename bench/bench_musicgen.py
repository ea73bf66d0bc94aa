"""MusicGen-small-shaped random weights: speed on this CPU (the composer's peer) and, on
CUDA, 1 vs 8 vs 16 concurrent jobs through the cross-job batcher.

``python -m bench.bench_musicgen [--seconds 10] [--no-composer] [--gpu-dtype float32]``

CPU: one ``generate`` of --seconds of audio through audiomill.models.musicgen (the code a
job runs: windowing, seeded sampling, batcher) with a model of facebook/musicgen-small's
exact shapes (T5-base text encoder, 32 kHz EnCodec, 24-layer 1024-wide decoder, 4
codebooks of 2048) and random weights: time, seconds per audio second, peak RSS. Beside
it, in the same run and before it (so its peak RSS is its own), the embedded composer
(``model: composer``) for the same duration through the generate engine: the ratio.

GPU (only when CUDA is available; otherwise it says so and skips): N = 1, 8, 16 jobs of
--seconds each, started together in threads, each its own prompt and seed; their windows
meet in the model's batcher. Goal: 16 jobs in at most 1.5x the wall time of 1.
"""

from __future__ import annotations

import argparse
import resource
import threading
import time
from typing import Any

import torch

from bench import common
from bench.common import print_table, verdict

SCRATCH = common.OUT_DIR / "musicgen"
GOAL_16_OVER_1 = 1.5
# Other engineers share this machine: wait at most this long for a quiet moment (load printed).
MAX_WAIT_SECONDS = 30.0
PROMPTS = [
    "lofi hip hop with soft piano",
    "upbeat electronic dance music",
    "calm acoustic guitar",
    "epic orchestral trailer",
    "jazz trio with brushed drums",
    "ambient synth pads",
    "funky bass and clavinet",
    "cinematic strings",
    "reggae groove",
    "minimal techno",
    "solo cello",
    "bossa nova guitar",
    "eighties synthwave",
    "drum and bass",
    "celtic fiddle",
    "blues shuffle",
]
_WORDS = sorted({word for prompt in PROMPTS for word in prompt.split()})


def small_config() -> Any:
    """facebook/musicgen-small's config.json, field for field (architecture only)."""
    from transformers import (
        EncodecConfig,
        MusicgenConfig,
        MusicgenDecoderConfig,
        T5Config,
    )

    text = T5Config(
        vocab_size=32128,
        d_model=768,
        d_kv=64,
        d_ff=3072,
        num_layers=12,
        num_heads=12,
        relative_attention_num_buckets=32,
        dropout_rate=0.1,
        feed_forward_proj="relu",
    )
    codec = EncodecConfig(
        audio_channels=1,
        codebook_dim=128,
        codebook_size=2048,
        compress=2,
        dilation_growth_rate=2,
        hidden_size=128,
        kernel_size=7,
        last_kernel_size=7,
        norm_type="weight_norm",
        normalize=False,
        num_filters=64,
        num_lstm_layers=2,
        num_residual_layers=1,
        pad_mode="reflect",
        residual_kernel_size=3,
        sampling_rate=32000,
        target_bandwidths=[2.2],
        trim_right_ratio=1.0,
        upsampling_ratios=[8, 5, 4, 4],
        use_causal_conv=False,
        use_conv_shortcut=False,
    )
    decoder = MusicgenDecoderConfig(
        vocab_size=2048,
        hidden_size=1024,
        num_hidden_layers=24,
        num_attention_heads=16,
        ffn_dim=4096,
        num_codebooks=4,
        max_position_embeddings=2048,
        activation_function="gelu",
        dropout=0.1,
        pad_token_id=2048,
        bos_token_id=2048,
        scale_embedding=False,
        tie_word_embeddings=False,
    )
    config = MusicgenConfig(
        text_encoder=text.to_dict(),
        audio_encoder=codec.to_dict(),
        decoder=decoder.to_dict(),
    )
    config.pad_token_id = 2048
    config.decoder_start_token_id = 2048
    return config


def build_small(device: str, dtype: torch.dtype = torch.float32) -> Any:
    """A LoadedMusicgen with small's shapes and random weights (in memory: no 2.4 GB file)."""
    from transformers import MusicgenForConditionalGeneration, T5Tokenizer

    from audiomill.models import musicgen

    torch.manual_seed(0)
    model = MusicgenForConditionalGeneration(small_config())
    with torch.no_grad():  # random codebooks, as trained ones differ per code
        for layer in model.audio_encoder.quantizer.layers:
            layer.codebook.embed.normal_()
    generation = model.generation_config
    generation.pad_token_id = generation.bos_token_id = generation.decoder_start_token_id = 2048
    model = model.to(dtype)
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    vocab += [("\u2581" + word, -1.0) for word in _WORDS]
    tokenizer = T5Tokenizer(vocab=vocab, extra_ids=0)
    return musicgen.wrap_model(model, tokenizer, device, "musicgen-small-shaped", SCRATCH)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def composer_run(seconds: float) -> tuple[float, float]:
    """The embedded composer through the generate engine: (wall seconds, peak RSS MB)."""
    from audiomill.engines import generate
    from audiomill.engines.base import LocalContext
    from audiomill.params.generate import GenerateParams

    generate.setup()
    params = GenerateParams(prompt=PROMPTS[0], duration_seconds=seconds, seed=1)
    common.wait_for_quiet(max_wait_seconds=MAX_WAIT_SECONDS)
    started = time.perf_counter()
    generate.run(LocalContext(params, {}, SCRATCH / "composer"))
    return time.perf_counter() - started, peak_rss_mb()


def cpu_run(seconds: float) -> tuple[float, float, float]:
    """(build seconds, generate seconds, peak RSS MB) for one job on the CPU."""
    from audiomill.models import musicgen

    started = time.perf_counter()
    loaded = build_small("cpu")
    built = time.perf_counter() - started
    musicgen.generate_music(loaded, PROMPTS[1], 0.2, seed=0)  # first-call imports
    common.wait_for_quiet(max_wait_seconds=MAX_WAIT_SECONDS)
    started = time.perf_counter()
    result = musicgen.generate_music(loaded, PROMPTS[1], seconds, seed=1)
    took = time.perf_counter() - started
    assert result.audio.shape[-1] == round(seconds * loaded.sample_rate)
    return built, took, peak_rss_mb()


def concurrent_jobs(loaded: Any, count: int, seconds: float) -> tuple[float, list[int]]:
    """``count`` jobs started together; wall seconds until the last ends, and the batches."""
    from audiomill.models import musicgen

    before = len(loaded.batcher.batch_sizes)
    barrier = threading.Barrier(count + 1)
    errors: list[BaseException] = []

    def job(index: int) -> None:
        barrier.wait()
        try:
            musicgen.generate_music(loaded, PROMPTS[index % len(PROMPTS)], seconds, seed=index)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=job, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    took = time.perf_counter() - started
    if errors:
        raise errors[0]
    return took, loaded.batcher.batch_sizes[before:]


def gpu_run(seconds: float, dtype_name: str) -> None:
    common.header(f"MusicGen-small-shaped on CUDA ({dtype_name}): 1 vs 8 vs 16 concurrent {seconds:g} s jobs")
    if not torch.cuda.is_available():
        print("skipped: CUDA is not available on this machine")
        return
    from audiomill.models import musicgen

    loaded = build_small("cuda", getattr(torch, dtype_name))
    musicgen.generate_music(loaded, PROMPTS[0], 1.0, seed=0)  # warm-up (kernels, imports)
    rows = []
    times: dict[int, float] = {}
    for count in (1, 8, 16):
        torch.cuda.synchronize()
        took, batches = concurrent_jobs(loaded, count, seconds)
        times[count] = took
        rows.append(
            [
                count,
                f"{took:.1f}",
                f"{took / seconds:.2f}",
                f"{count * seconds / took:.2f}",
                batches,
            ]
        )
    print(
        torch.cuda.get_device_name(0),
        f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB",
    )
    print_table(
        [
            "jobs",
            "wall s",
            "wall s / audio s",
            "audio s per wall s",
            "generate batch sizes",
        ],
        rows,
    )
    ratio = times[16] / times[1]
    print(f"16 jobs / 1 job wall time: {ratio:.2f}x (goal <= {GOAL_16_OVER_1}x): {verdict(ratio <= GOAL_16_OVER_1)}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=10.0, help="audio seconds per job")
    parser.add_argument("--no-composer", action="store_true", help="skip the composer peer")
    parser.add_argument("--no-cpu", action="store_true", help="skip the CPU run (e.g. on a GPU machine)")
    parser.add_argument("--gpu-dtype", default="float32", choices=["float32", "bfloat16", "float16"])


def main(args: argparse.Namespace) -> None:
    SCRATCH.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(common.torch_threads())
    if not args.no_cpu:
        common.header(f"MusicGen-small-shaped random weights on the CPU, {args.seconds:g} s of audio")
        rows = []
        composer_seconds = None
        if not args.no_composer:
            composer_seconds, composer_rss = composer_run(args.seconds)
            rows.append(
                [
                    "composer (embedded)",
                    f"{composer_seconds:.2f}",
                    f"{composer_seconds / args.seconds:.3f}",
                    f"{composer_rss:.0f}",
                ]
            )
        built, took, rss = cpu_run(args.seconds)
        rows.append(
            [
                "musicgen-small-shaped",
                f"{took:.1f}",
                f"{took / args.seconds:.2f}",
                f"{rss:.0f}",
            ]
        )
        print(
            f"torch threads {torch.get_num_threads()}, load after {common.load_average():.2f}, "
            f"model built in {built:.1f} s"
        )
        print_table(["peer", "seconds", "s per audio s", "peak RSS MB (process)"], rows)
        if composer_seconds:
            print(f"composer is {took / composer_seconds:.0f}x faster than MusicGen-small on this CPU")
    gpu_run(args.seconds, args.gpu_dtype)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    main(parser.parse_args())
