"""Missed messages on reconnection: oldest first, capped, and never lost or duplicated."""

import asyncio

import pytest
from helpers import make_client
from wsutil import connect, connect_and_catch_up, create, recv, recv_type


@pytest.fixture
def settings(settings):
    """A sender fast enough to race the catch-up is not a flood here."""
    return settings.replace(
        ws_messages_per_second=1000.0,
        ws_burst=1000,
        user_messages_per_second=1000.0,
        user_messages_burst=1000,
    )


@pytest.fixture
async def pair(api):
    """Alice and Bob in one closed room."""
    alice, a = await api.user("Alice")
    bob, b = await api.user("Bob")
    room = await api.room(a, "general", members=[bob])
    return a, b, room["id"]


async def mark_seen(client, token, message_id):
    """Set the last-seen mark over a short-lived socket."""
    ws = await connect(client, token)
    await ws.send_json({"type": "UpdateLastSeen", "message_id": message_id})
    await asyncio.sleep(0.05)
    await ws.close()


async def test_missed_messages_arrive_oldest_first_before_ready(client, api, pair):
    a, b, room = pair
    seen = await api.post(a, room, "seen")
    await mark_seen(client, b, seen["id"])
    missed = [await api.post(a, room, f"missed {i}") for i in range(3)]
    ws, frames = await connect_and_catch_up(client, b)
    assert [f["message"] for f in frames] == missed
    assert all(f["type"] == "NewMessage" for f in frames)


async def test_no_last_seen_mark_means_no_catch_up(client, api, pair):
    a, b, room = pair
    await api.post(a, room, "history is read over HTTP")
    ws, frames = await connect_and_catch_up(client, b)
    assert frames == []


async def test_nothing_missed_sends_nothing(client, api, pair):
    a, b, room = pair
    last = await api.post(a, room, "read")
    await mark_seen(client, b, last["id"])
    ws, frames = await connect_and_catch_up(client, b)
    assert frames == []


async def test_more_than_the_cap_sends_the_newest_and_says_so(aiohttp_client, settings, api):
    client = await make_client(aiohttp_client, settings, api, catchup_limit=5)
    alice, a = await api.user("Alice")
    bob, b = await api.user("Bob")
    room = (await api.room(a, "general", members=[bob]))["id"]
    seen = await api.post(a, room, "seen")
    await mark_seen(client, b, seen["id"])
    missed = [await api.post(a, room, f"missed {i}") for i in range(12)]
    ws, frames = await connect_and_catch_up(client, b)
    assert frames[0] == {
        "type": "MissedMessagesTruncated",
        "room_id": room,
        "before_seq": missed[7]["seq"],
    }
    assert [f["message"] for f in frames[1:]] == missed[7:]
    page = await (
        await client.get(
            f"/api/rooms/{room}/messages?before={missed[7]['seq']}&limit=100", headers=api.auth(b)
        )
    ).json()
    assert [m["id"] for m in page["messages"]][-7:] == [m["id"] for m in missed[:7]]


async def test_catch_up_covers_every_room(client, api, pair):
    a, b, room = pair
    second = (
        await api.room(
            a,
            "second",
            members=[
                (await (await client.get("/api/users/me", headers=api.auth(b))).json())["user"]
            ],
        )
    )["id"]
    s1, s2 = await api.post(a, room, "r1 seen"), await api.post(a, second, "r2 seen")
    await mark_seen(client, b, s1["id"])
    await mark_seen(client, b, s2["id"])
    m1, m2, m3 = (
        await api.post(a, room, "r1"),
        await api.post(a, second, "r2"),
        await api.post(a, room, "r1 again"),
    )
    ws, frames = await connect_and_catch_up(client, b)
    assert [f["message"]["id"] for f in frames] == [m1["id"], m2["id"], m3["id"]]


