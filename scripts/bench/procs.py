"""Who holds which TCP socket of a server made of several processes, from /proc.

Used by run.py (has every worker started listening?) and loadgen.py (connections per worker).
The process-tree and fd helpers are the fault harness's (scripts/faults/harness.py).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))  # for `scripts.faults`

from scripts.faults.harness import _socket_inodes, child_pids

__all__ = ["child_pids", "connections_per_pid", "listening_pids"]

ESTABLISHED, LISTEN = "01", "0A"  # the `st` column of /proc/net/tcp


def tcp_inodes(port: int, state: str) -> set[str]:
    """Inodes of the TCP sockets (v4 and v6) with local port `port` in `state`."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == state:
                inodes.add(fields[9])
    return inodes


def connections_per_pid(pids: Iterable[int], port: int) -> dict[int, int]:
    """How many established connections to `port` each process holds."""
    established = tcp_inodes(port, ESTABLISHED)
    return {pid: len(_socket_inodes(pid) & established) for pid in pids}


def listening_pids(pids: Iterable[int], port: int) -> list[int]:
    """Those of `pids` that hold a listening socket on `port`."""
    listening = tcp_inodes(port, LISTEN)
    return [pid for pid in pids if _socket_inodes(pid) & listening]
