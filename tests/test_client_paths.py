"""Server-side paths a client sends back (seed 003's ``file_path``): only URLs this service
handed out, and only the caller's own, resolve; nothing else reaches the file system."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from audiomill.accounts import service as accounts
from audiomill.api.routes.media import asset_for_client_path, media_url
from audiomill.errors import NotFound
from audiomill.store.tables import Asset
from tests.audio_samples import sine, write_wav
from tests.conftest import wait_for


def test_only_handed_out_paths_of_the_caller_resolve(client: TestClient, tmp_path) -> None:  # type: ignore[no-untyped-def]
    tone = write_wav(tmp_path / "tone.wav", sine(440.0, 0.5, 16000), 16000)
    with tone.open("rb") as handle:
        job = client.post("/api/v1/jobs", data={"kind": "test_copy"}, files={"file": ("tone.wav", handle)}).json()
    wait_for(client, job["id"], {"completed"})
    runtime = client.app.state.runtime
    with runtime.db.session() as session:
        owner = accounts.create_user(session, "someone-else", None)
        asset = session.scalar(select(Asset).where(Asset.filename == "tone.wav"))
        mine = media_url("original", asset)
        owner_id = asset.owner_id

        assert asset_for_client_path(session, owner_id, mine).id == asset.id
        assert asset_for_client_path(session, owner_id, f"/static/audio/{asset.uuid}/tone.wav").id == asset.id
        with pytest.raises(NotFound):
            asset_for_client_path(session, owner.id, mine)  # not yours: as if it did not exist
        for bad in [
            "/etc/passwd",
            "../../etc/passwd",
            str(runtime.blobs.path(asset.sha256)),
            "/media/../../etc/passwd",
            "/static/audio/../../../etc/passwd",
            "/static/audio/%2e%2e/%2e%2e/etc/passwd",
            f"/media/uploads/x/{asset.uuid}/../../etc/passwd",
            f"/media/uploads/{asset.uuid}",
            "/media/",
            f"/media/uploads/x/{asset.uuid}/a\0b",
            "file:///etc/passwd",
            f"media/uploads/x/{asset.uuid}/tone.wav",
            "C:\\Windows\\win.ini",
            "",
        ]:
            with pytest.raises(NotFound):
                asset_for_client_path(session, owner_id, bad)
