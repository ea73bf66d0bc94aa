"""The web page in a real browser (Debian's Chromium, headless, every other host refused).

One server and one browser for the whole module; each test gets a fresh browser context.
Screenshots land in test-output/screenshots/ (gitignored; AUDIOMILL_SCREENSHOTS moves them).
"""

from __future__ import annotations

import io
import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import soundfile
import uvicorn
from fastapi import FastAPI

from audiomill.accounts import service as accounts
from audiomill.api.app import create_app
from audiomill.config import Settings
from tests.audio_samples import noise, stereo_chords, write_wav
from tests.test_docs_offline import CHROMIUM, _browser_or_skip, _free_port

pytest.importorskip("playwright")

SCREENSHOTS = Path(os.environ.get("AUDIOMILL_SCREENSHOTS", Path(__file__).parent.parent / "test-output/screenshots"))
JOB_TIMEOUT_MS = 180_000
HOSTILE_NAME = "<img src=x onerror=alert(1)>.mp3"


@dataclass
class Server:
    url: str
    app: FastAPI
    server: uvicorn.Server
    thread: threading.Thread = field(repr=False)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def _serve(settings: Settings) -> Server:
    port = _free_port()
    app = create_app(settings.model_copy(update={"port": port}))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise AssertionError("server did not start")
        time.sleep(0.05)
    return Server(f"http://127.0.0.1:{port}", app, server, thread)


def _settings(root: Path, models: Path, **overrides: Any) -> Settings:
    return Settings(
        data_dir=root / "data",
        models_dir=models,
        models_cache_dir=root / "model-cache",
        models_download=False,
        worker_concurrency=2,
        max_upload_bytes=5 * 1024 * 1024,
        device="cpu",
        torch_threads=1,
        rate_limit_per_minute=0,
        **overrides,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, tiny_htdemucs_folder: Path) -> Iterator[Server]:
    """Local mode (no sign-in), a tiny random-weight htdemucs for separation."""
    root = tmp_path_factory.mktemp("page-site")
    models = root / "models"
    models.mkdir()
    for file in tiny_htdemucs_folder.iterdir():
        (models / file.name).write_bytes(file.read_bytes())
    served = _serve(_settings(root, models))
    yield served
    served.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _browser_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            # A fake microphone (Chromium's beeping test source), allowed without a prompt.
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--autoplay-policy=no-user-gesture-required",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
            ],
        )
        yield launched
        launched.close()


@dataclass
class Visit:
    page: Any
    base: str
    outside: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def open(self) -> None:
        self.page.goto(self.base + "/")
        self.page.wait_for_selector('body[data-ready="true"]', timeout=30_000)

    def shot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def check_clean(self) -> None:
        assert self.outside == [], f"requests to other hosts: {self.outside}"
        assert self.dialogs == [], f"dialogs opened: {self.dialogs}"
        assert self.problems == [], f"script errors or CSP violations: {self.problems}"


def _visit(browser: Any, base: str, width: int = 1100) -> Iterator[Visit]:
    context = browser.new_context(viewport={"width": width, "height": 900}, accept_downloads=True)
    page = context.new_page()
    visit = Visit(page, base)

    def only_this_server(route: Any, request: Any) -> None:
        if request.url.startswith(base) or request.url.startswith(base.replace("http", "ws", 1)):
            route.continue_()
        else:
            visit.outside.append(request.url)
            route.abort()

    def on_dialog(dialog: Any) -> None:
        visit.dialogs.append(dialog.message)
        dialog.dismiss()

    def on_console(message: Any) -> None:
        if message.type == "error" and "/api/v1/events" not in message.text and "status of 4" not in message.text:
            visit.problems.append(message.text)

    page.route("**/*", only_this_server)
    page.on("dialog", on_dialog)
    page.on("pageerror", lambda error: visit.problems.append(str(error)))
    page.on("console", on_console)
    yield visit
    context.close()


@pytest.fixture
def visit(browser: Any, site: Server) -> Iterator[Visit]:
    yield from _visit(browser, site.url)


