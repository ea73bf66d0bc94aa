"""Helpers for the repository tests: stems made of synthesized audio, uploads, users."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import soundfile
from fastapi.testclient import TestClient

from audiomill.accounts import service as accounts

SAMPLE_RATE = 16000


def tone(
    frequency_hz: float, seconds: float = 2.0, amplitude: float = 0.3, sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * frequency_hz * t)).astype(np.float32)[None, :]


def clicks(seconds: float = 2.0, every_seconds: float = 0.25, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    out = np.zeros((1, round(seconds * sample_rate)), dtype=np.float32)
    period = round(every_seconds * sample_rate)
    for start in range(0, out.shape[1], period):
        out[0, start : start + 80] = np.hanning(160)[80:] * 0.8
    return out


def wav_bytes(samples: np.ndarray, sample_rate: int = SAMPLE_RATE, subtype: str = "PCM_16") -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples.T, sample_rate, format="WAV", subtype=subtype)
    return buffer.getvalue()


def upload(
    client: TestClient,
    repo_id: str,
    name: str,
    samples: np.ndarray,
    headers: dict[str, str] | None = None,
    subtype: str = "PCM_16",
) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/repos/{repo_id}/uploads",
        files={"file": (name, wav_bytes(samples, subtype=subtype))},
        headers=headers or {},
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def make_user(client: TestClient, name: str, admin: bool = False) -> dict[str, str]:
    """A user with an API key; returns the Authorization header."""
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    with runtime.db.session() as session:
        user = accounts.create_user(session, name, "password-" + name, is_admin=admin)
        return {"Authorization": f"Bearer {accounts.create_api_key(session, user, 'test').secret}"}


def new_repo(
    client: TestClient, headers: dict[str, str] | None = None, public: bool = False, name: str = "song"
) -> str:
    response = client.post("/api/v1/repos", json={"name": name, "is_public": public}, headers=headers or {})
    assert response.status_code == 201, response.text
    return response.json()["id"]  # type: ignore[no-any-return]


def commit(
    client: TestClient, repo_id: str, stems: dict[str, str], headers: dict[str, str] | None = None, **fields: Any
) -> dict[str, Any]:
    body = {
        "message": fields.pop("message", "a commit"),
        "stems": [{"type": t, "asset_id": a} for t, a in stems.items()],
        **fields,
    }
    response = client.post(f"/api/v1/repos/{repo_id}/commits", json=body, headers=headers or {})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]
