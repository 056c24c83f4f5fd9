"""Several workers on one box (`campfire serve --workers 2 --redis ...`): real processes, a
private redis-server, real sockets. Each test says what a fault does to delivery.

redis-server comes from Debian's package (.ci/run installs it); missing, these tests fail in
CI and are skipped elsewhere. Intervals are short settings so the suite stays quick.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import signal
import time
import uuid
from pathlib import Path

import aiohttp
import aiohttp.web
import pytest
from clusterutil import redis_server  # noqa: F401 (the `redis` fixture)

from scripts.faults.harness import (
    RedisServer,
    Server,
    check_acked_once,
    child_pids,
    clone_world,
    history,
    make_world,
    worker_of,
)

FAST = {
    "user_messages_per_second": 1000,
    "user_messages_burst": 1000,
    "ws_messages_per_second": 1000,
    "ws_burst": 1000,
    "relay_check_interval": 0.5,
    "redis_probe_interval": 0.5,
    "redis_stall_seconds": 1.5,
    "worker_recheck_interval": 0.5,
}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory):
    """Users, tokens and a room made once through the CLI (seconds), copied by each test."""
    return make_world(tmp_path_factory.mktemp("scale"), users=3)


@contextlib.asynccontextmanager
async def serving(tmp_path: Path, redis: RedisServer, template, **settings: object):
    """A world served by 2 workers sharing the database and Redis (FAST, then `settings`)."""
    world = clone_world(template, tmp_path, redis_url=redis.url, workers=2, **{**FAST, **settings})
    server = Server(world, tmp_path / "server.log")
    await server.start()
    try:
        yield world, server
    finally:
        await server.stop()


@pytest.fixture
async def cluster(tmp_path: Path, redis: RedisServer, template):
    """A world served by 2 workers sharing the database and Redis."""
    async with serving(tmp_path, redis, template) as running:
        yield running


class Client:
    """One WebSocket client on a known worker, recording what it receives."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, pid: int) -> None:
        self.ws = ws
        self.pid = pid
        self.frames: list[dict] = []
        self.arrived: dict[str, float] = {}  # message id -> when its NewMessage came
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                frame = msg.json()
                self.frames.append(frame)
                if frame["type"] == "NewMessage":
                    self.arrived.setdefault(frame["message"]["id"], time.monotonic())

    def messages(self) -> list[dict]:
        """The NewMessage frames' messages, in arrival order."""
        return [f["message"] for f in self.frames if f["type"] == "NewMessage"]

    def of(self, kind: str) -> list[dict]:
        """The frames of one type."""
        return [f for f in self.frames if f["type"] == kind]

    async def close(self) -> None:
        """Close the socket and stop reading."""
        await self.ws.close()
        self.reader.cancel()


async def workers(server: Server, count: int = 2, timeout: float = 20.0) -> list[int]:
    """The worker pids once `count` are running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = child_pids(server.proc.pid)
        if len(pids) == count:
            return pids
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {count} workers, got {child_pids(server.proc.pid)}")


async def connect_on(
    session: aiohttp.ClientSession, world, token: str, pid: int, pids: list[int]
) -> Client:
    """Open sockets until one lands on worker `pid` (the kernel picks; a few tries do)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        ws = await session.ws_connect(f"{world.base}/ws?token={token}", heartbeat=None)
        port = ws.get_extra_info("sockname")[1]
        owner = worker_of(port, world.port, pids)
        if owner == pid:
            first = await ws.receive_json(timeout=5)
            client = Client(ws, pid)
            client.frames.append(first)
            await until(lambda c=client: c.of("Ready"))
            return client
        await ws.close()
        await asyncio.sleep(0.01)
    raise AssertionError(f"no connection landed on worker {pid}")


