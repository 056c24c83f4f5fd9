"""Thousands of light WebSocket clients (picows on uvloop) that come back when dropped.

    python scripts/faults/many_clients.py '{"url": "ws://127.0.0.1:3000/ws",
                                            "tokens": ["..."], "clients": 5000}'

Run by tests/test_scale_workers.py as a subprocess: aiohttp's client costs too much per
connection for 5,000 in the test's process on a small box. Every client records, per
connection, the sequence numbers of the NewMessage frames it receives in order and when its
Ready came (time.monotonic: one clock for every process of the machine). A dropped client
connects again at once, as a client resuming after its server went away, and goes on
recording on a new connection. Prints {"ready": seconds} once every client is Ready; on
"report SEQ" (a line on stdin) waits until every client's connection has received message SEQ
(at most 10 s: a late delivery is not a loss), then prints everything it recorded as one
JSON line, with how long that wait took, and exits.
"""

from __future__ import annotations

import asyncio
import json
import re
import resource
import sys
import time
from typing import Any

import uvloop
from picows import WSListener, WSMsgType, WSTransport, ws_connect

SEQ_RE = re.compile(rb'"seq":(\d+)')
NEW_MESSAGE = b'{"type":"NewMessage"'
READY = b'{"type":"Ready"'
CONNECTING_AT_ONCE = 200  # handshakes in flight at most (a browser's jittered backoff, roughly)
RETRY_PAUSE = 0.1  # seconds between two failed attempts of one client


class Client(WSListener):
    """One client; its connections one after another, each with what it received."""

    def __init__(self, gen: ManyClients, token: str) -> None:
        self.gen = gen
        self.token = token
        self.connections: list[dict[str, Any]] = []  # {"ready": t, "seqs": [...], "other": n}
        self.current: dict[str, Any] = {}
        self.transport: WSTransport | None = None
        self.handshaken: WSTransport | None = None  # the last connection that got connected

    def on_ws_connected(self, transport: WSTransport) -> None:
        """A new connection: start a new record."""
        self.transport = self.handshaken = transport
        self.current = {"ready": None, "seqs": [], "other": 0}
        self.connections.append(self.current)

    def on_ws_frame(self, transport: WSTransport, frame: Any) -> None:
        """Record a NewMessage's seq, or when Ready came."""
        if frame.msg_type != WSMsgType.TEXT:
            if frame.msg_type == WSMsgType.CLOSE:
                transport.disconnect()
            return
        data = frame.get_payload_as_bytes()
        if data.startswith(NEW_MESSAGE):
            found = SEQ_RE.search(data)
            if found:
                self.current["seqs"].append(int(found.group(1)))
        elif data.startswith(READY):
            self.current["ready"] = time.monotonic()
            self.gen.ready(self)
        else:
            self.current["other"] += 1

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        """Dropped: come back at once (unless the run is over)."""
        self.transport = None
        if not self.gen.stopping:
            self.gen.spawn(self.gen.connect(self))


class ManyClients:
    """The clients, their connecting and their report."""

    def __init__(self, url: str, tokens: list[str], count: int) -> None:
        self.url = url
        self.clients = [Client(self, tokens[i % len(tokens)]) for i in range(count)]
        self.slots = asyncio.Semaphore(CONNECTING_AT_ONCE)
        self.all_ready = asyncio.Event()
        self.ready_once: set[int] = set()
        self.stopping = False
        self.failures: dict[str, int] = {}  # failed attempts to connect, by error
        self.tasks: set[asyncio.Task] = set()

    def spawn(self, coro: Any) -> None:
        """Run a task, keeping a reference until it ends."""
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def ready(self, client: Client) -> None:
        """A client's first Ready counts towards all_ready."""
        self.ready_once.add(id(client))
        if len(self.ready_once) == len(self.clients):
            self.all_ready.set()

    async def connect(self, client: Client) -> None:
        """Connect one client, retrying until it is in (or the run is over)."""
        while not self.stopping:
            async with self.slots:
                try:
                    transport, _ = await ws_connect(
                        lambda: client, f"{self.url}?token={client.token}"
                    )
                    if client.handshaken is transport:
                        return
                    # picows hands back a connection dropped during its handshake as if it
                    # had succeeded, calling neither on_ws_connected nor on_ws_disconnected
                    # (a worker killed as the client reconnects): try again, or it is lost.
                    raise ConnectionResetError("closed during the handshake")
                except Exception as exc:
                    kind = type(exc).__name__
                    self.failures[kind] = self.failures.get(kind, 0) + 1
            await asyncio.sleep(RETRY_PAUSE)

    def behind(self, seq: int) -> int:
        """How many clients' current connections have not received message `seq` yet."""
        return sum(
            1
            for c in self.clients
            if not c.connections or seq not in c.connections[-1]["seqs"][-50:]
        )

    def report(self) -> dict[str, Any]:
        """What every client recorded."""
        return {"clients": [c.connections for c in self.clients], "failures": self.failures}

    def close(self) -> None:
        """Close every connection."""
        self.stopping = True
        for client in self.clients:
            if client.transport is not None:
                client.transport.disconnect()


async def main(config: dict[str, Any]) -> None:
    """Connect everyone, say so, wait for 'report', print it."""
    gen = ManyClients(config["url"], config["tokens"], config["clients"])
    started = time.monotonic()
    for client in gen.clients:
        gen.spawn(gen.connect(client))
    await gen.all_ready.wait()
    print(json.dumps({"ready": round(time.monotonic() - started, 2)}), flush=True)
    loop = asyncio.get_running_loop()
    line = ""
    while not line.startswith("report"):
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
    last = int(line.split()[1])
    waited = time.monotonic()
    for _ in range(200):  # 10 s at most
        if not gen.behind(last):
            break
        await asyncio.sleep(0.05)
    waited = time.monotonic() - waited
    gen.close()
    report = {**gen.report(), "waited": round(waited, 2), "behind": gen.behind(last)}
    print(json.dumps(report, separators=(",", ":")), flush=True)


if __name__ == "__main__":
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    uvloop.run(main(json.loads(sys.argv[1])))
