"""Music projects: fork cost, history speed, mixdown speed (issue 15's goals).

    fork     a repository of 100 commits x 5 stems: time and audio bytes written, beside a
             naive copy of the same files (what a file-level fork / Git LFS clone does)
    history  1,000 commits: the service call and seed 003's HTTP route
    mixdown  five 3-minute stereo 44.1 kHz stems, mastered, on this machine's cores, beside
             a naive numpy sum + pyloudnorm normalisation of the same files

Run: ``PYTHONPATH=src:. python bench/bench_vcs.py [--skip-mixdown]``. Goals: fork <= 200 ms
and 0 audio bytes; history <= 100 ms; mixdown <= 3 s on 2 cores.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile

from audiomill.accounts import service as accounts
from audiomill.config import Settings
from audiomill.engines import mixdown as mixdown_engine
from audiomill.engines.base import LocalContext
from audiomill.jobs.service import Upload
from audiomill.params.mixdown import MixdownParams
from audiomill.runtime import Runtime, build_runtime
from audiomill.store.tables import Asset, User
from audiomill.vcs import service

OUT_DIR = Path(__file__).resolve().parent / "out" / "vcs"
STEMS = ("drums", "bass", "vocals", "melody", "other")
SAMPLE_RATE = 44100


def _tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def _best_ms(run: Callable[[], object], repeats: int = 5) -> tuple[float, float]:
    """(best, median) wall time in ms."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000.0)
    return min(times), statistics.median(times)


def _store_audio(runtime: Runtime, owner: User, samples: np.ndarray, name: str) -> Asset:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples.T, SAMPLE_RATE, format="WAV", subtype="PCM_16")
    buffer.seek(0)
    with runtime.db.session() as session:
        asset = service.store_stem_audio(runtime, session, owner, Upload(stream=buffer, filename=f"{name}.wav"))
        session.expunge(asset)
    return asset


def _runtime(root: Path) -> tuple[Runtime, User]:
    settings = Settings(data_dir=root / "data", models_download=False)
    runtime = build_runtime(settings)
    with runtime.db.session() as session:
        user = accounts.create_user(session, "bench", "bench-password")
        user.api_key = accounts.create_api_key(session, user, "bench").secret  # type: ignore[attr-defined]
        session.flush()
        session.expunge(user)
    return runtime, user


def _fill(runtime: Runtime, user: User, commits: int, stem_seconds: float) -> str:
    """A repository whose first commit has 5 stems and each later commit replaces one."""
    rng = np.random.default_rng(0)
    frames = round(stem_seconds * SAMPLE_RATE)
    with runtime.db.session() as session:
        repo_uuid = service.create_repo(session, user, "bench song").uuid
    for index in range(commits):
        changed = STEMS if index == 0 else (STEMS[index % len(STEMS)],)
        assets = [
            _store_audio(runtime, user, (0.1 * rng.standard_normal((1, frames))).astype(np.float32), f"{n}-{index}")
            for n in changed
        ]
        with runtime.db.session() as session:
            repo = service.get_repo(session, user, repo_uuid)
            pairs = [
                (service.StemSource(n, asset_id=a.uuid), session.get(Asset, a.id)) for n, a in zip(changed, assets)
            ]
            service.commit_to(session, repo, user, service.CommitMeta(f"commit {index}", 120.0), pairs)  # type: ignore[arg-type]
    return repo_uuid


def bench_fork(root: Path) -> None:
    runtime, user = _runtime(root / "fork")
    repo_uuid = _fill(runtime, user, commits=100, stem_seconds=2.0)
    with runtime.db.session() as session:
        _, entries = service.history(session, user, repo_uuid)
        stems = [s.asset.sha256 for e in entries for s in service.get_commit(session, user, repo_uuid, e.uuid)[1].stems]
    blobs = runtime.settings.blobs_dir
    before_blob_bytes = _tree_bytes(blobs)
    forks = []

    def fork() -> None:
        with runtime.db.session() as session:
            forks.append(service.fork_repo(session, user, repo_uuid, f"remix {len(forks)}").uuid)

    best, median = _best_ms(fork, repeats=10)
    written = _tree_bytes(blobs) - before_blob_bytes
    with runtime.db.session() as session:
        _, fork_entries = service.history(session, user, forks[-1])
    assert len(fork_entries) == 100

    # the peer: a copy of every stem file of every commit (a file-level fork)
    target = root / "naive-copy"
    unique = sorted(set(stems))

    def naive() -> None:
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for index, digest in enumerate(stems):
            shutil.copyfile(runtime.blobs.path(digest), target / f"{index}.wav")

    naive_best, naive_median = _best_ms(naive, repeats=3)
    naive_bytes = _tree_bytes(target)
    print(
        f"fork of 100 commits x 5 stems ({len(stems)} stem rows, {len(unique)} distinct files, "
        f"{before_blob_bytes / 1e6:.1f} MB of audio)"
    )
    print(f"  audiomill fork      best {best:7.1f} ms  median {median:7.1f} ms  audio bytes written {written}")
    print(
        f"  naive file copy     best {naive_best:7.1f} ms  median {naive_median:7.1f} ms  "
        f"audio bytes written {naive_bytes}  ({naive_best / best:.0f}x slower)"
    )
    runtime.db.dispose()


