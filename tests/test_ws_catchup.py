"""Missed messages on reconnection: oldest first, capped, and never lost or duplicated."""

import asyncio

import pytest
from clusterutil import client_on_one_or_two_workers  # noqa: F401 (the `client` fixture)
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
    _alice, a = await api.user("Alice")
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
    _ws, frames = await connect_and_catch_up(client, b)
    assert [f["message"] for f in frames] == missed
    assert all(f["type"] == "NewMessage" for f in frames)


async def test_no_last_seen_mark_means_no_catch_up(client, api, pair):
    a, b, room = pair
    message = await api.post(a, room, "history is read over HTTP")
    await http_change(client, "PATCH", f"/api/messages/{message['id']}", a, {"content": "too"})
    _ws, frames = await connect_and_catch_up(client, b)
    assert frames == []


async def test_nothing_missed_sends_nothing(client, api, pair):
    a, b, room = pair
    last = await api.post(a, room, "read")
    await mark_seen(client, b, last["id"])
    _ws, frames = await connect_and_catch_up(client, b)
    assert frames == []


async def test_more_than_the_cap_sends_the_newest_and_says_so(aiohttp_client, settings, api):
    client = await make_client(aiohttp_client, settings, api, catchup_limit=5)
    _alice, a = await api.user("Alice")
    bob, b = await api.user("Bob")
    room = (await api.room(a, "general", members=[bob]))["id"]
    seen = await api.post(a, room, "seen")
    await mark_seen(client, b, seen["id"])
    missed = [await api.post(a, room, f"missed {i}") for i in range(12)]
    _ws, frames = await connect_and_catch_up(client, b)
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
    _ws, frames = await connect_and_catch_up(client, b)
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
    _carol, c = await api.user("Carol")
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


