"""The load generator: picows WebSocket clients on uvloop, one scenario per run, JSON out.

Run by scripts/bench/run.py pinned to its own core; it reads the server's CPU time and RSS
from /proc/<pid> itself, so each window is measured exactly where the load starts and ends.
Every payload carries its send time (time.monotonic_ns, same machine, same clock) as
`@t=<20 digits>` inside the message content, so latency is measured on one clock.

    python scripts/bench/loadgen.py '<json config>'
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import os
import re
import socket
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable

import procs
import uvloop
from picows import WSListener, WSMsgType, WSTransport, ws_connect

MARK = b"@t="
SEQ_RE = re.compile(rb'"seq":(\d+)')
ID_RE = re.compile(rb'"message":\{"id":"([0-9a-f-]{36})"')
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- the server process, seen from /proc ---------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (utime and stime of /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kb(pid: int) -> int:
    """Resident set size of a process in KiB (VmRSS of /proc/PID/status)."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_fds(pid: int) -> int:
    """How many file descriptors a process has open (each socket is one)."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def percentile(values: list[float], pct: float, expected: int | None = None) -> float:
    """The pct-th percentile; deliveries that never came (expected - len) count as infinite."""
    total = max(len(values), expected or 0)
    if total == 0:
        return math.nan
    rank = math.ceil(pct / 100 * total) - 1
    ordered = sorted(values)
    return ordered[rank] if rank < len(ordered) else math.inf


# --- clients -----------------------------------------------------------------------------


class Client(WSListener):
    """One WebSocket client; records the latency of every payload it receives."""

    def __init__(self, gen: LoadGen, measured: bool = True) -> None:
        self.gen = gen
        self.measured = measured
        self.transport: WSTransport | None = None
        self.ready = False
        self.closed = False
        self.seqs: list[int] | None = [] if gen.track_seqs else None  # catch-up check
        self.last: bytes = b""
        self.received = 0
        self.others = 0  # frames that are neither payloads nor Ready (Error, presence...)

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        if not self.gen.campfire:
            self.gen.mark_ready(self)

    def on_ws_frame(self, transport: WSTransport, frame) -> None:
        if frame.msg_type != WSMsgType.TEXT:
            if frame.msg_type == WSMsgType.CLOSE:
                transport.disconnect()
            return
        data = frame.get_payload_as_bytes()
        i = data.find(MARK)
        if i >= 0:
            gen = self.gen
            gen.delivered += 1
            self.received += 1
            if self.measured and gen.recording:
                gen.latencies.append((time.monotonic_ns() - int(data[i + 3 : i + 23])) / 1e6)
            if self.seqs is not None:
                self.seqs.append(int(SEQ_RE.search(data).group(1)))
            self.last = data
        elif b'"type":"Ready"' in data:
            self.gen.mark_ready(self)
        else:
            self.others += 1
            self.last = data

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.closed = True
        self.gen.closed_count += 1

    def send(self, text: str) -> None:
        """Send one text frame."""
        if self.transport is not None and not self.closed:
            self.transport.send(WSMsgType.TEXT, text.encode())


class ChangeClient(Client):
    """A sender of the `changes` scenario: its own room, its own messages to edit and boost.

    A connection's commands are carried out one at a time, in order, so the answers (the
    echoes NewMessage, MessageUpdated, BoostAdded, or an Error) come back in send order:
    each one's latency is measured against the oldest send time still waiting.
    """

    ECHO_KINDS = ("NewMessage", "MessageUpdated", "BoostAdded")
    ECHOES = tuple(f'{{"type":"{kind}"'.encode() for kind in ECHO_KINDS)

    def __init__(self, gen: LoadGen, measured: bool = True) -> None:
        super().__init__(gen, measured)
        self.sent: deque[int] = deque()  # send times of the commands not answered yet
        self.own: deque[str] = deque(maxlen=8)  # ids of this sender's newest messages
        self.kinds = dict.fromkeys(self.ECHO_KINDS, 0)

    def on_ws_frame(self, transport: WSTransport, frame) -> None:
        if frame.msg_type != WSMsgType.TEXT:
            if frame.msg_type == WSMsgType.CLOSE:
                transport.disconnect()
            return
        data = frame.get_payload_as_bytes()
        if data.startswith(b'{"type":"Ready"'):
            self.gen.mark_ready(self)
            return
        if not self.sent:
            self.others += 1
            return
        sent_at = self.sent.popleft()
        gen = self.gen
        if not data.startswith(self.ECHOES):
            self.others += 1  # an Error answers its command too
            self.last = data
            return
        gen.delivered += 1
        self.received += 1
        if self.measured and gen.recording:
            gen.latencies.append((time.monotonic_ns() - sent_at) / 1e6)
        kind = data[9 : data.index(b'"', 9)].decode()
        self.kinds[kind] += 1
        if kind == "NewMessage":
            self.own.append(ID_RE.search(data).group(1).decode())

    def command(self, room_id: str, n: int, pad: int) -> str:
        """The n-th command: half new messages, a quarter edits, a quarter boosts."""
        self.sent.append(time.monotonic_ns())
        if n % 4 == 1 and self.own:
            return json.dumps(
                {
                    "type": "UpdateMessage",
                    "message_id": self.own[-1],
                    "content": f"edited {n} " + "x" * pad,
                }
            )
        if n % 4 == 3 and self.own:
            # A different word each time, on one of the newest messages: well within the
            # limit of boosts per person and message.
            target = self.own[n // 4 % len(self.own)]
            return json.dumps({"type": "AddBoost", "message_id": target, "content": f"+{n}"})
        return json.dumps(
            {
                "type": "CreateMessage",
                "room_id": room_id,
                "content": f"message {n} " + "x" * pad,
                "client_message_id": str(uuid.uuid4()),
            }
        )


def small_rcvbuf_socket(parsed_url) -> socket.socket:
    """A client socket with a tiny receive buffer, so a paused reader backs up at once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
    sock.setblocking(False)
    return sock