def _get(url: str, accept: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, dict(response.headers), response.read()


def _song(tmp_path: Path, name: str = "song.wav", seconds: float = 3.0) -> Path:
    return write_wav(tmp_path / name, stereo_chords(seconds), 44100)


def _job(visit: Visit, status: str = "completed", kind: str | None = None) -> Any:
    selector = f'li.job[data-status="{status}"]' + (f'[data-kind="{kind}"]' if kind else "")
    visit.page.wait_for_selector(selector, timeout=JOB_TIMEOUT_MS)
    return visit.page.locator(selector).first


def _choose_kind(visit: Visit, kind: str) -> None:
    visit.page.select_option("#kind", kind)


def _playing(mixer: Any, beyond_seconds: float = 0.2) -> None:
    """The mixer says it plays and its clock moves past beyond_seconds."""
    mixer.locator("button.play").click()
    mixer.page.wait_for_function(
        "([el, t]) => el.dataset.state === 'playing' && Number(el.dataset.position || 0) > t",
        arg=[mixer.element_handle(), beyond_seconds],
        timeout=15_000,
    )


# ---- tests --------------------------------------------------------------------------------


def test_root_negotiates_page_for_browsers_and_json_for_clients(site: Server) -> None:
    status, headers, body = _get(site.url + "/", "application/json")
    assert status == 200 and json.loads(body)["status"] == "operational"
    status, headers, body = _get(site.url + "/", "*/*")
    assert json.loads(body)["message"] == "audiomill"  # curl's default keeps the JSON root
    status, headers, body = _get(site.url + "/", "text/html,application/xhtml+xml,*/*;q=0.8")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b'<script type="module" src="/web/app.js">' in body
    policy = headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert b"<script>" not in body and b"onclick" not in body  # nothing inline for the policy to allow


def test_separate_play_solo_download_and_mix(visit: Visit, tmp_path: Path) -> None:
    page = visit.page
    visit.open()
    _choose_kind(visit, "separate")
    page.set_input_files("#file-input", str(_song(tmp_path)))
    page.get_by_role("button", name="Upload and start").click()
    job = _job(visit, kind="separate")
    job.locator(".mixer").first.wait_for()
    assert page.locator("#feed-state").get_attribute("data-feed") == "live"  # /api/v1/events
    assert job.locator(".job-title").inner_text() == "song.wav"
    mixer = job.locator(".mixer").first
    page.wait_for_function("el => el.dataset.loaded === 'true'", arg=mixer.element_handle(), timeout=30_000)
    stems = mixer.locator(".stem")
    assert sorted(stems.evaluate_all("rows => rows.map(r => r.dataset.stem)")) == ["bass", "drums", "other", "vocals"]
    _playing(mixer)

    page.get_by_role("button", name="Solo vocals").click()
    audible = mixer.locator(".stem").evaluate_all("rows => rows.map(r => [r.dataset.stem, r.dataset.audible])")
    assert dict(audible) == {"bass": "false", "drums": "false", "other": "false", "vocals": "true"}
    visit.shot("separate-playing-solo")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download vocals").click()
    samples, sample_rate = soundfile.read(io.BytesIO(Path(download.value.path()).read_bytes()))
    assert sample_rate == 44100 and samples.shape[0] > 2 * 44100  # the whole 3 s stem

    # The server mixes what is audible: the soloed vocals alone.
    page.get_by_role("button", name="Mix the audible stems").click()
    mix_job = _job(visit, kind="mixdown")
    assert mix_job.locator(".job-title").inner_text() == "mix of vocals"
    mix_job.locator(".mixer").wait_for()
    assert mix_job.locator(".mixer").count() == 1
    visit.check_clean()


def test_generate_two_variations_side_by_side(visit: Visit) -> None:
    page = visit.page
    visit.open()
    _choose_kind(visit, "generate")
    page.fill("#param-prompt", "calm lofi piano")
    page.fill("#param-duration_seconds", "5")
    page.fill("#param-variations", "2")
    page.fill("#param-seed", "7")
    page.fill("#param-bpm", "1000")  # out of range: the API's words appear beside the field
    page.get_by_role("button", name="Start", exact=True).click()
    bpm_error = page.locator('[data-error-for="param-bpm"]')
    bpm_error.wait_for()
    assert "300" in bpm_error.inner_text()
    page.fill("#param-bpm", "")
    page.get_by_role("button", name="Start", exact=True).click()
    job = _job(visit, kind="generate")
    job.locator(".variation").first.wait_for()
    columns = job.locator(".variation")
    assert columns.count() == 2
    for index in range(2):
        mix_player = columns.nth(index).locator(".mixer").first
        page.wait_for_function("el => el.dataset.loaded === 'true'", arg=mix_player.element_handle(), timeout=30_000)
        _playing(mix_player)
    # Side by side, heard one at a time: starting variation 2 paused variation 1 where it was.
    first, second = (columns.nth(i).locator(".mixer").first for i in range(2))
    assert first.get_attribute("data-state") == "paused" and float(first.get_attribute("data-position")) > 0.2
    assert second.get_attribute("data-state") == "playing"
    assert [columns.nth(i).locator("h4").inner_text() for i in range(2)] == ["Variation 1", "Variation 2"]
    visit.shot("generate-variations")
    visit.check_clean()


def test_project_commit_fork_and_ab(visit: Visit, tmp_path: Path) -> None:
    page = visit.page
    quiet = write_wav(tmp_path / "drums-a.wav", stereo_chords(2.0) * 0.2, 44100)
    loud = write_wav(tmp_path / "drums-b.wav", noise(2.0, 44100, channels=2) * 0.5, 44100)
    visit.open()
    page.get_by_role("link", name="Projects").click()
    page.fill("#repo-form input[name=name]", "demo song")
    page.get_by_role("button", name="Create").click()
    page.wait_for_selector("h3.repo-name:text('demo song')")
    for message, file in (("first drums", quiet), ("louder drums", loud)):
        form = page.locator("form.commit-form")
        form.locator("input[name=message]").fill(message)
        form.locator("input[name=type]").fill("drums")
        form.locator("input[type=file]").set_input_files(str(file))
        form.get_by_role("button", name="Commit", exact=True).click()
        page.wait_for_selector(f".commits li:has-text('{message}')")
    assert page.locator(".tree circle").count() == 2

    page.get_by_label("Use first drums as A").check()
    page.get_by_label("Use louder drums as B").check()
    page.get_by_role("button", name="Compare A and B").click()
    row = page.locator(".diff tbody tr")
    row.first.wait_for()
    assert row.first.get_attribute("data-status") == "changed"
    ab = page.locator(".mixer[data-listening]")
    page.wait_for_function("el => el.dataset.loaded === 'true'", arg=ab.element_handle(), timeout=30_000)
    _playing(ab)
    page.get_by_role("button", name="Switch between A and B").click()
    assert ab.get_attribute("data-listening") == "B"
    audible = ab.locator(".stem").evaluate_all("rows => rows.map(r => [r.dataset.group, r.dataset.audible])")
    assert sorted(audible) == [["A", "false"], ["B", "true"]]
    visit.shot("project-ab")

    # A branch from the first commit, and a commit on it: the tree grows a second lane.
    page.locator(".commits li", has_text="first drums").get_by_role("button").click()
    branch_form = page.locator("form[aria-label='Branch from this commit']")
    page.get_by_label("Name of a new branch from this commit").fill("quiet take")
    page.get_by_role("button", name="Branch from here").click()
    refusal = branch_form.locator(".error")
    refusal.wait_for()
    assert "branch" in refusal.inner_text() and "quiet take" in refusal.inner_text()  # the API's words, beside it
    page.get_by_label("Name of a new branch from this commit").fill("quiet-take")
    page.get_by_role("button", name="Branch from here").click()
    page.wait_for_selector(".commits .branch:text('quiet-take')")
    form = page.locator("form.commit-form")
    form.get_by_label("Branch to commit on").select_option("quiet-take")
    form.locator("input[name=message]").fill("bass on the quiet take")
    form.locator("input[name=type]").fill("bass")
    form.locator("input[type=file]").set_input_files(str(quiet))
    form.get_by_role("button", name="Commit", exact=True).click()
    page.wait_for_selector(".commits li:has-text('bass on the quiet take') .branch:text('quiet-take')")
    lanes = page.locator(".tree circle").evaluate_all("cs => new Set(cs.map(c => c.getAttribute('cx'))).size")
    assert page.locator(".tree circle").count() == 3 and lanes == 2
    visit.shot("project-branches")

    # A server mixdown of a commit: a job like any other, its result playable in the job list.
    page.locator(".commits li", has_text="louder drums").get_by_role("button").click()
    page.get_by_role("button", name="Mixdown this commit").click()
    page.wait_for_selector(".commit-view [role=status]:text('mixdown job')")
    page.get_by_role("link", name="Jobs").click()
    mixdown = page.locator('li.job[data-kind="mixdown"]', has_text="mix of drums")
    mixdown.locator(".mixer").wait_for(timeout=JOB_TIMEOUT_MS)
    page.get_by_role("link", name="Projects").click()
    page.locator("#repos").get_by_role("button", name="demo song", exact=True).click()
    page.wait_for_selector("h3.repo-name:text('demo song')")

    page.fill("form[aria-label='Fork this project'] input", "demo song remix")
    page.get_by_role("button", name="Fork").click()
    page.wait_for_selector("h3.repo-name:text('demo song remix')")
    assert "forked from demo song" in page.locator("#repo-detail").inner_text()
    assert page.locator(".tree circle").count() == 3  # the fork starts from the same history
    visit.shot("project-fork")
    visit.check_clean()


def test_cancel_a_running_job_without_the_feed(visit: Visit) -> None:
    page = visit.page
    # The per-user feed refused (an older server, a proxy without it): the page falls back
    # to each running job's own WebSocket and still shows its progress live.
    page.route_web_socket("**/api/v1/events", lambda socket: socket.close(code=1011))
    visit.open()
    page.wait_for_selector('#feed-state[data-feed="per-job"]')
    _choose_kind(visit, "generate")
    page.fill("#param-prompt", "a very long ambient drone")
    page.fill("#param-duration_seconds", "300")
    page.get_by_role("button", name="Start", exact=True).click()
    card = page.locator("li.job", has_text="a very long ambient drone")
    # Live: the worker's stage and progress reach the card while it runs.
    card.wait_for()
    page.wait_for_function(
        "el => el.dataset.status === 'processing' && el.querySelector('.stage').textContent !== ''",
        arg=card.element_handle(),
        timeout=60_000,
    )
    cancel = card.get_by_role("button", name="Cancel job a very long ambient drone")
    cancel.click()
    page.wait_for_selector('li.job[data-status="cancelled"]', timeout=60_000)
    assert card.get_attribute("data-status") == "cancelled"
    assert cancel.is_hidden()
    # Not deleted here: on SQLite a deleted job's integer id is reused by the next job
    # while the cancelled engine may still be winding down (a bug reported, not the page's).
    visit.check_clean()


def test_record_from_the_microphone_and_process_the_take(visit: Visit) -> None:
    page = visit.page
    visit.open()
    _choose_kind(visit, "boost")
    page.get_by_role("button", name="● Record").click()
    page.wait_for_selector('#record[aria-pressed="true"]')
    page.wait_for_timeout(2000)
    page.get_by_role("button", name="■ Stop recording").click()
    take = page.locator("#file-list .file-name")
    take.wait_for()
    name = take.inner_text()
    assert name.startswith("recording-") and name.endswith((".webm", ".ogg", ".m4a"))
    page.get_by_role("button", name="Upload and start").click()
    job = page.locator("li.job", has_text=name)
    job.wait_for()
    page.wait_for_function(
        "el => ['completed', 'failed', 'cancelled'].includes(el.dataset.status)",
        arg=job.element_handle(),
        timeout=JOB_TIMEOUT_MS,
    )
    assert job.get_attribute("data-status") == "completed", job.inner_text()
    job.locator(".mixer").wait_for()
    visit.check_clean()


def test_bad_file_shows_the_apis_message(visit: Visit, site: Server, tmp_path: Path) -> None:
    bad = tmp_path / "notes.mp3"
    bad.write_bytes(b"these are my notes, not audio\n" * 20)
    visit.open()
    _choose_kind(visit, "boost")
    visit.page.set_input_files("#file-input", str(bad))
    visit.page.get_by_role("button", name="Upload and start").click()
    row = visit.page.locator('#file-list li[data-state="failed"]')
    row.wait_for(timeout=30_000)
    shown = row.locator(".error").inner_text()
    boundary = "page-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="notes.mp3"\r\n'
            f"Content-Type: audio/mpeg\r\n\r\n"
        ).encode()
        + bad.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        site.url + "/api/v1/assets",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}", "Accept": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 415
    assert shown == json.loads(refused.value.read())["detail"]
    visit.shot("bad-file")
    visit.check_clean()


