"""/docs and /redoc render with the network blocked: their scripts come from the package,
not a CDN. Loaded in a real Chromium (Debian's), every request to another host refused."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from audiomill.api.app import create_app
from audiomill.config import Settings

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _browser_or_skip() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing: scripts/ensure-system-packages.sh installs it")
        pytest.skip("Debian chromium is not installed (scripts/ensure-system-packages.sh installs it)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(settings: Settings) -> Iterator[str]:
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings.model_copy(update={"port": port})), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise AssertionError("server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_docs_and_redoc_render_offline(served: str, tmp_path: Path) -> None:
    _browser_or_skip()
    from playwright.sync_api import sync_playwright

    outside: list[tuple[str, str]] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page()

        def only_this_server(route, request) -> None:  # type: ignore[no-untyped-def]
            if request.url.startswith(served):
                route.continue_()
            else:
                outside.append((request.resource_type, request.url))
                route.abort()

        page.route("**/*", only_this_server)
        page.goto(f"{served}/docs")
        page.wait_for_selector('.opblock-summary-path[data-path="/api/v1/jobs"]', timeout=30_000)
        assert page.locator(".opblock").count() > 20  # the operations, rendered
        page.screenshot(path=str(tmp_path / "docs.png"))
        page.goto(f"{served}/redoc")
        page.wait_for_selector('h2:has-text("Create Job")', timeout=60_000, state="attached")
        page.screenshot(path=str(tmp_path / "redoc.png"))
        browser.close()
    # Nothing that renders the docs comes from elsewhere; ReDoc's "by Redocly" badge is an
    # image it links from its CDN, and is simply not shown offline.
    assert [(kind, url) for kind, url in outside if kind != "image"] == []
