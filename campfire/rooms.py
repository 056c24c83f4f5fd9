"""Use cases for rooms: create, find, rename, delete, and who belongs to them.

Rules (docs/http-api.md): an open room has every active user as a member, users created
later included; a closed room has explicit members; a direct room has a fixed set of users,
one room per set. A room's creator and administrators manage it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime, timedelta

import aiosqlite

from campfire import accounts, attachment_files, clock, directory, errors, store
from campfire.accounts import SessionUser
from campfire.core import Core
from campfire.errors import CampfireError
from campfire.validate import check_name, check_room_type, check_uuid, new_id
from campfire.views import Record, room_json

MAX_DIRECT_USERS = 50
LIMIT_WINDOW = timedelta(hours=1)  # the window of rooms_per_hour and direct_rooms_per_hour


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


def check_can_manage(user: SessionUser, room: Record) -> None:
    """Only the room's creator or an administrator changes a room."""
    if not (user.is_admin or room["creator_id"] == user.id):
        raise errors.forbidden("Only the room's creator or an administrator can do that")


async def access_managed_room(core: Core, user: SessionUser, room_id: str) -> sqlite3.Row:
    """A room the user may change: any room for an administrator, else one they made and can use."""
    if user.is_admin:
        return await find_room(core, room_id)
    room = await access_room(core, user, room_id)
    check_can_manage(user, room)
    return room


async def do_create_room(
    core: Core,
    creator_id: str | None,
    name: object,
    room_type: object,
    creator_is_admin: bool = False,
) -> sqlite3.Row:
    """Create an open room (everyone is a member) or a closed one (the creator is).

    Names are unique per room type, case-insensitively (ROOM_NAME_TAKEN otherwise).

    creator_id None is an administrator at the shell; members are held to rooms_per_hour.
    (Whether members may create open rooms is the account's setting: check_may_create_room.)
    """
    name = check_name(name)
    room_type = check_room_type(room_type, ("open", "closed"))
    room_id, now = new_id(), clock.now_iso()
    async with core.db.transaction() as conn:
        if creator_id is not None and not creator_is_admin:
            await _check_hourly_limit_txn(
                conn, creator_id, ("open", "closed"), core.settings.rooms_per_hour, "rooms"
            )
        if await store.room_name_taken_txn(conn, name, room_type):
            raise errors.room_name_taken(name)
        await store.insert_room_txn(conn, room_id, name, room_type, creator_id, None, now)
        if room_type == "open":
            await store.add_active_users_to_room_txn(conn, room_id, now)
        elif creator_id is not None:
            await store.add_member_txn(conn, room_id, creator_id, now)
    await directory.room_updated(core, room_id, await store.member_ids(core.db, room_id))
    return await find_room(core, room_id)


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
    room_id, now = new_id(), clock.now_iso()
    async with core.db.transaction() as conn:
        existing = await store.find_direct_room_txn(conn, key)
        if existing is None:
            await _check_hourly_limit_txn(
                conn, user.id, ("direct",), core.settings.direct_rooms_per_hour, "direct rooms"
            )
            # No stored name: it is computed from the members' current names when shown.
            await store.insert_room_txn(conn, room_id, "", "direct", user.id, key, now)
            for uid in ids:
                await store.add_member_txn(conn, room_id, uid, now)
            await store.set_room_involvement_txn(conn, room_id, "everything")
    if existing is not None:
        return existing, False
    await directory.room_updated(core, room_id, ids)
    return await find_room(core, room_id), True


async def do_update_room(
    core: Core, user: SessionUser, room_id: str, name: object, room_type: object
) -> sqlite3.Row:
    """Rename a room and/or switch it between open and closed (None: keep); not a direct one.

    Switched to open, every active user becomes a member; switched to closed, the members
    stay. Every member's pages learn the change (RoomUpdated), the new members' too.
    """
    room = await access_managed_room(core, user, room_id)
    if room["room_type"] == "direct":
        raise errors.forbidden("A direct room has no name or type to change")
    if name is None and room_type is None:
        raise errors.bad_request("Send one or more of: name, room_type")
    name = check_name(name) if name is not None else None
    room_type = check_room_type(room_type, ("open", "closed")) if room_type is not None else None
    if room_type == "open" and room["room_type"] != "open":  # opening a room creates one for all
        check_may_create_room(await accounts.get_account(core), user, room_type)
    now = clock.now_iso()
    async with core.db.transaction() as conn:
        # Names are unique per type: a switch of type can clash as much as a rename.
        new_name, new_type = name or room["name"], room_type or room["room_type"]
        if await store.room_name_taken_txn(conn, new_name, new_type, except_id=room_id):
            raise errors.room_name_taken(new_name)
        if name is not None:
            await store.update_room_txn(conn, room_id, name)
        if room_type is not None:
            await store.update_room_type_txn(conn, room_id, room_type)
            if room_type == "open":
                await store.add_active_users_to_room_txn(conn, room_id, now)
    await directory.room_updated(core, room_id, await store.member_ids(core.db, room_id))
    return await find_room(core, room_id)


