"""Use cases for messages: post (deduplicated, broadcast after commit), history (with
boosts), the messages that mention a user, last seen. Changes to messages: changes.py."""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any

from campfire import clock, errors, store
from campfire.accounts import SessionUser
from campfire.core import Core
from campfire.db import DatabaseUnavailable
from campfire.errors import CampfireError
from campfire.rooms import access_room
from campfire.validate import (
    check_content,
    check_uuid,
    new_time_ordered_id,
    whole_number_param,
)
from campfire.views import boost_json, message_json

log = logging.getLogger(__name__)

MAX_PAGE = 200
DEFAULT_PAGE = 50
MESSAGE_JSON_OVERHEAD = 250  # bytes of a message's JSON besides its content (ids, times, keys)


async def do_create_message(
    core: Core,
    user: SessionUser,
    room_id: str,
    content: object,
    client_message_id: object,
    known_member: bool = False,
    message_id: str | None = None,
    attachment: dict | None = None,
    counted: bool = False,
) -> tuple[dict, bool]:
    """Store a message and broadcast it after commit; (message, created).

    A retry with the same (room, creator, client_message_id) creates nothing and returns the
    original with created=False; the caller answers only the retrying client.
    An upload passes the message id its attachment row already names, the attachment's JSON
    (added to the message as broadcast), and counted=True once it took the user's allowance.
    """
    room_id = check_uuid(room_id, "room_id")
    content = check_content(content)
    try:
        client_message_id = check_uuid(client_message_id, "client_message_id")
    except CampfireError as exc:
        raise CampfireError(errors.MESSAGE_CREATION_FAILED, exc.message) from None
    if not counted and (wait := await core.message_wait(user.id)):
        raise errors.rate_limited("Too many messages; slow down", wait)
    if not known_member:
        await access_room(core, user, room_id, join_open=True)
    item: dict[str, Any] = {  # what the group committer hands batch.write_batch
        "id": message_id or new_time_ordered_id(),
        "room_id": room_id,
        "creator_id": user.id,
        "content": content,
        "client_message_id": client_message_id,
        "created_at": clock.now_iso(),
        "kind": "message",
        # Whether it may call a bot's webhook: the write works out which (campfire/batch.py),
        # and its `mentions` and `webhook_deliveries`.
        "may_call": core.webhooks.may_call(user.id),
    }
    try:
        row, created = await core.message_writer.submit(item)
    except sqlite3.IntegrityError:  # the room was deleted while the message waited
        raise errors.room_not_found() from None
    except sqlite3.Error as exc:
        if not isinstance(exc, DatabaseUnavailable):  # the engine logs an outage once
            log.error("could not store a message in room %s: %s", room_id, exc)
        raise CampfireError(
            errors.MESSAGE_CREATION_FAILED,
            "Failed to create message: the server could not store it",
            503,
        ) from None
    if created:
        message = message_json(row, item["mentions"])
    else:  # the original, as stored (it may have been edited since)
        message = message_json(await store.get_message(core.db, row["id"]) or row)
    if created and attachment is not None:
        message["attachment"] = attachment
    core.hub.stop_typing(user.id, room_id)
    if created:
        core.hub.publish_message(room_id, row["seq"], message)
        core.push.message_created(room_id, message)  # queued, never awaited
        if item["webhook_deliveries"]:
            core.webhooks.wake()
    return message, created


