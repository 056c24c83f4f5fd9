"""Messages that live: edit, delete, boost and unboost over HTTP and /ws; who may; bad input."""

import uuid

import pytest
from clusterutil import client_on_one_or_two_workers  # noqa: F401 (the `client` fixture)
from test_http_auth import assert_error, bearer
from wsutil import connect, create, recv, recv_type, silent

from campfire import errors
from campfire.keys import core_key

TABLES = ("messages", "changes", "boosts", "mentions")


@pytest.fixture
def settings(settings):
    """Room for many changes in a row."""
    return settings.replace(user_messages_burst=1000, ws_burst=1000)


@pytest.fixture
async def world(client, api):
    """Alice made a closed room with Bob in it; Carol is an outsider; the admin is an admin."""
    alice, a = await api.user("Alice")
    bob, b = await api.user("Bob")
    carol, c = await api.user("Carol")
    room = await api.room(a, "plans", members=[bob])
    return {
        "alice": alice,
        "a": a,
        "bob": bob,
        "b": b,
        "carol": carol,
        "c": c,
        "admin": api.admin_token,
        "room": room["id"],
    }


async def counts(client) -> dict[str, int]:
    """Rows per table: a refused change must leave these as they were."""
    db = client.app[core_key].db
    return {t: (await db.fetchone(f"SELECT COUNT(*) FROM {t}"))[0] for t in TABLES}


async def edit(client, token, message_id, content):
    return await client.patch(
        f"/api/messages/{message_id}", headers=bearer(token), json={"content": content}
    )


async def delete(client, token, message_id):
    return await client.delete(f"/api/messages/{message_id}", headers=bearer(token))


async def boost(client, token, message_id, content):
    return await client.post(
        f"/api/messages/{message_id}/boosts", headers=bearer(token), json={"content": content}
    )


async def unboost(client, token, message_id, boost_id):
    return await client.delete(
        f"/api/messages/{message_id}/boosts/{boost_id}", headers=bearer(token)
    )


async def history(client, token, room_id) -> list[dict]:
    resp = await client.get(f"/api/rooms/{room_id}/messages", headers=bearer(token))
    assert resp.status == 200, await resp.text()
    return (await resp.json())["messages"]


# --- edit --------------------------------------------------------------------------------


async def test_author_edits_and_every_member_connection_learns_it(client, api, world):
    room = world["room"]
    bob_ws, alice_ws = await connect(client, world["b"]), await connect(client, world["a"])
    message = await api.post(world["a"], room, "helo")
    await recv_type(bob_ws, "NewMessage"), await recv_type(alice_ws, "NewMessage")
    resp = await edit(client, world["a"], message["id"], "hello")
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    edited, seq = body["message"], body["change_seq"]
    assert edited["content"] == "hello" and edited["edited_at"] is not None
    assert edited["seq"] == message["seq"] and seq > message["seq"]
    for ws in (bob_ws, alice_ws):
        frame = await recv_type(ws, "MessageUpdated")
        assert frame == {"type": "MessageUpdated", "message": edited, "change_seq": seq}
    (shown,) = await history(client, world["b"], room)
    assert shown["content"] == "hello" and shown["edited_at"] == edited["edited_at"]
    # The sequence is shared: the next message is numbered after the edit.
    assert (await api.post(world["b"], room, "next"))["seq"] > seq


async def test_an_edit_that_changes_nothing_tells_nobody(client, api, world):
    message = await api.post(world["a"], world["room"], "same")
    bob_ws = await connect(client, world["b"])
    resp = await edit(client, world["a"], message["id"], "same")
    assert resp.status == 200
    body = await resp.json()
    assert body["change_seq"] is None and body["message"]["edited_at"] is None
    await silent(bob_ws)


async def test_a_member_cannot_edit_another_members_message(client, api, world):
    message = await api.post(world["a"], world["room"], "mine")
    before = await counts(client)
    for token in (world["b"], world["admin"]):  # not even an administrator
        await assert_error(
            await edit(client, token, message["id"], "theirs"), 403, errors.FORBIDDEN
        )
    assert await counts(client) == before
    assert (await history(client, world["a"], world["room"]))[0]["content"] == "mine"


@pytest.mark.parametrize(
    "content",
    ["", "   \n ", "x" * 10_001, None, 42, ["a"], "nul \x00 inside"],
    ids=["empty", "blank", "oversize", "null", "number", "list", "nul"],
)
async def test_bad_edits_are_refused_and_change_nothing(client, api, world, content):
    message = await api.post(world["a"], world["room"], "original")
    before = await counts(client)
    await assert_error(
        await edit(client, world["a"], message["id"], content), 400, errors.VALIDATION_FAILED
    )
    assert await counts(client) == before
    assert (await history(client, world["a"], world["room"]))[0]["content"] == "original"