async def do_delete_room(core: Core, user: SessionUser | None, room_id: str) -> None:
    """Delete a room with its messages (user None: an administrator at the shell)."""
    if user is None:
        await find_room(core, room_id)
    else:
        await access_managed_room(core, user, room_id)
    async with core.db.transaction() as conn:
        members = await store.member_ids_txn(conn, room_id)
        await store.delete_room_txn(conn, room_id)
    directory.room_removed(core, room_id, members)
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
    if added:
        await directory.room_updated(core, room_id, added)
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
        directory.room_removed(core, room_id, [member_id])
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


def check_may_create_room(account: sqlite3.Row, user: SessionUser, room_type: object) -> None:
    """Open rooms are for everyone: the account setting decides whether members may create them."""
    if room_type == "open" and not user.is_admin and not account["members_can_create_open_rooms"]:
        raise errors.forbidden("Only administrators can create open rooms here")


async def list_rooms_for(core: Core, user_id: str) -> list[dict]:
    """The user's rooms as GET /api/rooms shows them (invisible ones included, marked)."""
    rows = await store.list_rooms_of_user(core.db, user_id)
    direct = [row["id"] for row in rows if row["room_type"] == "direct"]
    members = await store.direct_members(core.db, direct) if direct else {}
    return [room_json(row, members.get(row["id"]), user_id) for row in rows]


async def room_view(
    core: Core, user: SessionUser, room_id: str, room: sqlite3.Row | None = None
) -> dict:
    """One room as GET /api/rooms shows it to a member, else the bare room; `room` given:
    the caller has checked access already (an administrator managing a room outside it)."""
    if room is None:
        room = await access_room(core, user, room_id)
    view = (await directory.room_views(core, room_id, [user.id])).get(user.id)
    if view is not None:
        return view
    if room["room_type"] == "direct":  # an administrator outside it: named after everyone
        return room_json(room, (await store.direct_members(core.db, [room_id]))[room_id])
    return room_json(room)


async def do_set_involvement(
    core: Core, user: SessionUser, room_id: str, involvement: object
) -> dict:
    """Set how much a room may interrupt the user; direct rooms: everything, nothing, invisible."""
    room = await access_room(core, user, room_id)
    allowed: tuple[str, ...] = accounts.INVOLVEMENTS
    if room["room_type"] == "direct":
        allowed = ("everything", "nothing", "invisible")
    if involvement not in allowed:
        raise errors.bad_request(f"'involvement' must be one of: {', '.join(allowed)}")
    async with core.db.transaction() as conn:
        if not await store.set_involvement_txn(conn, room_id, user.id, involvement):
            raise errors.room_access_denied()  # an open room they are not a member of
    await directory.room_updated(core, room_id, [user.id])
    return await room_view(core, user, room_id)


async def _check_hourly_limit_txn(
    conn: aiosqlite.Connection, creator_id: str, room_types: tuple[str, ...], limit: int, what: str
) -> None:
    """429 if the creator made `limit` rooms of these types in the last hour (0: no limit).

    Counted from the rooms table inside the write transaction: the limit holds across restarts
    and (later) processes, and concurrent requests cannot all slip under it.
    """
    if limit <= 0:
        return
    now = clock.now()
    since = clock.iso(now - LIMIT_WINDOW)
    oldest = await store.nth_newest_room_since_txn(conn, creator_id, room_types, since, limit)
    if oldest is not None:
        wait = datetime.fromisoformat(oldest) + LIMIT_WINDOW - now
        raise errors.rate_limited(
            f"You can create at most {limit} {what} an hour; try again later",
            wait.total_seconds(),
        )
