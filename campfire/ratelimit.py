"""Rate limits kept in memory: a token bucket per connection, failure counters for logins."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence


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
        """Seconds until the next token (0 if there is one now)."""
        now = self._clock()
        tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        if tokens >= 1:
            return 0.0
        return (1 - tokens) / self.rate if self.rate > 0 else 60.0


class FailureThrottle:
    """Counts failed attempts per key in a sliding window; attempts in flight count too.

    The window is short (a minute by default), so an attacker can slow a real user's login
    but never lock them out for long. Memory is bounded whatever an outsider sends: only keys
    that failed are kept, as 16-byte digests, at most `limit` stamps each, at most `max_keys`
    of them (the longest quiet give way), and each is dropped once its window has passed.
    """

    def __init__(
        self,
        limit: int,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
        max_in_flight: int | None = None,
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max(1, max_keys)
        self.max_in_flight = limit if max_in_flight is None else max_in_flight
        self._clock = clock
        # digest -> failure stamps, oldest first; ordered by last failure (the oldest first).
        self._failures: OrderedDict[bytes, list[float]] = OrderedDict()
        self._in_flight: dict[bytes, int] = {}  # digest -> attempts reserved and not finished

    def __len__(self) -> int:
        """How many keys the throttle holds (failed recently, or with attempts in flight)."""
        return len(self._failures.keys() | self._in_flight.keys())

    def retry_after(self, key: str) -> float:
        """Seconds until `key` may try again; 0 if it may now. Asking stores nothing."""
        self._expire()
        return self._wait(_digest(key))

    def reserve(self, keys: Sequence[str]) -> float:
        """Reserve one attempt on every key at once: 0 if reserved, else the seconds to wait.

        A reserved attempt counts against the limit until `release`, so guesses sent at the
        same moment cannot all pass the check before any of them has failed.
        """
        self._expire()
        digests = [_digest(key) for key in keys]
        wait = max(self._wait(digest) for digest in digests)
        if wait > 0:
            return wait
        for digest in digests:
            self._in_flight[digest] = self._in_flight.get(digest, 0) + 1
        return 0.0

    def release(self, keys: Sequence[str], failed: bool) -> None:
        """End reserved attempts; a failed one is counted in the window."""
        for key in keys:
            digest = _digest(key)
            count = self._in_flight.get(digest, 0) - 1
            if count > 0:
                self._in_flight[digest] = count
            else:
                self._in_flight.pop(digest, None)
            if failed:
                self._record(digest)

    def failed(self, key: str) -> None:
        """Record a failure."""
        self._expire()
        self._record(_digest(key))

    def succeeded(self, key: str) -> None:
        """Forget a key's failures."""
        self._failures.pop(_digest(key), None)

    def _wait(self, digest: bytes) -> float:
        """Seconds until one more attempt fits for this key."""
        in_flight = self._in_flight.get(digest, 0)
        if in_flight >= self.max_in_flight:
            return 1.0  # attempts in flight end within moments
        cutoff = self._clock() - self.window
        stamps = [t for t in self._failures.get(digest, ()) if t > cutoff]
        over = len(stamps) + in_flight - self.limit + 1  # how many must expire first
        if over <= 0:
            return 0.0
        if over > len(stamps):
            return 1.0  # only attempts in flight stand in the way
        return max(0.001, stamps[over - 1] + self.window - self._clock())

    def _record(self, digest: bytes) -> None:
        """Add a failure stamp, keeping only the last `limit` and at most `max_keys` keys."""
        stamps = self._failures.pop(digest, [])
        stamps.append(self._clock())
        del stamps[: -self.limit]
        self._failures[digest] = stamps  # now the most recent
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    def _expire(self) -> None:
        """Drop keys whose last failure is older than the window (they are at the front)."""
        cutoff = self._clock() - self.window
        while self._failures:
            digest, stamps = next(iter(self._failures.items()))
            if stamps[-1] > cutoff:
                break
            del self._failures[digest]


def _digest(key: str) -> bytes:
    """A short, fixed-size stand-in for a key of any length."""
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).digest()
