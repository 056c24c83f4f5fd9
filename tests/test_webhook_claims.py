"""Several webhook senders on one database (worker 0 of each host): a sender takes an outbox
row only by claiming it, so every delivery reaches the bot once while the senders live, and a
sender killed mid-POST leaves a lease after which another sender delivers it, with its id.

Each test runs on SQLite and on PostgreSQL (a private server, tests/pgserver.py), whatever
CAMPFIRE_TEST_DB says: two senders on one database is what several hosts are.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import os
import signal
import time
import uuid
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from campfire.app import create_app
from campfire.config import Settings
from campfire.keys import core_key
from campfire.webhooks import lease_seconds
from scripts.faults.harness import PASSWORD, Server, World, cli, free_port
from tests.conftest import Api
from tests.test_bots import make_bot


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_db(request, tmp_path) -> str:
    """One database two senders share: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_url")
    return str(tmp_path / "campfire.db")


def sender_settings(db: str, tmp_path: Path, **changes: object) -> Settings:
    """Settings of one of two servers on `db`, each with its webhook sender on."""
    return Settings(
        db=db,
        files_dir=str(tmp_path / "files"),
        # Two processes on one SQLite file take turns through their lock (db.ProcessLock).
        workers=2,
        ws_heartbeat=5.0,
        shutdown_timeout=2.0,
        # No Redis between them: the sender that did not commit a row finds it by polling.
        webhook_poll_seconds=0.05,
        webhook_retry_seconds=0.05,
        user_messages_per_second=1000.0,
        user_messages_burst=1000,
    ).replace(**changes)


class Counter:
    """A bot's webhook endpoint counting deliveries: each attempt by X-Campfire-Delivery id,
    and which answered 2xx. Fails the first attempt of the ids `fail_first` picks."""

    def __init__(self, delay: float = 0.0, fail_first=lambda delivery_id: False) -> None:
        self.attempts: collections.Counter[str] = collections.Counter()
        self.answered: collections.Counter[str] = collections.Counter()
        self.messages: collections.Counter[str] = collections.Counter()
        self.delay = delay
        self.fail_first = fail_first
        self.changed = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        delivery_id = request.headers["X-Campfire-Delivery"]
        body = await request.json()
        self.attempts[delivery_id] += 1
        self.changed.set()
        await asyncio.sleep(self.delay)
        if self.attempts[delivery_id] == 1 and self.fail_first(delivery_id):
            return web.Response(status=500)
        self.answered[delivery_id] += 1
        self.messages[body["message"]["id"]] += 1
        self.changed.set()
        return web.Response(status=200)

    async def until(self, done, seconds: float) -> None:
        """Wait until `done()` is true (failing after `seconds`)."""

        async def wait() -> None:
            while not done():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(wait(), seconds)


async def two_senders(aiohttp_client, aiohttp_server, settings: Settings, counter: Counter):
    """Two servers on one database, each sending the outbox; a bot calling `counter`, a room
    with it and Ann, who posts. Returns both clients, Ann's token and the room's id."""
    receiver = web.Application()
    receiver.router.add_post("/hook", counter.handle)
    hook = str((await aiohttp_server(receiver)).make_url("/hook"))
    first = await aiohttp_client(create_app(settings))
    second = await aiohttp_client(create_app(settings))
    api = Api(first)
    _ann, ann_token = await api.user("Ann")
    bot, _key = await make_bot(api, name="Helper", webhook_url=hook)
    room = await api.room(ann_token, members=[bot])
    for client in (first, second):  # each knows the bot now (else: within its poll)
        await client.app[core_key].webhooks.refresh_bots()
    return first, second, ann_token, room["id"]


async def post(client, token: str, room_id: str, text: str) -> str:
    """Post a message; its id."""
    resp = await client.post(
        f"/api/rooms/{room_id}/messages",
        headers={"Authorization": f"Bearer {token}"},
        json={"content": text, "client_message_id": str(uuid.uuid4())},
    )
    assert resp.status == 201, await resp.text()
    return (await resp.json())["message"]["id"]


async def outbox(client) -> list:
    """The rows left in the outbox."""
    return await client.app[core_key].db.fetchall("SELECT id FROM webhook_deliveries")


async def test_two_senders_deliver_each_message_once(
    aiohttp_client, aiohttp_server, shared_db, tmp_path
):
    """N messages mentioning the bot: exactly N POSTs, each delivery id once, and both
    senders took part (the bot is slow, so one sender alone falls behind)."""
    counter = Counter(delay=0.03)
    settings = sender_settings(shared_db, tmp_path, webhook_concurrency=2)
    first, second, token, room_id = await two_senders(
        aiohttp_client, aiohttp_server, settings, counter
    )
    posted = [await post(first, token, room_id, f"@Helper job {n}") for n in range(30)]
    await counter.until(lambda: sum(counter.answered.values()) >= 30, 20)
    for client in (first, second):
        await client.app[core_key].webhooks.idle()
    await asyncio.sleep(0.3)  # a duplicate would have arrived by now
    assert sum(counter.attempts.values()) == 30
    assert set(counter.attempts.values()) == {1}
    assert sorted(counter.messages) == sorted(posted)
    sent = [client.app[core_key].webhooks.delivered for client in (first, second)]
    assert sum(sent) == 30 and min(sent) > 0, sent
    assert await outbox(first) == []


