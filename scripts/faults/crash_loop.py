"""SIGKILL `campfire serve` under load again and again; every acknowledged message must survive.

    .venv/bin/python scripts/faults/crash_loop.py --rounds 20 --clients 12 --seconds 10

Each round: clients send CreateMessage over /ws as fast as the server takes them, the server
is killed with SIGKILL, restarted, and the history (paged with after=) must hold every message
any client saw echoed, exactly once; PRAGMA integrity_check must say ok.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from harness import Server, crash_round, make_world


async def main(rounds: int, clients: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        world = make_world(
            Path(tmp),
            users=4,
            ws_messages_per_second=1e6,
            ws_burst=1_000_000,
            user_messages_per_second=1e6,
            user_messages_burst=1_000_000,
        )
        server = Server(world, Path(tmp) / "server.log")
        for number in range(1, rounds + 1):
            acked, stored = await crash_round(world, server, clients, seconds)
            print(
                f"round {number}: {acked} acknowledged before SIGKILL, {stored} in history,"
                " all present once"
            )
        print(f"ok: {rounds} rounds")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--clients", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.clients, args.seconds))