def bench_history(root: Path) -> None:
    runtime, user = _runtime(root / "history")
    repo_uuid = _fill(runtime, user, commits=1, stem_seconds=0.5)
    with runtime.db.session() as session:
        repo = service.get_repo(session, user, repo_uuid)
        for index in range(999):
            service.commit_to(session, repo, user, service.CommitMeta(f"commit {index}", 120.0, "C minor"), [])

    def history() -> None:
        with runtime.db.session() as session:
            _, entries = service.history(session, user, repo_uuid)
            assert len(entries) == 1000

    best, median = _best_ms(history, repeats=10)
    print("history of 1,000 commits")
    print(f"  service.history     best {best:7.1f} ms  median {median:7.1f} ms")

    from fastapi.testclient import TestClient

    from audiomill.api.app import create_app

    class _NoExecutor:
        def start(self) -> None: ...
        def submit(self, job_id: int, kind: str) -> None: ...
        def stop(self) -> None: ...

    runtime.executor = _NoExecutor()
    key = user.api_key  # type: ignore[attr-defined]
    with TestClient(create_app(runtime.settings, runtime), base_url="http://127.0.0.1") as client:

        def http() -> None:
            response = client.get(f"/api/vcs/history/{repo_uuid}", headers={"Authorization": f"Bearer {key}"})
            assert response.status_code == 200 and len(response.json()["commits"]) == 1000

        best, median = _best_ms(http, repeats=10)
    print(f"  GET /api/vcs/history best {best:7.1f} ms  median {median:7.1f} ms  (HTTP + JSON, in process)")
    runtime.db.dispose()


def bench_mixdown(root: Path) -> None:
    folder = root / "mixdown"
    folder.mkdir(parents=True, exist_ok=True)
    frames = 180 * SAMPLE_RATE
    rng = np.random.default_rng(1)
    inputs = {}
    t = np.arange(frames) / SAMPLE_RATE
    for index, name in enumerate(STEMS):
        path = folder / f"{name}.wav"
        if not path.exists():
            tone = 0.2 * np.sin(2 * np.pi * (55.0 * (index + 1)) * t)
            stereo = np.stack([tone, tone]) + 0.02 * rng.standard_normal((2, frames))
            soundfile.write(path, stereo.T.astype(np.float32), SAMPLE_RATE, subtype="PCM_16")
        inputs[name] = path
    params = MixdownParams(stems=list(STEMS), mix={"bass": {"gain_db": -3.0}, "other": {"pan": 0.4}})

    def ours() -> None:
        ctx = LocalContext(params=params, inputs=inputs, output_dir=folder / "out")
        mixdown_engine.run(ctx)

    def naive() -> None:
        import pyloudnorm

        mix = None
        for name, path in inputs.items():
            samples, _ = soundfile.read(path, dtype="float32")
            gain = 10 ** (-3.0 / 20) if name == "bass" else 1.0
            mix = samples * gain if mix is None else mix + samples * gain
        assert mix is not None
        loudness = pyloudnorm.Meter(SAMPLE_RATE).integrated_loudness(mix)
        mix = pyloudnorm.normalize.loudness(mix, loudness, -14.0)
        soundfile.write(folder / "naive.wav", np.clip(mix, -1, 1), SAMPLE_RATE, subtype="PCM_16")

    unmastered = params.model_copy(update={"master": False})

    def ours_unmastered() -> None:
        mixdown_engine.run(LocalContext(params=unmastered, inputs=inputs, output_dir=folder / "out"))

    print(f"mixdown of five 3-min stereo 44.1 kHz stems, {os.cpu_count()} cores, 1-min load {os.getloadavg()[0]:.1f}")
    best: dict[str, tuple[float, float]] = {}
    for label, run in (
        ("audiomill, mastered", ours),
        ("audiomill, master=false", ours_unmastered),
        ("numpy+pyloudnorm", naive),
    ):
        for _ in range(3):  # best of 3: the machine is shared
            cpu_start, wall_start = time.process_time(), time.perf_counter()
            run()
            cpu, wall = time.process_time() - cpu_start, time.perf_counter() - wall_start
            best[label] = (min(best.get(label, (cpu, wall))[0], cpu), min(best.get(label, (cpu, wall))[1], wall))
        print(f"  {label:24s} best wall {best[label][1]:6.2f} s   best cpu {best[label][0]:6.2f} s")
    mastered, plain = best["audiomill, mastered"], best["audiomill, master=false"]
    print(
        f"  of which mastering (audio/loudness.py: meter + true-peak limiter): "
        f"cpu {mastered[0] - plain[0]:.2f} s, wall {mastered[1] - plain[1]:.2f} s; "
        f"decode + sum + encode: cpu {plain[0]:.2f} s"
    )
    print(
        "  (mastered: -14 LUFS under a -1 dBTP true-peak limiter, audio/loudness.py; "
        "numpy+pyloudnorm: loudness gain only, no limiter, clips)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-mixdown", action="store_true")
    args = parser.parse_args()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=OUT_DIR) as scratch:
        root = Path(scratch)
        bench_fork(root)
        bench_history(root)
    if not args.skip_mixdown:
        bench_mixdown(OUT_DIR)


if __name__ == "__main__":
    main()
