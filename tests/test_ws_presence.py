"""Room presence counted per connection, and typing indicators with their timeout."""

import asyncio

import pytest
from clusterutil import TwoWorkers, client_on_one_or_two_workers, settle  # noqa: F401 (`client`)
from wsutil import connect, create, join, recv, recv_type, silent

from campfire.keys import core_key


@pytest.fixture
async def room_with_two(api):
    """Alice and Bob, members of one closed room."""
    alice, a_token = await api.user("Alice")
    bob, b_token = await api.user("Bob")
    room = await api.room(a_token, "general", members=[bob])
    return alice, a_token, bob, b_token, room["id"]


async def both_viewing(client, a_token, b_token, room):
    """Bob joins, then Alice; Bob has read the news of Alice's arrival, and neither has
    presence news still on its way (with workers it crosses Redis, and PresenceUpdates are
    coalesced for presence_coalesce_seconds: a late one broke later silence checks)."""
    wa, wb = await connect(client, a_token), await connect(client, b_token)
    await join(wb, room)
    await join(wa, room)
    await recv_type(wb, "UserJoined")
    await recv_type(wb, "PresenceUpdate")
    await settle(client)
    for ws in (wa, wb):
        await drain_presence(ws)
    return wa, wb


async def drain_presence(ws, quiet: float = 0.35) -> None:
    """Read presence news (UserJoined, PresenceUpdate) until none comes for `quiet` s."""
    while True:
        try:
            frame = await recv(ws, timeout=quiet)
        except TimeoutError:
            return
        assert frame["type"] in ("UserJoined", "PresenceUpdate"), frame


async def test_join_announces_and_sends_presence_to_every_viewer(client, room_with_two):
    alice, a_token, bob, b_token, room = room_with_two
    wa, wb = await connect(client, a_token), await connect(client, b_token)
    await wa.send_json({"type": "JoinRoom", "room_id": room})
    assert await recv(wa) == {"type": "UserJoined", "user_id": alice["id"], "room_id": room}
    assert await recv(wa) == {
        "type": "PresenceUpdate",
        "room_id": room,
        "online_users": [alice["id"]],
    }
    await silent(wb)  # Bob is a member but not viewing: presence is for viewers
    await wb.send_json({"type": "JoinRoom", "room_id": room})
    both = sorted([alice["id"], bob["id"]])
    for ws in (wa, wb):
        assert await recv(ws) == {"type": "UserJoined", "user_id": bob["id"], "room_id": room}
        assert await recv(ws) == {"type": "PresenceUpdate", "room_id": room, "online_users": both}


async def test_second_tab_and_double_join_do_not_announce_again(client, room_with_two):
    alice, a_token, bob, b_token, room = room_with_two
    wb = await connect(client, b_token)
    await join(wb, room)
    tab1, tab2 = await connect(client, a_token), await connect(client, a_token)
    await join(tab1, room)
    await recv_type(wb, "UserJoined")
    await recv_type(wb, "PresenceUpdate")
    await tab2.send_json({"type": "JoinRoom", "room_id": room})
    assert (await recv(tab2))["type"] == "PresenceUpdate"  # no UserJoined: Alice was present
    assert (await recv(wb))["type"] == "PresenceUpdate"
    await tab2.send_json({"type": "JoinRoom", "room_id": room})  # joining twice is harmless:
    assert (await recv(tab2))["type"] == "PresenceUpdate"  # the joiner alone is answered
    # Closing one of two tabs does not make Alice leave.
    await tab2.close()
    await silent(wb, 0.3)
    await tab1.send_json({"type": "LeaveRoom", "room_id": room})
    assert await recv(wb) == {"type": "UserLeft", "user_id": alice["id"], "room_id": room}
    assert await recv(wb) == {
        "type": "PresenceUpdate",
        "room_id": room,
        "online_users": [bob["id"]],
    }
    # tab1 saw tab2's first join (not its repeat, answered to tab2 alone), then nothing after
    # leaving.
    assert (await recv(tab1))["type"] == "PresenceUpdate"
    await silent(tab1)


async def test_closing_the_socket_ends_presence(client, room_with_two):
    alice, a_token, bob, b_token, room = room_with_two
    wa, wb = await both_viewing(client, a_token, b_token, room)
    await wa.close()
    assert await recv(wb) == {"type": "UserLeft", "user_id": alice["id"], "room_id": room}
    assert await recv(wb) == {
        "type": "PresenceUpdate",
        "room_id": room,
        "online_users": [bob["id"]],
    }


async def test_join_checks_existence_and_access(client, api, room_with_two):
    _alice, _a_token, _bob, _b_token, room = room_with_two
    _carol, c_token = await api.user("Carol")
    wc = await connect(client, c_token)
    await wc.send_json({"type": "JoinRoom", "room_id": room})
    assert await recv(wc) == {
        "type": "Error",
        "code": "ROOM_ACCESS_DENIED",
        "message": "You do not have access to this room",
    }
    await wc.send_json({"type": "JoinRoom", "room_id": "00000000-0000-4000-8000-000000000000"})
    assert (await recv(wc))["code"] == "ROOM_NOT_FOUND"


