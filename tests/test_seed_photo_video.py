"""Seed 004 (AuraTune): the glasses app's multipart upload and the document's base64 upload,
polled to done, the mp4 checked with PyAV; bad photos refused with nothing left behind."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from audiomill.api.app import create_app
from audiomill.config import Settings
from tests.conftest import BASE_URL, stored_files
from tests.photo_samples import (
    MINIMAL_PDF,
    check_music_video,
    incompressible_png,
    jpeg_bytes,
    png_bomb,
)

STATUS_FIELDS = {"task_id", "status", "progress", "message", "error_message"}
ENTRY_FIELDS = {
    "task_id",
    "filename",
    "file_size",
    "file_size_mb",
    "created_at",
    "modified_at",
    "download_url",
    "status",
    "progress",
}
SEED_WORDS = {"uploaded", "converting", "generating", "merging", "done", "error"}


@pytest.fixture
def photo_settings(settings: Settings) -> Settings:
    # The suite's 5 MB upload limit would answer for the photo limit: lift it, so the
    # 413s below come from AUDIOMILL_MAX_PHOTO_BYTES (10 MB by default).
    return settings.model_copy(update={"max_upload_bytes": 64 * 1024 * 1024})


@pytest.fixture
def photo_client(photo_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(photo_settings), base_url=BASE_URL) as test_client:
        yield test_client


def poll_to_end(client: TestClient, task_id: str, timeout_seconds: float = 180.0) -> tuple[dict[str, Any], list[str]]:
    deadline = time.monotonic() + timeout_seconds
    seen: list[str] = []
    while True:
        response = client.get(f"/photos/{task_id}/status")
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == STATUS_FIELDS and body["status"] in SEED_WORDS
        assert isinstance(body["progress"], int) and 0 <= body["progress"] <= 100
        if not seen or seen[-1] != body["status"]:
            seen.append(body["status"])
        if body["status"] in ("done", "error"):
            return body, seen
        assert time.monotonic() < deadline, f"task {task_id} still {body} after {timeout_seconds} s"
        time.sleep(0.1)


def test_glasses_app_upload_poll_download(photo_client: TestClient, tmp_path: Path) -> None:
    # What the glasses app sends: one multipart field "file", a JPEG named photo_<ms>.jpg,
    # nothing else (so the seed's default: a 30 s video).
    name = f"photo_{int(time.time() * 1000)}.jpg"
    response = photo_client.post("/photos/upload", files={"file": (name, jpeg_bytes(320, 240), "image/jpeg")})
    assert response.status_code == 200, response.text
    uploaded = response.json()
    assert set(uploaded) == {"task_id", "status", "message"} and uploaded["status"] == "uploaded"
    task_id = uploaded["task_id"]

    early = photo_client.get(f"/photos/{task_id}/download")
    assert early.status_code == 400 and early.json() == {"detail": "Video not ready yet"}

    final, seen = poll_to_end(photo_client, task_id)
    assert final["status"] == "done" and final["progress"] == 100 and final["error_message"] is None, final
    order = ["uploaded", "converting", "generating", "merging", "done"]
    assert [order.index(word) for word in seen] == sorted(order.index(word) for word in seen), seen

    download = photo_client.get(f"/photos/{task_id}/download")
    assert download.status_code == 200
    assert download.headers["content-type"] == "video/mp4"
    assert f'filename="processed_video_{task_id}.mp4"' in download.headers["content-disposition"]
    video = tmp_path / "clip.mp4"
    video.write_bytes(download.content)
    check_music_video(video, 320, 240, 30.0)

    entry = photo_client.get(f"/photos/{task_id}").json()
    assert set(entry) == ENTRY_FIELDS
    assert entry["filename"] == f"processed_video_{task_id}.mp4" and entry["status"] == "done"
    assert entry["file_size"] == len(download.content) and entry["download_url"] == f"/photos/{task_id}/download"
    listing = photo_client.get("/photos").json()
    assert listing["total_count"] == 1 and listing["videos"] == [entry]
    assert listing["total_size_mb"] == round(len(download.content) / 1024 / 1024, 2)

    unknown = "00000000-0000-0000-0000-000000000000"
    for path in (f"/photos/{unknown}/status", f"/photos/{unknown}/download", f"/photos/{unknown}"):
        missing = photo_client.get(path)
        assert missing.status_code == 404 and "detail" in missing.json()


def test_documented_base64_upload_with_exif_orientation(photo_client: TestClient, tmp_path: Path) -> None:
    # Stored 320x240 with EXIF orientation 6 (turn 90 degrees): the video is portrait.
    photo = jpeg_bytes(320, 240, orientation=6)
    data_url = "data:image/jpeg;base64," + base64.b64encode(photo).decode()
    response = photo_client.post("/upload-photo", json={"photo": data_url, "duration_seconds": 5})
    assert response.status_code == 200, response.text
    task_id = response.json()["task_id"]
    final, _ = poll_to_end(photo_client, task_id)
    assert final["status"] == "done", final
    video = tmp_path / "clip.mp4"
    video.write_bytes(photo_client.get(f"/photos/{task_id}/download").content)
    check_music_video(video, 240, 320, 5.0)

    # The other documented spellings reach the same place (bare base64, other field names,
    # multipart on /upload-photo); they are queued, not waited for.
    bare = base64.b64encode(jpeg_bytes(64, 48)).decode()
    queued = []
    for body in ({"image": bare}, {"image_base64": bare}, {"photo_data": bare}, {"data": bare}):
        response = photo_client.post("/upload-photo", json={**body, "duration_seconds": 5})
        assert response.status_code == 200, response.text
        queued.append(response.json()["task_id"])
    multipart = photo_client.post(
        "/upload-photo", files={"file": ("p.jpg", jpeg_bytes(64, 48), "image/jpeg")}, data={"duration_seconds": "7"}
    )
    assert multipart.status_code == 200 and multipart.json()["status"] == "uploaded"
    queued.append(multipart.json()["task_id"])
    listing = photo_client.get("/photos").json()
    assert listing["total_count"] == 6 and listing["videos"][0]["task_id"] == queued[-1]  # newest first
    job = photo_client.get(f"/api/v1/jobs/{queued[-1]}").json()
    assert job["params"]["duration_seconds"] == 7  # the form field reached the job
    for task_id in queued:  # not waited for: cancelled and deleted
        assert photo_client.delete(f"/api/v1/jobs/{task_id}").status_code == 204


def _truncated_jpeg() -> bytes:
    whole = jpeg_bytes(320, 240)
    return whole[: len(whole) // 2]


TWELVE_MB = 12 * 1024 * 1024
BAD_MULTIPART = {
    "text as a JPEG": (b"this is not a photo, just some words\n" * 20, 415),
    "truncated JPEG": (None, 415),
    "20000x20000 PNG bomb": (None, 415),
    "a PDF": (MINIMAL_PDF, 415),
    "12 MB photo": (None, 413),
    "empty file": (b"", 415),
}


@pytest.mark.parametrize("route", ["/photos/upload", "/upload-photo"])
def test_bad_multipart_photos_are_refused_and_nothing_is_kept(
    photo_client: TestClient, photo_settings: Settings, route: str
) -> None:
    made = {
        "truncated JPEG": _truncated_jpeg(),
        "20000x20000 PNG bomb": png_bomb(),
        "12 MB photo": incompressible_png(TWELVE_MB),
    }
    for case, (content, status) in BAD_MULTIPART.items():
        payload = made.get(case, content)
        assert payload is not None
        response = photo_client.post(route, files={"file": ("photo_1700000000000.jpg", payload, "image/jpeg")})
        assert response.status_code == status, (case, response.status_code, response.text)
        assert isinstance(response.json()["detail"], str), case
        if case == "20000x20000 PNG bomb":  # the refusal says why a real image was not decoded
            assert "50,000,000 pixels" in response.json()["detail"]
    assert photo_client.get("/photos").json()["total_count"] == 0
    assert photo_client.get("/api/v1/jobs").json()["count"] == 0
    assert stored_files(photo_settings) == []


def test_bad_base64_photos_are_refused_and_nothing_is_kept(photo_client: TestClient, photo_settings: Settings) -> None:
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    cases: dict[str, tuple[dict[str, Any], int]] = {
        "empty base64": ({"photo": ""}, 422),
        "empty data URL": ({"photo": "data:image/jpeg;base64,"}, 422),
        "invalid base64": ({"photo": "this is *not* base64 at all!"}, 422),
        "no photo field": ({"picture": b64(jpeg_bytes(64, 48))}, 422),
        "a number": ({"photo": 12345}, 422),
        "text as a JPEG": ({"photo": b64(b"just words, no pixels")}, 415),
        "truncated JPEG": ({"image": b64(_truncated_jpeg())}, 415),
        "20000x20000 PNG bomb": ({"image_base64": b64(png_bomb())}, 415),
        "a PDF": ({"photo_data": "data:application/pdf;base64," + b64(MINIMAL_PDF)}, 415),
        "12 MB photo": ({"data": b64(incompressible_png(TWELVE_MB))}, 413),
        "bad duration": ({"photo": b64(jpeg_bytes(64, 48)), "duration_seconds": 500}, 422),
    }
    for case, (body, status) in cases.items():
        response = photo_client.post("/upload-photo", json=body)
        assert response.status_code == status, (case, response.status_code, response.text)
        assert isinstance(response.json()["detail"], str), case
    not_json = photo_client.post("/upload-photo", content=b"{not json", headers={"content-type": "application/json"})
    assert not_json.status_code == 422 and isinstance(not_json.json()["detail"], str)
    assert photo_client.get("/photos").json()["total_count"] == 0
    assert photo_client.get("/api/v1/jobs").json()["count"] == 0
    assert stored_files(photo_settings) == []


def test_photo_limit_is_a_setting(settings: Settings) -> None:
    small = settings.model_copy(update={"max_photo_bytes": 10_000})
    with TestClient(create_app(small), base_url=BASE_URL) as client:
        response = client.post(
            "/photos/upload", files={"file": ("p.jpg", jpeg_bytes(320, 240, quality=95), "image/jpeg")}
        )
        assert response.status_code == 413 and "10000 bytes" in response.json()["detail"]
        assert stored_files(small) == []
