"""CreateMessage, deduplication, audiences, errors, UpdateLastSeen, live membership changes."""

import asyncio
import uuid

import aiohttp
import pytest
from clusterutil import client_on_one_or_two_workers  # noqa: F401 (the `client` fixture)
from wsutil import closed_with, connect, create, join, recv_type, silent

NOWHERE = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
async def trio(api):
    """Alice and Bob in a closed room; Carol outside it."""
    alice, a = await api.user("Alice")
    bob, b = await api.user("Bob")
    carol, c = await api.user("Carol")
    room = await api.room(a, "general", members=[bob])
    return {"alice": (alice, a), "bob": (bob, b), "carol": (carol, c), "room": room["id"]}


async def test_message_goes_to_every_connection_of_every_member(client, trio):
    (alice, a), (_, b), (_, c), room = trio["alice"], trio["bob"], trio["carol"], trio["room"]
    a1, a2, b1, c1 = [await connect(client, t) for t in (a, a, b, c)]
    cmid = str(uuid.uuid4())
    await a1.send_json(create(room, "hello <b>world</b>", cmid))
    frames = [await recv_type(ws, "NewMessage") for ws in (a1, a2, b1)]
    message = frames[0]["message"]
    assert all(f == frames[0] for f in frames)
    assert set(message) == {
        "id",
        "room_id",
        "creator_id",
        "content",
        "client_message_id",
        "created_at",
        "seq",
        "edited_at",  # additions
        "mentions",
    }
    assert message["edited_at"] is None and message["mentions"] == []
    assert message["room_id"] == room and message["creator_id"] == alice["id"]
    assert message["content"] == "hello <b>world</b>"  # stored and sent as written
    assert message["client_message_id"] == cmid
    assert message["created_at"].endswith("Z")
    await silent(c1)  # not a member


async def test_retry_with_same_client_message_id_answers_only_the_retrying_connection(
    client, api, trio
):
    (_alice, a), (_bob, b), room = trio["alice"], trio["bob"], trio["room"]
    a1, a2, b1 = await connect(client, a), await connect(client, a), await connect(client, b)
    cmid = str(uuid.uuid4())
    await a1.send_json(create(room, "once", cmid))
    original = (await recv_type(a1, "NewMessage"))["message"]
    await recv_type(a2, "NewMessage")
    await recv_type(b1, "NewMessage")
    await a2.send_json(create(room, "once (retry)", cmid))
    assert (await recv_type(a2, "NewMessage"))["message"] == original
    await silent(a1)
    await silent(b1)
    history = await (await client.get(f"/api/rooms/{room}/messages", headers=api.auth(a))).json()
    assert [m["id"] for m in history["messages"]] == [original["id"]]


async def test_messages_posted_over_http_are_broadcast(client, api, trio):
    (_alice, a), (_bob, b), room = trio["alice"], trio["bob"], trio["room"]
    b1 = await connect(client, b)
    message = await api.post(a, room, "from http")
    assert (await recv_type(b1, "NewMessage"))["message"] == message


