"""Use cases for rooms: create, find, rename, delete, and who belongs to them.

Rules (docs/http-api.md): an open room has every active user as a member, users created
later included; a closed room has explicit members; a direct room has a fixed set of users,
one room per set. A room's creator and administrators manage it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from campfire import attachment_files, clock, errors, store
from campfire.accounts import SessionUser
from campfire.core import Core
from campfire.errors import CampfireError
from campfire.validate import check_name, check_room_type, check_uuid, new_id

MAX_DIRECT_USERS = 50


async def find_room(core: Core, room_id: str) -> sqlite3.Row:
    """A room by id, or ROOM_NOT_FOUND."""
    room = await store.get_room(core.db, room_id)
    if room is None:
        raise errors.room_not_found()
    return room


async def access_room(
    core: Core, user: SessionUser, room_id: str, join_open: bool = False
) -> sqlite3.Row:
    """A room the user may use; with `join_open`, a non-member of an open room becomes one.

    Open rooms can be read by every active user; closed and direct rooms only by members.
    """
    room = await find_room(core, room_id)
    if await store.is_member(core.db, room_id, user.id):
        return room
    if room["room_type"] != "open":
        raise errors.room_access_denied()
    if join_open:
        await do_add_members(core, room_id, [user.id])
    return room


def check_can_manage(user: SessionUser, room: sqlite3.Row) -> None:
    """Only the room's creator or an administrator changes a room."""
    if not (user.is_admin or room["creator_id"] == user.id):
        raise errors.forbidden("Only the room's creator or an administrator can do that")


async def access_managed_room(core: Core, user: SessionUser, room_id: str) -> sqlite3.Row:
    """A room the user may change: any room for an administrator, else one they created and can use."""
    if user.is_admin:
        return await find_room(core, room_id)
    room = await access_room(core, user, room_id)
    check_can_manage(user, room)
    return room


async def do_create_room(
    core: Core, creator_id: str | None, name: object, room_type: object
) -> sqlite3.Row:
    """Create an open room (everyone is a member) or a closed one (the creator is)."""
    name = check_name(name)
    room_type = check_room_type(room_type, ("open", "closed"))
    room_id, now = new_id(), clock.now_iso()
    async with core.db.transaction() as conn:
        await store.insert_room_txn(conn, room_id, name, room_type, creator_id, None, now)
        if room_type == "open":
            await store.add_active_users_to_room_txn(conn, room_id, now)
        elif creator_id is not None:
            await store.add_member_txn(conn, room_id, creator_id, now)
    core.hub.members_added(room_id, await store.member_ids(core.db, room_id))
    return await store.get_room(core.db, room_id)


async def do_find_or_create_direct(
    core: Core, user: SessionUser, user_ids: object
) -> tuple[sqlite3.Row, bool]:
    """The direct room for the caller and these users, created if new; (room, created)."""
    if not isinstance(user_ids, list) or not user_ids:
        raise errors.bad_request("'user_ids' must be a non-empty list of user ids")
    if len(user_ids) > MAX_DIRECT_USERS:
        raise errors.bad_request(f"A direct room has at most {MAX_DIRECT_USERS} people")
    ids = sorted({check_uuid(uid, "user_ids") for uid in user_ids} | {user.id})
    if len(ids) < 2:
        raise errors.bad_request("A direct room needs at least one other person")
    users = {row["id"]: row for row in await store.get_users(core.db, ids)}
    if any(uid not in users or not users[uid]["is_active"] for uid in ids):
        raise errors.user_not_found()
    key = ",".join(ids)
    name = ", ".join(sorted(users[uid]["name"] for uid in ids))
    room_id, now = new_id(), clock.now_iso()
    async with core.db.transaction() as conn:
        existing = await store.find_direct_room_txn(conn, key)
        if existing is None:
            await store.insert_room_txn(conn, room_id, name, "direct", user.id, key, now)
            for uid in ids:
                await store.add_member_txn(conn, room_id, uid, now)
    if existing is not None:
        return existing, False
    core.hub.members_added(room_id, ids)
    return await store.get_room(core.db, room_id), True


async def do_rename_room(core: Core, user: SessionUser, room_id: str, name: object) -> sqlite3.Row:
    """Rename a room (not a direct one)."""
    room = await access_managed_room(core, user, room_id)
    if room["room_type"] == "direct":
        raise errors.forbidden("Direct rooms cannot be renamed")
    name = check_name(name)
    async with core.db.transaction() as conn:
        await store.update_room_txn(conn, room_id, name)
    return await store.get_room(core.db, room_id)


async def do_delete_room(core: Core, user: SessionUser | None, room_id: str) -> None:
    """Delete a room with its messages (user None: an administrator at the shell)."""
    if user is None:
        await find_room(core, room_id)
    else:
        await access_managed_room(core, user, room_id)
    async with core.db.transaction() as conn:
        await store.delete_room_txn(conn, room_id)
    core.hub.room_deleted(room_id)
    await attachment_files.delete_files_of_room(core, room_id)


async def do_add_members(core: Core, room_id: str, user_ids: Iterable[str]) -> list[str]:
    """Make users members (no permission check: callers do that); the ones newly added."""
    added, now = [], clock.now_iso()
    try:
        async with core.db.transaction() as conn:
            for user_id in user_ids:
                if await store.add_member_txn(conn, room_id, user_id, now):
                    added.append(user_id)
    except sqlite3.IntegrityError:  # the room or the user vanished meanwhile
        raise errors.room_not_found() from None
    core.hub.members_added(room_id, added)
    return added


async def do_add_member(core: Core, user: SessionUser | None, room_id: str, member_id: str) -> bool:
    """Add a member to an open or closed room; True if they were not one already."""
    room = (
        await find_room(core, room_id)
        if user is None
        else await access_managed_room(core, user, room_id)
    )
    if room["room_type"] == "direct":
        raise errors.forbidden("A direct room's members are fixed")
    target = await store.get_user(core.db, member_id)
    if target is None or not target["is_active"]:
        raise errors.user_not_found()
    return bool(await do_add_members(core, room_id, [member_id]))


async def do_remove_member(
    core: Core, user: SessionUser | None, room_id: str, member_id: str
) -> bool:
    """Remove a member (managers remove anyone; anyone may remove themselves)."""
    if user is None:
        room = await find_room(core, room_id)
    elif member_id == user.id:
        room = await access_room(core, user, room_id)
    else:
        room = await access_managed_room(core, user, room_id)
    if room["room_type"] == "direct":
        raise errors.forbidden("A direct room's members are fixed")
    async with core.db.transaction() as conn:
        removed = await store.remove_member_txn(conn, room_id, member_id)
    if removed:
        core.hub.member_removed(room_id, member_id)
    return removed


async def resolve_room(core: Core, ref: str) -> sqlite3.Row:
    """A room named by id or by (unique) name, for the CLI."""
    ref = ref.strip()
    room = await store.get_room(core.db, ref.lower())
    if room is not None:
        return room
    matches = await store.find_rooms_by_name(core.db, ref)
    if not matches:
        raise errors.room_not_found()
    if len(matches) > 1:
        raise CampfireError(errors.BAD_REQUEST, f"Several rooms are named {ref!r}; use the room id")
    return matches[0]