async def test_content_of_exactly_the_limit_is_accepted(client, api, world):
    message = await api.post(world["a"], world["room"], "short")
    assert (await edit(client, world["a"], message["id"], "y" * 10_000)).status == 200


# --- delete ------------------------------------------------------------------------------


async def test_author_deletes_with_boosts_and_mentions(client, api, world):
    room = world["room"]
    message = await api.post(world["a"], room, "hi @Bob")
    assert message["mentions"] == [world["bob"]["id"]]
    assert (await boost(client, world["b"], message["id"], "👍")).status == 201
    bob_ws = await connect(client, world["b"])
    before = await counts(client)
    resp = await delete(client, world["a"], message["id"])
    assert resp.status == 204
    frame = await recv_type(bob_ws, "MessageDeleted")
    assert frame["message_id"] == message["id"] and frame["room_id"] == room
    assert frame["change_seq"] > message["seq"]
    assert await history(client, world["b"], room) == []
    after = await counts(client)
    assert after == {
        "messages": before["messages"] - 1,
        "changes": before["changes"] + 1,
        "boosts": before["boosts"] - 1,
        "mentions": before["mentions"] - 1,
    }


async def test_room_managers_delete_any_message_members_only_their_own(client, api, world):
    room = world["room"]
    bobs = [await api.post(world["b"], room, f"bob {i}") for i in range(2)]
    alices = await api.post(world["a"], room, "alice's")
    await assert_error(await delete(client, world["b"], alices["id"]), 403, errors.FORBIDDEN)
    assert (await delete(client, world["a"], bobs[0]["id"])).status == 204  # the creator
    assert (await delete(client, world["admin"], bobs[1]["id"])).status == 204  # an admin
    assert [m["id"] for m in await history(client, world["a"], room)] == [alices["id"]]


async def test_a_deleted_message_is_not_found_for_every_change(client, api, world):
    message = await api.post(world["a"], world["room"], "gone soon")
    kept = await boost(client, world["b"], message["id"], "ok")
    boost_id = (await kept.json())["boost"]["id"]
    assert (await delete(client, world["a"], message["id"])).status == 204
    before = await counts(client)
    code = errors.MESSAGE_NOT_FOUND
    await assert_error(await edit(client, world["a"], message["id"], "again"), 404, code)
    await assert_error(await delete(client, world["a"], message["id"]), 404, code)
    await assert_error(await boost(client, world["b"], message["id"], "late"), 404, code)
    await assert_error(
        await unboost(client, world["b"], message["id"], boost_id), 404, errors.BOOST_NOT_FOUND
    )
    assert await counts(client) == before


# --- the outsider ------------------------------------------------------------------------


async def test_an_outsider_learns_nothing_about_a_message(client, api, world):
    """Carol gets exactly what a message that does not exist gets, and changes nothing."""
    message = await api.post(world["a"], world["room"], "private")
    added = await (await boost(client, world["b"], message["id"], "🎉")).json()
    boost_id = added["boost"]["id"]
    before = await counts(client)
    c, missing, missing_boost = world["c"], str(uuid.uuid4()), str(uuid.uuid4())
    for real, fake in [
        (edit(client, c, message["id"], "x"), edit(client, c, missing, "x")),
        (delete(client, c, message["id"]), delete(client, c, missing)),
        (boost(client, c, message["id"], "x"), boost(client, c, missing, "x")),
        (
            unboost(client, c, message["id"], boost_id),
            unboost(client, c, message["id"], missing_boost),
        ),
    ]:
        real, fake = await real, await fake
        assert (real.status, await real.json()) == (fake.status, await fake.json())
        assert real.status == 404
    assert await counts(client) == before


async def test_an_outsider_cannot_list_members_to_complete(client, world):
    resp = await client.get(
        f"/api/rooms/{world['room']}/members?query=b", headers=bearer(world["c"])
    )
    await assert_error(resp, 403, errors.ROOM_ACCESS_DENIED)


# --- boosts ------------------------------------------------------------------------------


