"""Abuse and overload close a connection with a meaningful code; nobody else is affected."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import uuid

import aiohttp
from helpers import make_client, send
from wsutil import RawSocket, closed_with, connect, create, join, recv, recv_type

from campfire.app import create_app


async def test_frame_over_the_size_limit_closes_with_1009(aiohttp_client, settings, api):
    client = await make_client(aiohttp_client, settings, api, ws_max_frame_bytes=1024)
    _, token = await api.user("Ann")
    ws = await connect(client, token)
    await ws.send_str("x" * 2000)
    assert await closed_with(ws) == aiohttp.WSCloseCode.MESSAGE_TOO_BIG


async def test_rate_limit_answers_errors_then_a_flood_is_closed_with_1008(
    aiohttp_client, settings, api
):
    client = await make_client(
        aiohttp_client, settings, api, ws_messages_per_second=1.0, ws_burst=3
    )
    _, token = await api.user("Ann")
    ws = await connect(client, token)
    frame = {"type": "LeaveRoom", "room_id": str(uuid.uuid4())}
    for _ in range(3):  # the burst: each answered on its own merits
        await ws.send_json(frame)
        assert (await recv(ws))["code"] == "ROOM_NOT_FOUND"
    await ws.send_json(frame)
    assert (await recv(ws))["code"] == "RATE_LIMITED"
    for _ in range(10):
        await ws.send_json(frame)
    codes = []
    while True:
        msg = await asyncio.wait_for(ws.receive(), 3)
        if msg.type == aiohttp.WSMsgType.CLOSE:
            assert msg.data == aiohttp.WSCloseCode.POLICY_VIOLATION
            break
        codes.append(msg.json()["code"])
    assert set(codes) == {"RATE_LIMITED"}


async def next_error(ws) -> dict:
    """The next Error frame, skipping the NewMessage frames before it."""
    while True:
        frame = await recv(ws)
        if frame["type"] == "Error":
            return frame


async def test_message_rate_is_per_user_across_http_and_every_socket(aiohttp_client, settings, api):
    client = await make_client(
        aiohttp_client, settings, api, user_messages_per_second=1.0, user_messages_burst=4
    )
    _, ann = await api.user("Ann")
    bob_id, bob = await api.user("Bob")
    room = (await api.room(ann, "chat", members=[bob_id]))["id"]
    tab1, tab2 = await connect(client, ann), await connect(client, ann)

    for n in range(2):  # the burst of 4, spent over HTTP and both tabs
        assert (await send(client, ann, room, f"http {n}")).status == 201
    await tab1.send_json(create(room, "tab 1"))
    await tab2.send_json(create(room, "tab 2"))
    seen = set()
    while len(seen) < 4:  # all four stored before the next one is tried
        seen.add((await recv_type(tab1, "NewMessage"))["message"]["content"])

    resp = await send(client, ann, room, "one too many")
    assert resp.status == 429
    assert (await resp.json())["error"]["code"] == "RATE_LIMITED"
    assert resp.headers["Retry-After"] == "1"  # one message a second: the next within 1 s
    await tab1.send_json(create(room, "still too many"))
    assert (await next_error(tab1))["code"] == "RATE_LIMITED"
    assert (await send(client, bob, room, "Bob has his own allowance")).status == 201
    history = (
        await (
            await client.get(
                f"/api/rooms/{room}/messages", headers={"Authorization": f"Bearer {ann}"}
            )
        ).json()
    )["messages"]
    assert sorted(m["content"] for m in history) == [
        "Bob has his own allowance",
        "http 0",
        "http 1",
        "tab 1",
        "tab 2",
    ]
    assert not tab1.closed  # a rate limit is an error, not a reason to close

    await asyncio.sleep(1.1)  # one more message a second
    assert (await send(client, ann, room, "after a pause")).status == 201


async def test_slow_reader_is_disconnected_while_a_fast_one_gets_everything(
    aiohttp_client, settings, api
):
    client = await make_client(
        aiohttp_client,
        settings,
        api,
        ws_queue_frames=16,
        ws_messages_per_second=10_000.0,
        ws_burst=10_000,
        user_messages_per_second=10_000.0,
        user_messages_burst=10_000,
    )
    _alice, a = await api.user("Alice")
    bob, b = await api.user("Bob")
    carol, c = await api.user("Carol")
    room = (await api.room(a, "busy", members=[bob, carol]))["id"]
    from campfire.keys import core_key

    hub = client.app[core_key].hub
    fast = await connect(client, b)
    slow = await asyncio.to_thread(RawSocket, client.host, client.port, c, 4096)  # never reads
    # Shrink the server's send buffer to the slow client so the test needs megabytes, not hundreds.
    slow_conn = next(iter(hub.by_user[carol["id"]]))
    slow_conn._transport.get_extra_info("socket").setsockopt(
        socket.SOL_SOCKET, socket.SO_SNDBUF, 4096
    )
    sender = await connect(client, a)
    big = "x" * 8000
    count = 200
    for i in range(count):
        await sender.send_json(create(room, f"{i} {big}"))
        await recv_type(sender, "NewMessage")
    got = [await recv_type(fast, "NewMessage") for _ in range(count)]
    assert [int(f["message"]["content"].split()[0]) for f in got] == list(range(count))
    for _ in range(100):
        if carol["id"] not in hub.by_user:
            break
        await asyncio.sleep(0.05)
    assert carol["id"] not in hub.by_user, "the slow reader is still connected"
    await asyncio.to_thread(slow.drop)


async def test_heartbeat_drops_a_dead_peer_and_ends_its_presence(aiohttp_client, settings, api):
    client = await make_client(aiohttp_client, settings, api, ws_heartbeat=0.2)
    alice, a = await api.user("Alice")
    bob, b = await api.user("Bob")
    room = (await api.room(a, "general", members=[bob]))["id"]
    watcher = await connect(client, a, autoping=True)
    await join(watcher, room)
    # Bob's client never answers pings, like a peer whose network vanished.
    dead = await client.ws_connect(f"/ws?token={b}", autoping=False)
    assert (await recv(dead))["type"] == "Ready"
    await dead.send_json({"type": "JoinRoom", "room_id": room})
    assert (await recv_type(watcher, "UserJoined"))["user_id"] == bob["id"]
    await recv_type(watcher, "PresenceUpdate")
    assert await recv(watcher, timeout=3) == {
        "type": "UserLeft",
        "user_id": bob["id"],
        "room_id": room,
    }
    assert (await recv(watcher))["online_users"] == [alice["id"]]


async def test_shutdown_finishes_pending_writes_and_closes_with_1001(aiohttp_server, settings, api):
    from aiohttp.test_utils import TestClient

    server = await aiohttp_server(create_app(settings))
    client = TestClient(server)
    await client.start_server()
    api.client = client
    _alice, a = await api.user("Alice")
    bob, b = await api.user("Bob")
    room = (await api.room(a, "general", members=[bob]))["id"]
    wb = await connect(client, b)
    message = await api.post(a, room, "just before the end")
    await server.close()
    assert (await recv_type(wb, "NewMessage"))["message"] == message
    assert await closed_with(wb) == aiohttp.WSCloseCode.GOING_AWAY
    await client.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_sigterm_closes_every_socket_with_1001_and_exits_cleanly(tmp_path):
    """The real `campfire serve` process: SIGTERM closes sockets with 1001, then exits 0."""
    port, db = free_port(), tmp_path / "c.db"
    env = {**os.environ, "CAMPFIRE_DB": str(db), "CAMPFIRE_PORT": str(port)}
    cli = [sys.executable, "-m", "campfire"]
    add = subprocess.run(
        [*cli, "user", "add", "ann@example.com", "--name", "Ann", "--password", "correct horse"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert add.returncode == 0, add.stderr
    token = subprocess.run(
        [*cli, "token", "issue", "ann@example.com"], env=env, capture_output=True, text=True
    ).stdout.strip()
    proc = subprocess.Popen([*cli, "serve"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.get(f"http://127.0.0.1:{port}/health") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            sockets = [
                await session.ws_connect(f"http://127.0.0.1:{port}/ws?token={token}")
                for _ in range(3)
            ]
            for ws in sockets:
                assert (await recv(ws))["type"] == "Ready"
            proc.send_signal(signal.SIGTERM)
            for ws in sockets:
                assert await closed_with(ws) == aiohttp.WSCloseCode.GOING_AWAY
        assert await asyncio.to_thread(proc.wait, 10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        output = proc.stderr.read()
    assert token not in output  # tokens never reach the log
