"""The JSON shapes of users, rooms and messages, shared by the HTTP and WebSocket APIs."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, Protocol


class Record(Protocol):
    """A row read by column name: a sqlite3.Row (which is no Mapping to mypy) or a dict."""

    def __getitem__(self, key: str, /) -> Any: ...

    def keys(self) -> Collection[str]: ...


def user_json(row: Record, with_email: bool = True) -> dict:
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


class Viewer(Protocol):
    """Who is looking: enough of a signed-in user to decide what they may see."""

    # Read-only properties, so that a frozen SessionUser is a Viewer.
    @property
    def id(self) -> str: ...

    @property
    def is_admin(self) -> bool: ...


def user_json_for(row: Record, viewer: Viewer, emails_visible_to_members: bool) -> dict:
    """A user as `viewer` sees them: the email only to its owner and administrators, unless
    the emails_visible_to_members setting shows it to everyone."""
    shown = emails_visible_to_members or viewer.is_admin or row["id"] == viewer.id
    return user_json(row, with_email=shown)


# A room's fields that only some reads carry (a listing's unread counts, the caller's
# involvement): shown when the row has them (also the optional fields of the API's Room).
ROOM_EXTRAS = (
    "last_seen_seq",
    "last_message_seq",
    "last_message_at",
    "unread_count",
    "unread_mentions",
    "member_count",
    "involvement",
)


def room_json(
    row: Record,
    members: Sequence[Record] | None = None,
    viewer_id: str | None = None,
) -> dict:
    """A room; with a caller's view of it (last seen, involvement, newest message) when the
    row has them. A direct room with its `members` is named after the viewer's company."""
    data = {
        "id": row["id"],
        "name": row["name"],
        "room_type": row["room_type"],
        "creator_id": row["creator_id"],
        "created_at": row["created_at"],
    }
    if row["room_type"] == "direct" and members is not None:
        data["name"] = direct_room_name(members, viewer_id)
        data["member_ids"] = sorted(member["id"] for member in members)
    keys = row.keys()
    for extra in ROOM_EXTRAS:
        if extra in keys:
            data[extra] = row[extra]
    return data


def direct_room_name(members: Sequence[Record], viewer_id: str | None) -> str:
    """The other members' current names (everyone's, for a viewer who is not in the room).

    Never stored: a rename shows at once, and clients never split it (a name may hold a comma).
    """
    others = [member for member in members if member["id"] != viewer_id] or members
    return ", ".join(sorted((member["name"] for member in others), key=str.casefold))


def message_json(row: Record, mentions: list[str] | None = None) -> dict:
    """A message in the spec's shape, plus (additions) `seq`, `edited_at` and `mentions`.

    `mentions` (user ids, sorted) defaults to the row's comma-separated `mention_ids`
    (store.MENTION_IDS)."""
    if mentions is None:
        ids = row["mention_ids"] if "mention_ids" in row.keys() else None
        mentions = sorted(ids.split(",")) if ids else []
    return {
        "id": row["id"],
        "room_id": row["room_id"],
        "creator_id": row["creator_id"],
        "content": row["content"],
        "client_message_id": row["client_message_id"],
        "created_at": row["created_at"],
        "seq": row["seq"],
        "edited_at": row["edited_at"],
        "mentions": mentions,
    }


def boost_json(row: Record) -> dict:
    """A boost: who stuck what to which message (an addition)."""
    return {
        "id": row["id"],
        "message_id": row["message_id"],
        "room_id": row["room_id"],
        "booster_id": row["booster_id"],
        "content": row["content"],
        "created_at": row["created_at"],
    }


def avatar_url(row: Record) -> str | None:
    """Where a user's avatar is (its version in the URL, so caches refresh), or None."""
    key = row["avatar_key"] if "avatar_key" in row.keys() else None
    return f"/api/users/{row['id']}/avatar?v={key}" if key else None


def attachment_json(row: Record) -> dict:
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
