"""Faults the world will bring: SIGKILL, SIGTERM, a full disk, backups under load, reconnect storms.

The real `campfire serve` runs as a subprocess where a process-level fault is the point; the
long versions are scripts in scripts/faults/ (see docs/operations.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts" / "faults"))

from harness import Server, clone_world, crash_round, make_world

FAST = {
    "ws_messages_per_second": 1e6,
    "ws_burst": 1_000_000,
    "user_messages_per_second": 1e6,
    "user_messages_burst": 1_000_000,
}


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """Two users (tokens issued) and an open room, made once with the real CLI."""
    return make_world(tmp_path_factory.mktemp("template"), users=2)


async def test_sigkill_under_load_loses_no_acknowledged_message(tmp_path, template):
    """Two rounds of load, SIGKILL, restart: every echoed message is stored exactly once."""
    world = clone_world(template, tmp_path, **FAST)
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


async def test_sigterm_under_load_loses_nothing_closes_1001_and_reconnects_catch_up(
    tmp_path, template
):
    """Graceful stop: acknowledged messages kept, every socket closed with 1001, no gap after."""
    import asyncio
    import signal

    import aiohttp
    from harness import Sender, check_acked_once, history, run_sender

    world = clone_world(template, tmp_path, catchup_limit=100_000, **FAST)
    server = Server(world, tmp_path / "server.log")
    await server.start()
    try:
        senders = [Sender(world.tokens[0]) for _ in range(4)]
        stop = asyncio.Event()
        seen: dict[str, int] = {}  # what the watcher received live: message id -> seq
        async with aiohttp.ClientSession() as session:
            watcher = await session.ws_connect(
                f"{world.base}/ws?token={world.tokens[1]}", heartbeat=None
            )
            tasks = [asyncio.create_task(run_sender(session, world, s, stop)) for s in senders]

            async def watch() -> None:
                async for msg in watcher:
                    frame = msg.json()
                    if frame["type"] == "NewMessage":
                        seen[frame["message"]["id"]] = frame["message"]["seq"]
                        if len(seen) % 20 == 0:  # a client marks what it has shown
                            await watcher.send_json(
                                {"type": "UpdateLastSeen", "message_id": frame["message"]["id"]}
                            )

            watching = asyncio.create_task(watch())
            await asyncio.sleep(1.5)
            server.signal(signal.SIGTERM)
            assert await server.wait() == 0
            stop.set()
            await asyncio.gather(*tasks)
            await asyncio.wait_for(watching, 5)
            assert watcher.close_code == aiohttp.WSCloseCode.GOING_AWAY
        assert [s.close_code for s in senders] == [aiohttp.WSCloseCode.GOING_AWAY] * len(senders)
        acked = {k: v for s in senders for k, v in s.acked.items()}
        assert acked and not [e for s in senders for e in s.errors]

        await server.start()
        stored = await history(world, world.tokens[0])
        check_acked_once(acked, stored)
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(f"{world.base}/ws?token={world.tokens[1]}")
            caught_up = {}
            while (frame := await ws.receive_json(timeout=5))["type"] != "Ready":
                assert frame["type"] == "NewMessage", frame
                caught_up[frame["message"]["id"]] = frame["message"]["seq"]
            await ws.close()
        assert {**seen, **caught_up}.keys() == {m["id"] for m in stored}, "a gap after reconnecting"
        # The catch-up is the contiguous tail of history after the durable last-seen mark.
        tail = sorted(caught_up.values())
        assert tail == [m["seq"] for m in stored][len(stored) - len(tail) :]
    finally:
        await server.stop()


async def _limit_pages(core, extra_pages: int | None) -> None:
    """Cap the write connection's database size (SQLITE_FULL past it); None lifts the cap."""
    async with core.db._write_lock:
        writer = core.db._writer
        (pages,) = await (await writer.execute("PRAGMA page_count")).fetchone()
        limit = 2**31 - 2 if extra_pages is None else pages + extra_pages
        await writer.execute(f"PRAGMA max_page_count = {limit}")


