"""HTTP API: rooms, their members, direct rooms, and the access rules of the three room types."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from test_http_auth import anonymous, assert_error, bearer, row_counts

from campfire import errors

ROOM_FIELDS = ["created_at", "creator_id", "id", "name", "room_type"]
LISTED_ROOM_FIELDS = sorted(
    [
        *ROOM_FIELDS,
        "involvement",
        "last_message_at",
        "last_message_seq",
        "last_seen_seq",
        "unread_count",
        "unread_mentions",
    ]
)


async def my_rooms(client, token) -> dict[str, dict]:
    """GET /api/rooms as {room id: room}."""
    resp = await client.get("/api/rooms", headers=bearer(token))
    assert resp.status == 200
    return {room["id"]: room for room in (await resp.json())["rooms"]}


async def member_ids(client, token, room_id) -> set[str]:
    """GET /api/rooms/{id}/members as a set of user ids."""
    resp = await client.get(f"/api/rooms/{room_id}/members", headers=bearer(token))
    assert resp.status == 200, await resp.text()
    return {user["id"] for user in (await resp.json())["members"]}


async def direct(client, token, user_ids):
    """POST /api/rooms/direct."""
    return await client.post(
        "/api/rooms/direct", headers=bearer(token), json={"user_ids": user_ids}
    )


# --- creating, reading, listing ----------------------------------------------------------


async def test_create_open_and_closed_rooms(client, api):
    ann, token = await api.user("Ann")
    resp = await client.post(
        "/api/rooms", headers=bearer(token), json={"name": " Lobby ", "room_type": "open"}
    )
    assert resp.status == 201
    room = (await resp.json())["room"]
    assert sorted(room) == LISTED_ROOM_FIELDS  # the creator's view of it, as GET /api/rooms
    assert (
        room["name"] == "Lobby" and room["room_type"] == "open" and room["creator_id"] == ann["id"]
    )
    uuid.UUID(room["id"])
    resp = await client.post("/api/rooms", headers=bearer(token), json={"name": "Quiet"})
    assert (await resp.json())["room"]["room_type"] == "closed"  # the default
    resp = await client.get(f"/api/rooms/{room['id']}", headers=bearer(token))
    assert resp.status == 200 and (await resp.json())["room"] == room


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "room_type": "direct"},
        {"name": "x", "room_type": "public"},
        {"name": "x", "room_type": None},
        {"name": "", "room_type": "open"},
        {"name": "  ", "room_type": "open"},
        {"name": 3, "room_type": "open"},
        {"name": "x" * 101},
        {"room_type": "open"},
    ],
)
async def test_create_room_rejects_bad_fields_and_changes_nothing(client, api, body):
    _, token = await api.user("Ann")
    before = await row_counts(client)
    resp = await client.post("/api/rooms", headers=bearer(token), json=body)
    await assert_error(resp, 400, errors.VALIDATION_FAILED)
    assert await row_counts(client) == before


async def test_room_list_shows_my_rooms_with_their_newest_message_and_last_seen(client, api):
    _ann, ann_token = await api.user("Ann")
    bob, bob_token = await api.user("Bob")
    shared = await api.room(ann_token, "Shared", members=[bob])
    await api.room(ann_token, "Ann only")
    rooms = await my_rooms(client, bob_token)
    assert list(rooms) == [shared["id"]]
    listed = rooms[shared["id"]]
    assert sorted(listed) == LISTED_ROOM_FIELDS
    assert listed["last_seen_seq"] is None and listed["last_message_seq"] is None
    assert listed["last_message_at"] is None

    first = await api.post(ann_token, shared["id"], "one")
    second = await api.post(ann_token, shared["id"], "two")
    listed = (await my_rooms(client, bob_token))[shared["id"]]
    assert listed["last_message_seq"] == second["seq"] > first["seq"]
    assert listed["last_message_at"] == second["created_at"]

    ws = await client.ws_connect("/ws", headers=bearer(bob_token))
    await ws.send_json({"type": "UpdateLastSeen", "message_id": first["id"]})
    for _ in range(100):  # the mark is written by the socket handler; wait for it
        listed = (await my_rooms(client, bob_token))[shared["id"]]
        if listed["last_seen_seq"] is not None:
            break
        await asyncio.sleep(0.02)
    await ws.close()
    assert listed["last_seen_seq"] == first["seq"]
    assert (await my_rooms(client, ann_token))[shared["id"]]["last_seen_seq"] is None


async def test_room_list_needs_a_session(client, api):
    await api.setup_admin()
    anonymous(client)
    await assert_error(await client.get("/api/rooms"), 401, errors.UNAUTHORIZED)
    resp = await client.post("/api/rooms", json={"name": "x", "room_type": "open"})
    await assert_error(resp, 401, errors.UNAUTHORIZED)


# --- the three room types ----------------------------------------------------------------


async def test_open_room_includes_everyone_even_users_created_later(client, api):
    ann, ann_token = await api.user("Ann")
    bob, _ = await api.user("Bob")
    lobby = await api.room(ann_token, "Lobby", "open")
    # Cat does not exist yet when the room is made; she is a member from her first moment.
    cat, cat_token = await api.user("Cat")
    assert lobby["id"] in await my_rooms(client, cat_token)
    admin_id = (await (await client.get("/api/users/me", headers=bearer(api.admin_token))).json())[
        "user"
    ]["id"]
    assert await member_ids(client, cat_token, lobby["id"]) == {
        admin_id,
        ann["id"],
        bob["id"],
        cat["id"],
    }
    message = await api.post(cat_token, lobby["id"], "hello from the new person")
    assert message["creator_id"] == cat["id"]


async def test_reactivated_user_is_back_in_open_rooms_made_while_away(client, api):
    ann, _ann_token = await api.user("Ann")
    resp = await client.patch(
        f"/api/users/{ann['id']}", headers=bearer(api.admin_token), json={"is_active": False}
    )
    assert resp.status == 200
    lobby = await api.room(api.admin_token, "Lobby", "open")
    resp = await client.patch(
        f"/api/users/{ann['id']}", headers=bearer(api.admin_token), json={"is_active": True}
    )
    assert resp.status == 200
    resp = await client.post(
        "/api/auth/login", json={"email": ann["email"], "password": "correct horse"}
    )
    token = (await resp.json())["session_token"]
    assert lobby["id"] in await my_rooms(client, token)


async def test_closed_room_admits_only_its_members(client, api):
    ann, ann_token = await api.user("Ann")
    bob, bob_token = await api.user("Bob")
    cat, cat_token = await api.user("Cat")
    room = await api.room(ann_token, "Secret", members=[bob])
    assert await member_ids(client, ann_token, room["id"]) == {ann["id"], bob["id"]}
    assert (await client.get(f"/api/rooms/{room['id']}", headers=bearer(bob_token))).status == 200
    assert room["id"] not in await my_rooms(client, cat_token)
    await assert_no_access(client, cat_token, room["id"])
    # Added, Cat gets in; removed, she is out again.
    resp = await client.post(
        f"/api/rooms/{room['id']}/members", headers=bearer(ann_token), json={"user_id": cat["id"]}
    )
    assert resp.status == 201
    assert (await client.get(f"/api/rooms/{room['id']}", headers=bearer(cat_token))).status == 200
    resp = await client.delete(
        f"/api/rooms/{room['id']}/members/{cat['id']}", headers=bearer(ann_token)
    )
    assert resp.status == 204
    await assert_no_access(client, cat_token, room["id"])


async def assert_no_access(client, token, room_id) -> None:
    """Every room route answers 403 ROOM_ACCESS_DENIED and changes nothing."""
    before = await row_counts(client)
    auth = bearer(token)
    for resp in (
        await client.get(f"/api/rooms/{room_id}", headers=auth),
        await client.get(f"/api/rooms/{room_id}/members", headers=auth),
        await client.get(f"/api/rooms/{room_id}/messages", headers=auth),
        await client.post(
            f"/api/rooms/{room_id}/messages",
            headers=auth,
            json={"content": "let me in", "client_message_id": str(uuid.uuid4())},
        ),
        await client.patch(f"/api/rooms/{room_id}", headers=auth, json={"name": "mine now"}),
        await client.delete(f"/api/rooms/{room_id}", headers=auth),
        await client.post(
            f"/api/rooms/{room_id}/members", headers=auth, json={"user_id": str(uuid.uuid4())}
        ),
    ):
        await assert_error(resp, 403, errors.ROOM_ACCESS_DENIED)
    assert await row_counts(client) == before


async def test_direct_room_is_found_again_for_the_same_set_in_any_order(client, api):
    ann, ann_token = await api.user("Ann")
    bob, bob_token = await api.user("Bob")
    cat, cat_token = await api.user("Cat")
    resp = await direct(client, ann_token, [bob["id"], cat["id"]])
    assert resp.status == 201
    room = (await resp.json())["room"]
    assert room["room_type"] == "direct" and room["creator_id"] == ann["id"]
    # Named after the others, as each member sees it (never stored).
    assert room["name"] == "Bob, Cat"
    assert room["member_ids"] == sorted([ann["id"], bob["id"], cat["id"]])
    before = await row_counts(client)
    for token, ids, name in (
        (ann_token, [cat["id"], bob["id"]], "Bob, Cat"),
        (bob_token, [ann["id"], cat["id"].upper()], "Ann, Cat"),
        (cat_token, [cat["id"], bob["id"], ann["id"], bob["id"]], "Ann, Bob"),
    ):
        resp = await direct(client, token, ids)
        assert resp.status == 200
        assert (await resp.json())["room"] == {**room, "name": name}
    assert await row_counts(client) == before
    assert await member_ids(client, bob_token, room["id"]) == {ann["id"], bob["id"], cat["id"]}
    # A different set is a different room.
    resp = await direct(client, ann_token, [bob["id"]])
    assert resp.status == 201
    assert (await resp.json())["room"]["id"] != room["id"]


async def test_direct_room_is_private_and_fixed(client, api):
    ann, ann_token = await api.user("Ann")
    bob, _ = await api.user("Bob")
    cat, cat_token = await api.user("Cat")
    room = (await (await direct(client, ann_token, [bob["id"]])).json())["room"]
    await assert_no_access(client, cat_token, room["id"])
    before = await row_counts(client)
    resp = await client.post(
        f"/api/rooms/{room['id']}/members", headers=bearer(ann_token), json={"user_id": cat["id"]}
    )
    await assert_error(resp, 403, errors.FORBIDDEN)
    resp = await client.delete(
        f"/api/rooms/{room['id']}/members/{bob['id']}", headers=bearer(ann_token)
    )
    await assert_error(resp, 403, errors.FORBIDDEN)
    resp = await client.delete(
        f"/api/rooms/{room['id']}/members/{ann['id']}", headers=bearer(ann_token)
    )
    await assert_error(resp, 403, errors.FORBIDDEN)
    resp = await client.patch(
        f"/api/rooms/{room['id']}", headers=bearer(ann_token), json={"name": "us"}
    )
    await assert_error(resp, 403, errors.FORBIDDEN)
    assert await row_counts(client) == before


@pytest.mark.parametrize(
    "user_ids,status,code",
    [
        (None, 400, errors.VALIDATION_FAILED),
        ("bob", 400, errors.VALIDATION_FAILED),
        ([], 400, errors.VALIDATION_FAILED),
        (["not-a-uuid"], 400, errors.VALIDATION_FAILED),
        ([7], 400, errors.VALIDATION_FAILED),
        ("self", 400, errors.VALIDATION_FAILED),
        ("unknown", 404, errors.USER_NOT_FOUND),
        ("inactive", 404, errors.USER_NOT_FOUND),
        ("too many", 400, errors.VALIDATION_FAILED),
    ],
)
async def test_direct_room_rejects_bad_user_ids(client, api, user_ids, status, code):
    ann, token = await api.user("Ann")
    gone, _ = await api.user("Gone")
    await client.patch(
        f"/api/users/{gone['id']}", headers=bearer(api.admin_token), json={"is_active": False}
    )
    user_ids = (
        {
            "self": [ann["id"]],
            "unknown": [str(uuid.uuid4())],
            "inactive": [gone["id"]],
            "too many": [str(uuid.uuid4()) for _ in range(51)],
        }.get(user_ids, user_ids)
        if isinstance(user_ids, str)
        else user_ids
    )
    before = await row_counts(client)
    resp = await client.post(
        "/api/rooms/direct", headers=bearer(token), json={"user_ids": user_ids}
    )
    await assert_error(resp, status, code)
    assert await row_counts(client) == before


# --- managing a room ---------------------------------------------------------------------


async def test_creator_and_admin_rename_others_cannot(client, api):
    _ann, ann_token = await api.user("Ann")
    bob, bob_token = await api.user("Bob")
    room = await api.room(ann_token, "Old", members=[bob])
    resp = await client.patch(
        f"/api/rooms/{room['id']}", headers=bearer(ann_token), json={"name": " New "}
    )
    assert resp.status == 200 and (await resp.json())["room"]["name"] == "New"
    resp = await client.patch(
        f"/api/rooms/{room['id']}", headers=bearer(bob_token), json={"name": "Bob's"}
    )
    await assert_error(resp, 403, errors.FORBIDDEN)
    resp = await client.patch(
        f"/api/rooms/{room['id']}", headers=bearer(api.admin_token), json={"name": "Admin's"}
    )
    assert resp.status == 200 and (await resp.json())["room"]["name"] == "Admin's"
    for body in ({"name": ""}, {"name": None}, {}, {"name": "x" * 101}):
        resp = await client.patch(f"/api/rooms/{room['id']}", headers=bearer(ann_token), json=body)
        await assert_error(resp, 400, errors.VALIDATION_FAILED)
    resp = await client.get(f"/api/rooms/{room['id']}", headers=bearer(bob_token))
    assert (await resp.json())["room"]["name"] == "Admin's"


async def test_admin_manages_a_closed_room_without_being_in_it(client, api):
    ann, ann_token = await api.user("Ann")
    bob, _bob_token = await api.user("Bob")
    room = await api.room(ann_token, "Private")
    admin = bearer(api.admin_token)
    resp = await client.patch(f"/api/rooms/{room['id']}", headers=admin, json={"name": "Renamed"})
    assert resp.status == 200, await resp.text()
    resp = await client.post(
        f"/api/rooms/{room['id']}/members", headers=admin, json={"user_id": bob["id"]}
    )
    assert resp.status == 201, await resp.text()
    assert await member_ids(client, ann_token, room["id"]) == {ann["id"], bob["id"]}
    resp = await client.delete(f"/api/rooms/{room['id']}/members/{bob['id']}", headers=admin)
    assert resp.status == 204, await resp.text()
    # Managing is not reading: the admin is still no member.
    await assert_error(
        await client.get(f"/api/rooms/{room['id']}/messages", headers=admin),
        403,
        errors.ROOM_ACCESS_DENIED,
    )
    resp = await client.delete(f"/api/rooms/{room['id']}", headers=admin)
    assert resp.status == 204


async def test_delete_room_removes_it_with_its_messages(client, api):
    _ann, ann_token = await api.user("Ann")
    bob, bob_token = await api.user("Bob")
    room = await api.room(ann_token, "Doomed", members=[bob])
    await api.post(bob_token, room["id"], "bye")
    resp = await client.delete(f"/api/rooms/{room['id']}", headers=bearer(bob_token))
    await assert_error(resp, 403, errors.FORBIDDEN)
    before = await row_counts(client)
    resp = await client.delete(f"/api/rooms/{room['id']}", headers=bearer(ann_token))
    assert resp.status == 204
    after = await row_counts(client)
    assert after["rooms"] == before["rooms"] - 1
    assert after["memberships"] == before["memberships"] - 2
    assert after["messages"] == before["messages"] - 1
    for token in (ann_token, bob_token):
        await assert_error(
            await client.get(f"/api/rooms/{room['id']}", headers=bearer(token)),
            404,
            errors.ROOM_NOT_FOUND,
        )
        assert room["id"] not in await my_rooms(client, token)
    await assert_error(
        await client.delete(f"/api/rooms/{room['id']}", headers=bearer(ann_token)),
        404,
        errors.ROOM_NOT_FOUND,
    )


async def test_members_added_and_removed(client, api):
    ann, ann_token = await api.user("Ann")
    bob, bob_token = await api.user("Bob")
    cat, cat_token = await api.user("Cat")
    room = await api.room(ann_token, "Team")
    url = f"/api/rooms/{room['id']}/members"
    resp = await client.post(url, headers=bearer(ann_token), json={"user_id": bob["id"]})
    assert resp.status == 201 and await resp.json() == {"added": True}
    resp = await client.post(url, headers=bearer(ann_token), json={"user_id": bob["id"].upper()})
    assert resp.status == 200 and await resp.json() == {"added": False}
    resp = await client.get(url, headers=bearer(bob_token))
    members = (await resp.json())["members"]
    assert [m["name"] for m in members] == ["Ann", "Bob"]
    assert all("password_hash" not in m for m in members)
    # A plain member may not add or remove others ...
    before = await row_counts(client)
    resp = await client.post(url, headers=bearer(bob_token), json={"user_id": cat["id"]})
    await assert_error(resp, 403, errors.FORBIDDEN)
    resp = await client.delete(f"{url}/{ann['id']}", headers=bearer(bob_token))
    await assert_error(resp, 403, errors.FORBIDDEN)
    assert await row_counts(client) == before
    # ... but may leave.
    resp = await client.delete(f"{url}/{bob['id']}", headers=bearer(bob_token))
    assert resp.status == 204
    assert await member_ids(client, ann_token, room["id"]) == {ann["id"]}
    resp = await client.delete(f"{url}/{bob['id']}", headers=bearer(ann_token))
    await assert_error(resp, 404, errors.NOT_FOUND)
    assert cat_token  # Cat never got in


@pytest.mark.parametrize(
    "body,status,code",
    [
        ({}, 400, errors.VALIDATION_FAILED),
        ({"user_id": "bob"}, 400, errors.VALIDATION_FAILED),
        ({"user_id": 12}, 400, errors.VALIDATION_FAILED),
        ({"user_id": "unknown"}, 404, errors.USER_NOT_FOUND),
        ({"user_id": "inactive"}, 404, errors.USER_NOT_FOUND),
    ],
)
async def test_add_member_rejects_bad_users(client, api, body, status, code):
    _, token = await api.user("Ann")
    gone, _ = await api.user("Gone")
    await client.patch(
        f"/api/users/{gone['id']}", headers=bearer(api.admin_token), json={"is_active": False}
    )
    room = await api.room(token, "Team")
    if body.get("user_id") in ("unknown", "inactive"):
        body = {"user_id": str(uuid.uuid4()) if body["user_id"] == "unknown" else gone["id"]}
    before = await row_counts(client)
    resp = await client.post(f"/api/rooms/{room['id']}/members", headers=bearer(token), json=body)
    await assert_error(resp, status, code)
    assert await row_counts(client) == before


async def test_leaving_an_open_room_and_coming_back_by_posting(client, api):
    _ann, ann_token = await api.user("Ann")
    bob, bob_token = await api.user("Bob")
    lobby = await api.room(ann_token, "Lobby", "open")
    resp = await client.delete(
        f"/api/rooms/{lobby['id']}/members/{bob['id']}", headers=bearer(bob_token)
    )
    assert resp.status == 204
    assert lobby["id"] not in await my_rooms(client, bob_token)
    # An open room stays readable to every active user ...
    assert (await client.get(f"/api/rooms/{lobby['id']}", headers=bearer(bob_token))).status == 200
    assert (
        await client.get(f"/api/rooms/{lobby['id']}/messages", headers=bearer(bob_token))
    ).status == 200
    # ... and posting in it makes Bob a member again.
    await api.post(bob_token, lobby["id"], "back")
    assert lobby["id"] in await my_rooms(client, bob_token)


# --- rooms that are not there ------------------------------------------------------------


@pytest.mark.parametrize(
    "room_id",
    [str(uuid.uuid4()), "not-a-uuid", "123", "general", "00000000-0000-0000-0000-00000000000g"],
)
async def test_missing_room_is_404_on_every_route(client, api, room_id):
    bob, token = await api.user("Bob")
    auth = bearer(api.admin_token)
    before = await row_counts(client)
    for resp in (
        await client.get(f"/api/rooms/{room_id}", headers=auth),
        await client.patch(f"/api/rooms/{room_id}", headers=auth, json={"name": "x"}),
        await client.delete(f"/api/rooms/{room_id}", headers=auth),
        await client.get(f"/api/rooms/{room_id}/members", headers=auth),
        await client.post(
            f"/api/rooms/{room_id}/members", headers=auth, json={"user_id": bob["id"]}
        ),
        await client.delete(f"/api/rooms/{room_id}/members/{bob['id']}", headers=bearer(token)),
        await client.get(f"/api/rooms/{room_id}/messages", headers=auth),
        await client.post(
            f"/api/rooms/{room_id}/messages",
            headers=auth,
            json={"content": "hi", "client_message_id": str(uuid.uuid4())},
        ),
    ):
        await assert_error(resp, 404, errors.ROOM_NOT_FOUND)
    assert await row_counts(client) == before


async def test_non_uuid_member_id_is_404(client, api):
    _, token = await api.user("Ann")
    room = await api.room(token, "Team")
    resp = await client.delete(f"/api/rooms/{room['id']}/members/bob", headers=bearer(token))
    await assert_error(resp, 404, errors.USER_NOT_FOUND)


async def test_room_routes_need_a_session(client, api):
    _, token = await api.user("Ann")
    room = await api.room(token, "Team")
    anonymous(client)
    for method, path in (
        ("GET", f"/api/rooms/{room['id']}"),
        ("PATCH", f"/api/rooms/{room['id']}"),
        ("DELETE", f"/api/rooms/{room['id']}"),
        ("GET", f"/api/rooms/{room['id']}/members"),
        ("POST", f"/api/rooms/{room['id']}/members"),
        ("POST", "/api/rooms/direct"),
        ("DELETE", f"/api/rooms/{room['id']}/members/{uuid.uuid4()}"),
    ):
        resp = await client.request(method, path, json={})
        await assert_error(resp, 401, errors.UNAUTHORIZED)