def test_hostile_filename_is_shown_as_text(visit: Visit, tmp_path: Path) -> None:
    page = visit.page
    hostile = write_wav(tmp_path / "hostile.wav", stereo_chords(1.0, 16000), 16000)
    visit.open()
    _choose_kind(visit, "boost")
    # Dropped onto the drop zone, as a user would drag it from their files.
    dropped = page.evaluate_handle(
        """([bytes, name]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], name, {type: 'audio/wav'}));
            return transfer;
        }""",
        [list(hostile.read_bytes()), HOSTILE_NAME],
    )
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": dropped})
    assert page.get_by_text(HOSTILE_NAME, exact=True).is_visible()
    page.get_by_role("button", name="Upload and start").click()
    job = page.locator('li.job[data-status="completed"]', has_text="onerror")
    job.wait_for(timeout=JOB_TIMEOUT_MS)
    title = job.locator(".job-title").inner_text()
    assert "onerror" in title  # the stored name, whatever the server kept of it, shown as text
    page.wait_for_timeout(300)
    assert page.locator("img[src='x']").count() == 0
    visit.shot("hostile-filename")
    job.get_by_role("button", name=f"Delete job {title}").click()
    job.wait_for(state="detached")
    visit.open()  # gone for the server too, not just from the list
    assert page.locator("li.job", has_text="onerror").count() == 0
    visit.check_clean()


