"""Two workers on one PostgreSQL database and one Redis (`campfire serve --workers 2 --redis ...
--db postgresql://...`), as each host of several would run them: real processes, a private
redis-server and PostgreSQL server. Messages posted through either worker reach a client on
each worker once, in sequence order, with no gap; history and catch-up read the same."""

from __future__ import annotations

import asyncio
import time
import uuid

import aiohttp
from clusterutil import make_postgres_world, redis_server  # noqa: F401 (the `redis` fixture)

from scripts.faults.harness import Server, World, child_pids, worker_of


async def socket_on(session: aiohttp.ClientSession, world: World, pid: int, pids: list[int]):
    """A WebSocket of user 1 that landed on worker `pid` (the kernel picks; retry until)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        ws = await session.ws_connect(f"{world.base}/ws?token={world.tokens[1]}", heartbeat=None)
        if worker_of(ws.get_extra_info("sockname")[1], world.port, pids) == pid:
            return ws
        await ws.close()
    raise AssertionError(f"no connection landed on worker {pid}")


async def received(ws: aiohttp.ClientWebSocketResponse, count: int) -> list[int]:
    """The seqs of the first `count` NewMessage frames (within 10 s)."""
    seqs: list[int] = []
    while len(seqs) < count:
        frame = await ws.receive_json(timeout=10)
        if frame["type"] == "NewMessage":
            seqs.append(frame["message"]["seq"])
    return seqs


async def test_two_workers_deliver_from_one_postgresql(tmp_path, redis, postgres_url):
    """40 messages posted through both workers: a socket on each gets all 40 in order."""
    world = make_postgres_world(postgres_url, redis.url, tmp_path / "files")
    server = Server(world, tmp_path / "server.log")
    await server.start()
    try:
        assert server.proc is not None
        for _ in range(400):  # worker 0 first, then the other (supervisor.py)
            if len(pids := child_pids(server.proc.pid)) == 2:
                break
            await asyncio.sleep(0.05)
        assert len(pids) == 2, server.log()
        async with aiohttp.ClientSession() as session:
            sockets = [await socket_on(session, world, pid, pids) for pid in pids]
            auth = {"Authorization": f"Bearer {world.tokens[0]}"}
            url = f"{world.base}/api/rooms/{world.room_id}/messages"

            at_once = asyncio.Semaphore(8)  # below pending_requests_per_address

            async def post(n: int) -> int:
                # A new connection each time: the kernel spreads them over both workers.
                async with (
                    at_once,
                    aiohttp.ClientSession() as one,
                    one.post(
                        url,
                        headers=auth,
                        json={"content": f"m{n}", "client_message_id": str(uuid.uuid4())},
                    ) as resp,
                ):
                    assert resp.status == 201, await resp.text()
                    return (await resp.json())["message"]["seq"]

            posted = sorted(await asyncio.gather(*(post(n) for n in range(40))))
            for ws in sockets:
                assert await received(ws, 40) == posted  # once each, in order, no gap
            async with session.get(url, params={"limit": 100}, headers=auth) as resp:
                history = sorted(m["seq"] for m in (await resp.json())["messages"])
            assert history == posted
            assert posted == list(range(posted[0], posted[0] + 40))  # dense: none skipped
            for ws in sockets:
                await ws.close()
    finally:
        await server.stop()
    assert "Traceback" not in server.log()
