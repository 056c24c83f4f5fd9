"""Shared by the fault scripts and tests/test_faults.py: a real `campfire serve` process and load.

Everything talks to 127.0.0.1 only, and every loop is bounded in time.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

CLI = [sys.executable, "-m", "campfire"]
PASSWORD = "correct horse battery"


def free_port() -> int:
    """A port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(env: dict, *args: str) -> str:
    """Run one `campfire` command; its stdout (fails loudly with its stderr)."""
    done = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"campfire {' '.join(args)} failed: {done.stderr}")
    return done.stdout.strip()


@dataclass
class World:
    """A database with some users (one token each) and one open room, made through the CLI."""

    env: dict
    port: int
    tokens: list[str]
    room_id: str

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def make_world(directory: Path, users: int = 3, **settings: object) -> World:
    """Create the database with `campfire user add`, `token issue` and `room add`."""
    port = free_port()
    env = {**os.environ, "CAMPFIRE_DB": str(directory / "campfire.db"), "CAMPFIRE_PORT": str(port)}
    for name, value in settings.items():
        env["CAMPFIRE_" + name.upper()] = str(value)
    room_id = cli(env, "room", "add", "load", "--type", "open")
    tokens = []
    for i in range(users):
        email = f"user{i}@example.com"
        admin = ["--admin"] if i == 0 else []  # user0 is an administrator
        cli(env, "user", "add", email, "--name", f"User {i}", "--password", PASSWORD, *admin)
        tokens.append(cli(env, "token", "issue", email))
    return World(env, port, tokens, room_id)


