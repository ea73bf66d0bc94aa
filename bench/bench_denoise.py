"""Denoise: SI-SDR improvement and real-time factor, DeepFilterNet3 vs RNNoise vs noisereduce.

``python -m bench.bench_denoise [--sample-rate 48000] [--seconds 15]``

Clean speech is a recorded flite voice (slt) reading several sentences, resampled to
--sample-rate. Noises, each mixed at 0 and 5 dB SNR:
  white   Gaussian, full band at the sample rate
  pink    1/f power, full band
  babble  four other voices (flite rms, awb, kal16 and espeak-ng) talking at once
For each peer, measured on the same mixtures one after another:
  SI-SDR gain dB  SI-SDR(output, clean) - SI-SDR(noisy, clean)   (goal DFN3 pink 0 dB >= +7)
  RTF             processing seconds / audio seconds, mono, one block stream (goal DFN3 <= 0.15)
Peers: DFN3 and RNNoise through audiomill's own DenoiseStream (resampling, framing, delay
compensation: what the engine runs), and noisereduce's spectral gating: blind with its
defaults (as a service must run it), and, as an upper reference only, given a separate
2 s stretch of the very noise (an oracle no upload comes with). The engine end to end
(decode, denoise, encode a wav) is timed too. Timings wait for a quiet machine
(bench.common.wait_for_quiet) and print the load.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np
import soundfile

from bench import common
from bench.common import print_table, verdict

SCRATCH = common.OUT_DIR / "denoise"
GOAL_PINK_0DB_GAIN_DB = 7.0
GOAL_DFN3_RTF = 0.15
SNRS_DB = (0.0, 5.0)
NOISES = ("white", "pink", "babble")
TARGET_TEXTS = [
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Please send the quarterly report to the finance team by Friday.",
    "A cup of hot tea makes a cold morning feel much better.",
    "Remember to water the plants before you leave for the airport.",
    "Our neighbours painted their fence a bright shade of yellow.",
]
BABBLE_VOICES = [
    ("flite", "rms", "We should meet again next week to discuss the new design for the office."),
    ("flite", "awb", "The train to the city leaves from platform nine at noon every single day."),
    ("flite", "kal16", "Three hundred people came to the concert in the park last summer."),
    ("espeak-ng", "en-gb", "Could you tell me the way to the nearest post office and the bank?"),
]

# (noisy, sample_rate, a separate stretch of the same noise at the same level) -> output;
# only the oracle peer looks at the noise stretch
Denoiser = Callable[[np.ndarray, int, np.ndarray], np.ndarray]


# ---------------------------------------------------------------- audio


def synthesize(engine: str, voice: str, text: str) -> tuple[np.ndarray, int]:
    SCRATCH.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    path = SCRATCH / f"{engine}-{voice}-{digest}.wav"
    if not path.exists():
        if shutil.which(engine) is None:
            sys.exit(f"{engine} is not installed (Debian: apt-get install {engine})")
        if engine == "flite":
            command = ["flite", "-voice", voice, "-t", text, "-o", str(path)]
        else:
            command = ["espeak-ng", "-v", voice, "-w", str(path), text]
        subprocess.run(command, check=True, capture_output=True)
    audio, rate = soundfile.read(path, dtype="float32")
    return audio, rate


def to_rate(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    from audiomill.audio import resample

    return resample(audio[None, :], from_rate, to_rate)[0]


def fit_length(audio: np.ndarray, frames: int, offset: int) -> np.ndarray:
    """Loop ``audio`` from ``offset`` to exactly ``frames`` samples."""
    repeats = -(-(frames + offset) // audio.size)
    return np.tile(audio, repeats)[offset : offset + frames]


def clean_speech(sample_rate: int, seconds: float) -> np.ndarray:
    pieces = []
    pause = np.zeros(int(0.3 * sample_rate), np.float32)
    for text in TARGET_TEXTS:
        audio, rate = synthesize("flite", "slt", text)
        pieces += [to_rate(audio, rate, sample_rate), pause]
    speech = fit_length(np.concatenate(pieces), int(seconds * sample_rate), 0)
    return (0.3 * speech / np.abs(speech).max()).astype(np.float32)


def make_noise(kind: str, frames: int, sample_rate: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "white":
        return rng.standard_normal(frames)
    if kind == "pink":
        spectrum = np.fft.rfft(rng.standard_normal(frames))
        bins = np.arange(spectrum.size)
        bins[0] = 1
        return np.fft.irfft(spectrum / np.sqrt(bins), frames)
    babble = np.zeros(frames)
    for index, (engine, voice, text) in enumerate(BABBLE_VOICES):
        audio, rate = synthesize(engine, voice, text)
        voice_audio = to_rate(audio, rate, sample_rate)
        voice_audio = fit_length(voice_audio, frames, int(rng.integers(0, voice_audio.size)))
        babble += voice_audio / (np.sqrt(np.mean(voice_audio**2)) + 1e-9) * (1 + 0.1 * index)
    return babble


def noise_at_snr(clean: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    return noise * np.sqrt(np.mean(clean**2) / np.mean(noise**2)) / 10 ** (snr_db / 20)


def mix(clean: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    return (clean + noise_at_snr(clean, noise, snr_db)).astype(np.float32)


def si_sdr_db(estimate: np.ndarray, reference: np.ndarray) -> float:
    estimate = estimate.astype(np.float64) - estimate.mean()
    reference = reference.astype(np.float64) - reference.mean()
    target = np.dot(estimate, reference) / np.dot(reference, reference) * reference
    return float(10 * np.log10(np.sum(target**2) / np.sum((estimate - target) ** 2)))


# ---------------------------------------------------------------- peers


def audiomill_denoiser(model: str) -> Denoiser:
    from audiomill.engines.denoise import denoise_blocks, open_model
    from audiomill.params.denoise import DenoiseParams

    def run(noisy: np.ndarray, sample_rate: int, _: np.ndarray) -> np.ndarray:
        context, delay_frames = open_model(DenoiseParams(model=model), 1)  # type: ignore[arg-type]
        blocks = (noisy[None, i : i + 48000] for i in range(0, noisy.size, 48000))
        with context as session:
            out = np.concatenate(list(denoise_blocks(blocks, session, delay_frames, sample_rate)), axis=1)
        return out[0]

    return run


def noisereduce_denoiser(noisy: np.ndarray, sample_rate: int, _: np.ndarray) -> np.ndarray:
    """Blind, as a service must run it: non-stationary spectral gating, defaults."""
    import noisereduce

    return np.asarray(noisereduce.reduce_noise(y=noisy, sr=sample_rate, n_jobs=1), np.float32)


def noisereduce_oracle(noisy: np.ndarray, sample_rate: int, noise: np.ndarray) -> np.ndarray:
    """Given a stretch of the very noise (which no upload comes with): an upper reference."""
    import noisereduce

    out = noisereduce.reduce_noise(y=noisy, sr=sample_rate, y_noise=noise, stationary=True, n_jobs=1)
    return np.asarray(out, np.float32)


PEERS: dict[str, Callable[[], Denoiser]] = {
    "DFN3": lambda: audiomill_denoiser("deepfilternet3"),
    "RNNoise": lambda: audiomill_denoiser("rnnoise"),
    "noisereduce": lambda: noisereduce_denoiser,
    "noisereduce+noise clip (oracle)": lambda: noisereduce_oracle,
}


def engine_rtf(model: str, noisy: np.ndarray, sample_rate: int) -> float:
    """The denoise engine end to end: decode a wav, denoise, encode a 16-bit wav."""
    from audiomill.engines import denoise
    from audiomill.engines.base import LocalContext
    from audiomill.params.denoise import DenoiseParams

    source = SCRATCH / "engine-input.wav"
    soundfile.write(source, noisy, sample_rate, subtype="PCM_16")
    params = DenoiseParams(model=model)  # type: ignore[arg-type]
    ctx = LocalContext(params, {"audio": source}, SCRATCH / "engine-out")
    started = time.perf_counter()
    denoise.run(ctx)
    return (time.perf_counter() - started) / (noisy.size / sample_rate)


# ---------------------------------------------------------------- main


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sample-rate", type=int, default=48000, help="default 48000")
    parser.add_argument("--seconds", type=float, default=15.0, help="clip length (default 15)")


def run(args: argparse.Namespace) -> None:
    sample_rate = args.sample_rate
    common.header(f"Denoise: SI-SDR gain and RTF, {args.seconds:g} s of speech at {sample_rate} Hz")
    clean = clean_speech(sample_rate, args.seconds)
    mixtures: dict[tuple[str, float], tuple[np.ndarray, np.ndarray]] = {}
    for seed, kind in enumerate(NOISES):
        noise = make_noise(kind, clean.size, sample_rate, seed)
        other_stretch = make_noise(kind, 2 * sample_rate, sample_rate, seed + 100)
        for snr in SNRS_DB:
            level = np.sqrt(np.mean(noise_at_snr(clean, noise, snr) ** 2))
            sample = (other_stretch * level / np.sqrt(np.mean(other_stretch**2))).astype(np.float32)
            mixtures[(kind, snr)] = (mix(clean, noise, snr), sample)
    gains: dict[str, dict[tuple[str, float], float]] = {}
    rtfs: dict[str, float] = {}
    loads: dict[str, float] = {}
    for name, make in PEERS.items():
        denoiser = make()
        warm_noisy, warm_noise = mixtures[("white", 0.0)]
        denoiser(warm_noisy[:sample_rate], sample_rate, warm_noise)  # warm: model load
        loads[name] = common.wait_for_quiet()
        gains[name] = {}
        seconds = 0.0
        for key, (noisy, noise_sample) in mixtures.items():
            started = time.perf_counter()
            out = denoiser(noisy, sample_rate, noise_sample)
            seconds += time.perf_counter() - started
            gains[name][key] = si_sdr_db(out[: clean.size], clean) - si_sdr_db(noisy, clean)
        rtfs[name] = seconds / (len(mixtures) * args.seconds)

    rows: list[list[object]] = []
    for key in mixtures:
        kind, snr = key
        rows.append([f"{kind} {snr:g} dB", *(f"{gains[name][key]:+.1f}" for name in PEERS)])
    rows.append(["RTF (stream, mono)", *(f"{rtfs[name]:.3f}" for name in PEERS)])
    rows.append(["1-min load when timed", *(f"{loads[name]:.1f}" for name in PEERS)])
    load = common.wait_for_quiet()
    noisy = mixtures[("pink", 0.0)][0]
    rows.append(
        [
            "RTF (engine, wav->wav)",
            f"{engine_rtf('deepfilternet3', noisy, sample_rate):.3f}",
            f"{engine_rtf('rnnoise', noisy, sample_rate):.3f}",
            f"(load {load:.1f})",
            "",
        ]
    )
    print("SI-SDR gain in dB (output vs noisy input), higher is better")
    print_table(["", *PEERS], rows)
    pink_gain = gains["DFN3"][("pink", 0.0)]
    print()
    pink_ok = verdict(pink_gain >= GOAL_PINK_0DB_GAIN_DB)
    goal = GOAL_PINK_0DB_GAIN_DB
    print(f"DFN3 pink 0 dB gain {pink_gain:+.1f} dB (goal >= +{goal:g}): {pink_ok}")
    rtf_ok = verdict(rtfs["DFN3"] <= GOAL_DFN3_RTF)
    print(f"DFN3 RTF {rtfs['DFN3']:.3f} (goal <= {GOAL_DFN3_RTF}): {rtf_ok}")
    print("Babble is other people talking: no model here removes it; they suppress the target")
    print("speech along with the crowd (see engines/denoise.py).")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_denoise",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--max-load",
        type=float,
        default=common.QUIET_LOAD,
        help="before each timed peer, wait for the 1-min load to drop below this",
    )
    parser.add_argument(
        "--max-wait",
        type=float,
        default=120.0,
        help="...but at most this many seconds, then measure anyway (the load is printed)",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    common.QUIET_LOAD, common.QUIET_WAIT_SECONDS = args.max_load, args.max_wait
    run(args)


if __name__ == "__main__":
    main()
