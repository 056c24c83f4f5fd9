"""HTTP API: room names are unique per room type (direct rooms aside), a 409 otherwise."""

from __future__ import annotations

import asyncio

from test_http_auth import assert_error, bearer, row_counts

from campfire import errors


async def create(client, token, name, room_type="closed"):
    """POST /api/rooms: the raw response."""
    return await client.post(
        "/api/rooms", headers=bearer(token), json={"name": name, "room_type": room_type}
    )


async def test_a_taken_name_is_refused_per_room_type_ignoring_case(client, api):
    _, ann = await api.user("Ann")
    _, bob = await api.user("Bob")
    await api.room(ann, "General", "open")
    before = await row_counts(client)
    for name in ("General", "general", " GENERAL "):
        message = await assert_error(
            await create(client, bob, name, "open"), 409, "ROOM_NAME_TAKEN"
        )
        assert "General" in message or "general" in message.lower()
    assert await row_counts(client) == before  # nothing was written
    # Another type may use the name: a closed "general" is a different room.
    assert (await create(client, bob, "general", "closed")).status == 201
    await assert_error(await create(client, ann, "General", "closed"), 409, errors.ROOM_NAME_TAKEN)


async def test_a_name_taken_by_a_room_you_cannot_see_is_refused_too(client, api):
    # Names are unique server-wide: a private closed room still holds its name.
    _, ann = await api.user("Ann")
    _, bob = await api.user("Bob")
    await api.room(ann, "secret plans", "closed")
    await assert_error(await create(client, bob, "Secret Plans"), 409, errors.ROOM_NAME_TAKEN)


async def test_direct_room_names_do_not_block_other_rooms(client, api):
    _, ann_token = await api.user("Ann")
    bob, _ = await api.user("Bob")
    resp = await client.post(
        "/api/rooms/direct", headers=bearer(ann_token), json={"user_ids": [bob["id"]]}
    )
    assert resp.status == 201
    direct_name = (await resp.json())["room"]["name"]
    assert (await create(client, ann_token, direct_name)).status == 201


async def test_rename_to_a_taken_name_is_refused_and_changes_nothing(client, api):
    _, ann = await api.user("Ann")
    first = await api.room(ann, "alpha")
    second = await api.room(ann, "beta")
    resp = await client.patch(
        f"/api/rooms/{second['id']}", headers=bearer(ann), json={"name": "ALPHA"}
    )
    await assert_error(resp, 409, errors.ROOM_NAME_TAKEN)
    resp = await client.get(f"/api/rooms/{second['id']}", headers=bearer(ann))
    assert (await resp.json())["room"]["name"] == "beta"
    # A room may keep its own name, or change only its case.
    resp = await client.patch(
        f"/api/rooms/{first['id']}", headers=bearer(ann), json={"name": "Alpha"}
    )
    assert resp.status == 200 and (await resp.json())["room"]["name"] == "Alpha"


async def test_concurrent_creates_of_one_name_make_one_room(client, api):
    # The check runs inside the write transaction: two racing requests cannot both pass it.
    _, ann = await api.user("Ann")
    responses = await asyncio.gather(*(create(client, ann, "race", "open") for _ in range(8)))
    assert sorted(r.status for r in responses) == [201] + [409] * 7
    resp = await client.get("/api/rooms", headers=bearer(ann))
    assert [r["name"] for r in (await resp.json())["rooms"]].count("race") == 1
