"""DELETE /api/v1/repos/{id}: who may, and what it leaves: forks keep their whole history
(they share their origin's commits and audio, which are handed over, not copied), audio
nothing else holds goes from the blob store."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from audiomill.accounts import service as accounts
from audiomill.api.app import create_app
from audiomill.config import Settings
from tests.conftest import BASE_URL, stored_files
from tests.vcs_helpers import clicks, commit, make_user, new_repo, tone, upload


@pytest.fixture
def authed_client(settings: Settings, fixture_kinds: None) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"auth": "required"})), base_url=BASE_URL) as client:
        yield client


def _history(client: TestClient, repo: str, headers: dict[str, str]) -> list[str]:
    response = client.get(f"/api/v1/repos/{repo}/commits", headers=headers)
    assert response.status_code == 200, response.text
    return [c["id"] for c in response.json()["data"]]


def test_only_the_owner_or_an_admin_deletes(authed_client: TestClient) -> None:
    client = authed_client
    owner, other, friend = make_user(client, "owner"), make_user(client, "other"), make_user(client, "friend")
    admin = make_user(client, "admin", admin=True)
    private, public = new_repo(client, owner), new_repo(client, owner, public=True, name="open")
    assert client.put(f"/api/v1/repos/{public}/collaborators/friend", headers=owner).status_code == 200
    assert client.delete(f"/api/v1/repos/{private}").status_code == 401
    assert client.delete(f"/api/v1/repos/{private}", headers=other).status_code == 404  # invisible to others
    for refused in (other, friend):  # readers and collaborators may not delete
        response = client.delete(f"/api/v1/repos/{public}", headers=refused)
        assert response.status_code == 403 and "only the repository's owner" in response.json()["detail"]
    assert client.delete(f"/api/v1/repos/{private}", headers=owner).status_code == 204
    assert client.get(f"/api/v1/repos/{private}", headers=owner).status_code == 404
    assert client.delete(f"/api/v1/repos/{private}", headers=owner).status_code == 404
    assert client.delete(f"/api/v1/repos/{public}", headers=admin).status_code == 204
    assert client.get("/api/v1/repos", headers=owner).json()["count"] == 0


def test_forks_keep_their_history_when_the_origin_goes(authed_client: TestClient, settings: Settings) -> None:
    client = authed_client
    alice, bob, carol = make_user(client, "alice"), make_user(client, "bob"), make_user(client, "carol")
    zed = make_user(client, "zed")
    # zed's song -> alice's fork of it (the repository deleted) -> forks by bob and carol
    root = new_repo(client, zed, public=True, name="zed's")
    z1 = commit(client, root, {"drums": upload(client, root, "d.wav", clicks(), zed)["asset_id"]}, zed)
    song = client.post(f"/api/v1/repos/{root}/fork", json={"name": "song"}, headers=alice).json()["id"]
    bass = upload(client, song, "bass.wav", tone(55.0), alice)
    a1 = commit(client, song, {"bass": bass["asset_id"]}, alice)
    bob_fork = client.post(f"/api/v1/repos/{song}/fork", json={"name": "bob's"}, headers=bob).json()["id"]
    a2 = commit(client, song, {"bass": upload(client, song, "b2.wav", tone(65.0), alice)["asset_id"]}, alice)
    carol_fork = client.post(f"/api/v1/repos/{song}/fork", json={"name": "carol's"}, headers=carol).json()["id"]
    late = upload(client, song, "late.wav", tone(880.0), alice)
    a3 = commit(client, song, {"vocals": late["asset_id"]}, alice)  # no fork reads this one
    b1 = commit(client, bob_fork, {"keys": upload(client, bob_fork, "k.wav", tone(330.0), bob)["asset_id"]}, bob)
    c1 = commit(client, carol_fork, {}, carol, message="carol's own")
    dave_fork = client.post(f"/api/v1/repos/{bob_fork}/fork", json={"name": "dave's"}, headers=carol).json()["id"]
    before = {
        fork: (_history(client, fork, who), client.get(f"/api/v1/repos/{fork}/branches", headers=who).json())
        for fork, who in ((bob_fork, bob), (carol_fork, carol), (dave_fork, carol))
    }
    assert before[carol_fork][0] == [z1["id"], a1["id"], a2["id"], c1["id"]]

    # alice forgets the audio she uploaded for a3: only her commit still holds it
    late_blob = next(p for p in stored_files(settings) if p.name == late["sha256"])
    assert client.delete(f"/api/v1/assets/{late['asset_id']}", headers=alice).status_code == 204
    assert late_blob.exists()
    assert client.delete(f"/api/v1/repos/{song}", headers=alice).status_code == 204

    # every fork reads exactly what it read before, refs included, and its audio plays
    for fork, who in ((bob_fork, bob), (carol_fork, carol), (dave_fork, carol)):
        assert _history(client, fork, who) == before[fork][0]
        assert client.get(f"/api/v1/repos/{fork}/branches", headers=who).json() == before[fork][1]
    assert _history(client, bob_fork, bob) == [z1["id"], a1["id"], b1["id"]]
    for stem, commit_id in (("drums", z1["id"]), ("bass", a2["id"])):
        played = client.get(f"/api/v1/repos/{carol_fork}/commits/{commit_id}/stems/{stem}", headers=carol)
        assert played.status_code == 200 and played.content[:4] == b"RIFF"
    diff = client.get(f"/api/v1/repos/{carol_fork}/diff", params={"a": a1["id"], "b": a2["id"]}, headers=carol)
    assert diff.status_code == 200 and [s["status"] for s in diff.json()["stems"]] == ["changed", "unchanged"]
    # seed 003's lookup by commit id alone finds them through the forks; a3 is gone
    assert client.get(f"/api/vcs/commit/{a2['id']}", headers=carol).status_code == 200
    assert client.get(f"/api/vcs/commit/{a1['id']}", headers=bob).status_code == 200
    assert client.get(f"/api/vcs/commit/{a3['id']}", headers=carol).status_code == 404
    assert client.get(f"/api/v1/repos/{song}", headers=alice).status_code == 404
    # the forks still diverge: new commits stay in their own repository
    b2 = commit(client, bob_fork, {}, bob, message="bob again")
    assert b2["id"] not in _history(client, carol_fork, carol)
    assert _history(client, root, zed) == [z1["id"]]
    # audio nothing holds any more is gone; what the forks share is not
    assert not late_blob.exists()
    assert any(p.name == bass["sha256"] for p in stored_files(settings))
    # alice's own uploads stay hers until she deletes them
    listed: list[dict[str, Any]] = client.get("/api/v1/assets", headers=alice).json()["data"]
    assert bass["asset_id"] in [a["id"] for a in listed]


def test_delete_on_postgresql(tmp_path: Path) -> None:
    """The same hand-over on PostgreSQL, with a merge commit and its child among the
    commits deleted (one DELETE for a parent and its child; the merge's other parent is
    handed over)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    from audiomill.jobs.service import Upload
    from audiomill.runtime import build_runtime
    from audiomill.vcs import service
    from audiomill.vcs.removal import delete_repo
    from tests.test_vcs_migration import POSTGRES_URL
    from tests.vcs_helpers import wav_bytes

    engine = create_engine(POSTGRES_URL)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {exc}")
    schema = f"vcs_del_{uuid.uuid4().hex[:8]}"
    with engine.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=f"{POSTGRES_URL}?options=-csearch_path%3D{schema}",
        models_download=False,
    )
    runtime = build_runtime(settings)
    try:
        with runtime.db.session() as session:
            user = accounts.create_user(session, "pg-owner", "password-pg")

            def stem(name: str, frequency_hz: float) -> tuple[service.StemSource, Any]:
                upload = Upload(stream=io.BytesIO(wav_bytes(tone(frequency_hz, 0.5))), filename=f"{name}.wav")
                asset = service.store_stem_audio(runtime, session, user, upload)
                return service.StemSource(name, asset_id=asset.uuid), asset

            repo = service.create_repo(session, user, "pg song")
            c1 = service.commit_to(session, repo, user, service.CommitMeta("c1"), [stem("drums", 100.0)]).commit
            service.create_branch(session, user, repo.uuid, "idea")
            c2 = service.commit_to(session, repo, user, service.CommitMeta("c2"), [stem("bass", 55.0)], branch="idea")
            c3 = service.commit_to(session, repo, user, service.CommitMeta("c3"), [stem("keys", 330.0)]).commit
            fork = service.fork_repo(session, user, repo.uuid, "fork")
            merged = service.merge_branches(session, user, repo.uuid, "idea")
            assert merged.status == "merged"
            service.commit_to(session, repo, user, service.CommitMeta("c5"), [stem("vocals", 440.0)])
            kept = [c1.uuid, c2.commit.uuid, c3.uuid]
            repo_uuid, fork_uuid = repo.uuid, fork.uuid
        done = delete_repo(runtime, user, repo_uuid)
        assert (done.commits_deleted, done.commits_handed_over, done.heir_id) == (2, 3, fork_uuid)
        assert done.blobs_deleted == 1  # the vocals only c5 had
        with runtime.db.session() as session:
            _, history = service.history(session, user, fork_uuid)
            assert [entry.uuid for entry in history] == kept
            _, refs = service.list_branches(session, user, fork_uuid)
            assert {ref.name: head.uuid for ref, head in refs if head} == {"main": kept[2], "idea": kept[1]}
    finally:
        runtime.db.dispose()
        with engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()
