"""The BlobStore contract on the local folder and on S3 (a real moto server), and a job
from upload to download with its bytes in a bucket."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig
from fastapi.testclient import TestClient

from audiomill import audio
from audiomill.api.app import create_app
from audiomill.config import Settings
from audiomill.errors import NotFound, StorageUnavailable
from audiomill.runtime import build_blob_store
from audiomill.store.blobs import BlobStore, LocalBlobStore
from audiomill.store.blobs_s3 import S3BlobStore, s3_client
from tests.audio_samples import sine, write_wav
from tests.conftest import BASE_URL, wait_for
from tests.test_jobs import submit

REGION = "us-east-1"
MiB = 1024 * 1024


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(process: subprocess.Popen[bytes], url: str, timeout_seconds: float = 30.0) -> str | None:
    """None once the server answers, else why it never did."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode(errors="replace") if process.stdout else ""
            return f"moto server exited with {process.returncode}: {output[-2000:]}"
        try:
            with urllib.request.urlopen(url, timeout=1):
                return None
        except OSError:
            time.sleep(0.1)
    return f"moto server did not answer at {url} within {timeout_seconds} s"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A standalone moto S3 server on a free loopback port, with dummy credentials."""
    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
        _unavailable("moto[server] is not installed (pip install 'moto[server]')")
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        problem = _wait_until_up(process, endpoint + "/")
        if problem:
            _unavailable(problem)
        # Requests are logged to the pipe: drain it so a full pipe never stalls the server.
        threading.Thread(target=lambda: process.stdout and process.stdout.read(), daemon=True).start()
        with pytest.MonkeyPatch.context() as env:
            env.setenv("AWS_ACCESS_KEY_ID", "testing")
            env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
            env.setenv("AWS_CONFIG_FILE", os.devnull)
            env.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
            for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
                env.delenv(name, raising=False)
            env.setenv("NO_PROXY", "127.0.0.1,localhost")
            yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def s3(moto_endpoint: str) -> Any:
    return s3_client(moto_endpoint, REGION)


@pytest.fixture
def bucket(s3: Any) -> str:
    """A fresh bucket per test, so tests never see each other's objects."""
    name = f"audiomill-test-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def _s3_store(s3: Any, bucket: str, root: Path, **kwargs: Any) -> S3BlobStore:
    return S3BlobStore(s3, bucket, "audiomill/", root / "cache", root / "scratch", **kwargs)


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs", tmp_path / "scratch")
    s3 = request.getfixturevalue("s3")
    return _s3_store(s3, request.getfixturevalue("bucket"), tmp_path, list_page_size=2)


