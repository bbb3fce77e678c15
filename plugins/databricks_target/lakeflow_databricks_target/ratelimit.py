"""A client-side token bucket for run-now: a fan-out of 1000 triggers stays under the rate the
user allows (``-o max_rps``), because a workspace's rate limit is shared with other teams.

The 429 replies that still happen are retried by databricks-sdk itself: its ``retried`` wrapper
sleeps for the reply's ``Retry-After`` seconds (plus up to one second of jitter) and sends the
same request again (SDK ``retries.py`` and ``errors/customizer.py`` ``_RetryAfterCustomizer``), so
the retry carries the same ``idempotency_token`` and cannot start a second run.
"""

from __future__ import annotations

import threading
import time


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; thread-safe."""

    def __init__(self, rate: float, burst: float = 1.0) -> None:
        self.rate, self.burst = rate, max(1.0, burst)
        self._tokens = self.burst
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> None:
        """Block until one token is free, then spend it. Waiters are served one after another:
        each reserves its slot under the lock and sleeps outside it."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= 1
            delay = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if delay > 0:
            time.sleep(delay)


_buckets: dict[tuple[int, float], TokenBucket] = {}
_lock = threading.Lock()


def bucket(client: object, rate: float) -> TokenBucket:
    """The bucket of one workspace client at one rate: a fan-out's threads share it."""
    key = (id(client), rate)
    with _lock:
        found = _buckets.get(key)
        if found is None:
            # A burst of one: requests leave evenly spaced, so a server counting per second never
            # sees more than the rate (a saved-up burst would arrive all at once).
            found = _buckets[key] = TokenBucket(rate)
        return found
