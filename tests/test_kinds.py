"""One KindSpec + one engine module make a kind: API, OpenAPI, CLI and Celery routing all
derive from the spec. Jobs with or without files; assets uploaded once, used twice."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from audiomill.config import Settings
from audiomill.engines import base as engines_base
from audiomill.store.tables import Job
from tests.audio_samples import sine, write_wav
from tests.conftest import stored_files, wait_for
from tests.fixtures.engines import text_only


@pytest.fixture
def tone_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(engines_base.KINDS, "test_tone", text_only.SPEC)


@pytest.fixture
def wav_path(tmp_path: Path) -> Path:
    return write_wav(tmp_path / "tone.wav", sine(440.0, 1.0, 22050), 22050)


def _job_rows(client: TestClient) -> int:
    with client.app.state.runtime.db.session() as session:  # type: ignore[attr-defined]
        return session.query(Job).count()


def test_text_only_kind_is_created_with_json_and_no_file(client: TestClient, tone_kind: None) -> None:
    # tone_kind is applied after the client's app was built: the spec is read per request.
    response = client.post("/api/v1/jobs", json={"kind": "test_tone", "params": {"label": "la", "frequency_hz": 220}})
    assert response.status_code == 201, response.text
    done = wait_for(client, response.json()["id"], {"completed", "failed"})
    assert done["status"] == "completed", done
    assert done["result"] == {"label": "la", "frames": 11025}
    (output,) = done["outputs"]
    assert output["name"] == "tone" and output["filename"] == "la.wav"
    audio_bytes = client.get(output["url"]).content
    assert audio_bytes[:4] == b"RIFF"


def test_the_spec_alone_reaches_openapi_kinds_cli_and_celery_routing(
    client: TestClient, tone_kind: None, settings: Settings
) -> None:
    client.app.openapi_schema = None  # type: ignore[attr-defined]  # rebuilt with the new kind
    schema = client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    mapping = components["JobCreate"]["discriminator"]["mapping"]
    assert "test_tone" in mapping and "separate" in mapping
    tone_params = components["ToneParams"]["properties"]
    assert tone_params["frequency_hz"]["maximum"] == 4000.0 and tone_params["frequency_hz"]["default"] == 440.0
    assert tone_params["frequency_hz"]["description"] == "pitch of the tone"
    # Every real kind's parameters are typed in OpenAPI, with descriptions and choices.
    separate = components["SeparateParams"]["properties"]
    assert "precision" in separate and separate["shifts"]["maximum"] == 20
    post = schema["paths"]["/api/v1/jobs"]["post"]["requestBody"]["content"]
    assert set(post) == {"application/json", "multipart/form-data"}

    kind = client.get("/api/v1/kinds/test_tone").json()
    assert kind["inputs"] == [] and kind["cli_command"] == "audiomill test-tone" and kind["queue"] == "tones"
    assert settings.queue_for("test_tone") == "tones"
    assert settings.queue_for("separate") == "gpu" and settings.queue_for("denoise") == settings.default_queue

    from typer.testing import CliRunner

    from audiomill.cli import build_app

    runner = CliRunner()
    help_text = runner.invoke(build_app(), ["test-tone", "--help"], terminal_width=200).output
    assert "--frequency-hz" in help_text and "pitch of the tone" in help_text and "20.0<=x<=4000.0" in help_text
    assert "LABEL" in help_text


def test_unknown_form_field_unknown_model_and_bad_stem_are_422_with_no_job(client: TestClient, wav_path: Path) -> None:
    data = wav_path.read_bytes()
    cases = [
        ({"kind": "separate", "output_fromat": "mp3"}, "output_fromat"),
        ({"kind": "separate", "params": '{"model": "htdemcus"}'}, "htdemcus"),
        ({"kind": "separate", "params": '{"two_stems": "guitar"}'}, "guitar"),
        ({"kind": "separate", "model": "htdemcus"}, "htdemcus"),
        ({"kind": "separate", "complement_name": "rest"}, "give two_stems too"),
        ({"kind": "no_such_kind"}, "no_such_kind"),
    ]
    for form, named in cases:
        response = client.post("/api/v1/jobs", data=form, files={"file": ("song.wav", data)})
        assert response.status_code == 422, (form, response.text)
        assert named in response.json()["detail"], (form, response.text)
    for body, named in [
        ({"kind": "separate", "params": {"model": "htdemcus"}, "inputs": {"audio": "x"}}, "htdemcus"),
        ({"kind": "boost", "params": {"levell": "2x"}, "inputs": {"audio": "x"}}, "levell"),
        ({"kind": "boost", "params": {}}, "inputs: missing; give asset ids for audio"),
    ]:
        response = client.post("/api/v1/jobs", json=body)
        assert response.status_code == 422, (body, response.text)
        assert named in response.json()["detail"], (body, response.text)
    assert _job_rows(client) == 0
    # A parameter sent as its own form field is a parameter, not ignored.
    response = client.post("/api/v1/jobs", data={"kind": "test_copy", "gain": "0.5"}, files={"file": ("a.wav", data)})
    assert response.status_code == 201 and response.json()["params"]["gain"] == 0.5


def test_an_asset_uploaded_once_serves_two_jobs_and_is_stored_once(
    client: TestClient, wav_path: Path, settings: Settings
) -> None:
    first = client.post("/api/v1/assets", files={"file": ("tone.wav", wav_path.read_bytes())})
    assert first.status_code == 201, first.text
    asset = first.json()
    again = client.post("/api/v1/assets", files={"file": ("same.wav", wav_path.read_bytes())}).json()
    assert again["id"] == asset["id"]
    assert asset["duration_seconds"] == pytest.approx(1.0) and asset["media_type"] == "audio/wav"
    jobs = [
        client.post(
            "/api/v1/jobs", json={"kind": "test_copy", "params": {"gain": gain}, "inputs": {"audio": asset["id"]}}
        )
        for gain in (0.5, 0.25)
    ]
    assert [r.status_code for r in jobs] == [201, 201], [r.text for r in jobs]
    for response in jobs:
        assert wait_for(client, response.json()["id"], {"completed", "failed"})["status"] == "completed"
    blobs = [p for p in stored_files(settings) if p.is_relative_to(settings.blobs_dir)]
    input_blobs = [p for p in blobs if p.name == asset["sha256"] or asset["sha256"] in str(p)]
    assert len(input_blobs) == 1
    # Deleting a job keeps the uploaded asset; deleting the asset keeps the other job's input.
    assert client.delete(f"/api/v1/jobs/{jobs[0].json()['id']}").status_code == 204
    assert client.get(f"/api/v1/assets/{asset['id']}").status_code == 200
    assert client.delete(f"/api/v1/assets/{asset['id']}").status_code == 204
    assert client.get("/api/v1/assets").json()["count"] == 0
    second = client.get(f"/api/v1/jobs/{jobs[1].json()['id']}").json()
    assert second["inputs"][0]["asset_id"] == asset["id"]  # still the other job's input
    # A job's output is an asset too: it can feed the next job without a download.
    output_id = second["outputs"][0]["asset_id"]
    chained = client.post("/api/v1/jobs", json={"kind": "test_copy", "inputs": {"audio": output_id}})
    assert chained.status_code == 201, chained.text
    assert client.delete(f"/api/v1/jobs/{jobs[1].json()['id']}").status_code == 204
    assert client.get(f"/api/v1/assets/{asset['id']}").status_code == 404
    assert [p for p in stored_files(settings) if asset["sha256"] in str(p)] == []


def test_assets_are_judged_by_content_and_private(client: TestClient, wav_path: Path) -> None:
    bad = client.post("/api/v1/assets", files={"file": ("song.mp3", b"not audio at all" * 50)})
    assert bad.status_code == 415 and "song.mp3" in bad.json()["detail"]
    missing = client.post("/api/v1/jobs", json={"kind": "test_copy", "inputs": {"audio": "0" * 8}})
    assert missing.status_code == 404 and "not found" in missing.json()["detail"]
    with wave.open(str(wav_path)) as handle:
        assert handle.getnframes() == 22050
