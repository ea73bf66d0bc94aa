"""Per-user request rate limiting (a sliding window kept in this process's memory).

Each API process counts on its own; with N API processes behind a balancer a user gets up
to N times the limit, which is the usual trade for not needing a shared store here.
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict, deque

from audiomill.errors import RateLimited

WINDOW_SECONDS = 60.0


class RateLimiter:
    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._hits: dict[int, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def hit(self, user_id: int, now: float | None = None) -> None:
        """Count one request; raise RateLimited (with Retry-After) past the limit."""
        if self.per_minute <= 0:
            return
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits[user_id]
            while hits and hits[0] <= now - WINDOW_SECONDS:
                hits.popleft()
            if len(hits) >= self.per_minute:
                retry_after = math.ceil(hits[0] + WINDOW_SECONDS - now)
                raise RateLimited(
                    f"rate limit of {self.per_minute} requests per minute reached; retry in {retry_after} s",
                    retry_after,
                )
            hits.append(now)
