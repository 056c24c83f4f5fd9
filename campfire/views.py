"""The JSON shapes of users, rooms and messages, shared by the HTTP and WebSocket APIs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


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
    if row["room_type"] == "direct" and "direct_key" in keys and row["direct_key"]:
        # Who a direct room is between, so a client finds it without creating it again.
        data["user_ids"] = row["direct_key"].split(",")
    for extra in (
        "last_seen_seq",
        "last_message_seq",
        "last_message_at",
        "unread_count",
        "member_count",
    ):
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
