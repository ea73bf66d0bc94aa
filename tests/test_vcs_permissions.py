"""Who may do what to a repository, over every repository/commit/branch route, with
AUDIOMILL_AUTH=required: the owner, another signed-in user, an admin, anonymous."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from audiomill.api.app import create_app
from audiomill.config import Settings
from tests.conftest import BASE_URL
from tests.vcs_helpers import clicks, commit, make_user, new_repo, tone, upload, wav_bytes


@pytest.fixture
def authed_client(settings: Settings, fixture_kinds: None) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"auth": "required"})), base_url=BASE_URL) as client:
        yield client


def _project(client: TestClient, owner: dict[str, str], public: bool) -> dict[str, Any]:
    repo_id = new_repo(client, owner, public=public)
    drums = upload(client, repo_id, "drums.wav", clicks(), owner)
    bass = upload(client, repo_id, "bass.wav", tone(55.0), owner)
    c1 = commit(client, repo_id, {"drums": drums["asset_id"], "bass": bass["asset_id"]}, owner)
    c2 = commit(client, repo_id, {"bass": upload(client, repo_id, "b2.wav", tone(65.0), owner)["asset_id"]}, owner)
    assert (
        client.post(
            f"/api/v1/repos/{repo_id}/branches", json={"name": "idea", "from_commit": c1["id"]}, headers=owner
        ).status_code
        == 201
    )
    assert (
        client.post(
            f"/api/v1/repos/{repo_id}/tags", json={"name": "v1", "commit_id": c1["id"]}, headers=owner
        ).status_code
        == 201
    )
    return {"repo": repo_id, "c1": c1["id"], "c2": c2["id"], "drums": drums}


def _routes(p: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(kind, method, path, request kwargs) for every route touching a repository."""
    r, c1, c2 = p["repo"], p["c1"], p["c2"]
    return [
        ("read", "GET", f"/api/v1/repos/{r}", {}),
        ("read", "GET", f"/api/repositories/{r}", {}),
        ("read", "GET", f"/api/v1/repos/{r}/commits", {}),
        ("read", "GET", f"/api/vcs/history/{r}", {}),
        ("read", "GET", f"/api/v1/repos/{r}/commits/{c1}", {}),
        ("read", "GET", f"/api/vcs/commit/{c1}", {}),
        ("read", "GET", f"/api/v1/repos/{r}/commits/{c1}/stems/drums", {}),
        ("read", "GET", f"/api/v1/repos/{r}/branches", {}),
        ("read", "GET", f"/api/v1/repos/{r}/tags", {}),
        ("read", "GET", f"/api/v1/repos/{r}/collaborators", {}),
        ("read", "GET", f"/api/v1/repos/{r}/diff?a={c1}&b={c2}", {}),
        ("fork", "POST", f"/api/v1/repos/{r}/fork", {"json": {"name": "remix"}}),
        ("fork", "POST", "/api/vcs/fork", {"params": {"original_repo_id": r, "fork_name": "remix"}}),
        ("write", "POST", f"/api/v1/repos/{r}/uploads", {"files": {"file": ("x.wav", wav_bytes(tone(99.0)))}}),
        ("write", "POST", f"/api/v1/repos/{r}/commits", {"json": {"message": "m"}}),
        ("write", "POST", f"/api/vcs/commit/{r}", {"json": {"message": "m"}}),
        ("write", "POST", f"/api/v1/repos/{r}/branches", {"json": {"name": "b2"}}),
        ("write", "POST", f"/api/v1/repos/{r}/tags", {"json": {"name": "t2"}}),
        ("write", "POST", f"/api/v1/repos/{r}/commits/{c2}/revert", {"json": {}}),
        ("write", "POST", f"/api/v1/repos/{r}/merge", {"json": {"source": "idea"}}),
        ("write", "POST", f"/api/v1/repos/{r}/commits/{c1}/mixdown", {"json": {"master": False}}),
        ("write", "PUT", f"/api/v1/repos/{r}/collaborators/nobody-here", {}),
        ("write", "DELETE", f"/api/v1/repos/{r}/tags/v1", {}),
        ("write", "DELETE", f"/api/v1/repos/{r}/branches/idea", {}),
    ]


@pytest.mark.parametrize("public", [False, True], ids=["private", "public"])
def test_permission_matrix(authed_client: TestClient, public: bool) -> None:
    client = authed_client
    owner, other = make_user(client, "owner"), make_user(client, "other")
    admin = make_user(client, "admin", admin=True)
    project = _project(client, owner, public)
    routes = _routes(project)
    for kind, method, path, kwargs in routes:
        anonymous = client.request(method, path, **kwargs)
        assert anonymous.status_code == 401, (method, path, anonymous.text)
        response = client.request(method, path, headers=other, **kwargs)
        if not public:
            expected = 404  # a private repository does not exist for others
        else:
            expected = {"read": 200, "fork": 201 if "/v1/" in path else 200, "write": 403}[kind]
        assert response.status_code == expected, (method, path, response.text)
        if expected == 403:
            assert "only the repository's owner" in response.json()["detail"]
    for _kind, method, path, kwargs in routes:
        response = client.request(method, path, headers=owner, **kwargs)
        wanted = 404 if path.endswith("/nobody-here") else None  # the user, not the repo, is unknown
        if wanted:
            assert response.status_code == wanted and "user" in response.json()["detail"]
        else:
            assert response.status_code < 300, (method, path, response.text)
    # admins may act on any repository
    assert client.get(f"/api/v1/repos/{project['repo']}", headers=admin).status_code == 200
    assert (
        client.post(f"/api/v1/repos/{project['repo']}/commits", json={"message": "by admin"}, headers=admin).status_code
        == 201
    )


