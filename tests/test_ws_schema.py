"""campfire/static/websocket.schema.json: the WebSocket frames, machine-readable. tests/wsutil.py
checks every frame the WebSocket tests receive against it; these tests hold the schema itself
to docs/websocket.md, to the protocol module, and to the server that serves it."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from wsutil import WS_SCHEMA, check_frame

from campfire import protocol

DOCS = Path(__file__).parent.parent / "docs" / "websocket.md"
SERVER_TYPES = set(WS_SCHEMA["$defs"]["ServerFrame"]["properties"]["type"]["enum"])
CLIENT_TYPES = set(WS_SCHEMA["$defs"]["ClientFrame"]["properties"]["type"]["enum"])
ROOM = str(uuid.uuid4())
USER = str(uuid.uuid4())


def test_the_schema_is_valid_json_schema():
    Draft202012Validator.check_schema(WS_SCHEMA)
    for name in SERVER_TYPES | CLIENT_TYPES:
        assert WS_SCHEMA["$defs"][name]["properties"]["type"] == {"const": name}


def documented_frames() -> list[dict]:
    """Every JSON frame shown in docs/websocket.md, with abbreviated ids ("0b6f...") made whole."""
    frames = []
    for block in re.findall(r"```json\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.DOTALL):
        block = re.sub(r'"[0-9a-f]{4}\.\.\."', lambda _: f'"{uuid.uuid4()}"', block)
        try:
            frames.append(json.loads(block))
        except ValueError:  # several one-line frames in one block
            frames.extend(json.loads(line) for line in block.splitlines() if line.strip())
    return frames


def test_every_frame_in_the_docs_fits_the_schema_and_every_type_is_documented():
    frames = documented_frames()
    for frame in frames:
        check_frame(frame, "ServerFrame" if frame["type"] in SERVER_TYPES else "ClientFrame")
    documented = {frame["type"] for frame in frames}
    # The second stage's types are decided (docs/websocket.md documents each as it lands).
    additions = {
        "MessageUpdated",
        "MessageDeleted",
        "BoostAdded",
        "BoostRemoved",
        "RoomUpdated",
        "RoomRemoved",
        "UserUpdated",
        "UpdateMessage",
        "DeleteMessage",
        "AddBoost",
        "RemoveBoost",
    }
    assert (SERVER_TYPES | CLIENT_TYPES) - documented <= additions


def test_every_frame_the_server_builds_fits_the_schema():
    message = {
        "id": str(uuid.uuid4()),
        "room_id": ROOM,
        "creator_id": USER,
        "content": "hi",
        "client_message_id": str(uuid.uuid4()),
        "created_at": "2026-11-26T10:30:00.123Z",
        "seq": 7,
    }
    for frame in (
        protocol.new_message(message),
        protocol.user_joined(USER, ROOM),
        protocol.user_left(USER, ROOM),
        protocol.typing_start(USER, ROOM),
        protocol.typing_stop(USER, ROOM),
        protocol.presence_update(ROOM, [USER]),
        protocol.error("ROOM_NOT_FOUND", "Room not found"),
        protocol.missed_messages_truncated(ROOM, 42),
        protocol.missed_messages_truncated(ROOM, None),
        protocol.ready(USER),
    ):
        check_frame(json.loads(protocol.encode(frame)))


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "Gossip", "room_id": ROOM},  # an undocumented type
        {"room_id": ROOM},  # no type
        {"type": "UserJoined", "user_id": USER},  # a required field missing
        {"type": "UserJoined", "user_id": USER, "room_id": ROOM, "secret": 1},  # an extra one
        {"type": "UserJoined", "user_id": "not-a-uuid", "room_id": ROOM},
        {"type": "PresenceUpdate", "room_id": ROOM, "online_users": [USER, USER]},
        {"type": "JoinRoom", "room_id": ROOM},  # a client frame is not a server frame
    ],
)
def test_undocumented_server_frames_fail(frame):
    with pytest.raises(AssertionError, match=r"not in websocket\.schema\.json"):
        check_frame(frame)


def test_client_frames_the_server_accepts_fit_the_schema():
    frames = [
        {"type": "CreateMessage", "room_id": ROOM, "content": "x", "client_message_id": USER},
        {"type": "UpdateLastSeen", "message_id": USER},
        {"type": "JoinRoom", "room_id": ROOM.upper()},
        {"type": "LeaveRoom", "room_id": ROOM},
        {"type": "StartTyping", "room_id": ROOM},
        {"type": "StopTyping", "room_id": ROOM},
    ]
    for frame in frames:
        protocol.parse(json.dumps(frame))  # the server takes it...
        check_frame(frame, "ClientFrame")  # ...and the schema describes it
    with pytest.raises(AssertionError):
        check_frame({"type": "CreateMessage", "room_id": ROOM, "content": ""}, "ClientFrame")


async def test_the_schema_is_served_with_the_web_client(client):
    resp = await client.get("/static/websocket.schema.json")
    assert resp.status == 200
    assert json.loads(await resp.read()) == WS_SCHEMA
