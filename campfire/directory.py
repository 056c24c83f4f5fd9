"""Telling open pages that the directory changed: rooms gained, changed or lost; people changed.

The use cases (accounts, rooms) call these after their commit. The socket re-check
(realtime/ws.py) calls `sync_from_database` to find what another process (the CLI) changed:
it compares the database with what this process last published or saw, kept in
`Hub.directory_seen`. Comparing state, rather than keeping a change log, needs no write on
any path and also catches changes nobody logged; its price is one read of the users and rooms
tables per re-check (every 30 s by default), small beside what a chat server holds in memory.
"""

from __future__ import annotations

from collections.abc import Iterable

from campfire import store
from campfire.core import Core
from campfire.views import Record, room_json, user_json


def user_state(row: Record) -> tuple:
    """What about a user, once changed, other people's pages must learn."""
    return ("user", row["name"], bool(row["is_active"]), bool(row["is_admin"]), row["avatar_key"])


def room_state(row: Record) -> tuple:
    """What about a room, once changed, its members' pages must learn."""
    return ("room", row["name"], row["room_type"])


async def room_views(core: Core, room_id: str, user_ids: list[str]) -> dict[str, dict]:
    """The room as each of these members sees it in GET /api/rooms (non-members left out)."""
    rows = await store.room_views(core.db, room_id, user_ids)
    if not rows:
        return {}
    members = None
    if rows[0]["room_type"] == "direct":
        members = (await store.direct_members(core.db, [room_id]))[room_id]
    return {row["viewer_id"]: room_json(row, members, row["viewer_id"]) for row in rows}


async def room_updated(core: Core, room_id: str, user_ids: Iterable[str] | None = None) -> None:
    """RoomUpdated to these members (default: every member) on their live connections,
    which from now on receive the room's messages."""
    hub = core.hub
    mark = hub.removal_mark()
    if user_ids is not None:
        user_ids = list(user_ids)
        # Subscribed before any await: a message committed meanwhile is not missed.
        hub.members_added(room_id, user_ids)
    room = await store.get_room(core.db, room_id)
    if room is None:  # deleted meanwhile: its RoomRemoved is on its way
        return
    hub.directory_seen[("room", room_id)] = room_state(room)
    if user_ids is None:
        user_ids = await store.member_ids(core.db, room_id)
    online = [user_id for user_id in user_ids if hub.is_online(user_id)]
    if not online:
        return
    views = await room_views(core, room_id, online)
    for user_id in online:
        lost = hub.removed_since(mark, user_id)
        if lost is None:  # too many removals meanwhile to tell: their pages read it all again
            hub.reconnect_user(user_id)
        elif user_id in views and room_id not in lost:
            hub.publish_room_updated(user_id, views[user_id])
        else:
            # Removed before the read, or after it (its RoomRemoved went out): undo the early
            # subscription; a RoomUpdated now would make it again.
            hub.member_removed(room_id, user_id)


def room_removed(core: Core, room_id: str, user_ids: Iterable[str]) -> None:
    """RoomRemoved to these users, whose connections stop receiving and viewing it at once."""
    for user_id in user_ids:
        core.hub.publish_room_removed(user_id, room_id)


async def user_updated(core: Core, user_id: str, renamed: bool = False) -> None:
    """UserUpdated to every live connection; after a rename, RoomUpdated for the user's direct
    rooms too, whose names are made of their members' names."""
    row = await store.get_user(core.db, user_id)
    if row is None:
        return
    core.hub.directory_seen[("user", user_id)] = user_state(row)
    # To everyone at once, so the email only where the setting shows emails to members.
    core.hub.publish_user_updated(
        user_json(row, with_email=core.settings.emails_visible_to_members)
    )
    if renamed:
        for room_id in await store.direct_room_ids_of_user(core.db, user_id):
            await room_updated(core, room_id)


async def sync_from_database(core: Core) -> None:
    """Publish the directory changes made outside this process since the last pass.

    Each user's subscriptions are compared with the memberships table (rooms gained get
    RoomUpdated, rooms lost RoomRemoved); rooms and users with the state last seen. The
    subscriptions are read before the database, so a change this process makes meanwhile
    can only cause a harmless repeat of an event, never a wrong one.
    """
    hub = core.hub
    subscribed: dict[str, set[str]] = {}
    for conn in hub.all_connections():
        if conn not in hub.catching_up:
            subscribed.setdefault(conn.user_id, set()).update(conn.rooms)
    memberships = await store.room_ids_of_users(core.db, sorted(subscribed))
    users = await store.list_users(core.db, include_inactive=True)
    rooms = await store.room_states(core.db)

    # On the first pass everything is unseen; after it, an unseen user is a new one.
    primed, hub.directory_primed = hub.directory_primed, True
    previous: dict[tuple[str, str], tuple] = hub.directory_seen
    seen: dict[tuple[str, str], tuple] = {}
    changed_users: list[tuple[str, bool]] = []
    for row in users:
        state = seen[("user", row["id"])] = user_state(row)
        before = previous.get(("user", row["id"]))
        if before != state and (before is not None or primed):
            changed_users.append((row["id"], before is not None and before[1] != state[1]))
    changed_rooms = []
    for row in rooms:
        state = seen[("room", row["id"])] = room_state(row)
        before = previous.get(("room", row["id"]))
        if before is not None and before != state:
            changed_rooms.append(row["id"])
    hub.directory_seen = seen  # rebuilt from the database: deleted rows drop out

    for user_id, room_ids in memberships.items():
        for room_id in subscribed.get(user_id, set()) - room_ids:
            room_removed(core, room_id, [user_id])
        for room_id in room_ids - subscribed.get(user_id, set()):
            await room_updated(core, room_id, [user_id])
    for room_id in changed_rooms:
        await room_updated(core, room_id)
    for user_id, renamed in changed_users:
        await user_updated(core, user_id, renamed)
