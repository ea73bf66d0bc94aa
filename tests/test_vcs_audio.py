"""Diff from the audio, merge, revert, mixdown and commits made by completed jobs."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
import soundfile
from fastapi.testclient import TestClient

from audiomill.audio.loudness import measure
from audiomill.engines import base as engines_base
from audiomill.engines.mixdown import balance_gains
from audiomill.jobs import service as jobs_service
from tests.conftest import wait_for
from tests.fixtures.engines import vcs_generate
from tests.vcs_helpers import SAMPLE_RATE, clicks, commit, new_repo, tone, upload


def _stems(client: TestClient, repo: str, **signals: np.ndarray) -> dict[str, str]:
    return {name: upload(client, repo, f"{name}.wav", samples)["asset_id"] for name, samples in signals.items()}


def _decode(content: bytes) -> tuple[np.ndarray, int]:
    samples, rate = soundfile.read(io.BytesIO(content), dtype="float32", always_2d=True)
    return samples.T, rate


def test_diff_reports_only_the_changed_stem_at_the_right_times(client: TestClient) -> None:
    repo = new_repo(client)
    bass = tone(55.0, 4.0)
    c1 = commit(client, repo, _stems(client, repo, drums=clicks(4.0), bass=bass, vocals=tone(440.0, 4.0)))
    edited = bass.copy()
    edited[:, round(1.5 * SAMPLE_RATE) : round(2.25 * SAMPLE_RATE)] = tone(82.4, 0.75)  # a new riff, 1.5-2.25 s
    edited = np.concatenate([edited, tone(55.0, 0.5)], axis=1)  # and half a second longer
    c2 = commit(client, repo, {**_stems(client, repo, bass=edited, keys=tone(261.6, 4.0))}, remove_stems=["vocals"])

    body = client.get(f"/api/v1/repos/{repo}/diff", params={"a": c1["id"], "b": c2["id"]}).json()
    by_type = {s["type"]: s for s in body["stems"]}
    assert {t: s["status"] for t, s in by_type.items()} == {
        "bass": "changed",
        "drums": "unchanged",
        "keys": "added",
        "vocals": "removed",
    }
    change = by_type["bass"]["change"]
    assert change["duration_a_seconds"] == pytest.approx(4.0) and change["length_change_seconds"] == pytest.approx(0.5)
    # the new riff, and the added half second (audio where there was none)
    assert change["differing_ranges"] == [
        {"start_seconds": 1.5, "end_seconds": 2.25},
        {"start_seconds": 4.0, "end_seconds": 4.5},
    ]
    assert change["loudness_change_db"] is not None
    # A/B: both sides playable
    for side in ("a", "b"):
        assert client.get(by_type["bass"][side]["url"]).status_code == 200
    assert by_type["keys"]["a"] is None and by_type["vocals"]["b"] is None
    # without a and b: what the default branch's last commit changed
    latest = client.get(f"/api/v1/repos/{repo}/diff").json()
    assert (latest["a"]["commit_id"], latest["b"]["commit_id"]) == (c1["id"], c2["id"])
    assert client.get(f"/api/v1/repos/{repo}/diff", params={"b": c1["id"]}).status_code == 422  # a root commit
    # branch names work as revisions too
    assert (
        client.get(f"/api/v1/repos/{repo}/diff", params={"a": c1["id"], "b": "main"}).json()["b"]["commit_id"]
        == c2["id"]
    )


def test_diff_of_a_quiet_change_reports_loudness(client: TestClient) -> None:
    repo = new_repo(client)
    c1 = commit(client, repo, _stems(client, repo, pad=tone(220.0, 2.0, amplitude=0.4)))
    c2 = commit(client, repo, _stems(client, repo, pad=tone(220.0, 2.0, amplitude=0.2)))
    stem = client.get(f"/api/v1/repos/{repo}/diff", params={"a": c1["id"], "b": c2["id"]}).json()["stems"][0]
    assert stem["status"] == "changed"
    assert stem["change"]["loudness_change_db"] == pytest.approx(-6.02, abs=0.1)
    assert stem["change"]["differing_ranges"] == [{"start_seconds": 0.0, "end_seconds": 2.0}]


def _branch(client: TestClient, repo: str, name: str, **body: Any) -> None:
    assert client.post(f"/api/v1/repos/{repo}/branches", json={"name": name, **body}).status_code == 201


def test_merge_without_and_with_conflicts(client: TestClient) -> None:
    repo = new_repo(client)
    base = commit(client, repo, _stems(client, repo, drums=clicks(), bass=tone(55.0), vocals=tone(440.0)))
    _branch(client, repo, "idea")
    idea = commit(client, repo, _stems(client, repo, bass=tone(65.0)), branch="idea", message="new bass")
    main = commit(client, repo, _stems(client, repo, drums=clicks(every_seconds=0.5)), message="half-time drums")

    merged = client.post(f"/api/v1/repos/{repo}/merge", json={"source": "idea"}).json()
    assert merged["status"] == "merged" and merged["base_commit_id"] == base["id"]
    assert merged["taken"] == {"bass": "source", "drums": "target", "vocals": "both"}
    head = client.get(f"/api/v1/repos/{repo}/commits/{merged['head_commit_id']}").json()
    assert head["parent_id"] == main["id"] and head["merge_parent_id"] == idea["id"]
    stems = {s["type"]: s["sha256"] for s in head["stems"]}
    assert stems["bass"] == next(s["sha256"] for s in idea["stems"] if s["type"] == "bass")
    assert stems["drums"] == next(s["sha256"] for s in main["stems"] if s["type"] == "drums")
    # merging again: nothing to do
    assert client.post(f"/api/v1/repos/{repo}/merge", json={"source": "idea"}).json()["status"] == "up_to_date"

    # both sides change the vocals: a conflict, nothing merged until the caller chooses
    idea2 = commit(client, repo, _stems(client, repo, vocals=tone(494.0)), branch="idea")
    commit(client, repo, _stems(client, repo, vocals=tone(523.0)))
    before = client.get(f"/api/v1/repos/{repo}/commits").json()["count"]
    conflict = client.post(f"/api/v1/repos/{repo}/merge", json={"source": "idea"})
    assert conflict.status_code == 409 and "vocals" in conflict.json()["detail"]
    [entry] = conflict.json()["conflicts"]
    assert entry["type"] == "vocals" and all(
        client.get(entry[s]["url"]).status_code == 200 for s in ("base", "target", "source")
    )
    assert client.get(f"/api/v1/repos/{repo}/commits").json()["count"] == before
    bad = client.post(f"/api/v1/repos/{repo}/merge", json={"source": "idea", "resolutions": {"drums": "source"}})
    assert bad.status_code == 422
    resolved = client.post(f"/api/v1/repos/{repo}/merge", json={"source": "idea", "resolutions": {"vocals": "source"}})
    assert resolved.status_code == 200 and resolved.json()["taken"]["vocals"] == "source"
    head = client.get(f"/api/v1/repos/{repo}/commits/{resolved.json()['head_commit_id']}").json()
    idea_vocals = next(s["sha256"] for s in idea2["stems"] if s["type"] == "vocals")
    assert {s["type"]: s["sha256"] for s in head["stems"]}["vocals"] == idea_vocals


def test_fast_forward_revert_branches_and_tags(client: TestClient) -> None:
    repo = new_repo(client)
    c1 = commit(client, repo, _stems(client, repo, drums=clicks(), bass=tone(55.0)))
    _branch(client, repo, "ff")
    c2 = commit(client, repo, _stems(client, repo, bass=tone(70.0), vocals=tone(300.0)), branch="ff")
    ff = client.post(f"/api/v1/repos/{repo}/merge", json={"source": "ff"}).json()
    assert ff == {"status": "fast_forward", "head_commit_id": c2["id"], "base_commit_id": c1["id"], "taken": {}}
    # revert c2 on main: bass back to c1's, vocals gone, drums untouched
    reverted = client.post(f"/api/v1/repos/{repo}/commits/{c2['id']}/revert", json={}).json()
    assert reverted["restored_stems"] == ["bass", "vocals"] and reverted["parent_id"] == c2["id"]
    assert {s["type"]: s["sha256"] for s in reverted["stems"]} == {s["type"]: s["sha256"] for s in c1["stems"]}
    # committing on a branch whose head is elsewhere is refused; default branch cannot go
    stale = client.post(
        f"/api/v1/repos/{repo}/commits", json={"message": "x", "branch": "main", "parent_commit_id": c1["id"]}
    )
    assert stale.status_code == 409
    assert client.delete(f"/api/v1/repos/{repo}/branches/main").status_code == 409
    assert client.post(f"/api/v1/repos/{repo}/branches", json={"name": "ff"}).status_code == 409
    assert client.post(f"/api/v1/repos/{repo}/branches", json={"name": "bad name!"}).status_code == 422
    assert client.delete(f"/api/v1/repos/{repo}/branches/ff").status_code == 204
    assert c2["id"] in [c["id"] for c in client.get(f"/api/v1/repos/{repo}/commits").json()["data"]]  # history stays
    assert client.post(f"/api/v1/repos/{repo}/tags", json={"name": "v1", "commit_id": c1["id"]}).status_code == 201
    assert client.get(f"/api/v1/repos/{repo}/tags").json()["data"][0]["commit_id"] == c1["id"]
    assert (
        client.get(f"/api/v1/repos/{repo}/diff", params={"a": "v1", "b": "main"}).json()["a"]["commit_id"] == c1["id"]
    )
    # history of one branch
    only_main = [c["id"] for c in client.get(f"/api/v1/repos/{repo}/commits", params={"branch": "main"}).json()["data"]]
    assert only_main == [c1["id"], c2["id"], reverted["id"]]


def test_mixdown_equals_the_sum_of_the_gained_stems(client: TestClient) -> None:
    repo = new_repo(client)
    drums, bass = clicks(3.0), tone(55.0, 2.0)  # bass shorter: it ends in silence
    keys = np.concatenate([tone(261.6, 3.0), tone(329.6, 3.0)])  # a stereo stem
    c1 = commit(client, repo, _stems(client, repo, drums=drums, bass=bass, keys=keys, vocals=tone(440.0, 3.0)))
    mix = {"drums": {"pan": -1.0}, "bass": {"gain_db": -6.0, "pan": 0.5}, "vocals": {"mute": True}}
    job = client.post(
        f"/api/v1/repos/{repo}/commits/{c1['id']}/mixdown",
        json={"mix": mix, "master": False, "sample_rate": SAMPLE_RATE, "wav_bit_depth": 32},
    )
    assert job.status_code == 201, job.text
    done = wait_for(client, job.json()["id"], {"completed", "failed"})
    assert done["status"] == "completed", done["error"]
    assert done["result"]["stems_mixed"] == ["bass", "drums", "keys"]

    # its output became the commit's render
    render_url = client.get(f"/api/v1/repos/{repo}/commits/{c1['id']}").json()["render_url"]
    assert render_url and client.get(f"/api/vcs/commit/{c1['id']}").json()["render_url"] == render_url
    rendered, rate = _decode(client.get(render_url).content)
    assert rate == SAMPLE_RATE and rendered.shape == (2, 3 * SAMPLE_RATE)

    expected = np.zeros((2, 3 * SAMPLE_RATE), dtype=np.float64)
    for name, _samples, settings in (("drums", drums, mix["drums"]), ("bass", bass, mix["bass"]), ("keys", keys, {})):
        stored, _ = _decode(client.get(f"/api/v1/repos/{repo}/commits/{c1['id']}/stems/{name}").content)
        stereo = np.repeat(stored, 2, axis=0) if stored.shape[0] == 1 else stored
        left, right = balance_gains(settings.get("gain_db", 0.0), settings.get("pan", 0.0))
        expected[0, : stereo.shape[1]] += stereo[0] * left
        expected[1, : stereo.shape[1]] += stereo[1] * right
    np.testing.assert_allclose(rendered, expected, atol=1e-6)


def test_mixdown_is_mastered_by_default(client: TestClient) -> None:
    repo = new_repo(client)
    c1 = commit(
        client,
        repo,
        _stems(
            client, repo, drums=clicks(3.0), bass=tone(55.0, 3.0, amplitude=0.9), lead=tone(660.0, 3.0, amplitude=0.9)
        ),
    )
    job = client.post(
        f"/api/v1/repos/{repo}/commits/{c1['id']}/mixdown", json={"target_lufs": -14.0, "output_format": "flac"}
    )
    done = wait_for(client, job.json()["id"], {"completed", "failed"})
    assert done["status"] == "completed", done["error"]
    rendered, rate = _decode(
        client.get(client.get(f"/api/v1/repos/{repo}/commits/{c1['id']}").json()["render_url"]).content
    )
    report = measure(rendered, rate)
    assert report.integrated_lufs == pytest.approx(-14.0, abs=0.6) and report.true_peak_dbtp <= -0.9
    bad = client.post(f"/api/v1/repos/{repo}/commits/{c1['id']}/mixdown", json={"mix": {"nope": {"gain_db": 1}}})
    assert bad.status_code == 422 and "nope" in bad.json()["detail"]


@pytest.fixture
def generate_kind(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(engines_base.KINDS, vcs_generate.SPEC.name, vcs_generate.SPEC)
    return vcs_generate.SPEC.name


def test_a_completed_generation_commits_into_the_repository(client: TestClient, generate_kind: str) -> None:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    repo = new_repo(client)
    me = client.get("/api/v1/auth/me").json()
    first = commit(client, repo, _stems(client, repo, drums=clicks()))
    job = jobs_service.create_job(
        runtime, me["id"], generate_kind, {"prompt": "lofi beat", "bpm": 90, "repo_id": repo}, []
    )
    done = wait_for(client, job.uuid, {"completed", "failed"})
    assert done["status"] == "completed", done["error"]
    made = done["result"]["repo_commit_id"]
    detail = client.get(f"/api/v1/repos/{repo}/commits/{made}").json()
    assert detail["message"] == "lofi beat" and detail["parent_id"] == first["id"] and detail["bpm"] == 90
    assert sorted(s["type"] for s in detail["stems"]) == ["bass", "drums"]
    assert detail["generation_params"]["prompt"] == "lofi beat" and detail["generation_params"]["job_id"] == job.uuid
    assert detail["render_url"] and client.get(detail["render_url"]).status_code == 200
    heads = client.get(f"/api/v1/repos/{repo}/branches").json()["data"]
    assert heads[0]["head_commit_id"] == made

    # with commit_id: a child of that commit
    job2 = jobs_service.create_job(
        runtime, me["id"], generate_kind, {"prompt": "variation", "repo_id": repo, "commit_id": first["id"]}, []
    )
    done2 = wait_for(client, job2.uuid, {"completed", "failed"})
    assert (
        client.get(f"/api/v1/repos/{repo}/commits/{done2['result']['repo_commit_id']}").json()["parent_id"]
        == first["id"]
    )

    # deleting the job keeps the committed audio (stems hold their assets)
    assert client.delete(f"/api/v1/jobs/{job.uuid}").status_code == 204
    for stem in detail["stems"]:
        assert client.get(stem["url"]).status_code == 200

    # a repository the job's owner cannot write: the job completes, the hook's refusal is recorded
    job3 = jobs_service.create_job(
        runtime, me["id"], generate_kind, {"prompt": "x", "repo_id": "00000000-0000-0000-0000-000000000000"}, []
    )
    done3 = wait_for(client, job3.uuid, {"completed", "failed"})
    assert done3["status"] == "completed" and "not found" in done3["result"]["hook_errors"][0]