async def until(check, timeout: float = 10.0, what: str = "condition") -> None:
    """Wait until check() is true."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def post(session: aiohttp.ClientSession, world, token: str, content: str) -> dict | None:
    """POST one message over HTTP; the stored message, or None if it was refused."""
    url = f"{world.base}/api/rooms/{world.room_id}/messages"
    body = {"content": content, "client_message_id": str(uuid.uuid4())}
    try:
        async with session.post(
            url, json=body, headers={"Authorization": f"Bearer {token}"}
        ) as resp:
            if resp.status in (200, 201):
                return await resp.json()
    except aiohttp.ClientError:
        pass
    return None


async def flood(
    session,
    world,
    tokens: list[str],
    stop: asyncio.Event,
    pause: float = 0.0,
    acks: dict[str, float] | None = None,
) -> list[dict]:
    """Post from several users until stopped (as fast as the server answers, or with a
    pause between posts); the acknowledged messages, and into `acks` when each was."""
    acked: list[dict] = []

    async def one(token: str, n: int) -> None:
        i = 0
        while not stop.is_set():
            message = await post(session, world, token, f"flood {n}-{i}")
            if message is not None:
                message = message.get("message", message)
                acked.append(message)
                if acks is not None:
                    acks[message["id"]] = time.monotonic()
            i += 1
            if pause:
                await asyncio.sleep(pause)

    await asyncio.gather(*(one(t, n) for n, t in enumerate(tokens)))
    return acked


def check_stream(client: Client, stored: list[dict]) -> None:
    """The client got every stored message once, in sequence order: 0 lost, gaps, dups."""
    got = [m["seq"] for m in client.messages()]
    assert len(got) == len(set(got)), f"duplicates at the client on worker {client.pid}"
    assert got == sorted(got), f"reordered at the client on worker {client.pid}"
    first = got[0] if got else 0
    expected = [m["seq"] for m in stored if m["seq"] >= first]
    missing = sorted(set(expected) - set(got))
    assert not missing, f"{len(missing)} messages never reached the client on {client.pid}"


async def test_messages_reach_every_worker_in_order_and_catch_up(cluster) -> None:
    """A client on each worker sees every message of both, in order, once; a client that
    comes back on the other worker catches up from its mark."""
    world, server = cluster
    pids = await workers(server)
    async with aiohttp.ClientSession() as session:
        a = await connect_on(session, world, world.tokens[1], pids[0], pids)
        b = await connect_on(session, world, world.tokens[2], pids[1], pids)
        sender_a = await connect_on(session, world, world.tokens[0], pids[0], pids)
        sender_b = await connect_on(session, world, world.tokens[0], pids[1], pids)
        for sender in (sender_a, sender_b):
            await sender.ws.send_json({"type": "JoinRoom", "room_id": world.room_id})
        for i in range(60):
            for n, sender in enumerate((sender_a, sender_b)):
                await sender.ws.send_json(
                    {
                        "type": "CreateMessage",
                        "room_id": world.room_id,
                        "content": f"m{i}-{n}",
                        "client_message_id": str(uuid.uuid4()),
                    }
                )
        await until(lambda: len(a.messages()) >= 120 and len(b.messages()) >= 120)
        stored = await history(world, world.tokens[0])
        assert len(stored) == 120
        for client in (a, b):
            check_stream(client, stored)
            assert [m["id"] for m in client.messages()] == [m["id"] for m in stored]
        # Catch-up across workers: b marks what it saw, leaves, misses 10, comes back on a's.
        await b.ws.send_json({"type": "UpdateLastSeen", "message_id": stored[-1]["id"]})
        await asyncio.sleep(0.3)
        await b.close()
        for i in range(10):
            assert await post(session, world, world.tokens[0], f"missed {i}")
        back = await connect_on(session, world, world.tokens[2], pids[0], pids)
        caught = back.messages()  # received before Ready: the catch-up
        assert [m["content"] for m in caught] == [f"missed {i}" for i in range(10)]
        await asyncio.sleep(0.5)
        assert len(back.messages()) == 10, "a caught-up message came again live"
        for client in (a, back, sender_a, sender_b):
            await client.close()


@pytest.mark.parametrize("outage", [2, 30])
async def test_redis_killed_under_flood_loses_nothing(cluster, redis, outage: int) -> None:
    """Redis SIGKILLed for 2 s, and for 30 s, under a flood: every acknowledged message
    reaches the clients of both workers once, in order; delivery goes on meanwhile (polling
    the database) and from Redis again within 2 s of its return."""
    world, server = cluster
    pids = await workers(server)
    async with aiohttp.ClientSession() as session:
        clients = [
            await connect_on(session, world, world.tokens[1], pids[0], pids),
            await connect_on(session, world, world.tokens[2], pids[1], pids),
        ]
        stop = asyncio.Event()
        # A light flood for the long outage: its point is the 30 s, not the volume.
        pause = 0.0 if outage < 10 else 0.02
        acks: dict[str, float] = {}
        flooding = asyncio.create_task(flood(session, world, world.tokens, stop, pause, acks))
        await asyncio.sleep(0.5)
        redis.signal(signal.SIGKILL)
        killed = time.monotonic()
        await asyncio.sleep(1.0)
        during = [len(c.messages()) for c in clients]
        await asyncio.sleep(1.0)
        assert all(len(c.messages()) > d for c, d in zip(clients, during, strict=True)), (
            "delivery stopped while Redis was down"
        )
        await asyncio.sleep(max(0.0, outage - (time.monotonic() - killed)))
        subscribed = server.log().count("subscribed to Redis")
        redis.start()
        back = time.monotonic()
        assert back - killed < outage + 2
        # Delivery through Redis resumes once both workers subscribed again.
        await until(
            lambda: server.log().count("subscribed to Redis") >= subscribed + 2,
            timeout=2.0,
            what="both workers to subscribe to Redis again within 2 s",
        )
        resubscribed = time.monotonic() - back
        await asyncio.sleep(1.0)
        stop.set()
        acked = await flooding
        stored = await history(world, world.tokens[0])
        check_acked_once({m["id"]: m["client_message_id"] for m in acked}, stored)
        await until(
            lambda: all(len(c.messages()) >= len(stored) for c in clients),
            timeout=2.0,
            what="delivery of everything within 2 s",
        )
        for client in clients:
            check_stream(client, stored)
            await client.close()
        # Acknowledgement to arrival, for messages acknowledged while Redis was down.
        late = sorted(
            client.arrived[m["id"]] - acks[m["id"]]
            for client in clients
            for m in acked
            if killed + 0.5 < acks[m["id"]] < back
        )
        p99 = late[int(len(late) * 0.99)] if late else 0.0
        print(
            f"\nRedis down {outage} s: {len(acked)} acknowledged, {len(stored)} stored;"
            f" workers subscribed again {resubscribed:.2f} s after Redis returned;"
            f" delivery while down p99 {p99:.2f} s over {len(late)} messages"
        )
    assert "Redis subscription lost" in server.log()
    assert server.log().count("subscribed to Redis") >= 4, "the workers did not resubscribe"


async def test_redis_frozen_is_detected_and_no_worker_goes_deaf(cluster, redis) -> None:
    """Redis frozen (SIGSTOP) 10 s: each worker notices within 3 s, and messages keep
    reaching the clients of both workers from the database meanwhile."""
    world, server = cluster
    pids = await workers(server)
    async with aiohttp.ClientSession() as session:
        clients = [
            await connect_on(session, world, world.tokens[1], pids[0], pids),
            await connect_on(session, world, world.tokens[2], pids[1], pids),
        ]
        mark = len(server.log())
        redis.signal(signal.SIGSTOP)
        frozen = time.monotonic()
        await until(
            lambda: server.log()[mark:].count("Redis subscription lost") >= 2,
            timeout=3.0,
            what="both workers to notice the frozen Redis",
        )
        assert time.monotonic() - frozen <= 3.0
        for i in range(5):
            assert await post(session, world, world.tokens[0], f"frozen {i}")
        await until(
            lambda: all(len(c.messages()) == 5 for c in clients),
            timeout=3.0,
            what="delivery while Redis is frozen",
        )
        await asyncio.sleep(max(0.0, 10 - (time.monotonic() - frozen)))
        redis.signal(signal.SIGCONT)
        for i in range(5):
            assert await post(session, world, world.tokens[0], f"thawed {i}")
        await until(lambda: all(len(c.messages()) == 10 for c in clients), timeout=3.0)
        stored = await history(world, world.tokens[0])
        for client in clients:
            check_stream(client, stored)
            await client.close()


async def test_worker_killed_clients_move_and_catch_up(cluster) -> None:
    """A worker SIGKILLed: its clients reconnect to the other and catch up from their mark
    with nothing lost, repeated or reordered; the supervisor starts a new worker."""
    world, server = cluster
    pids = await workers(server)
    async with aiohttp.ClientSession() as session:
        victim = await connect_on(session, world, world.tokens[1], pids[1], pids)
        other = await connect_on(session, world, world.tokens[2], pids[0], pids)
        stop = asyncio.Event()
        flooding = asyncio.create_task(flood(session, world, [world.tokens[0]], stop))
        await until(lambda: len(victim.messages()) >= 20)
        last = victim.messages()[-1]
        await victim.ws.send_json({"type": "UpdateLastSeen", "message_id": last["id"]})
        await asyncio.sleep(0.2)
        os.kill(pids[1], signal.SIGKILL)
        await until(lambda: victim.reader.done(), timeout=5, what="the victim's socket to end")
        seen = victim.messages()
        # The client's resume: everything after its mark, then live, on the other worker.
        back = await connect_on(session, world, world.tokens[1], pids[0], [pids[0]])
        await asyncio.sleep(0.5)
        stop.set()
        await flooding
        stored = await history(world, world.tokens[0])
        await until(lambda: back.messages() and back.messages()[-1]["seq"] == stored[-1]["seq"])
        resumed = back.messages()
        assert resumed[0]["seq"] > last["seq"], "the catch-up started before the mark"
        # Between the mark and the kill the client may have got some already (marks lag):
        # it skips those by seq, as the spec's clients do; nothing is missing or reordered.
        combined = [m for m in seen if m["seq"] <= last["seq"]] + resumed
        seqs = [m["seq"] for m in combined]
        assert seqs == sorted(set(seqs))
        expected = [m["seq"] for m in stored if m["seq"] >= seqs[0]]
        assert seqs == expected
        check_stream(other, stored)
        new = await workers(server)
        assert pids[1] not in new and pids[0] in new, "the supervisor did not restart the worker"
        for client in (back, other):
            await client.close()


async def test_presence_across_workers_one_user_left(cluster) -> None:
    """A user viewing a room from a tab on each worker: closing one tab announces nothing;
    closing the last announces exactly one UserLeft, to viewers on both workers."""
    world, server = cluster
    pids = await workers(server)
    room = world.room_id
    async with aiohttp.ClientSession() as session:
        watchers = [
            await connect_on(session, world, world.tokens[0], pids[0], pids),
            await connect_on(session, world, world.tokens[0], pids[1], pids),
        ]
        for w in watchers:
            await w.ws.send_json({"type": "JoinRoom", "room_id": room})
        tabs = [
            await connect_on(session, world, world.tokens[1], pids[0], pids),
            await connect_on(session, world, world.tokens[1], pids[1], pids),
        ]
        for tab in tabs:
            await tab.ws.send_json({"type": "JoinRoom", "room_id": room})
            await asyncio.sleep(0.2)
        user1 = (await whoami(session, world, world.tokens[1]))["id"]
        await until(lambda: all(user1 in last_presence(w, room) for w in watchers), what="presence")
        for w in watchers:
            assert len([f for f in w.of("UserJoined") if f["user_id"] == user1]) == 1
        await tabs[0].close()
        await asyncio.sleep(0.7)
        for w in watchers:
            assert not [f for f in w.of("UserLeft") if f["user_id"] == user1]
            assert user1 in last_presence(w, room)
        await tabs[1].close()
        await until(
            lambda: all([f for f in w.of("UserLeft") if f["user_id"] == user1] for w in watchers),
            what="UserLeft on both workers",
        )
        await asyncio.sleep(0.5)
        for w in watchers:
            assert len([f for f in w.of("UserLeft") if f["user_id"] == user1]) == 1
            assert user1 not in last_presence(w, room)
            await w.close()


async def test_removed_member_stops_receiving_on_the_other_worker(cluster) -> None:
    """An administrator removes a member on one worker; the member's socket on the other
    gets RoomRemoved and none of the room's later messages."""
    world, server = cluster
    pids = await workers(server)
    admin = {"Authorization": f"Bearer {world.tokens[0]}"}
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{world.base}/api/rooms",
            json={"name": "secret", "room_type": "closed"},
            headers=admin,
        ) as resp:
            assert resp.status in (200, 201), await resp.text()
            body = await resp.json()
            room = body.get("room", body)["id"]
        user2 = (await whoami(session, world, world.tokens[2]))["id"]
        async with session.post(
            f"{world.base}/api/rooms/{room}/members", json={"user_id": user2}, headers=admin
        ) as resp:
            assert resp.status in (200, 201, 204), await resp.text()
        member = await connect_on(session, world, world.tokens[2], pids[1], pids)
        world_room = world.room_id
        world.room_id = room
        try:
            assert await post(session, world, world.tokens[0], "before")
            await until(lambda: len(member.messages()) == 1)
            async with session.delete(
                f"{world.base}/api/rooms/{room}/members/{user2}", headers=admin
            ) as resp:
                assert resp.status in (200, 204), await resp.text()
            for i in range(20):
                assert await post(session, world, world.tokens[0], f"after {i}")
            await until(lambda: member.of("RoomRemoved"), what="RoomRemoved")
            await asyncio.sleep(1.0)
            assert [m["content"] for m in member.messages()] == ["before"]
        finally:
            world.room_id = world_room
        await member.close()


