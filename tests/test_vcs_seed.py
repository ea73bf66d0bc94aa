"""Seed 003's documented version-control flows, in the order its document shows them."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.vcs_helpers import clicks, tone, upload, wav_bytes


def test_seed_003_flows_in_order(client: TestClient) -> None:
    me = client.get("/api/v1/auth/me").json()
    owner_id = me["uuid"]

    # create a repository (owner_id as a query parameter, the rest as JSON)
    created = client.post(
        f"/api/repositories/create?owner_id={owner_id}",
        json={"name": "Night Drive", "description": "synthwave", "is_public": False, "genre": "synthwave"},
    )
    assert created.status_code == 200, created.text
    repo = created.json()
    assert set(repo) == {"id", "name", "owner_id", "created_at"}
    assert repo["name"] == "Night Drive" and repo["owner_id"] == owner_id
    repo_id = repo["id"]
    got = client.get(f"/api/repositories/{repo_id}").json()
    assert got == {
        "id": repo_id,
        "name": "Night Drive",
        "description": "synthwave",
        "is_public": False,
        "genre": "synthwave",
        "created_at": repo["created_at"],
        "owner_id": owner_id,
    }

    # history of an empty repository
    assert client.get(f"/api/vcs/history/{repo_id}").json() == {"commits": [], "root": None}

    # commit, with stems from URLs we handed out
    drums = upload(client, repo_id, "drums.wav", clicks())
    bass = upload(client, repo_id, "bass.wav", tone(55.0))
    first = client.post(
        f"/api/vcs/commit/{repo_id}",
        json={
            "message": "Initial beat",
            "bpm": 120,
            "key_signature": "C Major",
            "generation_params": {"prompt": "dark synthwave"},
            "stems": [{"type": "drums", "url": drums["url"]}, {"type": "bass", "url": bass["url"]}],
        },
    )
    assert first.status_code == 200, first.text
    c1 = first.json()
    assert set(c1) == {"id", "repo_id", "parent_commit_id", "message", "timestamp"}
    assert c1["repo_id"] == repo_id and c1["parent_commit_id"] is None and c1["message"] == "Initial beat"

    detail = client.get(f"/api/vcs/commit/{c1['id']}").json()
    assert set(detail) == {"id", "message", "bpm", "key_signature", "render_url", "timestamp", "stems"}
    assert detail["bpm"] == 120 and detail["key_signature"] == "C Major" and detail["render_url"] is None
    assert sorted(s["type"] for s in detail["stems"]) == ["bass", "drums"]
    for stem in detail["stems"]:  # every url plays: the bytes we committed
        played = client.get(stem["url"])
        assert played.status_code == 200 and played.headers["content-type"].startswith("audio/")
        assert abs(stem["duration"] - 2.0) < 0.01
    assert client.get(detail["stems"][0]["url"]).content in (wav_bytes(clicks()), wav_bytes(tone(55.0)))

    # the next commit goes on the head; it keeps the stems it does not replace
    vocals = upload(client, repo_id, "vocals.wav", tone(440.0))
    c2 = client.post(
        f"/api/vcs/commit/{repo_id}",
        json={"message": "Added vocals", "stems": [{"type": "vocals", "asset_id": vocals["asset_id"]}]},
    ).json()
    assert c2["parent_commit_id"] == c1["id"]
    assert sorted(s["type"] for s in client.get(f"/api/vcs/commit/{c2['id']}").json()["stems"]) == [
        "bass",
        "drums",
        "vocals",
    ]

    # a commit with an explicit (older) parent: a branch in the tree
    c3 = client.post(
        f"/api/vcs/commit/{repo_id}",
        json={"parent_commit_id": c1["id"], "message": "Added 808 bass", "bpm": 120, "key_signature": "C Major"},
    ).json()
    assert c3["parent_commit_id"] == c1["id"]

    history = client.get(f"/api/vcs/history/{repo_id}").json()
    assert history["repo_id"] == repo_id and history["root"] == c1["id"]
    assert [(c["id"], c["parent_id"]) for c in history["commits"]] == [
        (c1["id"], None),
        (c2["id"], c1["id"]),
        (c3["id"], c1["id"]),
    ]
    assert set(history["commits"][0]) == {"id", "parent_id", "message", "timestamp", "bpm", "key_signature"}

    # fork: fields as query parameters (the seed's code) ...
    by_query = client.post(
        "/api/vcs/fork", params={"original_repo_id": repo_id, "fork_name": "My Remix", "owner_id": owner_id}
    )
    assert by_query.status_code == 200, by_query.text
    fork = by_query.json()
    assert set(fork) == {"id", "name", "owner_id", "description", "created_at"}
    assert fork["name"] == "My Remix" and fork["description"] == "Fork of Night Drive" and fork["owner_id"] == owner_id
    # ... and as the JSON body of its documented example
    by_body = client.post(
        "/api/vcs/fork", json={"original_repo_id": repo_id, "fork_name": "Other Remix", "owner_id": owner_id}
    )
    assert by_body.status_code == 200, by_body.text
    assert by_body.json()["description"] == "Fork of Night Drive"

    # history of the fork: the same commits (shared, not copied) ...
    fork_history = client.get(f"/api/vcs/history/{fork['id']}").json()
    assert fork_history["repo_id"] == fork["id"]
    assert [c["id"] for c in fork_history["commits"]] == [c1["id"], c2["id"], c3["id"]]
    # ... and then they diverge: a commit to the fork never shows in the original
    remix = client.post(
        f"/api/vcs/commit/{fork['id']}",
        json={"message": "Remix drums", "stems": [{"type": "drums", "url": drums["url"]}]},
    ).json()
    assert remix["parent_commit_id"] == c2["id"]  # the fork's main head
    assert [c["id"] for c in client.get(f"/api/vcs/history/{fork['id']}").json()["commits"]][-1] == remix["id"]
    assert remix["id"] not in [c["id"] for c in client.get(f"/api/vcs/history/{repo_id}").json()["commits"]]
    assert remix["id"] not in [
        c["id"] for c in client.get(f"/api/vcs/history/{by_body.json()['id']}").json()["commits"]
    ]
    after = client.post(f"/api/vcs/commit/{repo_id}", json={"message": "after the fork"}).json()
    assert after["id"] not in [c["id"] for c in client.get(f"/api/vcs/history/{fork['id']}").json()["commits"]]


def test_seed_fork_missing_fields_and_unknown_ids(client: TestClient) -> None:
    refused = client.post("/api/vcs/fork", json={"fork_name": "x"})
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["query", "original_repo_id"]
    unknown = "00000000-0000-0000-0000-000000000000"
    assert client.get(f"/api/repositories/{unknown}").status_code == 404
    assert client.get(f"/api/vcs/commit/{unknown}").status_code == 404
    assert client.get("/api/vcs/history/not-a-uuid").status_code == 404
    assert client.post(f"/api/vcs/commit/{unknown}", json={"message": "m"}).status_code == 404
    assert client.post("/api/vcs/fork", params={"original_repo_id": unknown, "fork_name": "x"}).status_code == 404


def test_owner_id_must_be_your_own(client: TestClient) -> None:
    other = "11111111-1111-1111-1111-111111111111"
    refused = client.post(f"/api/repositories/create?owner_id={other}", json={"name": "x"})
    assert refused.status_code == 403 and "owner_id must be your own user id" in refused.json()["detail"]
