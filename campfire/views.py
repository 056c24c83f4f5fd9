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
    data["avatar_url"] = avatar_url(row)
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


def avatar_url(row: Mapping[str, Any]) -> str | None:
    """Where a user's avatar is (its version in the URL, so caches refresh), or None."""
    key = row["avatar_key"] if "avatar_key" in row.keys() else None
    return f"/api/users/{row['id']}/avatar?v={key}" if key else None


def attachment_json(row: Mapping[str, Any]) -> dict:
    """A message's attachment: what the file is and where to get it."""
    base = f"/api/attachments/{row['id']}"
    return {
        "id": row["id"],
        "filename": row["filename"],
        "content_type": row["content_type"],
        "byte_size": row["byte_size"],
        "width": row["width"],
        "height": row["height"],
        "url": base,
        "thumbnail_url": f"{base}/thumbnail" if row["has_thumbnail"] else None,
    }