async def test_boost_and_unboost(client, api, world):
    room = world["room"]
    message = await api.post(world["a"], room, "ship it")
    alice_ws = await connect(client, world["a"])
    resp = await boost(client, world["b"], message["id"], "  🚀  ")
    assert resp.status == 201
    body = await resp.json()
    added, seq = body["boost"], body["change_seq"]
    assert added["content"] == "🚀" and added["booster_id"] == world["bob"]["id"]
    assert added["message_id"] == message["id"] and added["room_id"] == room
    assert await recv(alice_ws) == {"type": "BoostAdded", "boost": added, "change_seq": seq}
    # The same boost again by the same person: the first one, nothing new.
    again = await boost(client, world["b"], message["id"], "🚀")
    assert again.status == 200 and (await again.json())["boost"] == added
    await silent(alice_ws)
    (shown,) = await history(client, world["a"], room)
    assert shown["boosts"] == [added]
    # Only the booster takes it back.
    await assert_error(
        await unboost(client, world["a"], message["id"], added["id"]), 403, errors.FORBIDDEN
    )
    assert (await unboost(client, world["b"], message["id"], added["id"])).status == 204
    frame = await recv_type(alice_ws, "BoostRemoved")
    assert frame == {
        "type": "BoostRemoved",
        "boost_id": added["id"],
        "message_id": message["id"],
        "room_id": room,
        "change_seq": frame["change_seq"],
    }
    assert frame["change_seq"] > seq
    assert (await history(client, world["a"], room))[0]["boosts"] == []


@pytest.mark.parametrize(
    "content",
    ["", "   ", "x" * 17, None, 7, "two\nlines", "tab\there"],
    ids=["empty", "blank", "17 chars", "null", "number", "newline", "tab"],
)
async def test_bad_boosts_are_refused(client, api, world, content):
    message = await api.post(world["a"], world["room"], "boost me")
    before = await counts(client)
    resp = await boost(client, world["b"], message["id"], content)
    await assert_error(resp, 400, errors.VALIDATION_FAILED)
    assert await counts(client) == before


async def test_a_boost_of_sixteen_characters_is_fine(client, api, world):
    message = await api.post(world["a"], world["room"], "boost me")
    assert (await boost(client, world["b"], message["id"], "x" * 16)).status == 201


async def test_boosts_per_person_per_message_are_capped(aiohttp_client, settings, api):
    from helpers import make_client

    client = await make_client(aiohttp_client, settings, api, boosts_per_user_per_message=3)
    _alice, a = await api.user("Alice")
    room = (await api.room(a, "r"))["id"]
    message = await api.post(a, room, "popular")
    for word in ("a", "b", "c"):
        assert (await boost(client, a, message["id"], word)).status == 201
    before = await counts(client)
    await assert_error(await boost(client, a, message["id"], "d"), 400, errors.VALIDATION_FAILED)
    assert await counts(client) == before


async def test_a_boost_named_under_another_message_is_not_found(client, api, world):
    one = await api.post(world["a"], world["room"], "one")
    two = await api.post(world["a"], world["room"], "two")
    added = (await (await boost(client, world["b"], one["id"], "+1")).json())["boost"]
    resp = await unboost(client, world["b"], two["id"], added["id"])
    await assert_error(resp, 404, errors.BOOST_NOT_FOUND)


async def test_deleting_a_room_deletes_all_of_it(client, api, world):
    room = world["room"]
    message = await api.post(world["a"], room, "@Bob look")
    await boost(client, world["b"], message["id"], "👀")
    await edit(client, world["a"], message["id"], "@Bob look here")
    resp = await client.delete(f"/api/rooms/{room}", headers=bearer(world["a"]))
    assert resp.status == 204
    assert await counts(client) == dict.fromkeys(TABLES, 0)


async def test_open_room_boosts_need_no_invitation(client, api, world):
    """Every active user belongs to an open room, so any of them may boost there."""
    lobby = (await api.room(world["a"], "lobby", room_type="open"))["id"]
    message = await api.post(world["a"], lobby, "welcome")
    assert (await boost(client, world["c"], message["id"], "👋")).status == 201


# --- the same over /ws -------------------------------------------------------------------


async def test_every_change_over_the_socket(client, api, world):
    room = world["room"]
    alice_ws, bob_ws = await connect(client, world["a"]), await connect(client, world["b"])
    await alice_ws.send_json(create(room, "draft"))
    message = (await recv_type(alice_ws, "NewMessage"))["message"]
    await recv_type(bob_ws, "NewMessage")

    await alice_ws.send_json(
        {"type": "UpdateMessage", "message_id": message["id"], "content": "final"}
    )
    updated = await recv_type(bob_ws, "MessageUpdated")
    assert updated["message"]["content"] == "final"
    assert await recv(alice_ws) == updated  # the author's own socket learns it the same way

    await bob_ws.send_json({"type": "AddBoost", "message_id": message["id"], "content": "✅"})
    added = await recv_type(alice_ws, "BoostAdded")
    assert await recv(bob_ws) == added
    assert added["change_seq"] > updated["change_seq"]
    # Boosting the same again is answered to that socket alone, with the original.
    await bob_ws.send_json({"type": "AddBoost", "message_id": message["id"], "content": "✅"})
    again = await recv_type(bob_ws, "BoostAdded")
    assert again["boost"] == added["boost"] and again["change_seq"] is None
    await silent(alice_ws)

    await bob_ws.send_json({"type": "RemoveBoost", "boost_id": added["boost"]["id"]})
    removed = await recv_type(alice_ws, "BoostRemoved")
    assert removed["boost_id"] == added["boost"]["id"]
    await recv_type(bob_ws, "BoostRemoved")

    await alice_ws.send_json({"type": "DeleteMessage", "message_id": message["id"]})
    deleted = await recv_type(bob_ws, "MessageDeleted")
    assert deleted["message_id"] == message["id"]
    assert deleted["change_seq"] > removed["change_seq"] > added["change_seq"]
    assert await history(client, world["b"], room) == []


