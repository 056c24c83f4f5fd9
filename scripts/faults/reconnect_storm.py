"""Restart a busy server: thousands of clients reconnect at once and every one is served.

    .venv/bin/python scripts/faults/reconnect_storm.py --clients 3000

Connects CLIENTS sockets to a real `campfire serve`, stops it with SIGTERM (each socket gets
1001), starts it again and reconnects them all at the same moment, with no backoff (the worst
case). Prints the reconnect time, the server's resident memory and open file descriptors, and
checks that one message then reaches every socket. Needs `ulimit -n` above 2 x CLIENTS.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
from pathlib import Path

from harness import Server, make_world, reconnect_storm


async def main(clients: int, timeout: float) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the server inherits it
    with tempfile.TemporaryDirectory() as tmp:
        world = make_world(Path(tmp), users=10, ws_max_connections_per_user=clients, ws_heartbeat=0)
        stats = await reconnect_storm(
            world, Server(world, Path(tmp) / "server.log"), clients, timeout
        )
    print(stats)
    assert stats["closed_1001"] == clients and stats["delivered"] == clients, stats
    print("ok")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=3000)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    asyncio.run(main(args.clients, args.timeout))
