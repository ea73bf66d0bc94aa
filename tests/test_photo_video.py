"""Kind photo_video: on /api/v1 (outputs, understanding, overrides) and as the CLI command
`audiomill photo-video photo.jpg -o clip.mp4 --duration N`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image

import audiomill

from tests.conftest import wait_for
from tests.photo_samples import FIXTURE_PHOTOS, check_music_video, jpeg_bytes

UNDERSTOOD = {
    "scene",
    "scene_labels",
    "palette_hex",
    "palette_names",
    "brightness",
    "contrast",
    "saturation",
    "warmth",
    "edge_density",
    "mood",
    "style",
    "tempo_bpm",
    "key",
    "prompt",
    "lyrics",
    "music",
    "video",
}


def test_kind_is_listed_with_an_image_input(client: TestClient) -> None:
    kinds = {kind["name"]: kind for kind in client.get("/api/v1/kinds").json()}
    spec = kinds["photo_video"]
    assert [(i["name"], i["media"]) for i in spec["inputs"]] == [("photo", "image")]
    assert {o["name"] for o in spec["outputs"]} == {"video", "poster", "soundtrack", "understanding"}


def test_api_job_with_style_override(client: TestClient, tmp_path: Path) -> None:
    photo = FIXTURE_PHOTOS / "espresso.jpg"
    with photo.open("rb") as handle:
        response = client.post(
            "/api/v1/jobs",
            data={"kind": "photo_video", "params": json.dumps({"duration_seconds": 5, "style": "jazz", "seed": 7})},
            files={"photo": ("espresso.jpg", handle, "image/jpeg")},
        )
    assert response.status_code == 201, response.text
    job = wait_for(client, response.json()["id"], {"completed", "failed"}, timeout_seconds=180)
    assert job["status"] == "completed", job
    result = job["result"]
    assert UNDERSTOOD <= set(result)
    assert result["scene_labels"][0] == "espresso" and "espresso" in result["prompt_from_photo"]
    assert result["style"] == "jazz" and result["music"]["style"] == "jazz"  # the override won
    assert result["music"]["bpm"] == result["tempo_bpm"]  # the photo's tempo, honoured
    assert 2 <= len(result["lyrics"]) <= 4 and len(result["palette_hex"]) >= 3

    outputs = {o["name"]: o for o in job["outputs"]}
    assert {name: o["media_type"] for name, o in outputs.items()} == {
        "video": "video/mp4",
        "poster": "image/jpeg",
        "soundtrack": "audio/mpeg",
        "understanding": "application/json",
    }
    video = tmp_path / "video.mp4"
    video.write_bytes(client.get(f"/api/v1/jobs/{job['id']}/outputs/video").content)
    width, height = result["video"]["width"], result["video"]["height"]
    assert abs(width / height - 320 / 213) < 0.02 and width % 2 == height % 2 == 0
    check_music_video(video, width, height, 5.0)
    understanding = client.get(f"/api/v1/jobs/{job['id']}/outputs/understanding").json()
    assert understanding["lyrics"] == result["lyrics"] and understanding["key"] == result["key"]
    poster = tmp_path / "poster.jpg"
    poster.write_bytes(client.get(f"/api/v1/jobs/{job['id']}/outputs/poster").content)
    with Image.open(poster) as image:
        assert image.size == (width, height)


def test_api_refuses_audio_as_the_photo(client: TestClient) -> None:
    response = client.post(
        "/api/v1/jobs",
        data={"kind": "photo_video", "params": "{}"},
        files={"photo": ("photo.jpg", b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(64), "image/jpeg")},
    )
    assert response.status_code == 415, response.text


def test_cli_writes_the_mp4_where_o_says(tmp_path: Path) -> None:
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(jpeg_bytes(200, 300))
    # The audiomill this test imported (a worktree's src/ or the installed one), whatever the cwd.
    source_root = str(Path(audiomill.__file__).resolve().parents[1])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([source_root, os.environ.get("PYTHONPATH", "")]),
        "AUDIOMILL_DATA_DIR": str(tmp_path / "data"),
        "AUDIOMILL_TORCH_THREADS": "1",
        "AUDIOMILL_MODELS_DOWNLOAD": "false",
    }
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "audiomill.cli",
            "photo-video",
            str(photo),
            "-o",
            "clip.mp4",
            "--duration",
            "5",
            "--json",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stderr
    [report] = json.loads(run.stdout)  # stdout is the JSON alone (a list: one report per photo)
    assert (tmp_path / report["outputs"]["video"]).resolve() == (tmp_path / "clip.mp4").resolve()
    check_music_video(tmp_path / "clip.mp4", 200, 300, 5.0)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("clip")) == [
        "clip.mp4",
        "clip.poster.jpg",
        "clip.soundtrack.mp3",
        "clip.understanding.json",
    ]
    assert report["result"]["prompt"] == json.loads((tmp_path / "clip.understanding.json").read_text())["prompt"]

    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a photo")
    failed = subprocess.run(
        [sys.executable, "-m", "audiomill.cli", "photo-video", str(broken), "-o", "bad.mp4", "--duration", "5"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert failed.returncode == 1 and "not an image" in failed.stderr
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(("bad", ".bad"))]