def test_narrow_screen_has_no_sideways_scroll(browser: Any, site: Server) -> None:
    for visit in _visit(browser, site.url, width=375):
        visit.open()
        width = visit.page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"the page is {width} px wide at 375 px"
        visit.page.keyboard.press("Tab")
        focused = visit.page.evaluate("document.activeElement && document.activeElement.textContent")
        assert focused  # keyboard focus lands on something named
        visit.shot("narrow-375")
        # A result's players too: their controls wrap instead of widening the page.
        finished = visit.page.locator('li.job[data-status="completed"] details.job-results').first
        if finished.count():
            finished.locator("summary").click()
            finished.locator(".mixer").first.wait_for()
            width = visit.page.evaluate("document.documentElement.scrollWidth")
            assert width <= 375, f"with a result open the page is {width} px wide at 375 px"
            visit.shot("narrow-375-results")
        visit.check_clean()


def test_sign_in_and_out_when_accounts_are_required(browser: Any, tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    served = _serve(_settings(tmp_path, models, auth="required"))
    try:
        with served.app.state.runtime.db.session() as session:
            accounts.create_user(session, "ada", "correct horse")
        for visit in _visit(browser, served.url):
            page = visit.page
            page.goto(served.url + "/")
            page.wait_for_selector("#signin:not([hidden])")
            page.fill("input[name=username]", "ada")
            page.fill("input[name=password]", "wrong")
            page.get_by_role("button", name="Sign in").click()
            error = page.wait_for_selector('[data-error-for="signin"]:not(:empty)')
            assert "wrong username or password" in error.inner_text().lower()
            visit.shot("sign-in-refused")
            page.fill("input[name=password]", "correct horse")
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_selector('body[data-ready="true"]')
            assert page.locator("#account .user").inner_text() == "ada"
            # A state-changing request of the cookie session: it only passes with the CSRF token.
            page.get_by_role("link", name="Projects").click()
            page.fill("#repo-form input[name=name]", "ada's song")
            page.get_by_role("button", name="Create").click()
            page.wait_for_selector('h3.repo-name:text("ada\'s song")')
            page.get_by_role("button", name="Sign out").click()
            page.wait_for_selector("#signin:not([hidden])")
            visit.check_clean()
    finally:
        served.stop()


def test_photo_to_music_video_plays(visit: Visit, tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    # A photo with something to pan across: a gradient sky over a darker ground.
    height, width = 240, 320
    rows = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    sky = np.concatenate([60 + 150 * rows, 120 + 100 * rows, 200 + 40 * rows], axis=2) * np.ones((1, width, 1))
    sky[height * 2 // 3 :] *= 0.4
    photo = tmp_path / "beach <i>sunset.jpg"
    Image.fromarray(sky.astype(np.uint8)).save(photo, quality=90)

    page = visit.page
    visit.open()
    _choose_kind(visit, "photo_video")
    assert page.locator("#file-input").get_attribute("accept") == "image/*"
    page.fill("#param-duration_seconds", "5")
    page.set_input_files("#file-input", str(photo))
    page.get_by_role("button", name="Upload and start").click()
    job = _job(visit, kind="photo_video")
    assert job.locator(".job-title").inner_text() == "beach <i>sunset.jpg"  # as text
    video = job.locator("video").first
    video.wait_for()
    playing = page.evaluate(
        """async (el) => {
            el.muted = true;
            await el.play();
            await new Promise((done) => setTimeout(done, 1500));
            return [el.duration, el.currentTime, el.videoWidth, el.videoHeight];
        }""",
        video.element_handle(),
    )
    duration, position, video_width, video_height = playing
    assert abs(duration - 5.0) < 0.15 and position > 0.3, playing
    assert video_width * height == video_height * width  # the photo's own aspect ratio
    visit.shot("photo-video-playing")
    visit.check_clean()
