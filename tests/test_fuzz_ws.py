"""Property-based attacks on /ws: whatever a client sends, it gets an Error frame or a documented
close (1007 invalid UTF-8, 1009 too big); the server stays up, a neighbour in the same room is
untouched, and the database changes only by the valid messages.

One app serves every example (the `client` fixture, created once per test).
"""

from __future__ import annotations

import json
import uuid

import aiohttp
import pytest
from helpers import world_for
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from wsutil import connect, join

from campfire import errors

EXAMPLES = hsettings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    database=None,
)
KNOWN_CODES = {v for k, v in vars(errors).items() if k.isupper() and isinstance(v, str)} - {
    errors.INTERNAL_ERROR
}
TYPES = ["CreateMessage", "UpdateLastSeen", "JoinRoom", "LeaveRoom", "StartTyping", "StopTyping"]
TYPES += ["UpdateMessage", "DeleteMessage", "AddBoost", "RemoveBoost"]  # additions
ROOM_EVENTS = {"PresenceUpdate", "UserJoined", "UserLeft", "TypingStart", "TypingStop"}
DOCUMENTED_CLOSES = {1007, 1009}


@pytest.fixture
def settings(settings):
    """No rate limit in the way of the fuzzer; a small frame limit so 'too big' is cheap."""
    return settings.replace(
        ws_messages_per_second=1e6,
        ws_burst=1_000_000,
        ws_max_frame_bytes=32 * 1024,
        user_messages_per_second=1e6,
        user_messages_burst=1_000_000,
    )


# --- strategies ----------------------------------------------------------------------------

UNICODE_EDGES = st.sampled_from(
    [
        "\u202eRTL override",
        "שלום עולם",
        "👩‍👩‍👧‍👦🔥",
        "e\u0301\u0301\u0301",
        "\u200b",
        "\ufeffBOM",
        "a\x00b",
        "\x00",
        " \t\n ",
        "",
        "x" * 10_000,
        "y" * 10_001,
        "\U0010ffff",
        "<script>alert(1)</script>",
    ]
)
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=40),
    UNICODE_EDGES,
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def field_values(room_ids: list[str]):
    """What may stand where a UUID belongs: the real ones, random ones, and everything else."""
    return st.one_of(
        st.sampled_from(room_ids),
        st.uuids().map(str),
        st.uuids().map(lambda u: str(u).upper()),
        st.integers(),
        JSON_VALUES,
        st.just(""),
        st.just("not-a-uuid"),
    )


@st.composite
def frames(draw, room_ids: list[str]):
    """One frame: ("text", str) raw JSON, ("bytes", b) as binary, ("raw", b) as a text frame."""
    kind = draw(
        st.sampled_from(
            [
                "command",
                "command",
                "command",
                "json",
                "text",
                "binary",
                "invalid_utf8",
                "deep",
                "huge",
                "surrogate",
                "message",
                "message",
            ]
        )
    )
    if kind == "message":  # well formed, with any content: stored and echoed exactly, or refused
        return "text", json.dumps(
            {
                "type": "CreateMessage",
                "room_id": draw(st.sampled_from(room_ids)),
                "content": draw(UNICODE_EDGES | st.text(min_size=1, max_size=300)),
                "client_message_id": str(uuid.uuid4()),
            },
            ensure_ascii=draw(st.booleans()),
        )
    if kind == "command":
        data = {"type": draw(st.sampled_from(TYPES) | st.text(max_size=12) | JSON_SCALARS)}
        for name in draw(
            st.sets(
                st.sampled_from(
                    ["room_id", "content", "client_message_id", "message_id", "boost_id"]
                )
            )
        ):
            data[name] = draw(
                UNICODE_EDGES | JSON_VALUES if name == "content" else field_values(room_ids)
            )
        if draw(st.booleans()):
            data[draw(st.text(max_size=8))] = draw(JSON_VALUES)
        return "text", json.dumps(data)
    if kind == "json":
        return "text", json.dumps(draw(JSON_VALUES))
    if kind == "text":
        return "text", draw(st.text(max_size=200))
    if kind == "binary":
        return "bytes", draw(st.binary(max_size=200))
    if kind == "invalid_utf8":
        good = draw(st.binary(max_size=20))
        return "raw", good + draw(
            st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"])
        )
    if kind == "deep":
        depth = draw(st.integers(min_value=500, max_value=15_000))
        return "text", "[" * depth + "]" * depth * draw(st.sampled_from([0, 1]))
    if kind == "huge":
        return "text", json.dumps(
            {"type": "CreateMessage", "content": "z" * draw(st.integers(33_000, 70_000))}
        )
    # A lone surrogate, escaped in JSON, in any field.
    field = draw(st.sampled_from(["type", "room_id", "content", "client_message_id", "message_id"]))
    base = {
        "type": "CreateMessage",
        "room_id": room_ids[0],
        "content": "hi",
        "client_message_id": str(uuid.uuid4()),
    }
    base[field] = "SURROGATE"
    return "text", json.dumps(base).replace(
        "SURROGATE", draw(st.sampled_from(["\\ud800", "a\\udfff", "\\ud83d"]))
    )


# --- the world -----------------------------------------------------------------------------