async def history(
    core: Core,
    user: SessionUser,
    room_id: str,
    before: object = None,
    after: object = None,
    limit: object = None,
) -> dict:
    """A page of a room's history in sequence order, with has_more.

    A page holds at most `limit` messages and stops early (has_more true) once it holds
    history_page_max_bytes of message JSON; each user reads history_pages_per_second pages.
    """
    wait = core.history_wait(user.id)
    if wait:
        raise errors.rate_limited("Too many history requests; slow down", wait)
    await access_room(core, user, room_id)
    before_seq, after_seq = whole_number_param(before, "before"), whole_number_param(after, "after")
    count = whole_number_param(limit, "limit")
    count = DEFAULT_PAGE if count is None else count
    if not 1 <= count <= MAX_PAGE:
        raise errors.bad_request(f"'limit' must be between 1 and {MAX_PAGE}")
    budget = core.settings.history_page_max_bytes
    # Fetch only the rows that can fit (reading a page of large messages costs more than
    # sending it); the exact cut below counts the JSON, escapes and all.
    sizes = await store.page_message_sizes(core.db, room_id, before_seq, after_seq, count)
    count = _rows_within(sizes, budget)
    rows = await store.page_messages(core.db, room_id, before_seq, after_seq, count)
    has_more = len(rows) > count
    page: list[dict] = []
    size = 0
    for row in rows[:count]:  # in fetch order, so the next page continues where this stops
        message = message_json(row)
        size += len(json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode())
        if page and size > budget:  # always at least one message, or paging could not move
            has_more = True
            break
        page.append(message)
    if after_seq is None:
        page.reverse()  # fetched newest first; shown oldest first
    return {"messages": await with_boosts(core, page), "has_more": has_more}


def _rows_within(sizes: list[int], budget: int) -> int:
    """How many messages with these content sizes fit in `budget` bytes of JSON (at least 1)."""
    total = 0
    for count, size in enumerate(sizes):
        total += size + MESSAGE_JSON_OVERHEAD
        if total > budget:
            return max(1, count)
    return max(1, len(sizes))


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


async def with_boosts(core: Core, messages: list[dict]) -> list[dict]:
    """The messages, each with its `boosts` (an addition to history), oldest boost first."""
    by_id = {message["id"]: message for message in messages}
    for message in messages:
        message["boosts"] = []
    for row in await store.boosts_of_messages(core.db, list(by_id)):
        by_id[row["message_id"]]["boosts"].append(boost_json(row))
    return messages


async def list_mentions(
    core: Core, user: SessionUser, before: object = None, limit: object = None
) -> dict:
    """The newest messages that mention the user, across their rooms, newest first; has_more."""
    before_seq, count = whole_number_param(before, "before"), whole_number_param(limit, "limit")
    count = DEFAULT_PAGE if count is None else count
    if not 1 <= count <= MAX_PAGE:
        raise errors.bad_request(f"'limit' must be between 1 and {MAX_PAGE}")
    rows = await store.page_mentions(core.db, user.id, before_seq, count)
    messages = await with_boosts(core, [message_json(row) for row in rows[:count]])
    return {"messages": messages, "has_more": len(rows) > count}


async def history_around(
    core: Core, user: SessionUser, room_id: str, around: object, limit: object = None
) -> dict:
    """A page of history centred on message `around` (itself included), oldest first.

    For jumping to a search result: has_more says older messages exist, has_more_after newer.
    """
    await access_room(core, user, room_id)
    seq = whole_number_param(around, "around")
    count = whole_number_param(limit, "limit")
    count = DEFAULT_PAGE if count is None else count
    if seq is None or not 1 <= count <= MAX_PAGE:
        raise errors.bad_request(f"'around' must be a sequence number, 'limit' 1 to {MAX_PAGE}")
    newer_count = count // 2
    older_count = count - newer_count  # the message itself and those before it
    before = min(seq, 2**63 - 2) + 1  # the message itself is the newest of the older half
    older = await store.page_messages(core.db, room_id, before, None, older_count)
    newer = await store.page_messages(core.db, room_id, None, seq, newer_count)
    has_more, has_more_after = len(older) > older_count, len(newer) > newer_count
    rows = list(reversed(older[:older_count])) + newer[:newer_count]
    return {
        "messages": await with_boosts(core, [message_json(row) for row in rows]),
        "has_more": has_more,
        "has_more_after": has_more_after,
    }
