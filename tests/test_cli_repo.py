"""`audiomill repo …` on the local store: create, commit stem files, log, diff, fork,
mixdown to a file, delete; run through the CLI's own runner (and once as a process)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile
from click.testing import Result
from typer.testing import CliRunner

from audiomill import audio
from audiomill.accounts import service as accounts
from audiomill.config import get_settings, reset_settings_cache
from audiomill.runtime import build_runtime
from audiomill.store.tables import Commit
from tests.vcs_helpers import SAMPLE_RATE, clicks, tone


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("AUDIOMILL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AUDIOMILL_MODELS_DOWNLOAD", "false")
    monkeypatch.chdir(tmp_path)
    reset_settings_cache()
    yield tmp_path / "data"
    reset_settings_cache()


def repo_cli(*args: str, input: str | None = None) -> Result:
    from audiomill.cli import app

    return CliRunner().invoke(app, ["repo", *args], input=input, terminal_width=200)


def ok(*args: str) -> Result:
    result = repo_cli(*args)
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result


def write(path: Path, samples: np.ndarray) -> Path:
    soundfile.write(path, samples.T, SAMPLE_RATE, subtype="FLOAT")
    return path


def blob_files(data_dir: Path) -> set[str]:
    return {p.name for p in (data_dir / "blobs").rglob("*") if p.is_file()}


def test_create_commit_log_diff_fork_and_mixdown(data_dir: Path, tmp_path: Path) -> None:
    drums = write(tmp_path / "drums.wav", clicks(3.0))
    bass = write(tmp_path / "bass.wav", tone(55.0, 3.0))
    changed = tone(55.0, 3.0)
    changed[:, SAMPLE_RATE : 2 * SAMPLE_RATE] = tone(82.0, 1.0)
    new_bass = write(tmp_path / "take2.wav", changed)

    repo_id = ok("create", "Night Drive", "--genre", "synthwave").stdout.strip()
    first = ok("commit", "Night Drive", str(drums), str(bass), "-m", "first beat", "--bpm", "120", "--key", "A minor")
    first_id = first.stdout.strip()
    assert "committed on main: bass, drums" in first.stderr
    second_id = ok("commit", repo_id, "--stem", f"bass={new_bass}", "-m", "bass riff").stdout.strip()

    log_lines = ok("log", "Night Drive").stdout.splitlines()
    assert [line.split()[0] for line in log_lines] == [second_id, first_id]  # newest first
    assert "(main)" in log_lines[0] and "120 bpm" in log_lines[0] and "A minor" in log_lines[0]  # carried on
    history = json.loads(ok("log", repo_id, "--json").stdout)
    assert [c["parent_id"] for c in history["commits"]] == [first_id, None]

    # what changed is measured from the audio: only the bass, only between 1 and 2 s
    shown = ok("diff", first_id, second_id).stdout
    assert "bass" in shown and "changed" in shown and "drums" in shown and "unchanged" in shown
    report = json.loads(ok("diff", second_id, "--json").stdout)  # one revision: what it changed
    by_type = {s["type"]: s for s in report["stems"]}
    assert by_type["drums"]["status"] == "unchanged" and by_type["bass"]["status"] == "changed"
    ranges = by_type["bass"]["change"]["differing_ranges"]
    assert (
        len(ranges) == 1
        and abs(ranges[0]["start_seconds"] - 1.0) <= 0.05
        and abs(ranges[0]["end_seconds"] - 2.0) <= 0.05
    )

    # a fork shares the history; its commits stay out of the original's
    fork_id = ok("fork", "Night Drive", "remix").stdout.strip()
    ok("commit", "remix", "--remove", "drums", "-m", "no drums")
    assert len(ok("log", fork_id).stdout.splitlines()) == 3
    assert len(ok("log", repo_id).stdout.splitlines()) == 2

    # mixdown: with --no-master exactly the sum of the gained stems, recorded as the render
    done = ok(
        "mixdown", "main", "--repo", "Night Drive", "-o", "mixes/mix.wav", "--gain", "bass=-6", "--pan", "drums=-1",
        "--no-master", "--sample-rate", str(SAMPLE_RATE), "--bit-depth", "32",
    )  # fmt: skip
    assert "mix: mixes/mix.wav" in done.stderr
    mixed, rate = audio.decode(tmp_path / "mixes" / "mix.wav")
    assert rate == SAMPLE_RATE and mixed.shape == (2, 3 * SAMPLE_RATE)
    expected = np.concatenate([clicks(3.0), np.zeros((1, 3 * SAMPLE_RATE), np.float32)]) + 10 ** (-6 / 20) * changed
    np.testing.assert_allclose(mixed, expected, atol=1e-6)
    runtime = build_runtime(get_settings())
    with runtime.db.session() as session:
        rendered = session.query(Commit).filter(Commit.uuid == second_id).one()
        assert rendered.render_asset is not None and rendered.render_asset.duration_seconds == pytest.approx(3.0)
    mastered = json.loads(ok("mixdown", first_id, "-o", "first.mp3", "--json").stdout)
    assert mastered["result"]["mastered"] is True and mastered["render_url"].endswith(f"/commits/{first_id}/render")
    assert audio.probe(tmp_path / "first.mp3").duration_seconds == pytest.approx(3.0, abs=0.1)


def test_delete_keeps_the_forks_history_and_releases_what_only_it_held(data_dir: Path, tmp_path: Path) -> None:
    drums = write(tmp_path / "drums.wav", clicks(1.0))
    bass = write(tmp_path / "bass.wav", tone(55.0, 1.0))
    vocals = write(tmp_path / "vocals.wav", tone(440.0, 1.0))
    ok("create", "song")
    base = ok("commit", "song", str(drums), str(bass), "-m", "base").stdout.strip()
    fork_id = ok("fork", "song", "remix").stdout.strip()
    shared = blob_files(data_dir)
    ok("commit", "song", str(vocals), "-m", "vocals after the fork")
    only_original = blob_files(data_dir) - shared
    assert len(only_original) == 1

    declined = repo_cli("delete", "song", input="n\n")
    assert declined.exit_code == 1 and "song" in ok("list").stdout
    gone = ok("delete", "song", "--yes")
    said = " ".join(gone.stderr.split())
    assert (
        "deleted repository 'song' (1 commit)" in said
        and f"1 commit its forks share now lives in fork {fork_id}" in said
    )
    assert [r["name"] for r in json.loads(ok("list", "--json").stdout)] == ["remix"]
    # the fork keeps its whole history and its audio; the vocals only the original had are gone
    assert [line.split()[0] for line in ok("log", "remix").stdout.splitlines()] == [base]
    assert blob_files(data_dir) == shared
    ok("mixdown", base, "-o", "fork.wav", "--no-master")
    assert audio.probe(tmp_path / "fork.wav").duration_seconds == pytest.approx(1.0, abs=0.01)
    # deleting the fork releases the rest (its render included)
    ok("delete", "remix", "--yes")
    assert blob_files(data_dir) == set()
    assert json.loads(ok("list", "--json").stdout) == []


def test_branches_tags_merge_and_revert(data_dir: Path, tmp_path: Path) -> None:
    drums, vocals = write(tmp_path / "drums.wav", clicks(1.0)), write(tmp_path / "vocals.wav", tone(440.0, 1.0))
    bass = [write(tmp_path / f"bass{n}.wav", tone(55.0 * n, 1.0)) for n in (1, 2, 3)]
    ok("create", "song")
    c1 = ok("commit", "song", str(drums), "--stem", f"bass={bass[0]}", "-m", "base").stdout.strip()
    assert "created branch 'idea' at " + c1 in " ".join(ok("branch", "song", "idea").stderr.split())
    ok("commit", "song", "--branch", "idea", "--stem", f"bass={bass[1]}", "-m", "new bass")
    c3 = ok("commit", "song", str(vocals), "-m", "vocals").stdout.strip()
    listed = ok("branch", "song").stdout.splitlines()
    assert listed[0].split() == ["idea", listed[0].split()[1]] and listed[1].split() == ["*", "main", c3]

    # only idea changed the bass, only main added vocals: no conflict
    merged = ok("merge", "song", "idea")
    assert "merged (bass: source, drums: both, vocals: target)" in merged.stderr
    head = merged.stdout.strip()
    assert "merge of" in ok("log", "song").stdout.splitlines()[0]
    # a branch from before the merge that changed the bass again: both sides changed it
    ok("branch", "song", "alt", "--from", c1)
    ok("commit", "song", "--branch", "alt", "--stem", f"bass={bass[2]}", "-m", "other bass")
    refused = repo_cli("merge", "song", "alt")
    assert refused.exit_code == 1 and "--take bass=source|target|base" in " ".join(refused.stderr.split())
    settled = ok("merge", "song", "alt", "--take", "bass=target")
    assert "merged (bass: target" in settled.stderr
    # revert what the vocals commit did; tags; deleting a branch
    reverted = ok("revert", "song", c3)
    assert "reverted vocals on main" in reverted.stderr
    final = json.loads(ok("log", "song", "--json").stdout)["commits"][0]
    assert final["id"] == reverted.stdout.strip() and final["parent_id"] == settled.stdout.strip() != head
    ok("tag", "song", "v1", "--commit", c1, "-m", "the first idea")
    assert ok("tag", "song").stdout.split() == ["v1", c1, "the", "first", "idea"]
    ok("branch", "song", "idea", "--delete")
    assert [line.split()[-2] for line in ok("branch", "song").stdout.splitlines()] == ["alt", "main"]


def test_mistakes_are_messages_not_tracebacks(data_dir: Path, tmp_path: Path) -> None:
    odd = write(tmp_path / "My Take.wav", tone(110.0, 0.5))
    ok("create", "mine")
    runtime = build_runtime(get_settings())
    with runtime.db.session() as session:
        accounts.create_user(session, "bob", "password-bob")
    cases = [
        (("commit", "nope", "--stem", f"bass={odd}"), "repository 'nope' not found"),
        (("commit", "mine", str(odd)), "--stem NAME="),
        (("commit", "mine", "--stem", "bass"), "NAME=PATH"),
        (("commit", "mine", "--stem", "bass=missing.wav"), "no such file"),
        (("commit", "mine", "-u", "bob", "--stem", f"bass={odd}"), "not found"),  # private: bob cannot see it
        (("commit", "mine", "-u", "nobody", "--stem", f"bass={odd}"), "user 'nobody' not found"),
        (("mixdown", "main", "--repo", "mine", "-o", "x.wav"), "no commits yet"),
        (("mixdown", "0" * 36, "-o", "x.ogg"), ".wav, .flac, .mp3 or .m4a"),
        (("diff", "0" * 36), "give its repository with --repo"),
        (("delete", "mine", "-u", "bob", "--yes"), "not found"),
    ]
    for args, message in cases:
        result = repo_cli(*args)
        assert result.exit_code == 1, (args, result.output)
        assert message in " ".join(result.stderr.split()), (args, result.stderr)
        assert "Traceback" not in result.output
    ok("create", "mine")
    twice = repo_cli("log", "mine")
    assert twice.exit_code == 1 and "2 of your repositories are called 'mine'" in " ".join(twice.stderr.split())


def test_the_installed_command_has_the_repo_group(tmp_path: Path) -> None:
    env = {"AUDIOMILL_DATA_DIR": str(tmp_path / "data"), "AUDIOMILL_MODELS_DOWNLOAD": "false", "PATH": "/usr/bin:/bin"}
    made = subprocess.run(
        [sys.executable, "-m", "audiomill.cli", "repo", "create", "song", "--json"],
        env={**env, "PYTHONPATH": ":".join(sys.path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["name"] == "song"
