"""``generate`` jobs with ``model: musicgen-small``: the tiny local model end to end.

The model folder is AUDIOMILL_MODELS_DIR/facebook/musicgen-small (the tiny random-weight
model of tests/musicgen_tiny.py), loaded through the real from_pretrained path. Jobs are
created through the jobs service (the JSON job route for text-only kinds is the lead's),
run by the service's own executor and read back over the HTTP API.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
from fastapi.testclient import TestClient

from audiomill.engines.base import LocalContext
from audiomill.jobs import service
from audiomill.models import musicgen, musicgen_job
from audiomill.params.generate import GenerateParams
from tests.conftest import wait_for
from tests.musicgen_tiny import SAMPLE_RATE, session_tiny_musicgen

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def tiny_musicgen_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return session_tiny_musicgen(tmp_path_factory)


@pytest.fixture
def with_tiny_musicgen(models_dir: Path, tiny_musicgen_folder: Path) -> Path:
    target = models_dir / "facebook" / "musicgen-small"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(tiny_musicgen_folder, target_is_directory=True)
    return target


def _create(client: TestClient, params: dict[str, Any]) -> str:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    with runtime.db.session() as session:
        owner = service.ensure_local_user(session).id
    return service.create_job(runtime, owner, "generate", params, []).uuid


def test_a_musicgen_job_through_the_service(client: TestClient, with_tiny_musicgen: Path) -> None:
    job_id = _create(
        client,
        {
            "prompt": "calm piano for studying",
            "duration_seconds": 5.5,
            "model": "musicgen-small",
            "seed": 11,
            "bpm": 80,
            "key": "A minor",
            "output_format": "flac",
        },
    )
    done = wait_for(client, job_id, {"completed", "failed"}, timeout_seconds=120)
    assert done["status"] == "completed", done.get("error")
    result = done["result"]
    assert result["model"] == "musicgen-small" and result["licence"] == "CC-BY-NC-4.0"
    assert result["seed"] == 11 and result["stems"] == [] and "no stems" in result["notes"][0]
    assert result["text_prompt"] == "calm piano for studying. key: A minor. 80 bpm"
    assert result["sample_rate"] == SAMPLE_RATE and result["duration_seconds"] == 5.5
    # Mastered toward -14 LUFS under a -1 dBTP ceiling (the tiny model's spiky noise cannot
    # reach -14 without limiting it to pieces; the planner stops short and says so).
    assert -20.0 < result["loudness_lufs"] <= -13.0
    assert result["true_peak_dbtp"] <= -0.95
    assert [o["name"] for o in done["outputs"]] == ["mix"]
    body = client.get(f"/api/v1/jobs/{job_id}/outputs/mix")
    assert body.status_code == 200
    samples, rate = soundfile.read(io.BytesIO(body.content), dtype="float32")
    assert rate == SAMPLE_RATE and samples.shape == (round(5.5 * SAMPLE_RATE),)
    assert np.abs(samples).max() > 0.01


def test_missing_weights_are_refused_at_submission_with_the_folder_to_fill(
    client: TestClient, models_dir: Path
) -> None:
    # Downloads off and no weights: known before the job runs, so a 422 and no job.
    response = client.post(
        "/api/v1/jobs",
        json={"kind": "generate", "params": {"prompt": "techno", "duration_seconds": 5, "model": "musicgen-medium"}},
    )
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert str(models_dir / "facebook" / "musicgen-medium") in detail
    assert "CC-BY-NC-4.0" in detail
    assert client.get("/api/v1/jobs").json()["count"] == 0


def test_variations_share_generate_calls_and_loop(
    tmp_path: Path, tiny_musicgen_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = musicgen.load_folder(tiny_musicgen_folder, "cpu", name="musicgen-small")
    monkeypatch.setattr(musicgen, "load", lambda name, settings, device="cpu": loaded)
    batch_sizes: list[int] = []
    original = loaded.model.generate
    lock = threading.Lock()

    def spy(**kwargs: Any) -> Any:
        with lock:
            batch_sizes.append(int(kwargs["input_ids"].shape[0]))
        return original(**kwargs)

    monkeypatch.setattr(loaded.model, "generate", spy)
    params = GenerateParams(
        prompt="upbeat synth",
        duration_seconds=5,
        model="musicgen-small",
        variations=3,
        seed=5,
        loop=True,
    )
    stages: list[str] = []
    ctx = LocalContext(
        params,
        {},
        tmp_path / "out",
        on_progress=lambda fraction, stage: stages.append(stage),
    )
    musicgen.run(ctx)
    assert batch_sizes == [3]  # three variations, one generate call
    assert set(ctx.outputs) == {"mix", "v2:mix", "v3:mix"}
    mixes = [soundfile.read(ctx.outputs[name][0], dtype="float32")[0] for name in ("mix", "v2:mix", "v3:mix")]
    assert all(m.shape == (5 * SAMPLE_RATE,) for m in mixes)
    assert not np.array_equal(mixes[0], mixes[1])
    assert [v["seed"] for v in ctx.result["variations"]] == [5, 6, 7]
    assert ctx.result["loop"] is True and any("3 variations" in s for s in stages)


def test_loop_wrap_runs_the_end_into_the_start() -> None:
    tail_music = np.linspace(-1, 1, 1200, dtype=np.float32)[None, :]
    looped = musicgen_job._wrap_loop(tail_music, 1000)
    assert looped.shape == (1, 1000)
    # The first sample is the music right after the last one (fade-in of the start at 0).
    assert looped[0, 0] == pytest.approx(tail_music[0, 1000], abs=1e-6)
    assert looped[0, 999] == tail_music[0, 999]