async def test_socket_errors_match_http(client, api, world):
    room = world["room"]
    message = await api.post(world["a"], room, "alice's")
    bob_ws, carol_ws = await connect(client, world["b"]), await connect(client, world["c"])
    missing = str(uuid.uuid4())
    mid = message["id"]
    cases = [
        (bob_ws, {"type": "UpdateMessage", "message_id": mid, "content": "x"}, "FORBIDDEN"),
        (bob_ws, {"type": "DeleteMessage", "message_id": mid}, "FORBIDDEN"),
        (bob_ws, {"type": "DeleteMessage", "message_id": missing}, "MESSAGE_NOT_FOUND"),
        (carol_ws, {"type": "DeleteMessage", "message_id": mid}, "MESSAGE_NOT_FOUND"),
        (carol_ws, {"type": "AddBoost", "message_id": mid, "content": "x"}, "MESSAGE_NOT_FOUND"),
        (bob_ws, {"type": "AddBoost", "message_id": mid, "content": "x" * 17}, "VALIDATION_FAILED"),
        (bob_ws, {"type": "UpdateMessage", "message_id": mid, "content": ""}, "VALIDATION_FAILED"),
        (bob_ws, {"type": "RemoveBoost", "boost_id": missing}, "BOOST_NOT_FOUND"),
        (bob_ws, {"type": "RemoveBoost", "boost_id": "nope"}, "VALIDATION_FAILED"),
        (bob_ws, {"type": "DeleteMessage"}, "VALIDATION_FAILED"),
    ]  # fmt: skip
    before = await counts(client)
    for ws, frame, code in cases:
        await ws.send_json(frame)
        answer = await recv_type(ws, "Error")
        assert answer["code"] == code, (frame, answer)
    assert await counts(client) == before
    # The connection stays open and useful.
    await bob_ws.send_json({"type": "AddBoost", "message_id": message["id"], "content": "ok"})
    assert (await recv_type(bob_ws, "BoostAdded"))["boost"]["content"] == "ok"


async def test_changes_are_rate_limited_with_messages(aiohttp_client, settings, api):
    from helpers import make_client

    client = await make_client(
        aiohttp_client, settings, api, user_messages_burst=2, user_messages_per_second=0.01
    )
    _alice, a = await api.user("Alice")
    room = (await api.room(a, "r"))["id"]
    message = await api.post(a, room, "one")
    assert (await edit(client, a, message["id"], "two")).status == 200
    resp = await edit(client, a, message["id"], "three")
    await assert_error(resp, 429, errors.RATE_LIMITED)
    assert resp.headers["Retry-After"]


async def test_the_same_boost_sent_twice_at_once_is_stored_once(client, api, world):
    import asyncio

    message = await api.post(world["a"], world["room"], "double click")
    alice_ws = await connect(client, world["a"])
    first, second = await asyncio.gather(
        *(boost(client, world["b"], message["id"], "❤️") for _ in range(2))
    )
    assert sorted([first.status, second.status]) == [200, 201]
    one, two = (await first.json())["boost"], (await second.json())["boost"]
    assert one == two
    assert (await counts(client))["boosts"] == 1
    assert (await recv_type(alice_ws, "BoostAdded"))["boost"] == one
    await silent(alice_ws)  # announced once


async def test_changes_racing_a_deletion_fail_cleanly(client, api, world):
    """Edits and boosts that reach the writer after their message's deletion are not found."""
    import asyncio

    for _ in range(5):
        message = await api.post(world["a"], world["room"], "contested")
        results = await asyncio.gather(
            delete(client, world["a"], message["id"]),
            edit(client, world["a"], message["id"], "too late?"),
            boost(client, world["b"], message["id"], "?"),
        )
        assert results[0].status == 204
        for resp in results[1:]:
            assert resp.status in (200, 201, 404), await resp.text()
        assert await history(client, world["a"], world["room"]) == []
    assert (await counts(client))["boosts"] == 0
