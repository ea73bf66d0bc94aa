"""What every benchmark shares: cached models and audio, measured subprocesses, a server
started as users start it, a tiny API client, and table printing.

Benchmarks compare peers measured *in the same run, one after another*: the machine has
2 cores, so anything measured concurrently would steal from its peer.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal
from collections.abc import Sequence

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
OUT_DIR = BENCH_DIR / "out"  # gitignored: cached models, audio, scratch
PYTHON = sys.executable
SAMPLE_RATE = 44100
SOURCES = ["drums", "bass", "other", "vocals"]
MODEL_NAME = "htdemucs"
# The released htdemucs checkpoint was trained on 7.8 s segments (demucs' CLI reports
# "Maximum segment is: 7.8" for it); HTDemucs' constructor default (10 s) is not what
# users run, so the random-weight stand-in uses the real value.
MODEL_SEGMENT = Fraction(39, 5)

ModelSize = Literal["full", "small"]

# "small": the same HTDemucs code paths (hybrid branches, cac, transformer with cross
# attention, same segment, nfft and depth) with fewer channels and transformer layers, so
# a long track runs in minutes. Its constant memory is small, which makes memory *scaling*
# with track length easier to see, not harder.
_MODEL_KWARGS: dict[ModelSize, dict[str, Any]] = {
    "full": {},
    "small": {"channels": 16, "t_layers": 1},
}


# ---------------------------------------------------------------- model weights


def ensure_model(size: ModelSize) -> Path:
    """A demucs ``--repo`` folder holding ``htdemucs.yaml`` + ``SIG-CHECKSUM.th`` (random weights).

    Written exactly as demucs' ``serialize_model`` + ``save_with_checksum`` write a
    checkpoint (half-precision state, checksum in the file name), so demucs' CLI and our
    service both load this very file through demucs' LocalRepo/BagOnlyRepo.
    """
    folder = OUT_DIR / "models" / size
    yaml_path = folder / f"{MODEL_NAME}.yaml"
    if yaml_path.is_file() and any(folder.glob("*.th")):
        return folder
    import torch
    from demucs.htdemucs import HTDemucs

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    kwargs: dict[str, Any] = {
        "sources": SOURCES,
        "audio_channels": 2,
        "samplerate": SAMPLE_RATE,
        "segment": MODEL_SEGMENT,
        **_MODEL_KWARGS[size],
    }
    model = HTDemucs(**kwargs)
    package = {
        "klass": HTDemucs,
        "args": (),
        "kwargs": kwargs,
        # serialize_model(half=True): the released checkpoints are stored in float16.
        "state": {k: v.data.to("cpu", torch.half) for k, v in model.state_dict().items()},
    }
    buf = io.BytesIO()
    torch.save(package, buf)
    signature = f"bench{size}"  # no '-': demucs reads 'SIG-CHECKSUM.th'
    checksum = hashlib.sha256(buf.getvalue()).hexdigest()[:8]
    for old in folder.glob("*.th"):
        old.unlink()
    (folder / f"{signature}-{checksum}.th").write_bytes(buf.getvalue())
    yaml_path.write_text(f"models: ['{signature}']\n")
    return folder


def model_parameters(size: ModelSize) -> int:
    import torch

    path = next(ensure_model(size).glob("*.th"))
    state = torch.load(path, "cpu", weights_only=False)["state"]
    return sum(v.numel() for v in state.values())


# ---------------------------------------------------------------- test audio

_BAR_SECONDS = 2.0  # 4 beats at 120 BPM
_TAIL_SECONDS = 0.6  # decays that ring into the next bar
# I–V–vi–IV in C: root MIDI notes and chord tones.
_PROGRESSION = [(48, (60, 64, 67)), (43, (59, 62, 67)), (45, (57, 60, 64)), (41, (57, 60, 65))]


def _hz(midi: float) -> float:
    return 440.0 * 2 ** ((midi - 69) / 12)


def _bar(index: int) -> np.ndarray:
    """One bar (plus its tail) of stereo music-like audio: chords, bass, kick/snare/hats.

    Seeded by the bar index so any stretch of a track can be made on its own, and a
    60-minute file is written block by block without holding it in memory.
    """
    rng = np.random.default_rng(1000 + index)
    sr = SAMPLE_RATE
    n = int((_BAR_SECONDS + _TAIL_SECONDS) * sr)
    t = np.arange(n) / sr
    out = np.zeros((2, n))
    root, chord = _PROGRESSION[index % len(_PROGRESSION)]
    beat = _BAR_SECONDS / 4

    # Pad chord: a few harmonics per note, panned, slow attack, held for the bar.
    env = np.clip(t / 0.05, 0, 1) * np.exp(-np.maximum(t - _BAR_SECONDS, 0) / 0.15)
    for k, note in enumerate(chord):
        f = _hz(note + (12 if rng.random() < 0.2 else 0))
        tone = sum(np.sin(2 * np.pi * f * h * t + rng.random() * 6.28) / h**1.5 for h in (1, 2, 3))
        pan = 0.3 + 0.2 * k
        out[0] += 0.08 * (1 - pan) * env * tone
        out[1] += 0.08 * pan * env * tone

    def place(signal_: np.ndarray, at: float, gain_lr: tuple[float, float]) -> None:
        start = max(0, int(at * sr))
        end = min(n, start + signal_.size)
        out[0, start:end] += gain_lr[0] * signal_[: end - start]
        out[1, start:end] += gain_lr[1] * signal_[: end - start]

    # Bass: saw-like eighth notes on the root (sometimes the fifth).
    for eighth in range(8):
        f = _hz(root + (7 if rng.random() < 0.25 else 0))
        tt = np.arange(int(beat / 2 * sr)) / sr
        saw = sum(np.sin(2 * np.pi * f * h * tt) / h for h in range(1, 6))
        place(0.12 * saw * np.exp(-tt / 0.18), eighth * beat / 2, (0.5, 0.5))

    # Drums: kick (pitch-swept sine) on 1 and 3, snare (noise + body) on 2 and 4, hats.
    tt = np.arange(int(0.35 * sr)) / sr
    kick = np.sin(2 * np.pi * (50 * tt + 70 * 0.04 * (1 - np.exp(-tt / 0.04)))) * np.exp(-tt / 0.12)
    snare = (rng.standard_normal(tt.size) * 0.6 + np.sin(2 * np.pi * 185 * tt)) * np.exp(-tt / 0.07)
    for b in range(4):
        velocity = 0.8 + 0.2 * rng.random()
        place(0.5 * velocity * (kick if b % 2 == 0 else snare), b * beat, (0.5, 0.5))
    for eighth in range(8):
        hat = np.diff(rng.standard_normal(int(0.05 * sr) + 1)) * np.exp(-np.arange(int(0.05 * sr)) / sr / 0.012)
        place(0.05 * (0.6 + 0.4 * rng.random()) * hat, eighth * beat / 2 + rng.normal(0, 0.004), (0.35, 0.65))
    return out


def ensure_track(seconds: float) -> Path:
    """A cached 16-bit stereo 44.1 kHz wav of ``seconds`` of synthetic music."""
    import soundfile as sf

    path = OUT_DIR / "audio" / f"track_{seconds:g}s.wav"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part.wav")
    total = int(seconds * SAMPLE_RATE)
    bar_frames = int(_BAR_SECONDS * SAMPLE_RATE)
    carry = np.zeros((2, 0))
    with sf.SoundFile(tmp, "w", SAMPLE_RATE, 2, subtype="PCM_16") as f:
        for index in range((total + bar_frames - 1) // bar_frames):
            bar = _bar(index)
            bar[:, : carry.shape[1]] += carry
            frames = min(bar_frames, total - index * bar_frames)
            f.write(np.clip(bar[:, :frames], -1, 1).T.astype(np.float32))
            carry = bar[:, bar_frames:]
    tmp.rename(path)
    return path


def ensure_clips(count: int, seconds: float) -> list[Path]:
    """``count`` distinct clips (different bars of one long synthetic piece)."""
    import soundfile as sf

    source = ensure_track(count * seconds)
    folder = OUT_DIR / "audio" / f"clips_{count}x{seconds:g}s"
    paths = [folder / f"clip{i:02d}.wav" for i in range(count)]
    if all(p.is_file() for p in paths):
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    frames = int(seconds * SAMPLE_RATE)
    for i, path in enumerate(paths):
        data, sr = sf.read(source, start=i * frames, frames=frames, dtype="int16")
        sf.write(path, data, sr, subtype="PCM_16")
    return paths


# ---------------------------------------------------------------- machine state


def load_average() -> float:
    return os.getloadavg()[0]


# Before each timed peer: wait up to QUIET_WAIT_SECONDS for the 1-minute load to drop
# under QUIET_LOAD (``python -m bench --max-load/--max-wait`` change them).
QUIET_LOAD = 0.5
QUIET_WAIT_SECONDS = 300.0


def wait_for_quiet(max_load: float | None = None, max_wait_seconds: float | None = None) -> float:
    """Wait (bounded) until the 1-minute load drops under ``max_load``; return the load.

    Other people test on this machine: a timing taken under load is reported as such,
    not silently compared.
    """
    max_load = QUIET_LOAD if max_load is None else max_load
    max_wait_seconds = QUIET_WAIT_SECONDS if max_wait_seconds is None else max_wait_seconds
    deadline = time.monotonic() + max_wait_seconds
    load = load_average()
    while load >= max_load and time.monotonic() < deadline:
        time.sleep(10)
        load = load_average()
    return load


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def service_threads(concurrency: int) -> int:
    """The torch threads the service gives each job (audiomill.engines.torch_runtime's rule)."""
    if os.environ.get("AUDIOMILL_TORCH_THREADS"):
        return int(os.environ["AUDIOMILL_TORCH_THREADS"])
    return max(1, len(os.sched_getaffinity(0)) // concurrency)


def header(title: str) -> None:
    print(f"\n=== {title} ===")
    print(f"load average (1 min) at start: {load_average():.2f}; cores: {len(os.sched_getaffinity(0))}")
    import torch

    if torch.cuda.is_available():  # the service and demucs' CLI both pick it by default
        print(f"device: {torch.cuda.get_device_name(0)} (torch {torch.__version__})")
    else:
        print(f"device: CPU (torch {torch.__version__})")


# ---------------------------------------------------------------- measured subprocesses


@dataclass
class Measured:
    seconds: float
    peak_rss_mb: float  # the child's own high-water mark (VmHWM), MiB
    cpu_seconds: float
    returncode: int
    log: Path


def base_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_DIR / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env["HF_HUB_OFFLINE"] = "1"  # demucs' CLI must never wait on the hub
    env.update(extra)
    return env


class _HwmSampler(threading.Thread):
    """Polls a child's VmHWM (its own mm's high-water mark) until it exits.

    Not ru_maxrss from wait4: Linux carries the RSS a child had *before* exec (a fork of
    this process, which may hold a model and a track) into its maxrss, so a small child
    forked from a big bench process reports the bench's size.
    """

    def __init__(self, pid: int, interval_seconds: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak_mb, self.done = pid, interval_seconds, 0.0, threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                self.peak_mb = max(self.peak_mb, _proc_status_mb(self.pid, "VmHWM"))
            except (OSError, ValueError):
                pass  # exited (or a zombie without an mm)
            self.done.wait(self.interval)


def run_measured(cmd: Sequence[str], env: dict[str, str], log: Path, check: bool = True) -> Measured:
    """Run ``cmd`` to completion; wall time, peak RSS and CPU time of that process.

    Output goes to a file (not a pipe) so a chatty progress bar cannot block the child
    while we sit in wait4.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as sink:
        start = time.perf_counter()
        proc = subprocess.Popen(list(cmd), env=env, cwd=REPO_DIR, stdout=sink, stderr=subprocess.STDOUT)
        sampler = _HwmSampler(proc.pid)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        sampler.done.set()
        sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    measured = Measured(seconds, sampler.peak_mb, usage.ru_utime + usage.ru_stime, proc.returncode, log)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{cmd[:4]}... exited {proc.returncode}; see {log}:\n{tail(log)}")
    return measured


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def demucs_cli(track: Path | Sequence[Path], models_dir: Path, out: Path, log: Path) -> Measured:
    """``python -m demucs.separate --repo DIR -n htdemucs -o OUT track.wav`` (16-bit wav)."""
    tracks = [track] if isinstance(track, Path) else list(track)
    cmd = [
        PYTHON,
        "-m",
        "demucs.separate",
        "--repo",
        str(models_dir),
        "-n",
        MODEL_NAME,
        "-o",
        str(out),
        *map(str, tracks),
    ]
    return run_measured(cmd, base_env(), log)


def audiomill_cli(
    track: Path, models_dir: Path, out: Path, log: Path, data_dir: Path, precision: str = "float32"
) -> Measured:
    """``python -m audiomill.cli separate TRACK -o OUT -n htdemucs --format wav --precision P``."""
    cmd = [
        PYTHON,
        "-m",
        "audiomill.cli",
        "separate",
        str(track),
        "-o",
        str(out),
        "-n",
        MODEL_NAME,
        "--format",
        "wav",
        "--precision",
        precision,
    ]
    env = base_env(
        AUDIOMILL_MODELS_DIR=str(models_dir),
        AUDIOMILL_MODELS_DOWNLOAD="false",
        AUDIOMILL_DATA_DIR=str(data_dir),
        COLUMNS="100",
    )
    return run_measured(cmd, env, log)


# ---------------------------------------------------------------- the service


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a live process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _proc_status_mb(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Server:
    """``audiomill serve`` in a subprocess, as a user starts it, on a fresh data folder."""

    models_dir: Path
    data_dir: Path
    concurrency: int = 1
    proc: subprocess.Popen[bytes] | None = None
    base: str = ""
    log: Path = field(default_factory=Path)

    def __enter__(self) -> Server:
        import shutil

        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.data_dir.mkdir(parents=True)
        port = _free_port()
        self.base = f"http://127.0.0.1:{port}"
        env = base_env(
            AUDIOMILL_DATA_DIR=str(self.data_dir),
            AUDIOMILL_MODELS_DIR=str(self.models_dir),
            AUDIOMILL_MODELS_DOWNLOAD="false",
            AUDIOMILL_WORKER_CONCURRENCY=str(self.concurrency),
            AUDIOMILL_PORT=str(port),
        )
        self.log = self.data_dir.parent / f"{self.data_dir.name}.server.log"
        sink = open(self.log, "wb")
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "audiomill.cli", "serve", "--port", str(port)],
            env=env,
            cwd=REPO_DIR,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        sink.close()
        self._wait_ready()
        return self

    def _wait_ready(self, timeout_seconds: float = 60.0) -> None:
        import requests

        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}:\n{tail(self.log)}")
            try:
                if requests.get(self.base + "/health", timeout=2).ok:
                    # One authenticated request first: it creates the built-in local user.
                    # Concurrent first requests race to insert it (UNIQUE users.username ->
                    # HTTP 500 on all but one), which a burst of POSTs would hit.
                    requests.get(self.base + "/api/v1/jobs", params={"limit": 1}, timeout=10).raise_for_status()
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server not ready after {timeout_seconds}s:\n{tail(self.log)}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_seconds(self) -> float:
        return _proc_cpu_seconds(self.pid)

    def peak_rss_mb(self) -> float:
        return _proc_status_mb(self.pid, "VmHWM")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # uvicorn shuts down cleanly on SIGINT
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------- API client


@dataclass
class JobRun:
    """One job seen from the client. Times are wall-clock (time.time()) so they line up
    with the server's own created/started/finished timestamps on this same machine."""

    track: Path
    job_id: str = ""
    t_submit: float = 0.0  # POST sent
    t_created: float = 0.0  # POST answered (upload stored, job queued)
    t_seen_done: float = 0.0  # first poll that saw a terminal status
    t_downloaded: float = 0.0  # archive fully received
    archive_bytes: int = 0
    final: dict[str, Any] = field(default_factory=dict)
    stages: list[tuple[float, str]] = field(default_factory=list)  # (t, stage) as polled

    def phases(self) -> dict[str, float]:
        """Seconds per phase: client timestamps around the server's own."""
        from datetime import datetime

        created, started, finished = (
            datetime.fromisoformat(self.final[k]).timestamp() for k in ("created_at", "started_at", "finished_at")
        )
        return {
            "upload (POST answered)": self.t_created - self.t_submit,
            "queued (server)": started - created,
            "processing (server)": finished - started,
            "poll notice delay": self.t_seen_done - finished,
            "archive download": self.t_downloaded - self.t_seen_done,
            "end to end": self.t_downloaded - self.t_submit,
        }

    def stage_seconds(self) -> list[tuple[str, float]]:
        """How long the job sat in each stage, as seen by polling (±1 poll interval)."""
        marks = self.stages + [(self.t_seen_done, "(done)")]
        return [(marks[i][1], marks[i + 1][0] - marks[i][0]) for i in range(len(marks) - 1)]


class Client:
    """requests against one server; a 429 is waited out (Retry-After) and counted, so a
    benchmark reports throttling instead of dying on it."""

    def __init__(self, base: str) -> None:
        import requests

        self.base = base
        self.session = requests.Session()
        self.throttled = 0

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        while True:
            resp = self.session.request(method, self.base + path, timeout=600, **kwargs)
            if resp.status_code != 429:
                resp.raise_for_status()
                return resp
            self.throttled += 1
            time.sleep(float(resp.headers.get("Retry-After", "1")))


def submit(client: Client, run: JobRun, params: dict[str, Any]) -> None:
    run.t_submit = time.time()
    with open(run.track, "rb") as f:
        resp = client.request(
            "POST",
            "/api/v1/jobs",
            data={"kind": "separate", "params": json.dumps(params)},
            files={"file": (run.track.name, f, "audio/wav")},
        )
    run.job_id = resp.json()["id"]
    run.t_created = time.time()


def run_jobs(
    client: Client,
    tracks: Sequence[Path],
    params: dict[str, Any],
    poll_seconds: float = 0.2,
    poll_list: bool = False,
    timeout_seconds: float = 7200,
) -> list[JobRun]:
    """Submit every track at once (one uploading thread each, like a burst of uploads),
    poll until each job ends, and download each archive as soon as its job is seen
    completed (as a client would, while the others still run).

    Polling: every ``poll_seconds``, GET /api/v1/jobs/{id} for each unfinished job, or
    with ``poll_list`` one GET /api/v1/jobs for all of them (what a client with many jobs
    should do: per-job polling of 20 jobs at 5 Hz is 100 requests/s against the per-user
    rate limit and the same 2 cores the model needs).
    """
    runs = [JobRun(track) for track in tracks]
    with ThreadPoolExecutor(max_workers=len(runs)) as pool:
        list(pool.map(lambda run: submit(client, run, params), runs))
    deadline = time.monotonic() + timeout_seconds
    pending = {run.job_id: run for run in runs}
    while pending:
        if time.monotonic() > deadline:
            raise RuntimeError(f"jobs still running after {timeout_seconds}s")
        if poll_list:
            listed = client.request("GET", "/api/v1/jobs", params={"kind": "separate", "limit": 500}).json()["data"]
            bodies = [body for body in listed if body["id"] in pending]
        else:
            bodies = [client.request("GET", f"/api/v1/jobs/{job_id}").json() for job_id in list(pending)]
        now = time.time()
        for body in bodies:
            run = pending[body["id"]]
            if not run.stages or run.stages[-1][1] != body["stage"]:
                run.stages.append((now, body["stage"]))
            if body["status"] in ("completed", "failed", "cancelled"):
                if body["status"] != "completed":
                    raise RuntimeError(f"job {run.job_id} {body['status']}: {body.get('error')}")
                run.final, run.t_seen_done = body, now
                download_archive(client, run)
                del pending[run.job_id]
        if pending:
            time.sleep(poll_seconds)
    return runs


def download_archive(client: Client, run: JobRun) -> None:
    """Stream the zip of all stems and check it really holds them."""
    import zipfile

    buf = io.BytesIO()
    with client.request("GET", f"/api/v1/jobs/{run.job_id}/archive", stream=True) as resp:
        for block in resp.iter_content(1 << 20):
            buf.write(block)
    run.t_downloaded = time.time()
    run.archive_bytes = buf.tell()
    names = zipfile.ZipFile(buf).namelist()
    missing = [s for s in SOURCES if not any(n.startswith(s + ".") for n in names)]
    if missing:
        raise RuntimeError(f"archive of job {run.job_id} lacks {missing}: {names}")


def poll_cost_ms(server: Server, path: str, requests_: int = 100) -> float:
    """Server CPU milliseconds one GET of ``path`` costs (measured once the jobs are done).

    Polling competes with the model for the same 2 cores: this prices it. 100 requests
    stay under the per-user rate limit (600/min by default) on top of the polling.
    """
    client = Client(server.base)
    client.request("GET", path)
    cpu0 = server.cpu_seconds()
    for _ in range(requests_):
        client.request("GET", path)
    return (server.cpu_seconds() - cpu0) / requests_ * 1000


# ---------------------------------------------------------------- in-process model peer


@dataclass
class ModelTime:
    load_seconds: float
    apply_seconds: float
    apply_cpu_seconds: float
    threads: int


def model_time(models_dir: Path, track: Path) -> ModelTime:
    """demucs itself, in this process: the floor any wrapper around the model can reach.

    What ``demucs.api.Separator.separate_tensor`` does (normalise by the mono mix's
    mean/std, ``apply_model(split=True, overlap=0.25, shifts=1)``, de-normalise), timed
    without file I/O or model loading.
    """
    import resource

    import soundfile as sf
    import torch
    from demucs.apply import apply_model
    from demucs.pretrained import get_model

    # The device the service and demucs' CLI pick by themselves: CUDA when present.
    device = "cuda" if torch.cuda.is_available() else "cpu"
    t0 = time.perf_counter()
    model = get_model(MODEL_NAME, repo=models_dir)
    model.to(device)
    load_seconds = time.perf_counter() - t0
    data, _ = sf.read(track, dtype="float32", always_2d=True)
    wav = torch.from_numpy(data.T.copy())
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    ref = wav.mean(0)
    mean, std = ref.mean(), ref.std() + 1e-8
    out = apply_model(
        model, ((wav - mean) / std)[None], split=True, overlap=0.25, shifts=1, progress=False, device=device
    )
    out = out.cpu() * std + mean
    apply_seconds = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    del model, out
    return ModelTime(load_seconds, apply_seconds, cpu, torch.get_num_threads())


# ---------------------------------------------------------------- output


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(c) for c in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)
