"""What the shared message allowance costs: one worker's takes against a private redis-server.

    .venv/bin/python scripts/faults/allowance_timing.py [--takes 20000] [--concurrent 200]

Prints the time of one take alone (a Redis round trip: the latency a message gains) and the
throughput of many takes at once (batched into one script call each round trip), beside the
local in-memory bucket's. Needs redis-server on PATH (Debian package redis-server).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from harness import RedisServer

from campfire.ratelimit import TokenBucket
from campfire.realtime.allowance import SharedAllowance
from campfire.realtime.broker import RedisBroker


async def _nothing() -> None:
    """The broker's on_connected: nothing to repair here."""


async def measure(redis_url: str, takes: int, concurrent: int) -> None:
    """Time takes one at a time and `concurrent` at a time; print the figures."""
    broker = RedisBroker(redis_url, "timing", lambda *a: None, lambda e: None, _nothing)
    await broker.start()
    for _ in range(500):  # until subscribed (at most 5 s)
        if broker.connected:
            break
        await asyncio.sleep(0.01)
    allowance = SharedAllowance(broker, rate=1e9, burst=1_000_000_000)
    alone = []
    for i in range(min(takes, 2000)):
        started = time.perf_counter()
        await allowance.take(f"user{i % 50}")
        alone.append(time.perf_counter() - started)
    alone.sort()
    print(
        f"one take alone: median {statistics.median(alone) * 1e6:.0f} us,"
        f" p99 {alone[int(len(alone) * 0.99)] * 1e6:.0f} us"
    )

    async def taker(n: int) -> None:
        for i in range(takes // concurrent):
            await allowance.take(f"user{(n + i) % 500}")

    batches = allowance.batches
    started = time.perf_counter()
    await asyncio.gather(*(taker(n) for n in range(concurrent)))
    elapsed = time.perf_counter() - started
    done = (takes // concurrent) * concurrent
    calls = allowance.batches - batches
    print(
        f"{concurrent} at a time: {done / elapsed:,.0f} takes/s, {calls} script calls"
        f" ({done / max(1, calls):.0f} takes each), fallbacks {allowance.fallbacks}"
    )
    bucket = TokenBucket(1e9, 1_000_000_000)
    started = time.perf_counter()
    for _ in range(takes):
        bucket.allow()
    print(f"local bucket: {(time.perf_counter() - started) / takes * 1e6:.2f} us a take")
    await broker.stop()


def main() -> None:
    """Start a private redis-server, measure, stop it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--takes", type=int, default=20_000)
    parser.add_argument("--concurrent", type=int, default=200)
    args = parser.parse_args()
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp), binary)
        server.start()
        try:
            asyncio.run(measure(server.url, args.takes, args.concurrent))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
