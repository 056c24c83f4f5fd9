"""The WebSocket wire format: incoming frames become typed commands, events become bytes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from campfire import errors
from campfire.errors import CampfireError
from campfire.validate import check_content, check_uuid


@dataclass(frozen=True, slots=True)
class CreateMessage:
    room_id: str
    content: str
    client_message_id: str


@dataclass(frozen=True, slots=True)
class UpdateLastSeen:
    message_id: str


@dataclass(frozen=True, slots=True)
class RoomCommand:
    """A command that names only a room."""

    room_id: str


class JoinRoom(RoomCommand):
    """Start viewing a room."""

    __slots__ = ()


class LeaveRoom(RoomCommand):
    """Stop viewing a room."""

    __slots__ = ()


class StartTyping(RoomCommand):
    """Start or extend this user's typing indicator."""

    __slots__ = ()


class StopTyping(RoomCommand):
    """End this user's typing indicator."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class UpdateMessage:
    """Addition: edit one's own message."""

    message_id: str
    content: Any  # checked by the use case, the same way as over HTTP


@dataclass(frozen=True, slots=True)
class DeleteMessage:
    """Addition: delete a message (its author, or a manager of its room)."""

    message_id: str


@dataclass(frozen=True, slots=True)
class AddBoost:
    """Addition: stick a short emoji or word to a message."""

    message_id: str
    content: Any


@dataclass(frozen=True, slots=True)
class RemoveBoost:
    """Addition: take back one's own boost."""

    boost_id: str


Command = (
    CreateMessage
    | UpdateLastSeen
    | JoinRoom
    | LeaveRoom
    | StartTyping
    | StopTyping
    | UpdateMessage
    | DeleteMessage
    | AddBoost
    | RemoveBoost
)

_ROOM_COMMANDS: dict[str, type[JoinRoom | LeaveRoom | StartTyping | StopTyping]] = {
    "JoinRoom": JoinRoom,
    "LeaveRoom": LeaveRoom,
    "StartTyping": StartTyping,
    "StopTyping": StopTyping,
}


def parse(text: str | bytes) -> Command:
    """Turn one text frame into a command, or raise CampfireError saying what is wrong."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise CampfireError(errors.INVALID_JSON, "Frame is not valid JSON") from None
    if not isinstance(data, dict):
        raise CampfireError(errors.INVALID_JSON, "Frame must be a JSON object")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise errors.bad_request("Frame needs a string field 'type'")
    if kind == "CreateMessage":
        room_id = check_uuid(data.get("room_id"), "room_id")
        client_message_id = _client_message_id(data.get("client_message_id"))
        return CreateMessage(room_id, check_content(data.get("content")), client_message_id)
    if kind == "UpdateLastSeen":
        return UpdateLastSeen(check_uuid(data.get("message_id"), "message_id"))
    if kind == "UpdateMessage":
        return UpdateMessage(check_uuid(data.get("message_id"), "message_id"), data.get("content"))
    if kind == "DeleteMessage":
        return DeleteMessage(check_uuid(data.get("message_id"), "message_id"))
    if kind == "AddBoost":
        return AddBoost(check_uuid(data.get("message_id"), "message_id"), data.get("content"))
    if kind == "RemoveBoost":
        return RemoveBoost(check_uuid(data.get("boost_id"), "boost_id"))
    command = _ROOM_COMMANDS.get(kind)
    if command is None:
        raise CampfireError(errors.UNKNOWN_MESSAGE_TYPE, f"Unknown message type: {kind[:50]!r}")
    return command(check_uuid(data.get("room_id"), "room_id"))


def _client_message_id(value: Any) -> str:
    """The required client_message_id (a UUID): a bad one means the message was not created."""
    try:
        return check_uuid(value, "client_message_id")
    except CampfireError as exc:
        raise CampfireError(errors.MESSAGE_CREATION_FAILED, exc.message) from None


def encode(event: Mapping[str, Any]) -> bytes:
    """One outgoing event as compact UTF-8 JSON."""
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def new_message(message: Mapping[str, Any]) -> dict:
    """NewMessage: a message, in the shape of views.message_json."""
    return {"type": "NewMessage", "message": message}


def user_joined(user_id: str, room_id: str) -> dict:
    """UserJoined: a user started viewing a room."""
    return {"type": "UserJoined", "user_id": user_id, "room_id": room_id}


def user_left(user_id: str, room_id: str) -> dict:
    """UserLeft: a user's last connection stopped viewing a room."""
    return {"type": "UserLeft", "user_id": user_id, "room_id": room_id}


def typing_start(user_id: str, room_id: str) -> dict:
    """TypingStart."""
    return {"type": "TypingStart", "user_id": user_id, "room_id": room_id}


def typing_stop(user_id: str, room_id: str) -> dict:
    """TypingStop."""
    return {"type": "TypingStop", "user_id": user_id, "room_id": room_id}


def presence_update(room_id: str, online_users: list[str]) -> dict:
    """PresenceUpdate: everyone viewing a room now."""
    return {"type": "PresenceUpdate", "room_id": room_id, "online_users": online_users}


def error(code: str, message: str) -> dict:
    """Error: a problem with one of this connection's frames."""
    return {"type": "Error", "message": message, "code": code}


def missed_messages_truncated(
    room_id: str, first_seq: int | None, changes_truncated: bool = False
) -> dict:
    """Extra type: more messages (or changes) were missed in a room than the catch-up sends."""
    event = {"type": "MissedMessagesTruncated", "room_id": room_id, "before_seq": first_seq}
    if changes_truncated:  # addition: older messages may have changed; re-read history
        event["changes_truncated"] = True
    return event


def ready(user_id: str) -> dict:
    """Extra type: the catch-up is done; from here on everything is live."""
    return {"type": "Ready", "user_id": user_id}


def room_updated(room: Mapping[str, Any]) -> dict:
    """Addition: a room the user gained or whose settings changed, as GET /api/rooms shows it."""
    return {"type": "RoomUpdated", "room": room}


def room_removed(room_id: str) -> dict:
    """Addition: a room the user lost (deleted, removed, left)."""
    return {"type": "RoomRemoved", "room_id": room_id}


def user_updated(user: Mapping[str, Any]) -> dict:
    """Addition: a user was created, renamed, changed avatar, deactivated or reactivated."""
    return {"type": "UserUpdated", "user": user}


def message_updated(message: Mapping[str, Any], change_seq: int | None) -> dict:
    """Addition: a message's new state after an edit (views.message_json)."""
    return {"type": "MessageUpdated", "message": message, "change_seq": change_seq}


def message_deleted(message_id: str, room_id: str, change_seq: int) -> dict:
    """Addition: a message was deleted (with its boosts)."""
    return {
        "type": "MessageDeleted",
        "message_id": message_id,
        "room_id": room_id,
        "change_seq": change_seq,
    }


def boost_added(boost: Mapping[str, Any], change_seq: int | None) -> dict:
    """Addition: a boost was stuck to a message (views.boost_json)."""
    return {"type": "BoostAdded", "boost": boost, "change_seq": change_seq}


def boost_removed(boost_id: str, message_id: str, room_id: str, change_seq: int) -> dict:
    """Addition: a boost was taken back."""
    return {
        "type": "BoostRemoved",
        "boost_id": boost_id,
        "message_id": message_id,
        "room_id": room_id,
        "change_seq": change_seq,
    }
