"""Faults the world will bring: SIGKILL, SIGTERM, a full disk, backups under load, reconnect storms.

The real `campfire serve` runs as a subprocess where a process-level fault is the point; the
long versions are scripts in scripts/faults/ (see docs/operations.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts" / "faults"))

from harness import Server, crash_round, make_world  # noqa: E402

FAST = {"ws_messages_per_second": 1e6, "ws_burst": 1_000_000}


async def test_sigkill_under_load_loses_no_acknowledged_message(tmp_path):
    """Two rounds of load, SIGKILL, restart: every echoed message is stored exactly once."""
    world = make_world(tmp_path, users=2, **FAST)
    server = Server(world, tmp_path / "server.log")
    try:
        total = 0
        for _ in range(2):
            acked, stored = await crash_round(world, server, clients=6, seconds=1.5)
            assert acked > 0
            total += acked
        assert stored >= total
    finally:
        await server.stop()
