"""Use cases for messages: post (deduplicated, broadcast after commit), history, last seen."""

from __future__ import annotations

import logging
import sqlite3

from campfire import clock, errors, store
from campfire.accounts import SessionUser
from campfire.core import Core
from campfire.errors import CampfireError
from campfire.rooms import access_room
from campfire.validate import check_content, check_uuid, new_time_ordered_id
from campfire.views import message_json

log = logging.getLogger(__name__)

MAX_PAGE = 200
DEFAULT_PAGE = 50


async def do_create_message(
    core: Core,
    user: SessionUser,
    room_id: str,
    content: object,
    client_message_id: object,
    known_member: bool = False,
) -> tuple[dict, bool]:
    """Store a message and broadcast it after commit; (message, created).

    A retry with the same (room, creator, client_message_id) creates nothing and returns the
    original with created=False; the caller answers only the retrying client.
    """
    room_id = check_uuid(room_id, "room_id")
    content = check_content(content)
    try:
        client_message_id = check_uuid(client_message_id, "client_message_id")
    except CampfireError as exc:
        raise CampfireError(errors.MESSAGE_CREATION_FAILED, exc.message) from None
    if not core.allow_message(user.id):
        # The allowance is empty: one more message is allowed within 1/rate seconds.
        raise errors.rate_limited(
            "Too many messages; slow down", 1 / core.settings.user_messages_per_second
        )
    if not known_member:
        await access_room(core, user, room_id, join_open=True)
    item = {
        "id": new_time_ordered_id(),
        "room_id": room_id,
        "creator_id": user.id,
        "content": content,
        "client_message_id": client_message_id,
        "created_at": clock.now_iso(),
    }
    try:
        row, created = await core.message_writer.submit(item)
    except sqlite3.IntegrityError:  # the room was deleted while the message waited
        raise errors.room_not_found() from None
    except sqlite3.Error as exc:
        log.error("could not store a message in room %s: %s", room_id, exc)
        raise CampfireError(
            errors.MESSAGE_CREATION_FAILED,
            "Failed to create message: the server could not store it",
            503,
        ) from None
    message = message_json(row)
    core.hub.stop_typing(user.id, room_id)
    if created:
        core.hub.publish_message(room_id, row["seq"], message)
    return message, created


def _cursor(value: object, name: str) -> int | None:
    """A sequence-number query parameter."""
    if value is None or value == "":
        return None
    try:
        number = int(str(value))
    except ValueError:
        raise errors.bad_request(f"'{name}' must be a message sequence number") from None
    if number < 0 or number > 2**63 - 1:
        raise errors.bad_request(f"'{name}' is out of range")
    return number


async def history(
    core: Core,
    user: SessionUser,
    room_id: str,
    before: object = None,
    after: object = None,
    limit: object = None,
) -> dict:
    """A page of a room's history in sequence order, with has_more."""
    await access_room(core, user, room_id)
    before_seq, after_seq = _cursor(before, "before"), _cursor(after, "after")
    count = _cursor(limit, "limit")
    count = DEFAULT_PAGE if count is None else count
    if not 1 <= count <= MAX_PAGE:
        raise errors.bad_request(f"'limit' must be between 1 and {MAX_PAGE}")
    rows = await store.page_messages(core.db, room_id, before_seq, after_seq, count)
    has_more = len(rows) > count
    rows = rows[:count]
    if after_seq is None:
        rows.reverse()  # fetched newest first; shown oldest first
    return {"messages": [message_json(row) for row in rows], "has_more": has_more}


async def do_mark_seen(core: Core, user: SessionUser, message_id: str) -> None:
    """Move the user's last-seen mark in the message's room forward (never backwards)."""
    message = await store.get_message(core.db, check_uuid(message_id, "message_id"))
    if message is None:
        raise CampfireError(errors.MESSAGE_NOT_FOUND, "Message not found", 404)
    room_id = message["room_id"]
    if not await store.is_member(core.db, room_id, user.id):
        raise errors.room_access_denied()
    async with core.db.transaction() as conn:
        await store.mark_seen_txn(conn, room_id, user.id, message["seq"])