def last_presence(client: Client, room_id: str) -> list[str]:
    """The online users of the client's latest PresenceUpdate for a room."""
    updates = [f for f in client.of("PresenceUpdate") if f["room_id"] == room_id]
    return updates[-1]["online_users"] if updates else []


async def whoami(session: aiohttp.ClientSession, world, token: str) -> dict:
    """The user a token belongs to."""
    async with session.get(
        f"{world.base}/api/users/me", headers={"Authorization": f"Bearer {token}"}
    ) as resp:
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        return body.get("user", body)


def test_single_process_loads_no_redis(tmp_path: Path) -> None:
    """Without --redis, serving imports nothing of Redis (the default path is unchanged)."""
    import subprocess
    import sys

    code = (
        "import sys; from campfire.app import create_app; from campfire.config import Settings;"
        "create_app(Settings()); import campfire.cli;"
        "print([m for m in sys.modules if m == 'redis' or m.startswith(('redis.',"
        " 'campfire.realtime.broker', 'campfire.realtime.cluster'))])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert re.fullmatch(r"\[\]", out.stdout.strip())


async def send_messages(client: Client, room_id: str, count: int) -> tuple[int, int]:
    """Send `count` CreateMessage frames at once; (accepted, refused as rate-limited)."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    start = len(client.frames)
    for cmid in ids:
        await client.ws.send_json(
            {"type": "CreateMessage", "room_id": room_id, "content": "x", "client_message_id": cmid}
        )

    def answers() -> tuple[int, int]:
        frames = client.frames[start:]
        mine = set(ids)
        ok = sum(
            1
            for f in frames
            if f["type"] == "NewMessage" and f["message"]["client_message_id"] in mine
        )
        refused = sum(1 for f in frames if f["type"] == "Error" and f["code"] == "RATE_LIMITED")
        return ok, refused

    await until(lambda: sum(answers()) >= count, what="an answer to every message")
    return answers()


async def test_message_allowance_is_shared_by_a_users_tabs_on_two_workers(
    tmp_path: Path, redis: RedisServer, template
) -> None:
    """A user's tabs on two workers together get exactly the allowance (burst 10, then 0.5
    a second): not twice it, not half. With Redis gone, each worker keeps 1/2 of it."""
    async with serving(
        tmp_path, redis, template, user_messages_per_second=0.5, user_messages_burst=10
    ) as (world, server):
        pids = await workers(server)
        room = world.room_id
        async with aiohttp.ClientSession() as session:
            a = await connect_on(session, world, world.tokens[1], pids[0], pids)
            b = await connect_on(session, world, world.tokens[1], pids[1], pids)
            for tab in (a, b):
                await tab.ws.send_json({"type": "JoinRoom", "room_id": room})
            started = time.monotonic()
            assert await send_messages(a, room, 12) == (10, 2), "the burst, on the first tab"
            assert await send_messages(b, room, 2) == (0, 2), "the other tab has nothing left"
            # Over HTTP (either worker), the refusal says when to come back.
            url = f"{world.base}/api/rooms/{room}/messages"
            body = {"content": "y", "client_message_id": str(uuid.uuid4())}
            auth = {"Authorization": f"Bearer {world.tokens[1]}"}
            async with session.post(url, json=body, headers=auth) as resp:
                assert resp.status == 429
                assert 0 < float(resp.headers["Retry-After"]) <= 2
            # 0.5 a second: after 2.2 s one more (and only one), on either tab.
            await asyncio.sleep(2.2)
            assert time.monotonic() - started < 3.8, "too slow to count exactly"
            assert await send_messages(b, room, 2) == (1, 1)

            # Redis gone: each worker falls back to its own half of the allowance.
            mark = len(server.log())
            redis.signal(signal.SIGKILL)
            await until(
                lambda: server.log()[mark:].count("Redis subscription lost") >= 2,
                timeout=5,
                what="both workers to notice Redis is gone",
            )
            c = await connect_on(session, world, world.tokens[2], pids[0], pids)
            await c.ws.send_json({"type": "JoinRoom", "room_id": room})
            assert await send_messages(c, room, 7) == (5, 2), "1/2 of the burst on one worker"
            for client in (a, b, c):
                await client.close()


def worker_pid(server: Server, index: int) -> int:
    """The pid of worker `index` (its latest start, from the supervisor's log)."""
    found = re.findall(rf"worker {index} started \(pid (\d+)\)", server.log())
    assert found, f"worker {index} never started"
    return int(found[-1])


async def api_json(session, method: str, url: str, token: str, body: dict | None = None) -> dict:
    """One API call as a user; its JSON body (the call must succeed)."""
    headers = {"Authorization": f"Bearer {token}"}
    async with session.request(method, url, json=body, headers=headers) as resp:
        assert resp.status < 300, await resp.text()
        return await resp.json() if resp.status != 204 else {}


async def test_a_webhook_committed_on_worker_1_goes_out_at_once(
    tmp_path: Path, redis: RedisServer, template, aiohttp_server
) -> None:
    """Worker 0 sends the webhook outbox; a row committed on worker 1 wakes it through Redis
    instead of waiting for its poll (a minute here). A bot made on one worker is known to
    the other at once (the rows are written by the worker that commits the message)."""
    from tests.test_webhooks import Receiver, start_receiver

    receiver = Receiver()
    hook = await start_receiver(aiohttp_server, receiver)
    async with serving(tmp_path, redis, template, webhook_poll_seconds=60) as (world, server):
        pids = await workers(server)
        first, second = worker_pid(server, 0), worker_pid(server, 1)
        async with aiohttp.ClientSession() as session:
            made = await api_json(
                session,
                "POST",
                f"{world.base}/api/bots",
                world.tokens[0],
                {"name": "Helper", "webhook_url": str(hook.make_url("/hook"))},
            )
            shown = await api_json(
                session, "GET", f"{world.base}/api/bots/{made['bot']['id']}", world.tokens[0]
            )
            receiver.secret = shown["bot"]["webhook_secret"]
            await asyncio.sleep(0.3)  # the other worker re-reads the bots (woken by Redis)
            waited = []
            for n, pid in enumerate((second, first)):
                sender = await connect_on(session, world, world.tokens[1], pid, pids)
                await sender.ws.send_json({"type": "JoinRoom", "room_id": world.room_id})
                await send_messages(sender, world.room_id, 0)
                started = time.monotonic()
                await sender.ws.send_json(
                    {
                        "type": "CreateMessage",
                        "room_id": world.room_id,
                        "content": f"@Helper deploy {n}",
                        "client_message_id": str(uuid.uuid4()),
                    }
                )
                await receiver.wait_for(n + 1, seconds=3.0)
                waited.append(time.monotonic() - started)
                await sender.close()
            bodies = [payload["message"]["body"]["plain"] for _, payload in receiver.deliveries]
            assert bodies == ["deploy 0", "deploy 1"]
            assert max(waited) < 1.0, f"a webhook waited {max(waited):.2f} s"
            print(f"\nwebhook after commit: from worker 1 {waited[0]:.3f} s, 0 {waited[1]:.3f} s")


async def test_no_push_to_someone_viewing_the_room_on_another_worker(
    tmp_path: Path, redis: RedisServer, template, aiohttp_server
) -> None:
    """Web Push skips a recipient who views the room, whichever worker their tab is on; once
    they stop viewing, the next message pushes to them (whichever worker took their
    subscription: every worker learns of it)."""
    from tests.test_push import Browser, PushService

    service = PushService()
    app = aiohttp.web.Application()
    app.router.add_post("/push/{name}", service.handle)
    service.base = str((await aiohttp_server(app)).make_url("/push/"))
    async with serving(tmp_path, redis, template, push_allow_insecure_endpoints="true") as (
        world,
        server,
    ):
        pids = await workers(server)
        first, second = worker_pid(server, 0), worker_pid(server, 1)
        async with aiohttp.ClientSession() as session:
            user2 = await whoami(session, world, world.tokens[2])
            browser = Browser(service.base + "user2")
            base = world.base
            subscription = browser.subscription
            url = f"{base}/api/push_subscriptions"
            await api_json(session, "POST", url, world.tokens[2], subscription)
            direct = {"user_ids": [user2["id"]]}
            url = f"{base}/api/rooms/direct"
            room = (await api_json(session, "POST", url, world.tokens[1], direct))["room"]["id"]
            viewer = await connect_on(session, world, world.tokens[2], first, pids)
            author = await connect_on(session, world, world.tokens[1], second, pids)
            for client in (viewer, author):
                await client.ws.send_json({"type": "JoinRoom", "room_id": room})
            await until(lambda: user2["id"] in last_presence(author, room), what="presence")
            assert await send_messages(author, room, 1) == (1, 0)
            await asyncio.sleep(1.0)
            assert service.received == [], "pushed to someone viewing the room on worker 0"
            await viewer.close()
            await until(lambda: user2["id"] not in last_presence(author, room), what="UserLeft")
            assert await send_messages(author, room, 1) == (1, 0)
            _, _, body = await service.next(3.0)
            assert browser.decrypt(body)["room_id"] == room
            await author.close()


MANY_CLIENTS = Path(__file__).resolve().parents[1] / "scripts" / "faults" / "many_clients.py"


def light_clients_or_skip(clients: int) -> None:
    """picows and uvloop for the light clients, and file descriptors for `clients` sockets:
    missing, the test fails in CI and is skipped elsewhere."""
    import importlib.util
    import resource

    missing = [name for name in ("picows", "uvloop") if importlib.util.find_spec(name) is None]
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    reason = ""
    if missing:
        reason = f"{' and '.join(missing)} not installed (pip install -e '.[test]')"
    elif hard != resource.RLIM_INFINITY and hard < clients + 1000:
        reason = f"the hard limit of open files ({hard}) is below {clients + 1000}"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


async def test_worker_killed_under_5000_clients_every_one_catches_up(
    tmp_path: Path, redis: RedisServer, template
) -> None:
    """5,000 clients on 2 workers, a light flood, worker 1 SIGKILLed: its clients come back
    (on worker 0, or the restarted 1) and every one is caught up (Ready) within 5 s; at
    every client, each connection's messages are in order with no duplicate, and together
    they hold every stored message (0 lost)."""
    import json
    import subprocess
    import sys

    clients = 5000
    light_clients_or_skip(clients)
    async with serving(
        tmp_path, redis, template, ws_max_connections_per_user=clients, catchup_limit=500
    ) as (world, server):
        await workers(server)
        victim = worker_pid(server, 1)
        async with aiohttp.ClientSession() as session:
            # Each user's mark: the catch-up sends what came after it (rooms without a
            # mark send none; the clients below never move it).
            start = await post(session, world, world.tokens[0], "start")
            assert start is not None
            start = start.get("message", start)
            for token in world.tokens:
                ws = await session.ws_connect(f"{world.base}/ws?token={token}")
                await ws.send_json({"type": "UpdateLastSeen", "message_id": start["id"]})
                await asyncio.sleep(0.1)
                await ws.close()
            config = {"url": f"ws://127.0.0.1:{world.port}/ws", "tokens": world.tokens}
            began = time.monotonic()
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                str(MANY_CLIENTS),
                json.dumps({**config, "clients": clients}),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                limit=1 << 28,
            )
            try:
                assert proc.stdout is not None and proc.stdin is not None
                line = await asyncio.wait_for(proc.stdout.readline(), 90)
                connected = json.loads(line)["ready"]
                stop = asyncio.Event()
                flooding = asyncio.create_task(
                    flood(session, world, [world.tokens[0]], stop, pause=0.1)
                )
                await asyncio.sleep(1.5)
                os.kill(victim, signal.SIGKILL)
                killed = time.monotonic()
                await asyncio.sleep(6.0)
                stop.set()
                await flooding
                stored = [m["seq"] for m in await history(world, world.tokens[0])][1:]
                proc.stdin.write(f"report {stored[-1]}\n".encode())
                await proc.stdin.drain()
                report = json.loads(await asyncio.wait_for(proc.stdout.readline(), 60))
            finally:
                if proc.returncode is None:
                    proc.kill()
                await proc.wait()
    assert len(stored) < 500, "more than the catch-up sends: the check below would be wrong"
    lost = duplicates = reordered = 0
    moved: list[float] = []
    examples = []
    for n, connections in enumerate(report["clients"]):
        seen: set[int] = set()
        for connection in connections:
            seqs = connection["seqs"]
            duplicates += len(seqs) - len(set(seqs))
            reordered += sum(1 for a, b in itertools.pairwise(seqs) if b < a)
            seen.update(seqs)
        missing = sorted(set(stored) - seen)
        lost += len(missing)
        if missing and len(examples) < 5:
            examples.append(
                (n, missing, [(c["ready"] and c["ready"] - killed, c["seqs"]) for c in connections])
            )
        if len(connections) > 1:
            moved.append(max(0.0, connections[-1]["ready"] - killed))
    moved.sort()
    print(
        f"\n{clients} clients connected in {connected:.1f} s; {len(stored)} messages;"
        f" {len(moved)} moved after the kill, Ready again: median {moved[len(moved) // 2]:.2f}"
        f" s, max {moved[-1]:.2f} s; lost {lost}, duplicates {duplicates},"
        f" reordered {reordered}; failed attempts to connect {report['failures']};"
        f" the last message reached every client within"
        f" {report['waited']:.2f} s of the flood's end; test {time.monotonic() - began:.0f} s"
        f" after connecting began"
    )
    assert not examples, (
        f"stored {stored}; lost at clients: {examples}; failed connects {report['failures']}"
    )
    assert (lost, duplicates, reordered) == (0, 0, 0)
    assert len(moved) > clients // 5, "the kill moved too few clients to mean anything"
    assert moved[-1] <= 5.0, f"a client was caught up only {moved[-1]:.2f} s after the kill"
