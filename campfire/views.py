"""The JSON shapes of users, rooms and messages, shared by the HTTP and WebSocket APIs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


def user_json(row: Mapping[str, Any], with_email: bool = True) -> dict:
    """A user as the API shows it (never the password hash)."""
    data = {
        "id": row["id"],
        "name": row["name"],
        "is_admin": bool(row["is_admin"]),
        "is_active": bool(row["is_active"]),
        "created_at": row["created_at"],
    }
    if with_email:
        data["email"] = row["email"]
    return data


class Viewer(Protocol):
    """Who is looking: enough of a signed-in user to decide what they may see."""

    id: str
    is_admin: bool


def user_json_for(row: Mapping[str, Any], viewer: Viewer, emails_visible_to_members: bool) -> dict:
    """A user as `viewer` sees them: the email only to its owner and administrators, unless
    the emails_visible_to_members setting shows it to everyone."""
    shown = emails_visible_to_members or viewer.is_admin or row["id"] == viewer.id
    return user_json(row, with_email=shown)


def room_json(row: Mapping[str, Any]) -> dict:
    """A room; with a caller's view of it (last seen, newest message) when the row has them."""
    data = {
        "id": row["id"],
        "name": row["name"],
        "room_type": row["room_type"],
        "creator_id": row["creator_id"],
        "created_at": row["created_at"],
    }
    keys = row.keys()
    for extra in ("last_seen_seq", "last_message_seq", "last_message_at", "member_count"):
        if extra in keys:
            data[extra] = row[extra]
    return data


def message_json(row: Mapping[str, Any]) -> dict:
    """A message in the spec's shape, plus its sequence number `seq`."""
    return {
        "id": row["id"],
        "room_id": row["room_id"],
        "creator_id": row["creator_id"],
        "content": row["content"],
        "client_message_id": row["client_message_id"],
        "created_at": row["created_at"],
        "seq": row["seq"],
    }