def _put(store: BlobStore, data: bytes) -> str:
    return store.commit(store.stage_stream(io.BytesIO(data), max_bytes=len(data) + 1, chunk_bytes=4096))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _keys(s3: Any, bucket: str) -> list[str]:
    return [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


# -- the contract, on both stores -------------------------------------------------------------


def test_stage_and_commit_store_the_bytes_by_digest(store: BlobStore) -> None:
    data = os.urandom(100_000)
    staged = store.stage_stream(io.BytesIO(data), max_bytes=len(data), chunk_bytes=4096)
    assert (staged.sha256, staged.size_bytes) == (_sha(data), len(data))
    assert staged.path.read_bytes() == data
    assert store.commit(staged) == _sha(data)
    assert not staged.path.exists()
    assert store.exists(_sha(data))
    assert store.path(_sha(data)).read_bytes() == data


def test_stage_file_moves_an_engine_output_into_the_store(store: BlobStore, tmp_path: Path) -> None:
    output = tmp_path / "out.wav"
    output.write_bytes(b"engine output" * 1000)
    digest = store.commit(store.stage_file(output))
    assert not output.exists()
    assert store.path(digest).read_bytes() == b"engine output" * 1000


def test_identical_content_is_stored_once(store: BlobStore) -> None:
    data = b"same bytes" * 5000
    first = store.stage_stream(io.BytesIO(data), max_bytes=len(data))
    second = store.stage_stream(io.BytesIO(data), max_bytes=len(data))
    assert store.commit(first) == store.commit(second) == _sha(data)
    assert not first.path.exists() and not second.path.exists()
    assert list(store.all_digests()) == [_sha(data)]
    assert store.path(_sha(data)).read_bytes() == data


def test_delete_removes_a_blob_and_is_idempotent(store: BlobStore) -> None:
    keep, drop = _put(store, b"keep me"), _put(store, b"drop me")
    store.delete(drop)
    store.delete(drop)
    assert not store.exists(drop) and store.exists(keep)
    assert set(store.all_digests()) == {keep}
    assert store.path(keep).read_bytes() == b"keep me"


def test_all_digests_lists_every_blob(store: BlobStore) -> None:
    # The S3 store lists 2 keys a page here, so this crosses several pages.
    digests = {_put(store, f"blob {i}".encode()) for i in range(5)}
    assert set(store.all_digests()) == digests
    assert not store.exists(_sha(b"never stored"))


def test_modified_at_is_when_the_blob_was_stored(store: BlobStore) -> None:
    before = time.time()
    digest = _put(store, b"timestamped")
    # S3 keeps whole seconds.
    assert before - 2 <= store.modified_at(digest) <= time.time() + 2
    with pytest.raises(FileNotFoundError):
        store.modified_at(_sha(b"never stored"))


def test_discard_drops_a_staged_file(store: BlobStore) -> None:
    staged = store.stage_stream(io.BytesIO(b"abandoned"), max_bytes=100)
    store.discard(staged)
    assert not staged.path.exists() and not store.exists(staged.sha256)


def test_concurrent_readers_all_see_the_whole_file(
    store: BlobStore, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    data = os.urandom(3 * MiB)
    digest = _put(store, data)
    if isinstance(store, S3BlobStore):  # read through another machine's empty cache
        store = _s3_store(store._client, store.bucket, tmp_path / "other-machine")
    results: list[bytes] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def read() -> None:
        try:
            start.wait()
            results.append(store.path(digest).read_bytes())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 8 and all(r == data for r in results)
    folder = store.path(digest).parent
    assert [p.name for p in folder.iterdir()] == [digest]  # no partial downloads left behind


# -- S3 specifics -----------------------------------------------------------------------------


def test_objects_are_laid_out_by_digest_under_the_prefix(s3: Any, bucket: str, tmp_path: Path) -> None:
    store = S3BlobStore(s3, bucket, "team/audio", tmp_path / "cache", tmp_path / "scratch")
    digest = _put(store, b"laid out")
    s3.put_object(Bucket=bucket, Key="team/audio/README.txt", Body=b"not a blob")
    s3.put_object(Bucket=bucket, Key=f"elsewhere/{digest[:2]}/{digest[2:4]}/{digest}", Body=b"x")
    assert f"team/audio/{digest[:2]}/{digest[2:4]}/{digest}" in _keys(s3, bucket)
    assert list(store.all_digests()) == [digest]


def test_large_blobs_go_up_in_parts_and_come_back_whole(s3: Any, bucket: str, tmp_path: Path) -> None:
    parts = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    store = _s3_store(s3, bucket, tmp_path / "a", transfer=parts)
    data = os.urandom(6 * MiB)
    digest = _put(store, data)
    head = s3.head_object(Bucket=bucket, Key=f"audiomill/{digest[:2]}/{digest[2:4]}/{digest}")
    assert head["ETag"].strip('"').endswith("-2")  # a two-part upload
    elsewhere = _s3_store(s3, bucket, tmp_path / "b", transfer=parts)
    assert elsewhere.path(digest).read_bytes() == data


def test_a_blob_already_in_the_bucket_is_not_uploaded_again(
    s3: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _s3_store(s3, bucket, tmp_path)
    _put(store, b"uploaded once")
    uploads: list[str] = []
    client = s3_client(store._client.meta.endpoint_url, REGION)  # not the shared one: it gets patched
    original = client.upload_file
    monkeypatch.setattr(client, "upload_file", lambda *a, **k: uploads.append(a[2]) or original(*a, **k))
    other_machine = _s3_store(client, bucket, tmp_path / "other")
    _put(other_machine, b"uploaded once")
    assert uploads == []
    _put(other_machine, b"new")
    assert len(uploads) == 1


def test_machines_share_the_bucket_and_deletes_reach_all(s3: Any, bucket: str, tmp_path: Path) -> None:
    api, worker = _s3_store(s3, bucket, tmp_path / "api"), _s3_store(s3, bucket, tmp_path / "worker")
    digest = _put(api, b"input from the api")
    assert worker.exists(digest)
    assert worker.path(digest).read_bytes() == b"input from the api"
    worker.delete(digest)
    assert [p for p in worker.cache_dir.rglob("*") if p.is_file()] == []  # its cached copy went too
    assert not api.exists(digest) and _keys(s3, bucket) == []


def test_a_corrupt_or_missing_object_is_never_served(s3: Any, bucket: str, tmp_path: Path) -> None:
    store = _s3_store(s3, bucket, tmp_path)
    digest = _sha(b"the real bytes")
    s3.put_object(Bucket=bucket, Key=f"audiomill/{digest[:2]}/{digest[2:4]}/{digest}", Body=b"other bytes")
    with pytest.raises(StorageUnavailable, match="expected 11 bytes"):
        store.path(digest)
    with pytest.raises(NotFound, match="missing from bucket"):
        store.path(_sha(b"never stored"))
    assert [p for p in store.cache_dir.rglob("*") if p.is_file()] == []


def test_pruned_cached_copies_are_fetched_again(s3: Any, bucket: str, tmp_path: Path) -> None:
    store = _s3_store(s3, bucket, tmp_path)
    old, recent = _put(store, b"not used for a while"), _put(store, b"just used")
    long_ago = time.time() - 3600
    os.utime(store.path(old), (long_ago, long_ago))
    assert store.prune_cache(max_age_seconds=600) == 1
    assert [p.name for p in store.cache_dir.rglob("*") if p.is_file()] == [recent]
    assert store.path(old).read_bytes() == b"not used for a while"


def test_a_bad_configuration_fails_at_start(moto_endpoint: str, bucket: str, settings: Settings) -> None:
    s3_settings = settings.model_copy(
        update={"blob_store": "s3", "s3_endpoint_url": moto_endpoint, "s3_region": REGION}
    )
    with pytest.raises(StorageUnavailable, match="AUDIOMILL_S3_BUCKET"):
        build_blob_store(s3_settings)
    with pytest.raises(StorageUnavailable, match="'no-such-bucket' at .* does not exist"):
        build_blob_store(s3_settings.model_copy(update={"s3_bucket": "no-such-bucket"}))
    closed = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(StorageUnavailable, match="cannot be reached"):
        build_blob_store(s3_settings.model_copy(update={"s3_bucket": bucket, "s3_endpoint_url": closed}))
    assert isinstance(build_blob_store(s3_settings.model_copy(update={"s3_bucket": bucket})), S3BlobStore)


def test_settings_read_the_s3_options_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDIOMILL_BLOB_STORE", "s3")
    monkeypatch.setenv("AUDIOMILL_S3_BUCKET", "media")
    monkeypatch.setenv("AUDIOMILL_S3_ENDPOINT_URL", "http://minio:9000")
    configured = Settings()
    assert (configured.blob_store, configured.s3_bucket, configured.s3_prefix) == ("s3", "media", "audiomill/")
    assert configured.s3_endpoint_url == "http://minio:9000" and configured.s3_region is None


# -- end to end -------------------------------------------------------------------------------


def test_a_job_runs_with_its_files_in_the_bucket(
    s3: Any, bucket: str, moto_endpoint: str, settings: Settings, fixture_kinds: None, tmp_path: Path
) -> None:
    s3_settings = settings.model_copy(
        update={
            "blob_store": "s3",
            "s3_bucket": bucket,
            "s3_endpoint_url": moto_endpoint,
            "s3_region": REGION,
        }
    )
    tone = write_wav(tmp_path / "tone.wav", sine(440.0, 1.0, 44100, channels=2), 44100)
    with TestClient(create_app(s3_settings), base_url=BASE_URL) as client:
        job = submit(client, "test_copy", tone, {"gain": 0.5})
        done = wait_for(client, job["id"], {"completed", "failed"})
        assert done["status"] == "completed", done
        assert len(_keys(s3, bucket)) == 2  # the input and the output
        assert not s3_settings.blobs_dir.exists()  # nothing went to the local store

        (output,) = done["outputs"]
        response = client.get(output["url"])
        assert response.status_code == 200
        (tmp_path / "copy.wav").write_bytes(response.content)
        copied, _ = audio.decode(tmp_path / "copy.wav")
        original, _ = audio.decode(tone)
        assert abs(copied - original * 0.5).max() < 2e-4
        partial = client.get(output["url"], headers={"Range": "bytes=0-99"})
        assert partial.status_code == 206 and partial.content == response.content[:100]

        assert client.delete(f"/api/v1/jobs/{job['id']}").status_code == 204
        assert _keys(s3, bucket) == []
        cache = s3_settings.work_dir / "blob-cache"
        assert [p for p in cache.rglob("*") if p.is_file()] == []