def test_owner_id_rule_and_admins_acting_for_others(authed_client: TestClient) -> None:
    client = authed_client
    alice, bob = make_user(client, "alice"), make_user(client, "bob")
    admin = make_user(client, "root", admin=True)
    alice_id = client.get("/api/v1/auth/me", headers=alice).json()["uuid"]
    bob_id = client.get("/api/v1/auth/me", headers=bob).json()["uuid"]
    assert alice_id != bob_id
    refused = client.post(f"/api/repositories/create?owner_id={alice_id}", json={"name": "x"}, headers=bob)
    assert refused.status_code == 403 and "owner_id must be your own user id" in refused.json()["detail"]
    made = client.post(f"/api/repositories/create?owner_id={alice_id}", json={"name": "for alice"}, headers=admin)
    assert made.status_code == 200 and made.json()["owner_id"] == alice_id
    # the repository is alice's: private to her, invisible to bob
    assert client.get(f"/api/repositories/{made.json()['id']}", headers=alice).status_code == 200
    assert client.get(f"/api/repositories/{made.json()['id']}", headers=bob).status_code == 404
    # forking for someone else: only admins
    public = new_repo(client, alice, public=True)
    assert (
        client.post(
            "/api/vcs/fork", json={"original_repo_id": public, "fork_name": "f", "owner_id": alice_id}, headers=bob
        ).status_code
        == 403
    )
    fork = client.post(
        "/api/vcs/fork", json={"original_repo_id": public, "fork_name": "f", "owner_id": bob_id}, headers=bob
    )
    assert fork.status_code == 200 and fork.json()["owner_id"] == bob_id


def test_collaborators_may_write(authed_client: TestClient) -> None:
    client = authed_client
    owner, friend = make_user(client, "owner2"), make_user(client, "friend")
    repo = new_repo(client, owner)
    assert client.post(f"/api/v1/repos/{repo}/commits", json={"message": "m"}, headers=friend).status_code == 404
    assert client.put(f"/api/v1/repos/{repo}/collaborators/friend", headers=owner).status_code == 200
    assert client.post(f"/api/v1/repos/{repo}/commits", json={"message": "m"}, headers=friend).status_code == 201
    assert [c["username"] for c in client.get(f"/api/v1/repos/{repo}/collaborators", headers=friend).json()] == [
        "friend"
    ]
    assert client.delete(f"/api/v1/repos/{repo}/collaborators/friend", headers=owner).status_code == 204
    assert client.get(f"/api/v1/repos/{repo}", headers=friend).status_code == 404


def test_fork_isolation_between_users(authed_client: TestClient) -> None:
    client = authed_client
    alice, bob = make_user(client, "alice2"), make_user(client, "bob2")
    repo = new_repo(client, alice, public=True)
    drums = upload(client, repo, "d.wav", clicks(), alice)
    base = commit(client, repo, {"drums": drums["asset_id"]}, alice)
    fork = client.post(f"/api/v1/repos/{repo}/fork", json={"name": "bob's"}, headers=bob).json()
    assert fork["forked_from"] == repo and fork["owner"] == "bob2"
    # bob commits a stem made from alice's stem URL (he may read it) to his fork
    bob_commit = client.post(
        f"/api/v1/repos/{fork['id']}/commits",
        headers=bob,
        json={"message": "bob", "stems": [{"type": "perc", "url": base["stems"][0]["url"]}]},
    ).json()
    assert (
        client.get(f"/api/v1/repos/{fork['id']}/commits/{bob_commit['id']}/stems/perc", headers=bob).status_code == 200
    )
    assert client.get(f"/api/v1/repos/{repo}/commits/{bob_commit['id']}", headers=alice).status_code == 404
    assert bob_commit["id"] not in [
        c["id"] for c in client.get(f"/api/v1/repos/{repo}/commits", headers=alice).json()["data"]
    ]
    # branches are per repository: moving the fork's main leaves the original's alone
    heads = {
        b["name"]: b["head_commit_id"]
        for b in client.get(f"/api/v1/repos/{repo}/branches", headers=alice).json()["data"]
    }
    assert heads == {"main": base["id"]}
    # bob cannot write to alice's repository, nor commit alice-only assets into his fork
    assert client.post(f"/api/v1/repos/{repo}/commits", json={"message": "x"}, headers=bob).status_code == 403
    steal = client.post(
        f"/api/v1/repos/{fork['id']}/commits",
        headers=bob,
        json={"message": "x", "stems": [{"type": "d", "asset_id": drums["asset_id"]}]},
    )
    assert steal.status_code == 404