async def test_sequence_numbers_increase_in_commit_order(client, trio):
    (_alice, a), (_bob, b), room = trio["alice"], trio["bob"], trio["room"]
    a1, b1 = await connect(client, a), await connect(client, b)
    for i in range(20):
        await (a1 if i % 2 else b1).send_json(create(room, f"m{i}"))
    seqs = [(await recv_type(a1, "NewMessage"))["message"]["seq"] for _ in range(20)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 20


@pytest.mark.parametrize(
    "frame,code",
    [
        ("not json", "INVALID_JSON"),
        ("[1, 2]", "INVALID_JSON"),
        ('{"room_id": "x"}', "VALIDATION_FAILED"),
        ('{"type": "Shout"}', "UNKNOWN_MESSAGE_TYPE"),
        ('{"type": "JoinRoom"}', "VALIDATION_FAILED"),
        ('{"type": "JoinRoom", "room_id": 42}', "VALIDATION_FAILED"),
        ('{"type": "JoinRoom", "room_id": "not-a-uuid"}', "VALIDATION_FAILED"),
        ('{"type": "UpdateLastSeen", "message_id": null}', "VALIDATION_FAILED"),
        (
            '{"type": "CreateMessage", "room_id": "%s", "content": "   ", '
            '"client_message_id": "%s"}',
            "MESSAGE_CREATION_FAILED",
        ),
        (
            '{"type": "CreateMessage", "room_id": "%s", "content": 5, "client_message_id": "%s"}',
            "MESSAGE_CREATION_FAILED",
        ),
        ('{"type": "CreateMessage", "room_id": "%s", "content": "hi"}', "MESSAGE_CREATION_FAILED"),
        (
            '{"type": "CreateMessage", "room_id": "%s", "content": "hi", '
            '"client_message_id": "abc"}',
            "MESSAGE_CREATION_FAILED",
        ),
    ],
)
async def test_bad_frames_get_an_error_and_the_connection_stays_open(client, trio, frame, code):
    (_alice, a), room = trio["alice"], trio["room"]
    ws = await connect(client, a)
    if "%s" in frame:
        frame = frame % ((room, str(uuid.uuid4()))[: frame.count("%s")])
    await ws.send_str(frame)
    error = await recv_type(ws, "Error")
    assert error["code"] == code and error["message"]
    await ws.send_json(create(room, "still here"))
    assert (await recv_type(ws, "NewMessage"))["message"]["content"] == "still here"


async def test_content_limits(client, trio):
    (_alice, a), room = trio["alice"], trio["room"]
    ws = await connect(client, a)
    await ws.send_json(create(room, "x" * 10_001))
    assert (await recv_type(ws, "Error"))["code"] == "MESSAGE_CREATION_FAILED"
    await ws.send_json(create(room, "é" * 10_000))
    assert len((await recv_type(ws, "NewMessage"))["message"]["content"]) == 10_000


async def test_binary_frames_get_an_error(client, trio):
    ws = await connect(client, trio["alice"][1])
    await ws.send_bytes(b"\x00\x01")
    assert (await recv_type(ws, "Error"))["code"] == "UNSUPPORTED_FRAME"


async def test_no_such_room_and_no_access(client, trio):
    (_carol, c), room = trio["carol"], trio["room"]
    ws = await connect(client, c)
    await ws.send_json(create(NOWHERE, "hi"))
    assert (await recv_type(ws, "Error"))["code"] == "ROOM_NOT_FOUND"
    await ws.send_json(create(room, "let me in"))
    assert (await recv_type(ws, "Error"))["code"] == "ROOM_ACCESS_DENIED"


async def test_update_last_seen_is_durable_and_only_moves_forward(client, core, api, trio):
    from campfire import store

    (_alice, a), (bob, b), room = trio["alice"], trio["bob"], trio["room"]
    first = await api.post(a, room, "one")
    second = await api.post(a, room, "two")
    wb = await connect(client, b)
    await wb.send_json({"type": "UpdateLastSeen", "message_id": second["id"]})
    await wb.send_json({"type": "UpdateLastSeen", "message_id": first["id"]})  # older: ignored
    await wb.send_json({"type": "UpdateLastSeen", "message_id": NOWHERE})
    assert (await recv_type(wb, "Error"))["code"] == "MESSAGE_NOT_FOUND"
    rooms = {r["id"]: r for r in await store.list_rooms_of_user(core.db, bob["id"])}
    assert rooms[room]["last_seen_seq"] == second["seq"]


async def test_update_last_seen_of_a_room_without_access(client, api, trio):
    (_alice, a), (_carol, c), room = trio["alice"], trio["carol"], trio["room"]
    message = await api.post(a, room, "secret")
    wc = await connect(client, c)
    await wc.send_json({"type": "UpdateLastSeen", "message_id": message["id"]})
    assert (await recv_type(wc, "Error"))["code"] == "ROOM_ACCESS_DENIED"


async def test_added_member_receives_live_and_removed_member_stops(client, api, trio):
    (_alice, a), (carol, c), room = trio["alice"], trio["carol"], trio["room"]
    wc = await connect(client, c)
    resp = await client.post(
        f"/api/rooms/{room}/members", headers=api.auth(a), json={"user_id": carol["id"]}
    )
    assert resp.status == 201
    assert (await recv_type(wc, "RoomUpdated"))["room"]["id"] == room
    await api.post(a, room, "welcome carol")
    assert (await recv_type(wc, "NewMessage"))["message"]["content"] == "welcome carol"
    await join(wc, room)
    resp = await client.delete(f"/api/rooms/{room}/members/{carol['id']}", headers=api.auth(a))
    assert resp.status == 204
    assert await recv_type(wc, "RoomRemoved") == {"type": "RoomRemoved", "room_id": room}
    await api.post(a, room, "after carol left")
    await silent(wc, 0.3)
    await wc.send_json({"type": "StartTyping", "room_id": room})
    assert (await recv_type(wc, "Error"))["code"] == "ROOM_ACCESS_DENIED"


async def test_new_open_room_reaches_connected_users(client, api, trio):
    (_alice, a), (_carol, c) = trio["alice"], trio["carol"]
    wc = await connect(client, c)
    lobby = await api.room(a, "lobby", room_type="open")
    assert (await recv_type(wc, "RoomUpdated"))["room"]["id"] == lobby["id"]
    await api.post(a, lobby["id"], "everyone here?")
    assert (await recv_type(wc, "NewMessage"))["message"]["content"] == "everyone here?"


@pytest.mark.parametrize("how", ["deactivate", "logout"])
async def test_deactivation_and_logout_close_open_sockets(client, api, trio, how):
    (bob, b) = trio["bob"]
    wb = await connect(client, b)
    if how == "deactivate":
        resp = await client.patch(
            f"/api/users/{bob['id']}", headers=api.auth(api.admin_token), json={"is_active": False}
        )
        assert resp.status == 200
    else:
        resp = await client.post("/api/auth/logout", headers=api.auth(b))
        assert resp.status == 204
    assert await closed_with(wb) == aiohttp.WSCloseCode.POLICY_VIOLATION


async def test_deleted_room_stops_delivery(client, api, trio):
    (_alice, a), (_bob, b), room = trio["alice"], trio["bob"], trio["room"]
    wb = await connect(client, b)
    await join(wb, room)
    resp = await client.delete(f"/api/rooms/{room}", headers=api.auth(a))
    assert resp.status == 204
    assert await recv_type(wb, "RoomRemoved") == {"type": "RoomRemoved", "room_id": room}
    await wb.send_json(create(room, "anyone?"))
    assert (await recv_type(wb, "Error"))["code"] == "ROOM_NOT_FOUND"


async def test_a_frame_read_is_carried_out_even_if_the_sender_vanishes(client, core, trio):
    """The sender drops while its message waits to be committed: it is stored AND broadcast."""
    from wsutil import RawSocket

    (_alice, a), (_bob, b), room = trio["alice"], trio["bob"], trio["room"]
    wb = await connect(client, b)
    raw = await asyncio.to_thread(
        RawSocket, client.host, client.port, a
    )  # blocking I/O off the loop
    async with core.db.transaction():  # hold the writer: the message must wait for it
        raw.send_text(
            f'{{"type":"CreateMessage","room_id":"{room}","content":"last words",'
            f'"client_message_id":"{uuid.uuid4()}"}}'
        )
        for _ in range(200):  # until the server has read the frame and queued the message
            if core.message_writer._queue.qsize() or core.db._write_lock._waiters:
                break
            await asyncio.sleep(0.01)
        raw.drop()
        await asyncio.sleep(0.2)  # the server notices the drop while the message waits
    assert (await recv_type(wb, "NewMessage"))["message"]["content"] == "last words"