async def test_a_flood_through_both_senders_never_repeats_a_delivery(
    aiohttp_client, aiohttp_server, shared_db, tmp_path
):
    """Messages posted through both servers at once, a third of the first attempts failing:
    every delivery is answered exactly once; a failed one is tried once more, by one sender."""

    def fails(delivery_id: str) -> bool:
        return hashlib.sha256(delivery_id.encode()).digest()[0] % 3 == 0

    counter = Counter(fail_first=fails)
    settings = sender_settings(shared_db, tmp_path, webhook_concurrency=8)
    first, second, token, room_id = await two_senders(
        aiohttp_client, aiohttp_server, settings, counter
    )
    limit = asyncio.Semaphore(8)

    async def one(n: int) -> str:
        async with limit:
            return await post((first, second)[n % 2], token, room_id, f"@Helper flood {n}")

    posted = await asyncio.gather(*(one(n) for n in range(200)))
    await counter.until(lambda: len(counter.answered) >= 200, 60)
    for client in (first, second):
        await client.app[core_key].webhooks.idle()
    await asyncio.sleep(0.3)
    assert sorted(counter.messages) == sorted(posted)
    assert set(counter.answered.values()) == {1}  # no delivery answered twice
    for delivery_id, attempts in counter.attempts.items():
        assert attempts == (2 if fails(delivery_id) else 1), delivery_id
    sent = [client.app[core_key].webhooks.delivered for client in (first, second)]
    assert sum(sent) == 200 and min(sent) > 0, sent
    assert await outbox(first) == []
    bots = await first.app[core_key].db.fetchall("SELECT last_error FROM bots")
    assert [row[0] for row in bots] == [None]  # the last answers were 2xx


# --- a sender killed mid-POST: real `campfire serve` processes -----------------------------


class Holder:
    """A bot's webhook endpoint that never answers the first POST (its sender is killed
    meanwhile) and answers 200 to the others; notes when each arrived."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[str, float]] = []
        self.changed = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.arrivals.append((request.headers["X-Campfire-Delivery"], time.monotonic()))
        self.changed.set()
        if len(self.arrivals) == 1:
            await asyncio.Event().wait()  # held until the test ends
        return web.Response(status=200)

    async def count(self, n: int, seconds: float) -> None:
        """Wait until `n` POSTs arrived (failing after `seconds`)."""

        async def wait() -> None:
            while len(self.arrivals) < n:
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(wait(), seconds)


async def test_a_sender_killed_mid_post_leaves_a_lease_after_which_another_delivers(
    aiohttp_server, shared_db, tmp_path
):
    """Server A claims a delivery and POSTs it; the bot holds it; A is SIGKILLed. Server B
    (on PostgreSQL running beside A since before the kill, as another host; on SQLite a
    restart, the one host) delivers it once A's lease has ended, with the same id."""
    holder = Holder()
    receiver = web.Application()
    receiver.router.add_post("/hook", holder.handle)
    hook = str((await aiohttp_server(receiver)).make_url("/hook"))
    timeout = 1.0
    env = {
        "CAMPFIRE_DB": shared_db,
        "CAMPFIRE_FILES_DIR": str(tmp_path / "files"),
        "CAMPFIRE_WEBHOOK_TIMEOUT": str(timeout),
        "CAMPFIRE_WEBHOOK_POLL_SECONDS": "0.1",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPFIRE_")} | env
    room_id = cli(env, "room", "add", "ops", "--type", "open")
    cli(env, "user", "add", "ann@example.com", "--name", "Ann", "--password", PASSWORD)
    token = cli(env, "token", "issue", "ann@example.com")
    cli(env, "bot", "add", "Helper", "--webhook", hook)
    port_a, port_b = free_port(), free_port()
    world_a = World({**env, "CAMPFIRE_PORT": str(port_a)}, port_a, [token], room_id)
    world_b = World({**env, "CAMPFIRE_PORT": str(port_b)}, port_b, [token], room_id)
    lease = lease_seconds(Settings(webhook_timeout=timeout))
    postgres = shared_db.startswith("postgresql")

    a = Server(world_a, tmp_path / "a.log")
    b = Server(world_b, tmp_path / "b.log")
    await a.start()
    try:
        async with aiohttp.ClientSession() as session:
            resp = await session.post(
                f"{world_a.base}/api/rooms/{world_a.room_id}/messages",
                headers={"Authorization": f"Bearer {world_a.tokens[0]}"},
                json={"content": "@Helper deploy", "client_message_id": str(uuid.uuid4())},
            )
            assert resp.status == 201, await resp.text()
        await holder.count(1, 10)
        delivery_id, held_at = holder.arrivals[0]
        if postgres:
            await b.start()  # another host, on while A holds the claim
            await asyncio.sleep(0.3)
            assert len(holder.arrivals) == 1, "B took a row A holds"
        a.signal(signal.SIGKILL)
        await a.wait()
        if not postgres:
            await b.start()  # the one host, started again
        await holder.count(2, 10 + lease)
        again, again_at = holder.arrivals[1]
        assert again == delivery_id
        assert again_at - held_at >= lease - 0.2
        await asyncio.sleep(0.5)
        assert len(holder.arrivals) == 2  # answered: not sent again
    finally:
        await a.stop()
        await b.stop()
    assert "Traceback" not in a.log() + b.log()
