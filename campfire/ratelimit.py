"""Rate limits kept in memory: a token bucket per connection, failure counters for logins."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """Allows `rate` events per second on average, with bursts of up to `burst`."""

    __slots__ = ("_clock", "_stamp", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._clock = clock
        self._stamp = clock()

    def allow(self) -> bool:
        """Take one token if there is one."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def retry_after(self) -> float:
        """Seconds until the next token, as of the last allow() (for a 429's Retry-After)."""
        if self._tokens >= 1:
            return 0.0
        if self.rate <= 0:
            return 3600.0  # never refills: say "much later", not infinity
        return (1 - self._tokens) / self.rate


class FailureThrottle:
    """Counts failures per key in a sliding window; a key over the limit waits it out.

    The window is short (a minute by default), so an attacker can slow a real user's login
    but never lock them out for long.
    """

    def __init__(
        self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ):
        self.limit = limit
        self.window = window
        self._clock = clock
        self._failures: dict[str, list[float]] = {}

    def retry_after(self, key: str) -> float:
        """Seconds until `key` may try again; 0 if it may now."""
        stamps = self._recent(key)
        if len(stamps) < self.limit:
            return 0.0
        return max(0.0, stamps[0] + self.window - self._clock())

    def failed(self, key: str) -> None:
        """Record a failure."""
        self._recent(key).append(self._clock())
        if len(self._failures) > 100_000:  # bound memory under a spray of keys
            self._prune()

    def succeeded(self, key: str) -> None:
        """Forget a key's failures."""
        self._failures.pop(key, None)

    def _recent(self, key: str) -> list[float]:
        cutoff = self._clock() - self.window
        stamps = [t for t in self._failures.get(key, ()) if t > cutoff]
        self._failures[key] = stamps
        return stamps

    def _prune(self) -> None:
        cutoff = self._clock() - self.window
        self._failures = {k: v for k, v in self._failures.items() if v and v[-1] > cutoff}