class Server:
    """One `campfire serve` subprocess; its log (stderr) goes to a file."""

    def __init__(self, world: World, log_path: Path) -> None:
        self.world = world
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    async def start(self, *flags: str, timeout: float = 20.0, preexec_fn=None) -> None:
        """Start `campfire serve [flags]` and wait until /health answers."""
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [*CLI, "serve", *flags],
            env=self.world.env,
            stdout=log,
            stderr=log,
            preexec_fn=preexec_fn,  # e.g. a lower RLIMIT_NOFILE for the process
        )
        log.close()
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log()}")
                try:
                    async with session.get(self.world.base + "/health") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise RuntimeError("server did not become healthy: " + self.log())

    def signal(self, sig: int) -> None:
        """Send a signal (SIGKILL, SIGTERM) to the server."""
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def wait(self, timeout: float = 15.0) -> int:
        """Wait for the process to end; its exit code."""
        assert self.proc is not None
        return await asyncio.to_thread(self.proc.wait, timeout)

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            await self.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            await self.wait()

    def log(self) -> str:
        """Everything the server wrote to stderr so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class Sender:
    """One client sending CreateMessage as fast as the server takes them; collects echoes."""

    token: str
    acked: dict[str, str] = field(default_factory=dict)  # message id -> client_message_id
    sent: int = 0
    errors: list[dict] = field(default_factory=list)
    close_code: int | None = None


async def run_sender(
    session: aiohttp.ClientSession,
    world: World,
    sender: Sender,
    stop: asyncio.Event,
    window: int = 16,
) -> None:
    """Send with up to `window` frames in flight until `stop` is set or the socket ends."""
    ws = await session.ws_connect(f"{world.base}/ws?token={sender.token}", heartbeat=None)
    mine: set[str] = set()
    slots = asyncio.Semaphore(window)

    async def read() -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = msg.json()
            if frame["type"] == "NewMessage" and frame["message"]["client_message_id"] in mine:
                sender.acked[frame["message"]["id"]] = frame["message"]["client_message_id"]
                slots.release()
            elif frame["type"] == "Error":
                sender.errors.append(frame)
                slots.release()

    reader = asyncio.create_task(read())
    try:
        while not stop.is_set() and not ws.closed:
            try:
                await asyncio.wait_for(slots.acquire(), 0.5)
            except TimeoutError:
                continue
            cmid = str(uuid.uuid4())
            mine.add(cmid)
            try:
                await ws.send_json(
                    {
                        "type": "CreateMessage",
                        "room_id": world.room_id,
                        "content": f"load {sender.sent}",
                        "client_message_id": cmid,
                    }
                )
            except (ConnectionError, RuntimeError):
                break
            sender.sent += 1
        # Wait for the answers still in flight (or for the server to close the socket).
        drained = asyncio.gather(*(slots.acquire() for _ in range(window)))
        await asyncio.wait([reader, drained], timeout=10, return_when=asyncio.FIRST_COMPLETED)
        drained.cancel()
    except (TimeoutError, aiohttp.ClientError, ConnectionError):
        pass
    finally:
        reader.cancel()
        sender.close_code = ws.close_code
        await ws.close()


async def history(world: World, token: str, room_id: str | None = None) -> list[dict]:
    """Every message of a room, paged oldest first with after=."""
    room_id = room_id or world.room_id
    out: list[dict] = []
    after = 0
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:
        while True:
            url = f"{world.base}/api/rooms/{room_id}/messages?after={after}&limit=200"
            async with session.get(url) as resp:
                if resp.status == 429:  # the reader's allowance: wait as told, like a client
                    await asyncio.sleep(float(resp.headers["Retry-After"]))
                    continue
                assert resp.status == 200, await resp.text()
                page = await resp.json()
            out.extend(page["messages"])
            if not page["has_more"]:
                return out
            after = page["messages"][-1]["seq"]


def integrity_check(db_path: str | Path) -> str:
    """PRAGMA integrity_check of a database file (the server must not be running)."""
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def check_acked_once(acked: dict[str, str], stored: list[dict]) -> None:
    """Every acknowledged message is stored exactly once, and ids and seqs are unique."""
    ids = [m["id"] for m in stored]
    assert len(ids) == len(set(ids)), "a message id appears twice in history"
    seqs = [m["seq"] for m in stored]
    assert seqs == sorted(set(seqs)), "history is not in strictly increasing seq order"
    keys = [m["client_message_id"] for m in stored]
    assert len(keys) == len(set(keys)), "a client_message_id was stored twice"
    missing = set(acked) - set(ids)
    assert not missing, f"{len(missing)} acknowledged messages are missing after restart"


async def crash_round(
    world: World, server: Server, clients: int, seconds: float
) -> tuple[int, int]:
    """Load for `seconds`, SIGKILL, restart, check; (acknowledged, stored) counts."""
    await server.start()
    senders = [Sender(world.tokens[i % len(world.tokens)]) for i in range(clients)]
    stop = asyncio.Event()
    async with aiohttp.ClientSession() as session:
        tasks = [asyncio.create_task(run_sender(session, world, s, stop)) for s in senders]
        await asyncio.sleep(seconds)
        server.signal(signal.SIGKILL)
        await server.wait()
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert integrity_check(world.env["CAMPFIRE_DB"]) == "ok"
    acked = {k: v for s in senders for k, v in s.acked.items()}
    await server.start()
    stored = await history(world, world.tokens[0])
    check_acked_once(acked, stored)
    await server.stop()
    assert integrity_check(world.env["CAMPFIRE_DB"]) == "ok"
    return len(acked), len(stored)


def process_usage(pid: int) -> tuple[int, int]:
    """(resident memory in MiB, open file descriptors) of a process, from /proc."""
    rss_kib = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kib = int(line.split()[1])
    return rss_kib // 1024, len(os.listdir(f"/proc/{pid}/fd"))


async def connect_all(
    session: aiohttp.ClientSession, world: World, count: int, timeout: float
) -> list[aiohttp.ClientWebSocketResponse]:
    """Open `count` sockets at once (no backoff: the worst case) and wait for each one's Ready."""

    async def one(i: int) -> aiohttp.ClientWebSocketResponse:
        ws = await session.ws_connect(
            f"{world.base}/ws?token={world.tokens[i % len(world.tokens)]}", heartbeat=None
        )
        while (await ws.receive_json())["type"] != "Ready":
            pass
        return ws

    return await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(count))), timeout)