async def remove_member(client, token: str, room_id: str, user_id: str) -> None:
    """Take a member out of a room over HTTP."""
    resp = await client.delete(
        f"/api/rooms/{room_id}/members/{user_id}", headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status == 204, await resp.text()


async def test_a_member_removed_while_the_catch_up_reads_does_not_get_the_room(
    client, api, monkeypatch
):
    """The rooms read before a removal must not be subscribed after it."""
    from campfire import store

    _alice, a = await api.user("Alice")
    bob, b = await api.user("Bob")
    room = (await api.room(a, "general", members=[bob]))["id"]
    kept = (await api.room(a, "kept", members=[bob]))["id"]
    real = store.catch_up
    read = asyncio.Event()

    async def slow_catch_up(*args):  # the read is done, its answer is slow to come back
        rows = await real(*args)
        read.set()
        await asyncio.sleep(0.3)
        return rows

    monkeypatch.setattr(store, "catch_up", slow_catch_up)
    connecting = asyncio.create_task(connect_and_catch_up(client, b))
    await read.wait()
    await remove_member(client, a, room, bob["id"])
    ws, _frames = await connecting
    monkeypatch.setattr(store, "catch_up", real)
    await api.post(a, room, "after bob left")
    still = await api.post(a, kept, "bob is still here")
    frame = await recv_type(ws, "NewMessage")  # nothing of the room he left came first
    assert frame["message"]["id"] == still["id"]


async def test_a_member_removed_while_join_room_checks_access_does_not_get_the_room(
    client, api, monkeypatch
):
    """JoinRoom checks access (joining an open room makes a member), then subscribes: a
    removal in between is not undone."""
    from campfire import rooms

    _alice, a = await api.user("Alice")
    bob, b = await api.user("Bob")
    room = (await api.room(a, "lobby", room_type="open"))["id"]  # everyone is a member
    kept = (await api.room(a, "kept", members=[bob]))["id"]
    await remove_member(client, a, room, bob["id"])  # so JoinRoom joins him again
    ws = await connect(client, b)
    real = rooms.access_room
    checked = asyncio.Event()

    async def slow_access(*args, **kwargs):  # the check passed; its answer is slow to come
        row = await real(*args, **kwargs)
        if not checked.is_set():  # JoinRoom's check (the removal checks access too)
            checked.set()
            await asyncio.sleep(0.3)
        return row

    monkeypatch.setattr(rooms, "access_room", slow_access)
    await ws.send_json({"type": "JoinRoom", "room_id": room})
    await checked.wait()
    await remove_member(client, a, room, bob["id"])
    frame = await recv(ws)
    while frame["type"] in ("RoomUpdated", "RoomRemoved"):  # he joined, then was removed
        frame = await recv(ws)
    assert frame["type"] == "Error" and frame["code"] == "ROOM_NOT_FOUND", frame
    monkeypatch.setattr(rooms, "access_room", real)
    await api.post(a, room, "after bob left")
    still = await api.post(a, kept, "bob is still here")
    frame = await recv(ws)
    while frame["type"] != "NewMessage":  # directory and presence frames may come first
        frame = await recv(ws)
    assert frame["message"]["id"] == still["id"]


async def test_a_member_removed_while_being_added_is_not_told_the_room_again(
    client, api, monkeypatch
):
    """Adding a member reads the room's view for them, then sends RoomUpdated: a removal
    in between wins (no RoomUpdated after the RoomRemoved, no messages after it)."""
    from campfire import directory

    _alice, a = await api.user("Alice")
    bob, b = await api.user("Bob")
    room = (await api.room(a, "secret"))["id"]
    kept = (await api.room(a, "kept", members=[bob]))["id"]
    ws = await connect(client, b)
    real = directory.room_views
    read = asyncio.Event()

    async def slow_views(*args):  # read, then slow to come back
        views = await real(*args)
        if not read.is_set():
            read.set()
            await asyncio.sleep(0.3)
        return views

    monkeypatch.setattr(directory, "room_views", slow_views)
    adding = asyncio.create_task(
        client.post(f"/api/rooms/{room}/members", headers=api.auth(a), json={"user_id": bob["id"]})
    )
    await read.wait()
    await remove_member(client, a, room, bob["id"])
    assert (await adding).status in (200, 201)
    monkeypatch.setattr(directory, "room_views", real)
    await api.post(a, room, "after bob left")
    still = await api.post(a, kept, "bob is still here")
    frames = [await recv(ws)]
    while frames[-1]["type"] != "NewMessage":
        frames.append(await recv(ws))
    assert [f["type"] for f in frames] == ["RoomRemoved", "NewMessage"], frames
    assert frames[-1]["message"]["id"] == still["id"]


# --- changes (edits, deletions, boosts) ----------------------------------------------------


async def http_change(client, method, path, token, body=None) -> dict | None:
    """One change over HTTP; its JSON answer (None for 204)."""
    resp = await client.request(
        method, path, headers={"Authorization": f"Bearer {token}"}, json=body
    )
    assert resp.status in (200, 201, 204), await resp.text()
    return None if resp.status == 204 else await resp.json()


class Model:
    """What a client shows, built only from the frames it receives."""

    def __init__(self) -> None:
        self.messages: dict[str, dict] = {}  # id -> {"content", "boosts": {id: content}}

    def apply(self, frame: dict) -> None:
        kind = frame["type"]
        if kind in ("NewMessage", "MessageUpdated"):
            message = frame["message"]
            entry = self.messages.setdefault(message["id"], {"boosts": {}})
            entry["content"] = message["content"]
        elif kind == "MessageDeleted":
            self.messages.pop(frame["message_id"], None)
        elif kind == "BoostAdded":
            boost = frame["boost"]
            if boost["message_id"] in self.messages:
                self.messages[boost["message_id"]]["boosts"][boost["id"]] = boost["content"]
        elif kind == "BoostRemoved":
            if frame["message_id"] in self.messages:
                self.messages[frame["message_id"]]["boosts"].pop(frame["boost_id"], None)

    @staticmethod
    def of_history(page: list[dict]) -> dict:
        """The same shape from HTTP history (the current state)."""
        return {
            m["id"]: {
                "content": m["content"],
                "boosts": {b["id"]: b["content"] for b in m["boosts"]},
            }
            for m in page
        }


async def test_every_change_type_is_caught_up_after_a_reconnect(client, api, pair):
    a, b, room = pair
    m1, m2, m3 = [await api.post(a, room, f"m{i}") for i in (1, 2, 3)]
    seen = await api.post(a, room, "seen")
    await mark_seen(client, b, seen["id"])
    # Bob is away while all of this happens.
    await http_change(client, "PATCH", f"/api/messages/{m1['id']}", a, {"content": "m1 v2"})
    last_edit = await http_change(
        client, "PATCH", f"/api/messages/{m1['id']}", a, {"content": "m1 v3"}
    )
    kept = await http_change(
        client, "POST", f"/api/messages/{m2['id']}/boosts", a, {"content": "👍"}
    )
    brief = await http_change(
        client, "POST", f"/api/messages/{m2['id']}/boosts", a, {"content": "x"}
    )
    await http_change(
        client, "DELETE", f"/api/messages/{m2['id']}/boosts/{brief['boost']['id']}", a
    )
    await http_change(client, "DELETE", f"/api/messages/{m3['id']}", a)
    m4 = await api.post(a, room, "m4")
    m4_edit = await http_change(client, "PATCH", f"/api/messages/{m4['id']}", a, {"content": "m4!"})
    m5 = await api.post(a, room, "m5, gone before Bob is back")
    await http_change(client, "DELETE", f"/api/messages/{m5['id']}", a)

    _ws, frames = await connect_and_catch_up(client, b)
    kinds = [(f["type"], f.get("message", {}).get("id") or f.get("message_id")) for f in frames]
    assert kinds == [
        ("NewMessage", m4["id"]),  # the missed message, as it is now
        ("MessageUpdated", m1["id"]),  # only the last edit, with the current content
        ("BoostAdded", None),
        ("BoostRemoved", m2["id"]),  # the boost added and removed meanwhile: its removal
        ("MessageDeleted", m3["id"]),
        ("MessageUpdated", m4["id"]),
        ("MessageDeleted", m5["id"]),  # created and deleted while away: the deletion alone
    ]
    assert frames[0]["message"]["content"] == "m4!"
    assert frames[1] == {
        "type": "MessageUpdated",
        "message": last_edit["message"],
        "change_seq": last_edit["change_seq"],
    }
    assert frames[2]["boost"] == kept["boost"] and frames[2]["change_seq"] == kept["change_seq"]
    assert frames[3]["boost_id"] == brief["boost"]["id"]
    assert frames[5]["change_seq"] == m4_edit["change_seq"]
    changes = [f["change_seq"] for f in frames[1:]]
    assert changes == sorted(changes) and len(set(changes)) == len(changes)
    # Bob's view, built from what he was sent on top of what he had, is the current state.
    model = Model()
    for message in (m1, m2, m3, seen):
        model.apply({"type": "NewMessage", "message": message})
    for frame in frames:
        model.apply(frame)
    page = await (await client.get(f"/api/rooms/{room}/messages", headers=api.auth(b))).json()
    assert model.messages == Model.of_history(page["messages"])


async def test_more_changes_than_the_cap_sends_the_newest_and_says_so(
    aiohttp_client, settings, api
):
    client = await make_client(aiohttp_client, settings, api, catchup_limit=3)
    _alice, a = await api.user("Alice")
    bob, b = await api.user("Bob")
    room = (await api.room(a, "general", members=[bob]))["id"]
    seen = await api.post(a, room, "seen")
    await mark_seen(client, b, seen["id"])
    boosts = []
    for word in "abcdef":
        boosts.append(
            await http_change(
                client, "POST", f"/api/messages/{seen['id']}/boosts", a, {"content": word}
            )
        )
    _ws, frames = await connect_and_catch_up(client, b)
    assert frames[0] == {
        "type": "MissedMessagesTruncated",
        "room_id": room,
        "before_seq": None,  # no message was missed, only changes
        "changes_truncated": True,
    }
    assert [f["change_seq"] for f in frames[1:]] == [x["change_seq"] for x in boosts[3:]]


async def test_change_committed_before_catch_up_but_published_after_arrives_once(
    client, core, api, pair
):
    a, b, room = pair
    seen = await api.post(a, room, "seen")
    await mark_seen(client, b, seen["id"])
    loop = asyncio.get_running_loop()
    publish = core.hub.publish_change
    core.hub.publish_change = lambda *args: loop.call_later(0.3, publish, *args)
    late = await http_change(client, "PATCH", f"/api/messages/{seen['id']}", a, {"content": "late"})
    ws, frames = await connect_and_catch_up(client, b)
    assert [f.get("change_seq") for f in frames] == [late["change_seq"]]
    core.hub.publish_change = publish
    await asyncio.sleep(0.4)  # the late publish has happened
    after = await http_change(
        client, "PATCH", f"/api/messages/{seen['id']}", a, {"content": "live"}
    )
    frame = await recv(ws)
    assert frame["change_seq"] == after["change_seq"]  # not the late one again


async def test_changes_published_during_a_slow_catch_up_arrive_once_in_order(
    client, api, pair, monkeypatch
):
    """A change committed while the catch-up reads is held, then sent after what was missed."""
    from campfire import store

    a, b, room = pair
    seen = await api.post(a, room, "seen")
    await mark_seen(client, b, seen["id"])
    missed = await http_change(client, "PATCH", f"/api/messages/{seen['id']}", a, {"content": "1"})
    real = store.catch_up
    committed = asyncio.Event()

    async def slow_catch_up(*args):  # the read starts after the next change is committed
        await committed.wait()
        return await real(*args)

    monkeypatch.setattr(store, "catch_up", slow_catch_up)
    connecting = asyncio.create_task(connect_and_catch_up(client, b))
    await asyncio.sleep(0.1)  # Bob is registered, waiting to read
    during = await http_change(
        client, "POST", f"/api/messages/{seen['id']}/boosts", a, {"content": "⚡"}
    )
    committed.set()
    ws, frames = await connecting
    # Both are in the read; the held live copy of the boost is not sent a second time.
    assert [(f["type"], f["change_seq"]) for f in frames] == [
        ("MessageUpdated", missed["change_seq"]),
        ("BoostAdded", during["change_seq"]),
    ]
    monkeypatch.setattr(store, "catch_up", real)
    after = await http_change(client, "DELETE", f"/api/messages/{seen['id']}", a)
    assert after is None
    assert (await recv(ws))["type"] == "MessageDeleted"  # nothing else came in between


async def test_changes_during_catch_up_are_neither_lost_nor_duplicated(client, api, pair):
    """Alice posts, edits, boosts, unboosts and deletes while Bob reconnects again and again.

    Within each connection nothing arrives twice or out of order; across reconnects (a
    change after the last-seen message is sent again, harmlessly) Bob's view converges on
    the current state.
    """
    import random

    a, b, room = pair
    first = await api.post(a, room, "start")
    await mark_seen(client, b, first["id"])
    sender = await connect(client, a)
    rng = random.Random(13)
    total = 120

    async def expect(kind: str) -> dict:
        return await recv_type(sender, kind)

    async def keep_changing():
        alive: list[str] = [first["id"]]
        boosts: list[str] = []
        for i in range(total):
            op = rng.random()
            if op < 0.35 or len(alive) < 3:
                await sender.send_json(create(room, f"m{i}"))
                alive.append((await expect("NewMessage"))["message"]["id"])
            elif op < 0.6:
                target = rng.choice(alive)
                await sender.send_json(
                    {"type": "UpdateMessage", "message_id": target, "content": f"e{i}"}
                )
                await expect("MessageUpdated")
            elif op < 0.8:
                target = rng.choice(alive)
                await sender.send_json(
                    {"type": "AddBoost", "message_id": target, "content": f"b{i}"}
                )
                boosts.append((await expect("BoostAdded"))["boost"]["id"])
            elif op < 0.9 and boosts:
                await sender.send_json({"type": "RemoveBoost", "boost_id": boosts.pop(0)})
                frame = await recv(sender)
                assert frame["type"] in ("BoostRemoved", "Error"), frame  # its message may be gone
            else:
                target = alive.pop(rng.randrange(1, len(alive)))
                await sender.send_json({"type": "DeleteMessage", "message_id": target})
                await expect("MessageDeleted")
            await asyncio.sleep(0.002)

    task = asyncio.create_task(keep_changing())
    model = Model()
    model.apply({"type": "NewMessage", "message": first})
    reconnects = 0
    while not task.done():
        reconnects += 1
        ws, frames = await connect_and_catch_up(client, b)
        caught_messages = [f["message"]["seq"] for f in frames if f["type"] == "NewMessage"]
        caught_changes = [f["change_seq"] for f in frames if "change_seq" in f]
        assert caught_messages == sorted(set(caught_messages)), "catch-up messages out of order"
        assert caught_changes == sorted(set(caught_changes)), "catch-up changes out of order"
        live = []
        for _ in range(reconnects % 7):
            if task.done():
                break
            try:
                frame = await recv(ws, timeout=1.0)
            except TimeoutError:
                break
            live.append(frame)
        for frame in frames + live:
            model.apply(frame)
        live_seqs = [f.get("change_seq") or f["message"]["seq"] for f in live]
        assert live_seqs == sorted(set(live_seqs)), f"live frames out of order: {live_seqs}"
        if live_seqs and (caught_messages or caught_changes):
            assert live_seqs[0] > max(caught_messages + caught_changes), "a frame came twice"
        newest = [f["message"]["id"] for f in frames + live if f["type"] == "NewMessage"]
        if newest:
            await ws.send_json({"type": "UpdateLastSeen", "message_id": newest[-1]})
        await ws.close()
        await asyncio.sleep(rng.random() * 0.05)  # away for a moment: changes happen meanwhile
    await task
    ws, frames = await connect_and_catch_up(client, b)
    for frame in frames:
        model.apply(frame)
    page = await (
        await client.get(f"/api/rooms/{room}/messages?limit=200", headers=api.auth(b))
    ).json()
    assert model.messages == Model.of_history(page["messages"])
    assert reconnects >= 5
