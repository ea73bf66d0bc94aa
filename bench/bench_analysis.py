"""Analysis benchmark: accuracy and speed of audiomill.analysis against plain librosa.

Peer, measured in the same run on the same audio: ``librosa.beat.beat_track`` for tempo
(librosa's default settings, 22,050 Hz) and chroma_stft averaged over the track against
the Krumhansl-Kessler profiles for key.

    python -m bench.bench_analysis [--songs-per-key 2] [--composed 56] [--long-seconds 180] [--hums 4]

Prints tempo Acc1 (within 4 %) / Acc2 (also at 1/2, 2, 1/3, 3 times), key exact and MIREX
score over two sets: one-pattern renders (tests/music_renders.py: all 24 keys, 60-180 bpm,
five styles, some in 3/4) and songs written by our composer (tests/composer_songs.py:
fourteen styles with swing, half-time, 3/4 and 6/8, sections and fills, a third without
drums, tempos over each style's range widened by a quarter); then the warm time to analyse
a long song, and hum transcription F1 with the hum-to-beat job's time for a 15 s hum.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiomill import audio
from audiomill.analysis import analyze_samples, warm_up
from audiomill.analysis.key import MODES, PITCH_NAMES, krumhansl_scores
from tests.music_renders import STYLES, SongSpec, render_song, song_set

RELATIVE_MINOR_OFFSET = 9


def mirex_score(truth: str, guess: str) -> float:
    """MIREX key score: 1 exact, 0.5 fifth, 0.3 relative, 0.2 parallel, else 0."""
    if truth == guess:
        return 1.0
    t_tonic, t_mode = PITCH_NAMES.index(truth.split()[0]), truth.split()[1]
    g_tonic, g_mode = PITCH_NAMES.index(guess.split()[0]), guess.split()[1]
    if t_mode == g_mode and (g_tonic - t_tonic) % 12 in (5, 7):
        return 0.5
    if t_mode != g_mode:
        relative = (t_tonic + RELATIVE_MINOR_OFFSET) % 12 if t_mode == "major" else (t_tonic + 3) % 12
        if g_tonic == relative:
            return 0.3
        if g_tonic == t_tonic:
            return 0.2
    return 0.0


def plain_librosa(samples: np.ndarray, sample_rate: int) -> tuple[float, str]:
    import librosa

    mono = audio.resample(samples.mean(axis=0, keepdims=True), sample_rate, 22050)[0]
    tempo, _ = librosa.beat.beat_track(y=mono, sr=22050)
    chroma = librosa.feature.chroma_stft(y=mono, sr=22050).mean(axis=1)
    best = int(np.argmax(krumhansl_scores(chroma)))
    return float(np.atleast_1d(tempo)[0]), f"{PITCH_NAMES[best % 12]} {MODES[best // 12]}"


def tempo_ok(truth: float, guess: float, factors: tuple[float, ...]) -> bool:
    return any(abs(guess * f / truth - 1) < 0.04 for f in factors)


@dataclass(frozen=True)
class Case:
    name: str
    samples: np.ndarray
    bpm: float
    key: str
    beats_per_bar: int


def rendered_cases(songs_per_key: int) -> list[Case]:
    return [
        Case(f"{spec.style.name} {spec.bpm:g}", render_song(spec), spec.bpm, spec.key_name, spec.beats_per_bar)
        for spec in song_set(count_per_key=songs_per_key, seed=0)
    ]


def composed_cases(count: int, seed: int) -> list[Case]:
    from tests.composer_songs import compose_song, composer_set

    cases = []
    for spec in composer_set(count, seed=seed):
        samples, _ = compose_song(spec)
        name = f"{spec.style}{'' if spec.drums else ' (no drums)'} {spec.bpm:g}"
        cases.append(Case(name, samples, spec.bpm, spec.key_name, spec.beats_per_bar))
    return cases


def accuracy(title: str, cases: list[Case]) -> None:
    ours = {"acc1": 0, "acc2": 0, "key": 0, "mirex": 0.0, "meter": 0, "seconds": 0.0}
    peer = {"acc1": 0, "acc2": 0, "key": 0, "mirex": 0.0, "seconds": 0.0}
    misses = []
    for case in cases:
        start = time.perf_counter()
        result = analyze_samples(case.samples, 44100)
        ours["seconds"] += time.perf_counter() - start
        start = time.perf_counter()
        peer_bpm, peer_key = plain_librosa(case.samples, 44100)
        peer["seconds"] += time.perf_counter() - start
        for tally, bpm, key in ((ours, result.rhythm.bpm, result.key.name), (peer, peer_bpm, peer_key)):
            tally["acc1"] += tempo_ok(case.bpm, bpm, (1.0,))
            tally["acc2"] += tempo_ok(case.bpm, bpm, (0.5, 1.0, 2.0, 1 / 3, 3.0))
            tally["key"] += key == case.key
            tally["mirex"] += mirex_score(case.key, key)
        ours["meter"] += result.rhythm.beats_per_bar == case.beats_per_bar
        if not tempo_ok(case.bpm, result.rhythm.bpm, (1.0,)):
            misses.append(f"{case.name} bpm read {result.rhythm.bpm:g}")
        if result.key.name != case.key:
            misses.append(f"{case.name} {case.key} read {result.key.name}")
    n = len(cases)
    print(f"\n{title}: {n} songs")
    print(f"{'':24s}{'audiomill':>12s}{'librosa+KK':>12s}")
    print(f"{'tempo Acc1':24s}{ours['acc1'] / n:>12.1%}{peer['acc1'] / n:>12.1%}")
    print(f"{'tempo Acc2':24s}{ours['acc2'] / n:>12.1%}{peer['acc2'] / n:>12.1%}")
    print(f"{'key exact':24s}{ours['key'] / n:>12.1%}{peer['key'] / n:>12.1%}")
    print(f"{'key MIREX score':24s}{ours['mirex'] / n:>12.3f}{peer['mirex'] / n:>12.3f}")
    print(f"{'meter (beats a bar)':24s}{ours['meter'] / n:>12.1%}{'-':>12s}")
    print(f"{'seconds per song':24s}{ours['seconds'] / n:>12.2f}{peer['seconds'] / n:>12.2f}")
    print("  audiomill's misses: " + ("; ".join(misses) or "none"))


def sections(count: int) -> None:
    """Section boundaries against the composer's plan: mir_eval boundary detection within
    +-2 s (precision, recall, F) over ``count`` 60-120 s songs."""
    import mir_eval

    from audiomill.music.styles import STYLES_BY_NAME
    from tests.composer_songs import STYLE_NAMES, ComposedSpec, compose_song

    rng = np.random.default_rng(5)
    scores = []
    for index in range(count):
        style = STYLE_NAMES[(index * 5) % len(STYLE_NAMES)]
        low, high = STYLES_BY_NAME[style].tempo_range
        spec = ComposedSpec(
            style,
            int(rng.integers(12)),
            str(rng.choice(["major", "minor"])),
            float(rng.integers(low, high + 1)),
            drums=index % 4 != 3,
            duration_seconds=float(rng.choice([60.0, 90.0, 120.0])),
            seed=100 + index,
        )
        samples, described = compose_song(spec)
        duration = samples.shape[1] / 44100
        found = analyze_samples(samples, 44100).sections
        truth = [s["start_seconds"] for s in described["sections"]] + [duration]
        estimate = [s.start_seconds for s in found] + [duration]
        scores.append(
            mir_eval.segment.detection(
                np.array(list(zip(truth[:-1], truth[1:]))),
                np.array(list(zip(estimate[:-1], estimate[1:]))),
                window=2.0,
                trim=True,
            )
        )
    precision, recall, f_measure = np.mean(scores, axis=0)
    print(
        f"\nsection boundaries (+-2 s, mir_eval) over {count} composer songs of 60-120 s: "
        f"precision {precision:.2f}, recall {recall:.2f}, F {f_measure:.2f} (min F {min(s[2] for s in scores):.2f})"
    )


def long_song(seconds: float, repeats: int) -> None:
    bpm = 128.0
    bars = round(seconds * bpm / 60 / 4)
    samples = render_song(SongSpec(9, "minor", bpm, 4, bars, STYLES[0], seed=11))
    duration = samples.shape[1] / 44100
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "long.mp3"
        from audiomill.params import EncodeOptions, OutputFormat

        audio.encode(path, samples, 44100, EncodeOptions(output_format=OutputFormat.mp3))
        from audiomill.analysis import analyze_file

        ours, peer = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            result = analyze_file(path)
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            decoded, rate = audio.decode(path)
            plain_librosa(decoded, rate)
            peer.append(time.perf_counter() - start)
    print(f"\n{duration:.0f} s song (mp3, decode included), warm, best of {repeats}:")
    print(
        f"  audiomill analyze_file  {min(ours):6.2f} s  (bpm {result.rhythm.bpm}, key {result.key.name}, "
        f"{result.levels.integrated_lufs} LUFS, with loudness, true peak, beats, meter, waveform)"
    )
    print(f"  librosa beat_track + chroma/Krumhansl  {min(peer):6.2f} s  (tempo and key only)")
    print(f"  ratio {min(ours) / min(peer):.2f}x")


def hums(count: int) -> None:
    from audiomill.analysis.melody import transcribe_samples
    from tests.hum_samples import (
        SAMPLE_RATE,
        melody_on_grid,
        onset_pitch_f1,
        render_hum,
    )

    scores = []
    for seed in range(count):
        bpm = (90, 110, 128, 150)[seed % 4]
        truth = melody_on_grid(bpm, beats=16, seed=seed, tonic=55 + seed, minor=bool(seed % 2))
        hum = render_hum(truth, detune_cents=25 if seed % 2 else -25, seed=seed)
        notes = transcribe_samples(hum, SAMPLE_RATE, bpm=bpm).notes
        scores.append(onset_pitch_f1(truth, [(n.pitch, n.start_seconds, n.duration_seconds) for n in notes]))
    print(
        f"\nhum transcription onset+pitch F1 over {count} synthetic hums (vibrato 35 c, glides, +-25 c, noise): "
        f"mean {np.mean(scores):.3f}, min {np.min(scores):.3f}"
    )
    # end to end: a 15 s hum through the hum_to_beat engine (transcribe, arrange, render, encode)
    from audiomill.engines import hum_to_beat
    from audiomill.engines.base import LocalContext
    from audiomill.params import HumToBeatParams

    truth = melody_on_grid(120, beats=30, seed=9, tonic=60)
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "hum.wav"
        audio.encode(source, render_hum(truth, seed=9)[None, :], SAMPLE_RATE)
        hum_to_beat.setup()
        ctx = LocalContext(HumToBeatParams(bpm=120, mood="happy", seed=1), {"hum": source}, Path(scratch) / "out")
        start = time.perf_counter()
        hum_to_beat.run(ctx)
        elapsed = time.perf_counter() - start
    print(
        f"hum_to_beat job, {len(render_hum(truth)) / SAMPLE_RATE:.0f} s hum, warm: {elapsed:.2f} s "
        f"({len(ctx.result['notes'])} notes, key {ctx.result['key']})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--songs-per-key", type=int, default=2)
    parser.add_argument("--composed", type=int, default=56, help="composer songs (0: none)")
    parser.add_argument(
        "--composed-seed", type=int, default=1, help="1: the set the tempo weights were chosen on; 2: held out"
    )
    parser.add_argument("--long-seconds", type=float, default=180.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hums", type=int, default=4)
    parser.add_argument("--sections", type=int, default=12, help="composer songs for section boundaries (0: none)")
    args = parser.parse_args()
    from audiomill.numba_cache import claim_numba_cache_dir

    claim_numba_cache_dir()  # a numba cache of our own: one shared with a live worker segfaults librosa
    start = time.perf_counter()
    warm_up()
    print(f"warm-up (numba compilation, once per worker): {time.perf_counter() - start:.1f} s")
    if args.songs_per_key:
        accuracy(
            f"one-pattern renders (24 keys x {args.songs_per_key}, 60-180 bpm, 3/4 and 4/4)",
            rendered_cases(args.songs_per_key),
        )
    if args.composed:
        accuracy(
            "composer songs (14 styles, 6/8 and 3/4, swing, a third without drums)",
            composed_cases(args.composed, args.composed_seed),
        )
    if args.sections:
        sections(args.sections)
    long_song(args.long_seconds, args.repeats)
    if args.hums:
        hums(args.hums)


if __name__ == "__main__":
    main()