class World:
    """Alice (the fuzzer) and Bob share a room; Bob watches it; a third room is not Alice's."""

    async def start(self, client, api) -> None:
        self.client, self.api = client, api
        _alice, self.a = await api.user("Alice")
        bob, self.b = await api.user("Bob")
        _, carol = await api.user("Carol")
        self.room = (await api.room(self.a, "fuzz", members=[bob]))["id"]
        self.other = (await api.room(carol, "not alice's"))["id"]
        self.bob_ws = await connect(client, self.b)
        await join(self.bob_ws, self.room)
        self.alice_ws = await connect(client, self.a)
        self.probe = 0
        self.sentinels = 0

    @property
    def room_ids(self) -> list[str]:
        return [self.room, self.other]

    async def tables(self) -> tuple:
        from campfire.keys import core_key

        db = self.client.app[core_key].db
        rooms = [tuple(r) for r in await db.fetchall("SELECT * FROM rooms ORDER BY id")]
        members = [
            tuple(r)
            for r in await db.fetchall("SELECT room_id, user_id FROM memberships ORDER BY 1, 2")
        ]
        count = (await db.fetchone("SELECT count(*) FROM messages"))[0]
        return rooms, members, count


async def send(ws, frame) -> None:
    kind, data = frame
    if kind == "text":
        await ws.send_str(data)
    elif kind == "bytes":
        await ws.send_bytes(data)
    else:
        await ws.send_frame(data, aiohttp.WSMsgType.TEXT)


async def answers_until_probe(world: World) -> tuple[list[dict], int | None]:
    """Send a probe after the frame; every frame before the probe's answer, or the close code."""
    world.probe += 1
    marker = f"probe-{world.probe}"
    ws = world.alice_ws
    try:
        await ws.send_str(json.dumps({"type": marker}))
    except ConnectionError:
        pass
    out = []
    while True:
        msg = await ws.receive(timeout=5)
        if msg.type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.CLOSING,
        ):
            return out, ws.close_code if ws.close_code is not None else msg.data
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        frame = msg.json()
        if frame["type"] == "Error" and marker in frame["message"]:
            assert frame["code"] == errors.UNKNOWN_MESSAGE_TYPE
            return out, None
        out.append(frame)


@EXAMPLES
@given(data=st.data())
async def test_any_frame_gets_an_error_or_a_documented_close_and_harms_no_one(client, api, data):
    world = await world_for(client, api, World)
    frame = data.draw(frames(world.room_ids))
    if world.alice_ws.closed:  # a failed example left it closed; replays start afresh
        world.alice_ws = await connect(client, world.a)
    before = await world.tables()
    await send(world.alice_ws, frame)
    answers, close_code = await answers_until_probe(world)

    echoes = [f["message"] for f in answers if f["type"] == "NewMessage"]
    event(
        f"close {close_code}"
        if close_code
        else " ".join(sorted({a.get("code") or a["type"] for a in answers}))
    )
    for answer in answers:
        assert answer["type"] in {"Error", "NewMessage"} | ROOM_EVENTS, answer
        if answer["type"] == "Error":
            assert answer["code"] in KNOWN_CODES, answer  # never INTERNAL_ERROR
            assert set(answer) == {"type", "message", "code"}
    if close_code is not None:
        assert close_code in DOCUMENTED_CLOSES, (close_code, frame[0], frame[1][:80])
        assert not answers
        world.alice_ws = await connect(client, world.a)
    elif frame[0] != "text" or not _valid_command(frame[1], world.room_ids):
        errors_ = [a for a in answers if a["type"] == "Error"]
        assert len(errors_) == 1 and not echoes, (frame, answers)
    for message in echoes:  # a valid message is stored exactly as sent
        assert json.loads(frame[1])["content"] == message["content"]

    # The neighbour got exactly the valid messages, then our sentinel: nothing else broke.
    world.sentinels += 1
    sentinel = await api.post(world.a, world.room, f"sentinel {world.sentinels}")
    seen = []
    while True:
        got = await world.bob_ws.receive_json(timeout=5)
        if got["type"] == "NewMessage":
            if got["message"]["id"] == sentinel["id"]:
                break
            seen.append(got["message"]["id"])
    assert seen == [m["id"] for m in echoes]
    while (got := await world.alice_ws.receive_json(timeout=5))["type"] != "NewMessage":
        pass  # Alice gets the sentinel too
    assert got["message"]["id"] == sentinel["id"]
    rooms, members, count = await world.tables()
    assert (rooms, members) == before[:2]
    assert count == before[2] + len(echoes) + 1


def _valid_command(text: str, room_ids: list[str]) -> bool:
    """Whether a frame is a well-formed command the server may carry out without an Error."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return False
    if not isinstance(data, dict) or data.get("type") not in TYPES:
        return False
    return True  # well-formed commands may succeed (no answer) or fail (one Error): both fine


async def test_server_still_serves_after_a_storm_of_garbage(client, api):
    """A burst of bad frames on many connections at once, then normal service for a newcomer."""
    world = await world_for(client, api, World)
    sockets = [await connect(client, world.a) for _ in range(5)]
    for ws in sockets:
        for _ in range(20):
            await ws.send_bytes(b"\x00\xff" * 10)
            await ws.send_str("{" * 50)
    for ws in sockets:
        for _ in range(40):
            assert (await ws.receive_json(timeout=5))["type"] == "Error"
        await ws.close()
    message = await api.post(world.a, world.room, "still here")
    while (got := await world.bob_ws.receive_json(timeout=5))["type"] != "NewMessage":
        pass
    assert got["message"]["id"] == message["id"]