async def test_join_open_room_makes_a_non_member_a_member(client, api):
    alice, a_token = await api.user("Alice")
    lobby = await api.room(a_token, "lobby", room_type="open")
    resp = await client.delete(
        f"/api/rooms/{lobby['id']}/members/{alice['id']}", headers=api.auth(a_token)
    )
    assert resp.status == 204
    await settle(client)  # the removal has reached every worker (not outrun by what follows)
    wa = await connect(client, a_token)
    await join(wa, lobby["id"])
    resp = await client.get(f"/api/rooms/{lobby['id']}/members", headers=api.auth(a_token))
    assert alice["id"] in [m["id"] for m in (await resp.json())["members"]]
    await wa.send_json(create(lobby["id"], "back again"))
    assert (await recv_type(wa, "NewMessage"))["message"]["content"] == "back again"


async def test_typing_start_repeat_stop(client, room_with_two):
    alice, a_token, _bob, b_token, room = room_with_two
    wa, wb = await both_viewing(client, a_token, b_token, room)
    await wa.send_json({"type": "StartTyping", "room_id": room})
    assert await recv(wb) == {"type": "TypingStart", "user_id": alice["id"], "room_id": room}
    await wa.send_json({"type": "StartTyping", "room_id": room})  # repeat only extends
    await silent(wb, 0.1)
    await silent(wa, 0.05)  # the typer is not told about themselves
    await wa.send_json({"type": "StopTyping", "room_id": room})
    assert await recv(wb) == {"type": "TypingStop", "user_id": alice["id"], "room_id": room}
    await wa.send_json({"type": "StopTyping", "room_id": room})  # not typing: nothing
    await silent(wb, 0.1)


async def test_only_a_message_ending_an_indicator_tells_the_other_workers(client, room_with_two):
    """With workers, a message from someone who was not typing sends no typing event through
    Redis (each message did, which also kept bursts of messages from being joined)."""
    if not isinstance(client, TwoWorkers):
        pytest.skip("one process sends nothing to other workers")
    alice, a_token, _bob, b_token, room = room_with_two
    wa, wb = await both_viewing(client, a_token, b_token, room)
    sent: list[str] = []
    for worker in client.clients:
        broker = worker.app[core_key].hub.broker
        publish = broker.publish_event
        broker.publish_event = lambda op, *args, publish=publish: (
            sent.append(op),
            publish(op, *args),
        )
    for n in range(3):
        await wa.send_json(create(room, f"not typing {n}"))
        assert (await recv(wb))["type"] == "NewMessage"
    await wa.send_json({"type": "StartTyping", "room_id": room})
    await recv_type(wb, "TypingStart")
    await wa.send_json(create(room, "was typing"))
    assert await recv(wb) == {"type": "TypingStop", "user_id": alice["id"], "room_id": room}
    assert (await recv(wb))["type"] == "NewMessage"
    assert sent.count("stop_typing") == 1


async def test_typing_expires_through_the_sweep(client, settings, room_with_two):
    alice, a_token, _bob, b_token, room = room_with_two
    wa, wb = await both_viewing(client, a_token, b_token, room)
    started = asyncio.get_running_loop().time()
    await wa.send_json({"type": "StartTyping", "room_id": room})
    await recv_type(wb, "TypingStart")
    assert await recv(wb, timeout=3) == {
        "type": "TypingStop",
        "user_id": alice["id"],
        "room_id": room,
    }
    waited = asyncio.get_running_loop().time() - started
    assert (
        settings.typing_timeout
        <= waited + 0.05
        < settings.typing_timeout + settings.typing_sweep_interval + 0.5
    )


@pytest.mark.parametrize("ending", ["message", "leave", "disconnect"])
async def test_typing_ends_on_message_leave_and_disconnect(client, room_with_two, ending):
    alice, a_token, _bob, b_token, room = room_with_two
    wa, wb = await both_viewing(client, a_token, b_token, room)
    await wa.send_json({"type": "StartTyping", "room_id": room})
    await recv_type(wb, "TypingStart")
    if ending == "message":
        await wa.send_json(create(room, "done typing"))
        assert await recv(wb) == {"type": "TypingStop", "user_id": alice["id"], "room_id": room}
        assert (await recv(wb))["type"] == "NewMessage"
    else:
        if ending == "leave":
            await wa.send_json({"type": "LeaveRoom", "room_id": room})
        else:
            await wa.close()
        assert await recv(wb) == {"type": "TypingStop", "user_id": alice["id"], "room_id": room}
        assert (await recv(wb))["type"] == "UserLeft"
        assert (await recv(wb))["type"] == "PresenceUpdate"


async def test_typing_requires_being_in_the_room(client, api, room_with_two):
    _alice, a_token, _bob, _b_token, room = room_with_two
    wa = await connect(client, a_token)
    for kind in ("StartTyping", "StopTyping"):
        await wa.send_json({"type": kind, "room_id": room})
        assert (await recv(wa))["code"] == "NOT_IN_ROOM"
    _carol, c_token = await api.user("Carol")
    wc = await connect(client, c_token)
    await wc.send_json({"type": "StartTyping", "room_id": room})
    assert (await recv(wc))["code"] == "ROOM_ACCESS_DENIED"


async def test_leave_room_not_joined_is_harmless_but_unknown_room_is_an_error(
    client, room_with_two
):
    _alice, a_token, _bob, _b_token, room = room_with_two
    wa = await connect(client, a_token)
    await wa.send_json({"type": "LeaveRoom", "room_id": room})
    await silent(wa)
    await wa.send_json({"type": "LeaveRoom", "room_id": "00000000-0000-4000-8000-000000000000"})
    assert (await recv(wa))["code"] == "ROOM_NOT_FOUND"