async def test_messages_during_catch_up_are_neither_lost_nor_duplicated(client, api, pair):
    """Senders keep posting while Bob reconnects again and again; he sees every message once."""
    a, b, room = pair
    first = await api.post(a, room, "start")
    await mark_seen(client, b, first["id"])
    sender = await connect(client, a)
    total = 150  # below the catch-up cap, so nothing is truncated

    async def keep_sending():
        for i in range(total):
            await sender.send_json(create(room, f"m{i}"))
            await recv_type(sender, "NewMessage")
            await asyncio.sleep(0.002)

    task = asyncio.create_task(keep_sending())
    received: list[dict] = []
    reconnects = 0
    while not task.done():
        reconnects += 1
        ws, frames = await connect_and_catch_up(client, b)
        received += [f["message"] for f in frames]
        # Live for a few messages (only as many as are sure to come: a receive that times
        # out makes aiohttp drop the TCP connection instead of closing cleanly), then mark
        # the newest seen and close.
        for _ in range(min(reconnects % 7, total - len(received))):
            received.append((await recv(ws))["message"])
        if received:
            await ws.send_json({"type": "UpdateLastSeen", "message_id": received[-1]["id"]})
        await ws.close()
    await task
    # One last reconnect collects the rest.
    ws, frames = await connect_and_catch_up(client, b)
    received += [f["message"] for f in frames]
    seqs = [m["seq"] for m in received]
    assert len(seqs) == len(set(seqs)), f"a message arrived twice: {seqs}"
    assert seqs == sorted(seqs), "messages arrived out of order"
    history = await (
        await client.get(
            f"/api/rooms/{room}/messages?after={first['seq']}&limit=200", headers=api.auth(b)
        )
    ).json()
    assert seqs == [m["seq"] for m in history["messages"]], "a message was lost"
    assert len(seqs) == total and reconnects >= 10


async def test_message_committed_before_catch_up_but_published_after_arrives_once(
    client, core, api, pair
):
    """The gap between a commit and its publish must not make the catch-up send a message twice."""
    a, b, room = pair
    seen = await api.post(a, room, "seen")
    await mark_seen(client, b, seen["id"])
    loop = asyncio.get_running_loop()
    publish = core.hub.publish_message
    core.hub.publish_message = lambda *args: loop.call_later(
        0.3, publish, *args
    )  # a slow publisher
    late = await api.post(a, room, "committed now, published later")
    ws, frames = await connect_and_catch_up(client, b)
    assert [f["message"]["id"] for f in frames] == [late["id"]]
    core.hub.publish_message = publish
    await asyncio.sleep(0.4)  # the late publish has happened
    after = await api.post(a, room, "live after the catch-up")
    assert (await recv(ws))["message"]["id"] == after["id"]  # not the late one again


async def test_messages_published_during_a_slow_catch_up_reach_only_members_once(
    client, api, pair, monkeypatch
):
    """While a connection reads its rooms it holds every message; it keeps only its rooms' ones."""
    from campfire import store

    a, b, room = pair
    carol, c = await api.user("Carol")
    elsewhere = (await api.room(c, "carol only"))["id"]
    real = store.catch_up

    async def slow_catch_up(*args):  # a slow disk: the catch-up read takes a while
        await asyncio.sleep(0.3)
        return await real(*args)

    monkeypatch.setattr(store, "catch_up", slow_catch_up)
    connecting = asyncio.create_task(connect_and_catch_up(client, b))
    await asyncio.sleep(0.1)  # Bob is registered and reading
    theirs = await api.post(a, room, "for bob's room")
    await api.post(c, elsewhere, "not for bob")
    ws, frames = await connecting
    # Nothing was missed (no last-seen mark); the held live message comes before Ready.
    assert [f["message"]["id"] for f in frames] == [theirs["id"]]
    monkeypatch.setattr(store, "catch_up", real)
    after = await api.post(a, room, "live")
    assert (await recv(ws))["message"]["id"] == after["id"]  # nothing else came in between
