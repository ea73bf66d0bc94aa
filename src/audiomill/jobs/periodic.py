"""A daemon thread that runs one action every interval until stopped (clean-up, reaper)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Periodic:
    def __init__(self, name: str, interval_seconds: Callable[[], float], action: Callable[[], object]) -> None:
        self._name = name
        self._interval_seconds = interval_seconds
        self._action = action
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"audiomill-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_seconds()):
            try:
                self._action()
            except Exception:  # a passing failure (database away): try again next time
                log.exception("%s failed; will try again", self._name)