class LoadGen:
    """Connections, pacing and the figures of one scenario against one server."""

    def __init__(self, cfg: dict) -> None:
        self.cfg = cfg
        self.campfire = cfg["kind"] != "baseline"  # one process or several workers
        self.url = cfg["url"]
        self.pid = cfg["pid"]
        # Every process that is the server's (one, or a supervisor, its workers and Redis).
        self.processes: dict[str, int] = cfg.get("processes") or {"server": self.pid}
        self.workers = {n: pid for n, pid in self.processes.items() if n.startswith("worker")}
        self.port = int(self.url.rsplit(":", 1)[1].split("/", 1)[0])
        self.room_id = cfg.get("room_id") or str(uuid.uuid4())
        self.delivered = 0
        self.recording = False
        self.latencies: list[float] = []
        self.closed_count = 0
        self.track_seqs = False
        self._waiting_ready = 0
        self._all_ready: asyncio.Event | None = None

    # the server's processes

    def cpu_by_process(self) -> dict[str, float]:
        """CPU seconds so far of each of the server's processes."""
        return {name: cpu_seconds(pid) for name, pid in self.processes.items()}

    def server_cpu(self) -> float:
        """CPU seconds so far of all the server's processes together."""
        return sum(self.cpu_by_process().values())

    def server_rss(self) -> int:
        """Resident memory (KiB) of all the server's processes together."""
        return sum(rss_kb(pid) for pid in self.processes.values())

    def spread(self) -> dict:
        """With several workers: the connections each holds, and the largest / the smallest."""
        if not self.workers:
            return {}
        held = procs.connections_per_pid(self.workers.values(), self.port)
        counts = {name: held[pid] for name, pid in self.workers.items()}
        return {
            "per_worker": counts,
            "spread_ratio": max(counts.values()) / max(min(counts.values()), 1),
        }

    # connections

    def mark_ready(self, client: Client) -> None:
        """A client is live (Campfire: its Ready frame came; baseline: it connected)."""
        if not client.ready:
            client.ready = True
            self._waiting_ready -= 1
            if self._waiting_ready <= 0 and self._all_ready is not None:
                self._all_ready.set()

    async def connect(
        self,
        token: str | None,
        measured: bool = True,
        slow: bool = False,
        client_class: type[Client] | None = None,
    ) -> Client:
        """Open one connection (Campfire: with ?token=)."""
        url = f"{self.url}?token={token}" if self.campfire else self.url
        transport, client = await ws_connect(
            lambda: (client_class or Client)(self, measured),
            url,
            read_buffer_init_size=2048,
            websocket_handshake_timeout=60,
            socket_factory=small_rcvbuf_socket if slow else None,
        )
        if client.transport is not transport:
            # picows returns a connection dropped during its handshake as if it had
            # succeeded, without either callback: say so rather than wait for its Ready.
            raise ConnectionResetError(f"{url.split('?')[0]}: closed during the handshake")
        return client

    async def connect_many(
        self, n: int, tokens: list[str], parallel: int = 100, measured: bool = True
    ) -> list[Client]:
        """Open n connections, tokens round-robin, and wait until every one is ready."""
        self._waiting_ready = n
        self._all_ready = asyncio.Event()
        sem = asyncio.Semaphore(parallel)

        async def one(i: int) -> Client:
            async with sem:
                return await self.connect(tokens[i % len(tokens)] if tokens else None, measured)

        clients = await asyncio.gather(*(one(i) for i in range(n)))
        if n:
            await asyncio.wait_for(self._all_ready.wait(), timeout=120)
        self._all_ready = None
        return list(clients)

    @staticmethod
    async def close_all(clients: list[Client]) -> None:
        """Disconnect every client and give the server a moment to see it."""
        for client in clients:
            if client.transport is not None and not client.closed:
                client.transport.disconnect()
        await asyncio.sleep(0.2)

    # payloads

    def payload(self, pad: int, content_prefix: str = "") -> str:
        """A frame carrying its send time: a CreateMessage, or for the baseline a frame the
        same size as the NewMessage Campfire would send out."""
        content = f"{content_prefix}{MARK.decode()}{time.monotonic_ns():020d} " + "x" * pad
        if self.campfire:
            return json.dumps(
                {
                    "type": "CreateMessage",
                    "room_id": self.room_id,
                    "content": content,
                    "client_message_id": str(uuid.uuid4()),
                }
            )
        return json.dumps(
            {
                "type": "NewMessage",
                "message": {
                    "id": str(uuid.uuid4()),
                    "room_id": self.room_id,
                    "creator_id": str(uuid.uuid4()),
                    "content": content,
                    "client_message_id": str(uuid.uuid4()),
                    "created_at": "2026-01-01T00:00:00.000000Z",
                    "seq": 1000000,
                },
            }
        )

    async def paced(
        self,
        senders: list[Client],
        rate: float,
        count: int,
        pad: int,
        room_ids: list[str] | None = None,
        make: Callable[[Client, int], str] | None = None,
    ) -> None:
        """Send `count` payloads at `rate` per second in total, round-robin over senders
        (`make(sender, n)` builds the n-th frame instead of a plain payload)."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        sent = 0
        while sent < count:
            due = min(count, int((loop.time() - start) * rate) + 1)
            while sent < due:
                k = sent % len(senders)
                if room_ids:
                    self.room_id = room_ids[k]
                senders[k].send(make(senders[k], sent) if make else self.payload(pad))
                sent += 1
            if sent < count:
                await asyncio.sleep(max(0.0, start + sent / rate - loop.time()))

    async def wait_delivered(self, target: int, timeout: float) -> None:
        """Wait until `target` payloads were delivered in all, or the timeout."""
        deadline = time.monotonic() + timeout
        while self.delivered < target and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    def lat(self, expected: int) -> dict:
        """Latency percentiles (ms) of what was recorded; missing deliveries count as infinite."""
        lats = self.latencies
        return {
            "p50_ms": percentile(lats, 50, expected),
            "p99_ms": percentile(lats, 99, expected),
            "max_ms": max(lats) if lats else math.nan,
            "samples": len(lats),
            "expected": expected,
        }


# --- scenarios ---------------------------------------------------------------------------


async def fanout(gen: LoadGen, cfg: dict) -> dict:
    """N clients in one room, one sender at a steady rate: server CPU per delivery."""
    n, rate, secs, pad = cfg["clients"], cfg["rate"], cfg["seconds"], cfg["pad"]
    clients = await gen.connect_many(n, cfg.get("tokens", []))
    sender = await gen.connect(cfg.get("sender_token"), measured=False)
    await asyncio.sleep(0.5)
    await gen.paced([sender], rate, int(rate), pad)  # one second of warm-up
    await gen.wait_delivered(int(rate) * (n + 1), 5)
    await asyncio.sleep(0.5)
    count = int(rate * secs)
    spread = gen.spread()
    gen.delivered, gen.latencies, gen.recording = 0, [], True
    cpu0, t0 = gen.cpu_by_process(), time.monotonic()
    await gen.paced([sender], rate, count, pad)
    await gen.wait_delivered(count * (n + 1), 5)
    cpu1, t1 = gen.cpu_by_process(), time.monotonic()
    gen.recording = False
    rss = gen.server_rss()
    await gen.close_all([*clients, sender])
    by_process = {name: cpu1[name] - cpu0[name] for name in cpu0}
    cpu = sum(by_process.values())
    return {
        "deliveries": gen.delivered,
        "expected": count * (n + 1),
        "cpu_s": cpu,
        "wall_s": t1 - t0,
        "cpu_util": cpu / (t1 - t0),
        "cpu_us_per_delivery": cpu / max(gen.delivered, 1) * 1e6,
        "cpu_s_by_process": by_process,
        "rss_kb": rss,
        **spread,
        **gen.lat(count * n),
    }


async def latency(gen: LoadGen, cfg: dict) -> dict:
    """N clients, one broadcast per second: end-to-end latency percentiles."""
    n, count, pad = cfg["clients"], cfg["count"], cfg["pad"]
    t0 = time.monotonic()
    clients = await gen.connect_many(n, cfg.get("tokens", []))
    connect_s = time.monotonic() - t0
    sender = await gen.connect(cfg.get("sender_token"), measured=False)
    await asyncio.sleep(1.0)
    gen.latencies, gen.recording = [], True
    await gen.paced([sender], 1.0, count, pad)
    await asyncio.sleep(1.5)
    gen.recording = False
    rss = rss_kb(gen.pid)
    await gen.close_all([*clients, sender])
    return {"connect_s": connect_s, "rss_kb": rss, **gen.lat(count * n)}


async def ingest(gen: LoadGen, cfg: dict) -> dict:
    """Many senders, each in its own room: messages committed per second, send-to-echo latency."""
    senders_cfg, rate, secs, pad = cfg["senders"], cfg["rate"], cfg["seconds"], cfg["pad"]
    senders = [await gen.connect(s["token"]) for s in senders_cfg]
    room_ids = [s["room_id"] for s in senders_cfg]
    for client in senders:
        client.ready = True
    await gen.paced(senders, rate / 4, int(rate / 4), pad, room_ids)  # warm-up
    await gen.wait_delivered(int(rate / 4), 10)
    await asyncio.sleep(0.5)
    count = int(rate * secs)
    gen.delivered, gen.latencies, gen.recording = 0, [], True
    cpu0, t0 = gen.cpu_by_process(), time.monotonic()
    await gen.paced(senders, rate, count, pad, room_ids)
    sent_s = time.monotonic() - t0
    await gen.wait_delivered(count, 30)
    t1 = time.monotonic()
    cpu1 = gen.cpu_by_process()
    gen.recording = False
    errors = sum(c.others for c in senders)
    by_process = {name: cpu1[name] - cpu0[name] for name in cpu0}
    await gen.close_all(senders)
    return {
        "offered_per_s": count / sent_s,
        "committed": gen.delivered,
        "committed_per_s": gen.delivered / (t1 - t0),
        "errors": errors,
        "cpu_us_per_message": sum(by_process.values()) / max(gen.delivered, 1) * 1e6,
        "cpu_s_by_process": by_process,
        **gen.lat(count),
    }


async def changes(gen: LoadGen, cfg: dict) -> dict:
    """Like ingest, but a mix: half new messages, a quarter edits, a quarter boosts, each
    sender in its own room. Changes share the messages' group commit: a change should cost
    about what a message costs (compare cpu_us_per_op with ingest's cpu_us_per_message)."""
    senders_cfg, rate, secs, pad = cfg["senders"], cfg["rate"], cfg["seconds"], cfg["pad"]
    senders = [await gen.connect(s["token"], client_class=ChangeClient) for s in senders_cfg]
    room_ids = [s["room_id"] for s in senders_cfg]
    for client in senders:
        client.ready = True

    def make(client: Client, n: int) -> str:
        return client.command(gen.room_id, n // len(senders), pad)

    await gen.paced(senders, rate / 4, int(rate / 4), pad, room_ids, make)  # warm-up
    await gen.wait_delivered(int(rate / 4), 10)
    await asyncio.sleep(0.5)
    for client in senders:
        client.kinds = dict.fromkeys(client.kinds, 0)
    count = int(rate * secs)
    gen.delivered, gen.latencies, gen.recording = 0, [], True
    cpu0, t0 = gen.server_cpu(), time.monotonic()
    await gen.paced(senders, rate, count, pad, room_ids, make)
    sent_s = time.monotonic() - t0
    await gen.wait_delivered(count, 30)
    t1 = time.monotonic()
    cpu1 = gen.server_cpu()
    gen.recording = False
    errors = sum(c.others for c in senders)
    kinds = {k: sum(c.kinds[k] for c in senders) for k in ChangeClient.ECHO_KINDS}
    await gen.close_all(senders)
    return {
        "offered_per_s": count / sent_s,
        "committed": gen.delivered,
        "committed_per_s": gen.delivered / (t1 - t0),
        "by_kind": kinds,
        "errors": errors,
        "cpu_us_per_op": (cpu1 - cpu0) / max(gen.delivered, 1) * 1e6,
        **gen.lat(count),
    }


async def idle(gen: LoadGen, cfg: dict) -> dict:
    """N idle connections: server RSS per connection."""
    n = cfg["clients"]
    rss0 = gen.server_rss()
    t0 = time.monotonic()
    clients = await gen.connect_many(n, cfg.get("tokens", []), parallel=200)
    connect_s = time.monotonic() - t0
    await asyncio.sleep(2.0)
    rss1 = gen.server_rss()
    spread = gen.spread()
    await gen.close_all(clients)
    return {
        "clients": n,
        "connect_s": connect_s,
        "rss_before_kb": rss0,
        "rss_after_kb": rss1,
        "kb_per_connection": (rss1 - rss0) / n,
        **spread,
    }


async def reconnect(gen: LoadGen, cfg: dict) -> dict:
    """N clients drop, messages are posted, all reconnect at once: time until all caught up."""
    n, missed, pad = cfg["clients"], cfg["missed"], cfg["pad"]
    tokens = cfg.get("tokens", [])
    clients = await gen.connect_many(n, tokens, parallel=200)
    result: dict = {"clients": n}
    if gen.campfire:
        sender = await gen.connect(cfg["sender_token"], measured=False)
        sender.seqs = []
        await gen.paced([sender], 100, 1, pad)
        await gen.wait_delivered(n + 1, 10)
        mark_id = ID_RE.search(sender.last).group(1).decode()
        # One last-seen mark per user; the bogus frame after it answers once the mark is stored.
        markers = clients[: len(tokens)]
        for client in markers:
            client.others = 0
            client.send(json.dumps({"type": "UpdateLastSeen", "message_id": mark_id}))
            client.send('{"type":"Barrier"}')
        while sum(c.others for c in markers) < len(markers):
            await asyncio.sleep(0.02)
    await gen.close_all(clients)
    while gen.closed_count < n:
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.5)
    if gen.campfire:
        sender.seqs = []
        gen.delivered = 0
        await gen.paced([sender], 200, missed, pad)
        await gen.wait_delivered(missed, 10)
    # The storm: everyone reconnects while messages keep coming.
    gen.delivered = 0
    live = (
        asyncio.create_task(gen.paced([sender], cfg["live_rate"], 10**6, pad))
        if gen.campfire
        else None
    )
    t0, server0, own0 = time.monotonic(), cpu_seconds(gen.pid), time.process_time()
    gen.track_seqs = True
    new_clients = await gen.connect_many(n, tokens, parallel=200)
    gen.track_seqs = False
    storm_s = time.monotonic() - t0
    result["storm_s"] = storm_s
    # Which side the storm's time went to: a busy load generator would be the bottleneck.
    result["server_cpu_share"] = (cpu_seconds(gen.pid) - server0) / storm_s
    result["loadgen_cpu_share"] = (time.process_time() - own0) / storm_s
    if gen.campfire:
        live.cancel()
        # Wait until every frame sent has come back to the sender and reached every client.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            last = max([c.seqs[-1] for c in new_clients if c.seqs] + sender.seqs[-1:])
            if (
                sender.seqs
                and sender.seqs[-1] == last
                and all(c.seqs and c.seqs[-1] == last for c in new_clients)
            ):
                break
        expected = sender.seqs
        gaps = dups = bad = 0
        where: dict[int, int] = {}  # position in the expected list of each missing message
        for client in new_clients:
            got = client.seqs or []
            if got != expected:
                bad += 1
                dups += len(got) - len(set(got))
                lost = set(expected) - set(got)
                if bad == 1:
                    result["first_wrong"] = {"got": got[:100], "expected": expected[:100]}
                gaps += len(lost)
                for seq in lost:
                    where[expected.index(seq)] = where.get(expected.index(seq), 0) + 1
        result["missing_positions"] = dict(sorted(where.items())[:10])
        result.update(
            {
                "missed": missed,
                "expected_per_client": len(expected),
                "clients_wrong": bad,
                "gaps": gaps,
                "duplicates": dups,
            }
        )
        await gen.close_all([sender])
    await gen.close_all(new_clients)
    return result


async def slow(gen: LoadGen, cfg: dict) -> dict:
    """A busy room where one client stops reading: the others' p99 before and after."""
    n, rate, pad, phase, cap = cfg["clients"], cfg["rate"], cfg["pad"], cfg["phase_s"], cfg["max_s"]
    tokens = cfg.get("tokens", [])
    clients = await gen.connect_many(n, tokens)
    gen._waiting_ready, gen._all_ready = 1, asyncio.Event()
    laggard = await gen.connect(tokens[0] if tokens else None, measured=False, slow=True)
    await asyncio.wait_for(gen._all_ready.wait(), 30)
    senders = [
        await gen.connect(cfg.get("sender_token"), measured=False)
        for _ in range(cfg.get("sender_count", 1))
    ]
    await asyncio.sleep(0.5)
    await gen.paced(senders, rate, int(rate / 2), pad)  # warm-up
    await asyncio.sleep(0.5)
    gen.latencies, gen.recording = [], True
    count = int(rate * phase)
    await gen.paced(senders, rate, count, pad)
    await asyncio.sleep(0.5)
    before = gen.lat(count * n)
    # The laggard stops reading; the sender keeps going until it is cut off (or the cap).
    laggard.transport.underlying_transport.pause_reading()
    laggard_before = laggard.received
    gen.latencies = []
    rss0 = peak = rss_kb(gen.pid)
    # A paused reader cannot see its own close (the FIN waits behind the unread bytes), so
    # the cut is seen where it happens: the server closes that socket's descriptor.
    fds0 = open_fds(gen.pid)
    t0 = time.monotonic()
    sending = asyncio.create_task(gen.paced(senders, rate, int(rate * cap), pad))
    cut_at = None
    while time.monotonic() - t0 < cap:
        await asyncio.sleep(0.25)
        peak = max(peak, rss_kb(gen.pid))
        if cut_at is None and open_fds(gen.pid) < fds0:
            cut_at = time.monotonic() - t0
        if cut_at is not None and time.monotonic() - t0 > max(cut_at + phase, phase * 2):
            break
    sending.cancel()
    sent = round((time.monotonic() - t0) * rate)
    await asyncio.sleep(1.0)
    gen.recording = False
    after = gen.lat(min(sent, int(rate * cap)) * n)
    cut_off = cut_at is not None
    await gen.close_all(clients + senders + [laggard])
    return {
        "before": before,
        "after": after,
        "p99_ratio": after["p99_ms"] / before["p99_ms"] if before["p99_ms"] else math.nan,
        "slow_disconnected": cut_off,
        "disconnected_after_s": cut_at,
        "rss_growth_kb": peak - rss0,
        "laggard_read_after_pause": laggard.received - laggard_before,
    }


async def uploads(gen: LoadGen, cfg: dict) -> dict:
    """A steady chat in one room measured alone, then beside concurrent uploads (a separate
    process, files_scenarios.py, on this core too): the chat's p99 in each window, same run."""
    n, rate, phase, pad = cfg["clients"], cfg["rate"], cfg["phase_s"], cfg["pad"]
    clients = await gen.connect_many(n, cfg.get("tokens", []))
    sender = await gen.connect(cfg.get("sender_token"), measured=False)
    await asyncio.sleep(0.5)
    await gen.paced([sender], rate, int(rate), pad)  # warm-up
    await asyncio.sleep(0.5)

    async def window() -> dict:
        """`phase` seconds of chat; its latencies and the server's CPU use."""
        gen.latencies, gen.recording = [], True
        count = int(rate * phase)
        cpu0, t0 = gen.server_cpu(), time.monotonic()
        await gen.paced([sender], rate, count, pad)
        await asyncio.sleep(0.5)  # the last message's deliveries
        gen.recording = False
        return {
            **gen.lat(count * n),
            "server_cpu_util": (gen.server_cpu() - cpu0) / (time.monotonic() - t0),
        }

    alone = await window()
    # The uploaders (another process, steered over its stdin and stdout) start; once every
    # one is under way the chat's second window runs, with uploads going on all through it.
    senders = cfg["senders"]
    job = {
        "scenario": "uploaders",
        "port": gen.port,
        "uploaders": [senders[i % len(senders)] for i in range(cfg["uploaders"])],
        "mb": cfg["mb"],
        "mb_per_s": cfg.get("mb_per_s", 0),
    }
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "files_scenarios.py")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        script,
        json.dumps(job),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 60)
    if line.strip() != b"under way":
        raise RuntimeError(f"uploaders did not start: {line!r} {await proc.stderr.read()!r}")
    proc.stdin.write(b"start\n")
    await proc.stdin.drain()
    beside = await window()
    proc.stdin.write(b"stop\n")
    await proc.stdin.drain()
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"uploaders failed:\n{err.decode()[-3000:]}")
    up = json.loads(out.decode().strip().splitlines()[-1])
    await gen.close_all([*clients, sender])
    return {
        "alone": alone,
        "beside": beside,
        "p99_ratio": beside["p99_ms"] / alone["p99_ms"] if alone["p99_ms"] else math.nan,
        "uploads": up,
    }


SCENARIOS = {
    "fanout": fanout,
    "latency": latency,
    "ingest": ingest,
    "changes": changes,
    "idle": idle,
    "reconnect": reconnect,
    "slow": slow,
    "uploads": uploads,
}


def main() -> None:
    """Run one scenario from a JSON config and print its figures as one JSON line."""
    cfg = json.loads(sys.argv[1])
    gen = LoadGen(cfg)
    # No collector pauses inside a measurement: this process lives for one scenario only.
    gc.disable()
    result = uvloop.run(SCENARIOS[cfg["scenario"]](gen, cfg))
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
