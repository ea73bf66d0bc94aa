"""Model weights: local folder, download cache, fetch on first use, warm cache, runtime."""

from __future__ import annotations

import functools
import http.server
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from audiomill.config import Settings
from audiomill.engines import torch_runtime
from audiomill.errors import InvalidInput, ModelUnavailable
from audiomill.models import cache, demucs_repo
from audiomill.models.cache import ModelCache
from tests.fixtures.tiny_demucs import build_tiny_htdemucs, save_checkpoint, write_tiny_bag, write_tiny_htdemucs


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "models_dir": tmp_path / "models",
        "models_cache_dir": tmp_path / "model-cache",
        "models_download": False,
        "torch_threads": 1,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _cold_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


# ---------------------------------------------------------------- warm cache


def test_cache_loads_each_key_once_across_threads() -> None:
    calls: list[str] = []
    gate = threading.Event()

    def slow_loader() -> object:
        calls.append("load")
        gate.wait(2)
        return object()

    local = ModelCache()
    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(local.get_or_load("k", slow_loader))) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.1)
    gate.set()
    for thread in threads:
        thread.join(5)
    assert calls == ["load"]
    assert len(results) == 4 and all(r is results[0] for r in results)
    assert local.loaded_keys() == ["k"]


def test_cache_evicts_least_recently_used() -> None:
    local = ModelCache(max_entries=2)
    local.get_or_load("a", lambda: 1)
    local.get_or_load("b", lambda: 2)
    local.get_or_load("a", lambda: 0)  # touch a: b is now the oldest
    local.get_or_load("c", lambda: 3)
    assert local.loaded_keys() == ["a", "c"]


def test_cache_does_not_keep_failed_loads() -> None:
    local = ModelCache()

    def broken() -> object:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        local.get_or_load("k", broken)
    assert local.get_or_load("k", lambda: 7) == 7


# ---------------------------------------------------------------- local folders


