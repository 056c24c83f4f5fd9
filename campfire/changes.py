"""Use cases for changing messages after their creation: edit, delete, boost, unboost.

Each is used by both HTTP and /ws (same checks, same errors). Each change is written through
the group commit with new messages (core.message_writer), numbered from the message
sequence, and published to the room only after it is committed.

Who may: the author edits and deletes their own messages; the room's managers (its creator
and administrators, who manage every room, member or not) delete any; any member boosts;
only the booster removes a boost. An outsider (who may not read the room) learns nothing: a
message or boost in a room they cannot see is answered exactly like one that does not exist
(MESSAGE_NOT_FOUND, BOOST_NOT_FOUND), so ids cannot be probed.
"""

from __future__ import annotations

import logging
import sqlite3
import unicodedata

from campfire import clock, errors, protocol, store
from campfire.accounts import SessionUser
from campfire.core import Core
from campfire.errors import CampfireError
from campfire.rooms import check_can_manage, do_add_members
from campfire.validate import check_content, check_uuid, is_text, new_time_ordered_id
from campfire.views import boost_json, message_json

log = logging.getLogger(__name__)

MAX_BOOST_CHARS = 16


def message_not_found() -> CampfireError:
    """No such message, or one the caller may not see."""
    return CampfireError(errors.MESSAGE_NOT_FOUND, "Message not found", 404)


def boost_not_found() -> CampfireError:
    """No such boost, or one the caller may not see."""
    return CampfireError(errors.BOOST_NOT_FOUND, "Boost not found", 404)


def check_boost_content(value: object) -> str:
    """A boost: an emoji or a short word, 1 to 16 characters after trimming, one line."""
    if not isinstance(value, str):
        raise errors.bad_request("'content' must be a string")
    text = value.strip()
    if not text:
        raise errors.bad_request("A boost must not be empty")
    if len(text) > MAX_BOOST_CHARS:
        raise errors.bad_request(f"A boost must be at most {MAX_BOOST_CHARS} characters")
    if not is_text(text) or any(unicodedata.category(ch) == "Cc" for ch in text):
        raise errors.bad_request("A boost must be text on one line, without control characters")
    return text


def _check_new_content(value: object) -> str:
    """Edited content: the same rules as a new message's, reported as a validation error."""
    try:
        return check_content(value)
    except CampfireError as exc:
        raise errors.bad_request(exc.message) from None


async def _charge(core: Core, user: SessionUser) -> None:
    """Take one from the user's message allowance: changes are rate-limited like messages."""
    if wait := await core.message_wait(user.id):
        raise errors.rate_limited("Too many messages; slow down", wait)


async def _visible_message(
    core: Core, user: SessionUser, message_id: object, join_open: bool = False, boost: str = ""
) -> sqlite3.Row:
    """The message (store.message_for_change: with its room's facts and the user's boosts
    on it) if the user may see it, else MESSAGE_NOT_FOUND. Everyone may read an open room;
    with `join_open`, acting in one makes a non-member a member (as posting does)."""
    row = await store.message_for_change(
        core.db, check_uuid(message_id, "message_id"), user.id, boost
    )
    if row is None:
        raise message_not_found()
    if not row["is_member"] and not (user.is_admin and not join_open):  # admins manage all
        if row["room_type"] != "open":
            raise message_not_found()
        if join_open:
            await do_add_members(core, row["room_id"], [user.id])
    return row


async def _commit(core: Core, item: dict) -> dict | None:
    """Write one change through the group commit; its result (None: its target was gone)."""
    item["created_at"] = clock.now_iso()
    try:
        return await core.message_writer.submit(item)
    except sqlite3.IntegrityError:
        raise  # a constraint: the caller knows which one it can meet
    except sqlite3.Error as exc:
        log.error("could not store a %s: %s", item["kind"], exc)
        raise CampfireError(
            errors.SERVICE_UNAVAILABLE, "The server could not store the change", 503
        ) from None


async def do_edit_message(
    core: Core, user: SessionUser, message_id: object, content: object
) -> tuple[dict, int | None]:
    """Replace the content of one's own message; (message, change_seq), None if unchanged."""
    content = _check_new_content(content)
    message = await _visible_message(core, user, message_id)
    if message["creator_id"] != user.id:
        raise errors.forbidden("Only its author can edit a message")
    if content == message["content"]:
        return message_json(message), None  # nothing changed: nothing to tell anyone
    await _charge(core, user)
    item = {
        "kind": "message_updated",
        "message_id": message["id"],
        "room_id": message["room_id"],  # whose members it may mention (batch.py)
        "content": content,
    }
    result = await _commit(core, item)
    if result is None:
        raise message_not_found()  # deleted while the edit waited
    updated, seq = message_json(result["message"], result["mentions"]), result["seq"]
    core.hub.publish_change(updated["room_id"], seq, protocol.message_updated(updated, seq))
    return updated, seq


