"""HTTP API: GET /api/rooms counts each room's unread messages (after the mark, by others)."""

from __future__ import annotations

from test_http_auth import bearer
from test_http_rooms import my_rooms

from campfire import store


async def test_unread_count_counts_others_messages_after_the_mark(client, api, core):
    ann, ann_token = await api.user("Ann")
    bob, bob_token = await api.user("Bob")
    room = await api.room(ann_token, "general", members=[bob])
    quiet = await api.room(ann_token, "quiet", members=[bob])
    # No mark yet: every message by others since Ann joined is unread; her own never are.
    await api.post(ann_token, room["id"], "mine")
    posted = [await api.post(bob_token, room["id"], f"bob {i}") for i in range(3)]
    rooms = await my_rooms(client, ann_token)
    assert rooms[room["id"]]["unread_count"] == 3
    assert rooms[quiet["id"]]["unread_count"] == 0
    assert (await my_rooms(client, bob_token))[room["id"]]["unread_count"] == 1

    # Ann has seen the second of Bob's messages: one left.
    async with core.db.transaction() as conn:
        await store.mark_seen_txn(conn, room["id"], ann["id"], posted[1]["seq"])
    assert (await my_rooms(client, ann_token))[room["id"]]["unread_count"] == 1
    async with core.db.transaction() as conn:
        await store.mark_seen_txn(conn, room["id"], ann["id"], posted[2]["seq"])
    assert (await my_rooms(client, ann_token))[room["id"]]["unread_count"] == 0
    await api.post(ann_token, room["id"], "mine again")  # her own message is not news
    assert (await my_rooms(client, ann_token))[room["id"]]["unread_count"] == 0


async def test_history_from_before_joining_is_not_unread(client, api):
    _, ann_token = await api.user("Ann")
    bob, bob_token = await api.user("Bob")
    room = await api.room(ann_token, "general")
    await api.post(ann_token, room["id"], "old news")
    resp = await client.post(
        f"/api/rooms/{room['id']}/members", headers=bearer(ann_token), json={"user_id": bob["id"]}
    )
    assert resp.status in (200, 201)
    assert (await my_rooms(client, bob_token))[room["id"]]["unread_count"] == 0
    await api.post(ann_token, room["id"], "fresh")
    assert (await my_rooms(client, bob_token))[room["id"]]["unread_count"] == 1


async def test_unread_count_stops_at_the_cap(client, api, core, monkeypatch):
    monkeypatch.setattr(store, "UNREAD_COUNT_CAP", 5)
    _, ann_token = await api.user("Ann")
    bob, bob_token = await api.user("Bob")
    room = await api.room(ann_token, "general", members=[bob])
    for i in range(7):
        await api.post(ann_token, room["id"], f"m{i}")
    assert (await my_rooms(client, bob_token))[room["id"]]["unread_count"] == 5


async def test_listing_rooms_is_one_query_however_many_rooms(client, api, core):
    _, ann_token = await api.user("Ann")
    for i in range(12):
        await api.room(ann_token, f"room {i}")
    calls = []
    original = core.db.fetchall

    async def counting(*args, **kwargs):
        calls.append(args[0])
        return await original(*args, **kwargs)

    core.db.fetchall = counting
    try:
        rooms = await my_rooms(client, ann_token)
    finally:
        core.db.fetchall = original
    assert len(rooms) == 12
    assert len([sql for sql in calls if "unread_count" in sql]) == 1