def test_loads_tiny_model_through_demucs_repo_and_stays_warm(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    checkpoint = write_tiny_htdemucs(settings.models_dir)  # type: ignore[arg-type]
    assert "-" in checkpoint.stem  # SIG-CHECKSUM.th: demucs verifies the checksum on load
    model = demucs_repo.get_model("htdemucs", settings, "cpu")
    assert list(model.sources) == ["drums", "bass", "other", "vocals"]
    assert model.samplerate == 44100 and model.audio_channels == 2
    assert not model.training
    assert demucs_repo.get_model("htdemucs", settings, "cpu") is model
    (key,) = cache.loaded_keys()
    assert key[1] == "htdemucs" and key[2] == "cpu"  # type: ignore[index]


def test_bag_weights_come_from_the_yaml(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    write_tiny_bag(settings.models_dir, "htdemucs_ft")  # type: ignore[arg-type]
    bag = demucs_repo.get_model("htdemucs_ft", settings, "cpu")
    assert len(bag.models) == 2
    assert bag.weights == [[1.0, 0.0, 1.0, 0.5], [0.0, 1.0, 1.0, 0.5]]


def test_checkpoint_without_yaml_uses_demucs_bundled_bag(tmp_path: Path) -> None:
    """A user who drops the weights file in alone gets demucs' own htdemucs.yaml."""
    settings = make_settings(tmp_path)
    # htdemucs.yaml (bundled) lists '955717e8'; no checksum in the name: none verified.
    save_checkpoint(build_tiny_htdemucs(), tmp_path / "staging", "955717e8").rename(
        _mkdir(settings.models_dir) / "955717e8.th"  # type: ignore[arg-type]
    )
    resolved = demucs_repo.resolve_model("htdemucs", settings)
    assert resolved.checkpoints_dir == settings.models_dir
    assert resolved.bag_dir == demucs_repo.REMOTE_INDEX_DIR
    assert len(demucs_repo.get_model("htdemucs", settings).models) == 1


def test_models_dir_wins_over_cache(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    write_tiny_htdemucs(settings.models_dir, seed=1)  # type: ignore[arg-type]
    write_tiny_htdemucs(settings.models_cache_dir, seed=2)
    assert demucs_repo.resolve_model("htdemucs", settings).checkpoints_dir == settings.models_dir
    shutil.rmtree(settings.models_dir)  # type: ignore[arg-type]
    assert demucs_repo.resolve_model("htdemucs", settings).checkpoints_dir == settings.models_cache_dir


def test_missing_weights_fail_fast_naming_file_and_folder(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    started = time.monotonic()
    with pytest.raises(ModelUnavailable) as caught:
        demucs_repo.get_model("htdemucs", settings)
    assert time.monotonic() - started < 2.0
    message = caught.value.message
    assert "955717e8-8726e21a.th" in message and "htdemucs.yaml" in message
    assert str(settings.models_dir) in message and str(settings.models_cache_dir) in message
    assert "AUDIOMILL_MODELS_DOWNLOAD" in message


def test_missing_bag_member_is_named(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with pytest.raises(ModelUnavailable) as caught:
        demucs_repo.resolve_model("htdemucs_ft", settings)
    for filename in ("f7e0c4bc-ba3fe64a.th", "d12395a8-e57c48e6.th", "92cfc3b6-ef3bcb9c.th", "04573f0d-f3cf25b2.th"):
        assert filename in caught.value.message


def test_unknown_model_lists_known_names(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    write_tiny_htdemucs(settings.models_dir, name="my_model")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput) as caught:
        demucs_repo.resolve_model("nosuchmodel", settings)
    assert "nosuchmodel" in caught.value.message
    for name in ("htdemucs", "htdemucs_ft", "htdemucs_6s", "mdx_extra", "my_model"):
        assert name in caught.value.message


def test_corrupt_checkpoint_is_model_unavailable(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    checkpoint = write_tiny_htdemucs(settings.models_dir)  # type: ignore[arg-type]
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    with pytest.raises(ModelUnavailable, match="checksum"):
        demucs_repo.get_model("htdemucs", settings)


def test_list_models_reports_presence_and_files(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    write_tiny_htdemucs(settings.models_dir)  # type: ignore[arg-type]
    statuses = {status.name: status for status in demucs_repo.list_models(settings)}
    assert statuses["htdemucs"].present and statuses["htdemucs"].location == settings.models_dir
    assert statuses["htdemucs"].files[0] == "htdemucs.yaml"
    ft = statuses["htdemucs_ft"]
    assert not ft.present and ft.location == settings.models_cache_dir
    assert "f7e0c4bc-ba3fe64a.th" in ft.files and "f7e0c4bc-ba3fe64a.th" in ft.missing


# ---------------------------------------------------------------- download


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def remote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path, str]]:
    """A local mirror of demucs' remote with one tiny model, and an index naming it."""
    served = tmp_path / "served"
    checkpoint = save_checkpoint(build_tiny_htdemucs(seed=5), served / "tiny_root", "abcd1234")
    index = tmp_path / "index"
    index.mkdir()
    (index / "files.txt").write_text(f"# test models\nroot: tiny_root/\n{checkpoint.name}\n")
    (index / "tiny_remote.yaml").write_text("models: ['abcd1234']\n")
    monkeypatch.setattr(demucs_repo, "REMOTE_INDEX_DIR", index)
    handler = functools.partial(_QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", checkpoint, checkpoint.name
    finally:
        server.shutdown()
        server.server_close()


def test_download_on_first_use_from_configured_url(tmp_path: Path, remote: tuple[str, Path, str]) -> None:
    url, _, filename = remote
    settings = make_settings(tmp_path, models_download=True, models_url=url)
    progress: list[tuple[int, int | None]] = []
    model = demucs_repo.get_model("tiny_remote", settings, on_download=lambda d, t: progress.append((d, t)))
    assert (settings.models_cache_dir / filename).is_file()
    assert (settings.models_cache_dir / "tiny_remote.yaml").is_file()  # the cache is a full --repo
    assert not list(settings.models_cache_dir.glob(".*part"))
    assert progress and progress[-1][0] == progress[-1][1]
    assert list(model.sources) == ["drums", "bass", "other", "vocals"]
    status = {s.name: s for s in demucs_repo.list_models(settings)}["tiny_remote"]
    assert status.present and status.location == settings.models_cache_dir
    # Next time it is found in the cache, with downloads off and no server involved.
    offline = make_settings(tmp_path, models_download=False)
    assert demucs_repo.resolve_model("tiny_remote", offline).checkpoints_dir == settings.models_cache_dir


def test_download_with_bad_checksum_keeps_nothing(tmp_path: Path, remote: tuple[str, Path, str]) -> None:
    url, checkpoint, filename = remote
    checkpoint.write_bytes(checkpoint.read_bytes() + b"tampered")
    settings = make_settings(tmp_path, models_download=True, models_url=url)
    with pytest.raises(ModelUnavailable, match="checksum"):
        demucs_repo.get_model("tiny_remote", settings)
    assert not any(settings.models_cache_dir.iterdir())


def test_unreachable_mirror_fails_fast(tmp_path: Path, remote: tuple[str, Path, str]) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    settings = make_settings(tmp_path, models_download=True, models_url=f"http://127.0.0.1:{dead_port}/")
    started = time.monotonic()
    with pytest.raises(ModelUnavailable) as caught:
        demucs_repo.get_model("tiny_remote", settings)
    assert time.monotonic() - started < 2.0
    assert remote[2] in caught.value.message and str(settings.models_cache_dir) in caught.value.message


# ---------------------------------------------------------------- torch runtime


def test_threads_follow_settings_and_affinity(tmp_path: Path) -> None:
    assert torch_runtime.select_threads(make_settings(tmp_path, torch_threads=3)) == 3
    cores = torch_runtime.available_cores()
    shared = make_settings(tmp_path, torch_threads=None, worker_concurrency=cores * 2)
    assert torch_runtime.select_threads(shared) == 1
    alone = make_settings(tmp_path, torch_threads=None, worker_concurrency=1)
    assert torch_runtime.select_threads(alone) == cores
    before = torch.get_num_threads()
    try:
        runtime = torch_runtime.configure_torch(make_settings(tmp_path, torch_threads=1, device="cpu"))
        assert runtime == torch_runtime.TorchRuntime(device="cpu", threads=1)
        assert torch.get_num_threads() == 1
        # On CPU attention goes through scaled_dot_product_attention (faster there).
        assert not torch.backends.mha.get_fastpath_enabled()
    finally:
        torch.set_num_threads(before)


def test_bfloat16_capability_matches_the_cpu_flags() -> None:
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        pytest.skip("no /proc/cpuinfo on this system")
    flags = set(cpuinfo.read_text().split())
    assert torch_runtime.cpu_computes_bfloat16() == bool(flags & {"avx512_bf16", "amx_bf16"})


def test_device_selection(tmp_path: Path) -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert torch_runtime.select_device(make_settings(tmp_path, device=None)) == expected
    assert torch_runtime.select_device(make_settings(tmp_path, device="cpu")) == "cpu"
    with pytest.raises(InvalidInput):
        torch_runtime.check_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(InvalidInput, match="CUDA is not available"):
            torch_runtime.select_device(make_settings(tmp_path, device="cuda:0"))


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