@pytest.mark.sqlite_only("fills SQLite's file with PRAGMA max_page_count")
async def test_full_disk_fails_creation_clearly_broadcasts_nothing_and_recovers(client, core, api):
    """SQLITE_FULL: the sender gets MESSAGE_CREATION_FAILED, nobody else sees a thing; it heals."""
    from wsutil import connect, create, join, recv_type, silent

    _alice, a = await api.user("Alice")
    bob, b = await api.user("Bob")
    room = (await api.room(a, "general", members=[bob]))["id"]
    wa, wb = await connect(client, a), await connect(client, b)
    await join(wb, room)
    before = await core.db.fetchone("SELECT count(*) FROM messages")
    await _limit_pages(core, 0)

    failures = 0
    for i in range(40):  # big messages fill what free space the last page had
        await wa.send_json(create(room, f"{i} " + "x" * 9000))
        frame = await wa.receive_json(timeout=3)
        if frame["type"] == "Error":
            assert frame["code"] == "MESSAGE_CREATION_FAILED", frame
            failures += 1
            if failures >= 3:
                break
        else:
            assert frame["type"] == "NewMessage"
            assert (await recv_type(wb, "NewMessage"))["message"] == frame["message"]
    assert failures == 3
    await silent(wb)  # no broadcast for what failed
    stored = (await core.db.fetchone("SELECT count(*) FROM messages"))[0]
    resp = await client.post(
        f"/api/rooms/{room}/messages",
        headers=api.auth(a),
        json={"content": "y" * 9000, "client_message_id": "7f1f0d8e-0000-4000-8000-000000000001"},
    )
    assert resp.status == 503
    assert (await resp.json())["error"]["code"] == "MESSAGE_CREATION_FAILED"
    assert (await core.db.fetchone("SELECT count(*) FROM messages"))[0] == stored

    await _limit_pages(core, None)  # the disk has room again
    await wa.send_json(create(room, "after the disk was freed"))
    echo = await recv_type(wa, "NewMessage")
    assert (await recv_type(wb, "NewMessage"))["message"] == echo["message"]
    assert (await core.db.fetchone("SELECT count(*) FROM messages"))[0] == stored + 1
    assert stored >= before[0]
    resp = await client.get("/health")
    assert resp.status == 200


async def test_backup_under_load_restores_everything_committed_before_it(tmp_path, template):
    """`campfire db backup` during load; the copy serves every message acknowledged before it."""
    import asyncio
    import dataclasses

    import aiohttp
    from harness import Sender, cli, free_port, history, integrity_check, run_sender

    world = clone_world(template, tmp_path, **FAST)
    server = Server(world, tmp_path / "server.log")
    await server.start()
    backup = tmp_path / "backup.db"
    try:
        senders = [Sender(world.tokens[i % 2]) for i in range(4)]
        stop = asyncio.Event()
        async with aiohttp.ClientSession() as session:
            tasks = [asyncio.create_task(run_sender(session, world, s, stop)) for s in senders]
            await asyncio.sleep(0.8)
            before = {k for s in senders for k in s.acked}
            await asyncio.to_thread(cli, world.env, "db", "backup", str(backup))
            await asyncio.sleep(0.3)  # load goes on after the backup too
            stop.set()
            await asyncio.gather(*tasks)
        assert before
    finally:
        await server.stop()
    assert integrity_check(backup) == "ok"
    port = free_port()
    # --db on the command line wins over CAMPFIRE_DB, which now names a file that must stay unmade.
    env = {**world.env, "CAMPFIRE_PORT": str(port), "CAMPFIRE_DB": str(tmp_path / "unused.db")}
    restored = dataclasses.replace(world, env=env, port=port)
    copy = Server(restored, tmp_path / "restored.log")
    await copy.start("--db", str(backup))
    try:
        ids = {m["id"] for m in await history(restored, world.tokens[0])}
        assert before <= ids, (
            f"{len(before - ids)} messages committed before the backup are missing"
        )
    finally:
        await copy.stop()
    assert not (tmp_path / "unused.db").exists()


async def test_restart_of_a_busy_server_serves_hundreds_reconnecting_at_once(tmp_path, template):
    """300 sockets, SIGTERM, restart, all reconnect at once: all served, fds and memory bounded."""
    from harness import reconnect_storm

    clients = 300
    world = clone_world(template, tmp_path, ws_max_connections_per_user=clients)
    stats = await reconnect_storm(
        world, Server(world, tmp_path / "server.log"), clients, timeout=60
    )
    assert stats["closed_1001"] == clients
    assert stats["delivered"] == clients
    assert stats["fds"] < clients + 50, stats  # one per socket, plus the database and the listener
    assert stats["rss_mib"] < 300, stats
