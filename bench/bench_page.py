"""First load of the web page on loopback: bytes transferred and time to interactive.

``python -m bench.bench_page [--runs 5]``

Chromium (Debian's, headless) opens ``/`` in a fresh context each run (nothing cached)
and waits until the page says it is ready (``performance.mark('audiomill-ready')``: the
session checked, the kinds' forms built, the job list loaded, every control wired).
Bytes are every response's transferSize (headers included) as the browser counts them.
The peer, measured in the same run on the same server, is /docs (Swagger UI, served from
the package), to its first rendered operation. Goals: <= 300 KB and <= 1 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from audiomill.api.app import create_app
from audiomill.config import Settings

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
GOAL_BYTES = 300 * 1024
GOAL_SECONDS = 1.0

TRANSFERRED = """() => {
  const entries = [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')];
  return {bytes: entries.reduce((sum, e) => sum + (e.transferSize || 0), 0), requests: entries.length};
}"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(data_dir: Path) -> tuple[str, uvicorn.Server, threading.Thread]:
    port = _free_port()
    settings = Settings(data_dir=data_dir, models_download=False, worker_concurrency=1, port=port)
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, thread


def _load(browser: Any, url: str, ready_selector: str, mark: str | None) -> tuple[float, int, int]:
    """(seconds to interactive, bytes, requests) of one cold load."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(url, wait_until="commit")
    page.wait_for_selector(ready_selector, state="attached", timeout=60_000)
    if mark:
        seconds = page.evaluate(f"performance.getEntriesByName('{mark}')[0].startTime") / 1000
    else:
        seconds = page.evaluate("performance.now()") / 1000
    page.wait_for_load_state("load")
    counted = page.evaluate(TRANSFERRED)
    context.close()
    return seconds, int(counted["bytes"]), int(counted["requests"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="cold loads per peer (the median is reported)")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder:
        base, server, thread = _serve(Path(folder))
        peers = {
            "page /": (base + "/", 'body[data-ready="true"]', "audiomill-ready"),
            "/docs (peer)": (base + "/docs", ".opblock", None),
        }
        results: dict[str, list[tuple[float, int, int]]] = {name: [] for name in peers}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            _load(browser, *peers["page /"])  # warm the server's first-request paths, not measured
            for _ in range(args.runs):
                for name, peer in peers.items():
                    results[name].append(_load(browser, *peer))
            browser.close()
        server.should_exit = True
        thread.join(timeout=30)  # its worker processes stop with it, before the folder goes
    load = os.getloadavg()[0]
    print(f"first load on loopback, median of {args.runs} cold loads (1-min load average {load:.2f})")
    medians = {}
    for name, runs in results.items():
        seconds = statistics.median(r[0] for r in runs)
        size = statistics.median(r[1] for r in runs)
        medians[name] = (seconds, size)
        print(f"  {name:14s} {seconds * 1000:7.0f} ms to interactive  {size / 1024:7.1f} KB  {runs[0][2]} requests")
    page_seconds, page_bytes = medians["page /"]
    docs_seconds, docs_bytes = medians["/docs (peer)"]
    print(f"  page / docs: {page_seconds / docs_seconds:.2f}x the time, {page_bytes / docs_bytes:.2f}x the bytes")
    print(
        f"  goals: <= {GOAL_BYTES // 1024} KB: {'met' if page_bytes <= GOAL_BYTES else 'MISSED'}; "
        f"<= {GOAL_SECONDS:.0f} s: {'met' if page_seconds <= GOAL_SECONDS else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