async def do_delete_message(core: Core, user: SessionUser, message_id: object) -> int:
    """Delete a message with its boosts and mentions (author or room manager); change_seq."""
    message = await _visible_message(core, user, message_id)
    if message["creator_id"] != user.id:
        check_can_manage(user, {"creator_id": message["room_creator_id"]})
    await _charge(core, user)
    result = await _commit(core, {"kind": "message_deleted", "message_id": message["id"]})
    if result is None:
        raise message_not_found()  # somebody else deleted it first
    seq, room_id = result["seq"], message["room_id"]
    core.hub.publish_change(room_id, seq, protocol.message_deleted(message["id"], room_id, seq))
    return seq


async def do_add_boost(
    core: Core, user: SessionUser, message_id: object, content: object
) -> tuple[dict, int | None]:
    """Stick a boost to a message; (boost, change_seq). The same boost again by the same
    person creates nothing and returns the first (change_seq None)."""
    content = check_boost_content(content)
    message = await _visible_message(core, user, message_id, join_open=True, boost=content)
    existing = await _own_boost(core, message["own_boost_id"])
    if existing is not None:
        return existing, None
    limit = core.settings.boosts_per_user_per_message
    if message["own_boosts"] >= limit:
        raise errors.bad_request(f"At most {limit} different boosts per person on a message")
    await _charge(core, user)
    item = {
        "kind": "boost_added",
        "message_id": message["id"],
        "new_boost_id": new_time_ordered_id(),
        "booster_id": user.id,
        "content": content,
    }
    try:
        result = await _commit(core, item)
    except sqlite3.IntegrityError:  # the same boost, sent twice at once: the first one won
        again = await store.message_for_change(core.db, message["id"], user.id, content)
        existing = await _own_boost(core, again["own_boost_id"] if again else None)
        if existing is None:
            raise message_not_found() from None
        return existing, None
    if result is None:
        raise message_not_found()  # deleted while the boost waited
    boost, seq = boost_json(result["boost"]), result["seq"]
    core.hub.publish_change(boost["room_id"], seq, protocol.boost_added(boost, seq))
    return boost, seq


async def _own_boost(core: Core, boost_id: str | None) -> dict | None:
    """The boost the user already stuck to the message with this content, if any."""
    row = await store.get_boost(core.db, boost_id) if boost_id else None
    return boost_json(row) if row is not None else None


async def do_remove_boost(
    core: Core, user: SessionUser, boost_id: object, message_id: str | None = None
) -> int:
    """Take back one's own boost (of `message_id`, when the caller names it); change_seq."""
    boost = await store.boost_for_change(core.db, check_uuid(boost_id, "boost_id"), user.id)
    if boost is None or (message_id is not None and boost["message_id"] != message_id):
        raise boost_not_found()
    if not boost["is_member"] and boost["room_type"] != "open":
        raise boost_not_found()
    if boost["booster_id"] != user.id:
        raise errors.forbidden("Only the person who added a boost can remove it")
    await _charge(core, user)
    item = {"kind": "boost_removed", "message_id": boost["message_id"], "boost_id": boost["id"]}
    result = await _commit(core, item)
    if result is None:
        raise boost_not_found()  # removed (or its message deleted) meanwhile
    seq = result["seq"]
    core.hub.publish_change(
        boost["room_id"],
        seq,
        protocol.boost_removed(boost["id"], boost["message_id"], boost["room_id"], seq),
    )
    return seq


def catch_up_events(rows: list) -> list[dict]:
    """The change events a returning connection missed (store.catch_up rows, in sequence
    order), each carrying the current state.

    Superseded ones are left out: an edit or boost of a message deleted since (its
    deletion follows), a boost removed since (its removal follows), all but the last edit
    of a message (the last carries the current content).
    """
    last_edit = {row["id"]: row["seq"] for row in rows if row["kind"] == "message_updated"}
    events = []
    for row in rows:
        kind, seq, room_id = row["kind"], row["seq"], row["room_id"]
        if kind == "message_updated":
            if row["message_seq"] is None or last_edit[row["id"]] != seq:
                continue
            message = message_json({**dict(row), "seq": row["message_seq"]})
            events.append(protocol.message_updated(message, seq))
        elif kind == "message_deleted":
            events.append(protocol.message_deleted(row["id"], room_id, seq))
        elif kind == "boost_added":
            if row["booster_id"] is None:
                continue
            boost = {
                "id": row["boost_id"],
                "message_id": row["id"],
                "room_id": room_id,
                "booster_id": row["booster_id"],
                "content": row["boost_content"],
                "created_at": row["boost_created_at"],
            }
            events.append(protocol.boost_added(boost_json(boost), seq))
        else:
            events.append(protocol.boost_removed(row["boost_id"], row["id"], room_id, seq))
    return events