async def reconnect_storm(world: World, server: Server, clients: int, timeout: float) -> dict:
    """Connect `clients`, restart the server, all reconnect at once; every one is served."""
    stats: dict = {}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        await server.start()
        sockets = await connect_all(session, world, clients, timeout)
        server.signal(signal.SIGTERM)
        codes = await asyncio.gather(*(_closed(ws) for ws in sockets))
        stats["closed_1001"] = codes.count(aiohttp.WSCloseCode.GOING_AWAY)
        await server.wait()
        await server.start()
        started = time.monotonic()
        sockets = await connect_all(session, world, clients, timeout)
        stats["reconnect_seconds"] = round(time.monotonic() - started, 2)
        stats["rss_mib"], stats["fds"] = process_usage(server.proc.pid)
        # Every one of them is live: one message reaches them all.
        cmid = str(uuid.uuid4())
        await sockets[0].send_json(
            {
                "type": "CreateMessage",
                "room_id": world.room_id,
                "content": "everyone back?",
                "client_message_id": cmid,
            }
        )
        got = await asyncio.wait_for(
            asyncio.gather(*(_next_message(ws) for ws in sockets)), timeout
        )
        stats["delivered"] = sum(1 for m in got if m["client_message_id"] == cmid)
        for ws in sockets:
            await ws.close()
    await server.stop()
    return stats


async def _closed(ws: aiohttp.ClientWebSocketResponse) -> int | None:
    """Read until the socket closes; its close code."""
    async for _ in ws:
        pass
    return ws.close_code


async def _next_message(ws: aiohttp.ClientWebSocketResponse) -> dict:
    """The next NewMessage's message."""
    while True:
        frame = await ws.receive_json()
        if frame["type"] == "NewMessage":
            return frame["message"]


def clone_world(world: World, directory: Path, **settings: object) -> World:
    """A copy of a stopped world's database in `directory`, on a new port, with other settings."""
    import shutil

    db = directory / "campfire.db"
    shutil.copyfile(world.env["CAMPFIRE_DB"], db)
    port = free_port()
    env = {**world.env, "CAMPFIRE_DB": str(db), "CAMPFIRE_PORT": str(port)}
    for name, value in settings.items():
        env["CAMPFIRE_" + name.upper()] = str(value)
    return World(env, port, list(world.tokens), world.room_id)


# --- several workers and Redis (tests/test_scale_workers.py) -----------------------------


class RedisServer:
    """A private `redis-server` on a free port, in a directory of its own (no persistence)."""

    def __init__(self, directory: Path, binary: str = "redis-server") -> None:
        self.directory = directory
        self.binary = binary
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        """Start it (again, on the same port) and wait until it answers PING."""
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def signal(self, sig: int) -> None:
        """SIGKILL, SIGSTOP, SIGCONT..."""
        assert self.proc is not None
        self.proc.send_signal(sig)
        if sig == signal.SIGKILL:
            self.proc.wait(5)

    def stop(self) -> None:
        """Stop it for good (continuing it first if it was frozen)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(5)


def child_pids(pid: int) -> list[int]:
    """The direct children of a process (a supervisor's workers), from /proc."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with open(task / "children") as fh:
            found += [int(p) for p in fh.read().split()]
    return sorted(found)


def _socket_inodes(pid: int) -> set[str]:
    """The inodes of the sockets a process holds open."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def worker_of(client_port: int, server_port: int, pids: list[int]) -> int | None:
    """Which of these processes holds the server side of the TCP connection from client_port."""
    wanted = f"0100007F:{server_port:04X}"
    peer = f"0100007F:{client_port:04X}"
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        if parts[1] == wanted and parts[2] == peer:
            inode = parts[9]
    if inode is None:
        return None
    for pid in pids:
        if inode in _socket_inodes(pid):
            return pid
    return None
