"""SQL only: functions that read and write rows. No business rules live here.

Functions ending in `_txn` take the write connection inside a transaction (`Database.transaction`);
the others read through `Database`'s read connection.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

import aiosqlite

from campfire.db import Database

Row = sqlite3.Row

USER_COLUMNS = "id, name, email, is_admin, is_active, created_at"
MESSAGE_COLUMNS = "seq, id, room_id, creator_id, content, client_message_id, created_at"
ROOM_COLUMNS = "id, name, room_type, creator_id, direct_key, created_at"


async def _one(conn: aiosqlite.Connection, sql: str, params: Any = ()) -> Row | None:
    """First row of a query on the write connection."""
    rows = await conn.execute_fetchall(sql, params)
    return rows[0] if rows else None


async def _fetch_in(db: Database, sql: str, values: list[Any], *params: Any) -> list[Row]:
    """Rows of `sql` whose `{marks}` is an IN list of `values`, in chunks below SQLite's
    bound-variable limit; `params` bind after the list."""
    rows: list[Row] = []
    for start in range(0, len(values), 500):
        part = values[start : start + 500]
        rows += await db.fetchall(sql.format(marks=",".join("?" * len(part))), (*part, *params))
    return rows


# --- users -------------------------------------------------------------------------------


async def insert_user_txn(conn, user_id, name, email, password_hash, is_admin, created_at) -> None:
    """Insert a user row (raises sqlite3.IntegrityError if the email is taken)."""
    await conn.execute(
        "INSERT INTO users (id, name, email, password_hash, is_admin, is_active, created_at)"
        " VALUES (?, ?, ?, ?, ?, 1, ?)",
        (user_id, name, email, password_hash, int(is_admin), created_at),
    )


async def count_users_txn(conn) -> int:
    """How many users exist (inside a transaction, so first-run setup cannot race)."""
    row = await _one(conn, "SELECT COUNT(*) FROM users")
    return row[0]


async def count_users(db: Database) -> int:
    """How many users exist."""
    row = await db.fetchone("SELECT COUNT(*) FROM users")
    return row[0]


async def get_user(db: Database, user_id: str) -> Row | None:
    """A user by id, without the password hash."""
    return await db.fetchone(f"SELECT {USER_COLUMNS} FROM users WHERE id = ?", (user_id,))


async def get_user_by_email(db: Database, email: str) -> Row | None:
    """A user by email (case-insensitive), without the password hash."""
    return await db.fetchone(f"SELECT {USER_COLUMNS} FROM users WHERE email = ?", (email,))


async def get_password_hash(db: Database, email: str) -> Row | None:
    """id, is_active and password_hash for a login attempt."""
    return await db.fetchone(
        "SELECT id, is_active, password_hash FROM users WHERE email = ?", (email,)
    )


async def get_users(db: Database, user_ids: Iterable[str]) -> list[Row]:
    """The users with these ids (missing ids are simply absent)."""
    sql = f"SELECT {USER_COLUMNS} FROM users WHERE id IN ({{marks}})"
    return await _fetch_in(db, sql, list(user_ids))


async def list_users(db: Database, include_inactive: bool = False) -> list[Row]:
    """Users ordered by name."""
    where = "" if include_inactive else "WHERE is_active = 1"
    return await db.fetchall(
        f"SELECT {USER_COLUMNS} FROM users {where} ORDER BY name COLLATE NOCASE, email"
    )


async def update_user_txn(conn, user_id: str, **fields: Any) -> bool:
    """Set some of name, is_admin, is_active, password_hash; True if the user exists."""
    allowed = {"name", "is_admin", "is_active", "password_hash"}
    assert fields and set(fields) <= allowed, fields
    assignments = ", ".join(f"{name} = ?" for name in fields)
    cursor = await conn.execute(
        f"UPDATE users SET {assignments} WHERE id = ?", (*fields.values(), user_id)
    )
    return cursor.rowcount > 0


# --- sessions ----------------------------------------------------------------------------


async def insert_session_txn(conn, token_hash, user_id, created_at, expires_at) -> None:
    """Store a new session by the hash of its token."""
    await conn.execute(
        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, last_used_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (token_hash, user_id, created_at, expires_at, created_at),
    )


async def get_session(db: Database, token_hash: str, now: str) -> Row | None:
    """The live session with this token hash, joined with its (active) user."""
    return await db.fetchone(
        "SELECT s.token_hash, s.expires_at, s.last_used_at,"
        " u.id, u.name, u.email, u.is_admin, u.is_active, u.created_at"
        " FROM sessions s JOIN users u ON u.id = s.user_id"
        " WHERE s.token_hash = ? AND s.revoked_at IS NULL AND s.expires_at > ?"
        " AND u.is_active = 1 AND NOT EXISTS (SELECT 1 FROM bots b WHERE b.user_id = u.id)",
        (token_hash, now),
    )


async def touch_session_txn(conn, token_hash: str, now: str) -> None:
    """Record that a session was used."""
    await conn.execute(
        "UPDATE sessions SET last_used_at = ? WHERE token_hash = ?", (now, token_hash)
    )


async def revoke_session_txn(conn, token_hash: str, now: str) -> bool:
    """Revoke one session; True if it was live."""
    cursor = await conn.execute(
        "UPDATE sessions SET revoked_at = ? WHERE token_hash = ? AND revoked_at IS NULL",
        (now, token_hash),
    )
    return cursor.rowcount > 0


async def revoke_user_sessions_txn(conn, user_id: str, now: str) -> int:
    """Revoke every live session of a user; how many there were."""
    cursor = await conn.execute(
        "UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
        (now, user_id),
    )
    return cursor.rowcount


# --- rooms and memberships ---------------------------------------------------------------


async def insert_room_txn(conn, room_id, name, room_type, creator_id, direct_key, created_at):
    """Insert a room row."""
    await conn.execute(
        "INSERT INTO rooms (id, name, room_type, creator_id, direct_key, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (room_id, name, room_type, creator_id, direct_key, created_at),
    )


async def get_room(db: Database, room_id: str) -> Row | None:
    """A room by id."""
    return await db.fetchone(f"SELECT {ROOM_COLUMNS} FROM rooms WHERE id = ?", (room_id,))


async def find_rooms_by_name(db: Database, name: str) -> list[Row]:
    """Rooms with exactly this name (case-insensitive); direct rooms are left out."""
    return await db.fetchall(
        f"SELECT {ROOM_COLUMNS} FROM rooms WHERE name = ? COLLATE NOCASE AND room_type != 'direct'",
        (name,),
    )


async def find_direct_room_txn(conn, direct_key: str) -> Row | None:
    """The direct room for this set of users, if it exists."""
    return await _one(conn, f"SELECT {ROOM_COLUMNS} FROM rooms WHERE direct_key = ?", (direct_key,))


async def list_rooms(db: Database) -> list[Row]:
    """Every room, with its member count (for administrators)."""
    return await db.fetchall(
        f"SELECT {ROOM_COLUMNS}, (SELECT COUNT(*) FROM memberships m WHERE m.room_id = rooms.id)"
        " AS member_count FROM rooms ORDER BY room_type, name COLLATE NOCASE"
    )


async def list_rooms_of_user(db: Database, user_id: str) -> list[Row]:
    """The rooms a user belongs to, with their last-seen mark and newest message."""
    return await db.fetchall(
        "SELECT r.id, r.name, r.room_type, r.creator_id, r.direct_key, r.created_at,"
        " m.last_seen_seq,"
        " (SELECT seq FROM messages x WHERE x.room_id = r.id ORDER BY seq DESC LIMIT 1)"
        "   AS last_message_seq,"
        " (SELECT created_at FROM messages x WHERE x.room_id = r.id ORDER BY seq DESC LIMIT 1)"
        "   AS last_message_at"
        " FROM memberships m JOIN rooms r ON r.id = m.room_id"
        " WHERE m.user_id = ? ORDER BY r.room_type, r.name COLLATE NOCASE",
        (user_id,),
    )


async def room_ids_of_users(db: Database, user_ids: list[str]) -> dict[str, set[str]]:
    """For each of these users, the ids of the rooms they belong to."""
    rooms: dict[str, set[str]] = {user_id: set() for user_id in user_ids}
    rows = await _fetch_in(
        db, "SELECT user_id, room_id FROM memberships WHERE user_id IN ({marks})", user_ids
    )
    for user_id, room_id in rows:
        rooms[user_id].add(room_id)
    return rooms


async def update_room_txn(conn, room_id: str, name: str) -> None:
    """Rename a room."""
    await conn.execute("UPDATE rooms SET name = ? WHERE id = ?", (name, room_id))


async def delete_room_txn(conn, room_id: str) -> None:
    """Delete a room with its memberships and messages."""
    await conn.execute("DELETE FROM rooms WHERE id = ?", (room_id,))


async def is_member(db: Database, room_id: str, user_id: str) -> bool:
    """Whether the user belongs to the room."""
    row = await db.fetchone(
        "SELECT 1 FROM memberships WHERE room_id = ? AND user_id = ?", (room_id, user_id)
    )
    return row is not None


async def member_ids(db: Database, room_id: str) -> list[str]:
    """Ids of a room's members."""
    rows = await db.fetchall("SELECT user_id FROM memberships WHERE room_id = ?", (room_id,))
    return [row[0] for row in rows]


async def list_members(db: Database, room_id: str) -> list[Row]:
    """A room's members as user rows, ordered by name."""
    return await db.fetchall(
        "SELECT u.id, u.name, u.email, u.is_admin, u.is_active, u.created_at"
        " FROM memberships m JOIN users u ON u.id = m.user_id"
        " WHERE m.room_id = ? ORDER BY u.name COLLATE NOCASE",
        (room_id,),
    )


async def add_member_txn(conn, room_id: str, user_id: str, now: str) -> bool:
    """Make a user a member; False if they already were."""
    cursor = await conn.execute(
        "INSERT OR IGNORE INTO memberships (room_id, user_id, joined_at) VALUES (?, ?, ?)",
        (room_id, user_id, now),
    )
    return cursor.rowcount > 0


async def remove_member_txn(conn, room_id: str, user_id: str) -> bool:
    """End a membership; False if there was none."""
    cursor = await conn.execute(
        "DELETE FROM memberships WHERE room_id = ? AND user_id = ?", (room_id, user_id)
    )
    return cursor.rowcount > 0


async def add_active_users_to_room_txn(conn, room_id: str, now: str) -> None:
    """Make every active user a member of an (open) room."""
    await conn.execute(
        "INSERT OR IGNORE INTO memberships (room_id, user_id, joined_at)"
        " SELECT ?, id, ? FROM users WHERE is_active = 1",
        (room_id, now),
    )


async def add_user_to_open_rooms_txn(conn, user_id: str, now: str) -> list[str]:
    """Make a user a member of every open room; the ids of the rooms they newly joined."""
    rows = await conn.execute_fetchall(
        "INSERT OR IGNORE INTO memberships (room_id, user_id, joined_at)"
        " SELECT id, ?, ? FROM rooms WHERE room_type = 'open' RETURNING room_id",
        (user_id, now),
    )
    return [row[0] for row in rows]


async def mark_seen_txn(conn, room_id: str, user_id: str, seq: int) -> bool:
    """Move a member's last-seen mark forward to `seq`; never backwards."""
    cursor = await conn.execute(
        "UPDATE memberships SET last_seen_seq = ?"
        " WHERE room_id = ? AND user_id = ? AND (last_seen_seq IS NULL OR last_seen_seq < ?)",
        (seq, room_id, user_id, seq),
    )
    return cursor.rowcount > 0


# --- messages ----------------------------------------------------------------------------


async def insert_messages_txn(conn, messages: list[dict]) -> list[tuple[Row, bool]]:
    """Insert new messages in one statement; for each, (stored row, True if newly created).

    A message whose (room, creator, client_message_id) already exists is not inserted; the
    existing row comes back instead, so retries are answered with the original. The group
    committer runs this in autocommit: the one INSERT is the batch's transaction.
    """
    values = ",".join("(?, ?, ?, ?, ?, ?)" for _ in messages)
    params: list[Any] = []
    for m in messages:
        params += [
            m["id"],
            m["room_id"],
            m["creator_id"],
            m["content"],
            m["client_message_id"],
            m["created_at"],
        ]
    # Messages that wake a bot's webhook need a second statement (the outbox rows) in the
    # same transaction; the common case stays one statement in autocommit.
    outbox = any(m.get("webhook_deliveries") for m in messages)
    if outbox:
        await conn.execute("BEGIN IMMEDIATE")
    try:
        inserted = await conn.execute_fetchall(
            "INSERT INTO messages (id, room_id, creator_id, content, client_message_id, created_at)"
            f" VALUES {values} ON CONFLICT (room_id, creator_id, client_message_id) DO NOTHING"
            f" RETURNING {MESSAGE_COLUMNS}",
            params,
        )
        if outbox:
            created = {row["id"] for row in inserted}
            await insert_webhook_deliveries_txn(
                conn, [m for m in messages if m["id"] in created and m.get("webhook_deliveries")]
            )
            await conn.commit()
    except BaseException:
        if outbox:
            await conn.rollback()
        raise
    by_id = {row["id"]: row for row in inserted}
    results: list[tuple[Row, bool]] = []
    for m in messages:
        row = by_id.get(m["id"])
        if row is not None:
            results.append((row, True))
            continue
        # A duplicate: of a committed message, or of one earlier in this same batch.
        existing = await _one(
            conn,
            f"SELECT {MESSAGE_COLUMNS} FROM messages"
            " WHERE room_id = ? AND creator_id = ? AND client_message_id = ?",
            (m["room_id"], m["creator_id"], m["client_message_id"]),
        )
        results.append((existing, False))
    return results


async def get_message(db: Database, message_id: str) -> Row | None:
    """A message by id."""
    return await db.fetchone(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?", (message_id,))


async def page_messages(
    db: Database, room_id: str, before: int | None, after: int | None, limit: int
) -> list[Row]:
    """Up to `limit` messages of a room in sequence order, newest page first unless `after`.

    With `after`, the oldest messages after it; otherwise the newest before `before` (or the
    newest of all). One more than `limit` is fetched so the caller can tell if there are more.
    """
    conditions, params = ["room_id = ?"], [room_id]
    if before is not None:
        conditions.append("seq < ?")
        params.append(before)
    if after is not None:
        conditions.append("seq > ?")
        params.append(after)
    order = "ASC" if after is not None else "DESC"
    rows = await db.fetchall(
        f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE {' AND '.join(conditions)}"
        f" ORDER BY seq {order} LIMIT ?",
        (*params, limit + 1),
    )
    return rows


async def catch_up(
    db: Database, user_id: str, cap: int
) -> tuple[list[str], dict[str, int], list[Row]]:
    """Everything a new connection needs, in one read: the user's rooms, and what they missed.

    Returns the ids of the user's rooms; for each room cut short by the cap, the seq of the
    newest message left out; and the missed messages, oldest first: those newer than the
    user's last-seen mark in each room, at most `cap` per room (the newest). Rooms without a
    mark contribute none (their history is read over HTTP). Each room's range is bounded by
    its (cap+1)-th newest message, so a user far behind costs `cap` rows, not the backlog.
    """
    rows = await db.fetchall(
        "WITH marks AS MATERIALIZED ("
        "  SELECT ms.room_id, ms.last_seen_seq,"
        "   CASE WHEN ms.last_seen_seq IS NULL THEN NULL ELSE"
        "    (SELECT seq FROM messages x WHERE x.room_id = ms.room_id"
        "     ORDER BY seq DESC LIMIT 1 OFFSET ?) END AS cutoff"
        "  FROM memberships ms WHERE ms.user_id = ?)"
        " SELECT marks.room_id AS member_room, marks.last_seen_seq, marks.cutoff,"
        "  m.seq, m.id, m.room_id, m.creator_id, m.content, m.client_message_id, m.created_at"
        " FROM marks LEFT JOIN messages m"
        "  ON marks.last_seen_seq IS NOT NULL AND m.room_id = marks.room_id"
        "  AND m.seq > max(marks.last_seen_seq, coalesce(marks.cutoff, 0))"
        " ORDER BY m.seq",
        (cap, user_id),
    )
    rooms: dict[str, None] = {}  # ordered set
    truncated: dict[str, int] = {}
    missed: list[Row] = []
    for row in rows:
        if row["seq"] is not None:
            missed.append(row)
        room_id = row["member_room"]
        if room_id in rooms:
            continue
        rooms[room_id] = None
        last_seen, cutoff = row["last_seen_seq"], row["cutoff"]
        if last_seen is not None and cutoff is not None and cutoff > last_seen:
            truncated[room_id] = cutoff
    return list(rooms), truncated, missed


async def health_check(db: Database) -> None:
    """A trivial query that proves the database answers."""
    await db.fetchone("SELECT 1 FROM users LIMIT 1")


async def live_session_hashes(db: Database, token_hashes: list[str], now: str) -> set[str]:
    """Which of these sessions are still live (not revoked or expired, user active)."""
    rows = await _fetch_in(
        db,
        "SELECT s.token_hash FROM sessions s JOIN users u ON u.id = s.user_id"
        " WHERE s.token_hash IN ({marks}) AND s.revoked_at IS NULL AND s.expires_at > ?"
        " AND u.is_active = 1",
        token_hashes,
        now,
    )
    return {row[0] for row in rows}


# --- server keys, push subscriptions (notifications) ------------------------------------


async def get_server_key(db: Database, name: str) -> str | None:
    """A secret the server made for itself (e.g. the VAPID private key), or None."""
    row = await db.fetchone("SELECT value FROM server_keys WHERE name = ?", (name,))
    return row[0] if row else None


async def insert_server_key_txn(
    conn: aiosqlite.Connection, name: str, value: str, now: str
) -> None:
    """Keep a server secret unless one of that name exists (two starting processes race)."""
    await conn.execute(
        "INSERT OR IGNORE INTO server_keys (name, value, created_at) VALUES (?, ?, ?)",
        (name, value, now),
    )


async def push_subscriber_ids(db: Database) -> set[str]:
    """Ids of the users with at least one push subscription."""
    rows = await db.fetchall("SELECT DISTINCT user_id FROM push_subscriptions")
    return {row[0] for row in rows}


async def upsert_push_subscription_txn(
    conn: aiosqlite.Connection, endpoint: str, user_id: str, p256dh: str, auth: str, now: str
) -> None:
    """Store a subscription; an endpoint seen before moves to this user with its new keys."""
    await conn.execute(
        "INSERT INTO push_subscriptions (endpoint, user_id, p256dh, auth, created_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (endpoint) DO UPDATE SET"
        " user_id = excluded.user_id, p256dh = excluded.p256dh, auth = excluded.auth,"
        " created_at = excluded.created_at",
        (endpoint, user_id, p256dh, auth, now),
    )


async def trim_push_subscriptions_txn(conn: aiosqlite.Connection, user_id: str, keep: int) -> int:
    """Delete a user's oldest subscriptions beyond `keep`; how many went."""
    cursor = await conn.execute(
        "DELETE FROM push_subscriptions WHERE user_id = ? AND endpoint NOT IN ("
        " SELECT endpoint FROM push_subscriptions WHERE user_id = ?"
        " ORDER BY created_at DESC, endpoint LIMIT ?)",
        (user_id, user_id, keep),
    )
    return cursor.rowcount


async def delete_push_subscription_txn(
    conn: aiosqlite.Connection, endpoint: str, user_id: str | None = None
) -> bool:
    """Delete a subscription (only the given user's, when one is given); True if it existed."""
    if user_id is None:
        cursor = await conn.execute(
            "DELETE FROM push_subscriptions WHERE endpoint = ?", (endpoint,)
        )
    else:
        cursor = await conn.execute(
            "DELETE FROM push_subscriptions WHERE endpoint = ? AND user_id = ?", (endpoint, user_id)
        )
    return cursor.rowcount > 0


async def user_has_push_subscription(db: Database, user_id: str) -> bool:
    """Whether a user still has any push subscription."""
    row = await db.fetchone(
        "SELECT 1 FROM push_subscriptions WHERE user_id = ? LIMIT 1", (user_id,)
    )
    return row is not None


async def push_subscriptions_of(db: Database, user_ids: list[str]) -> list[Row]:
    """The push subscriptions of these users."""
    sql = (
        "SELECT endpoint, user_id, p256dh, auth FROM push_subscriptions WHERE user_id IN ({marks})"
    )
    return await _fetch_in(db, sql, user_ids)


async def notify_members(db: Database, room_id: str) -> list[Row]:
    """A room's active members with their names and the room's type, for notifications."""
    # MERGE(team, migration 0002): add `m.involvement` to this select.
    return await db.fetchall(
        "SELECT u.id, u.name, r.room_type, r.name AS room_name"
        " FROM memberships m JOIN users u ON u.id = m.user_id JOIN rooms r ON r.id = m.room_id"
        " WHERE m.room_id = ? AND u.is_active = 1",
        (room_id,),
    )


# --- bots and their webhook outbox -------------------------------------------------------

BOT_COLUMNS = (
    "u.id, u.name, u.email, u.is_active, u.created_at, b.key_hash, b.webhook_url,"
    " b.webhook_secret, b.last_error, b.last_error_at"
)


async def insert_bot_txn(
    conn: aiosqlite.Connection,
    user_id: str,
    key_hash: str,
    webhook_url: str | None,
    webhook_secret: str | None,
    now: str,
) -> None:
    """Mark a (just inserted) user as a bot with its key hash and webhook."""
    await conn.execute(
        "INSERT INTO bots (user_id, key_hash, webhook_url, webhook_secret, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (user_id, key_hash, webhook_url, webhook_secret, now),
    )


async def get_bot(db: Database, user_id: str) -> Row | None:
    """A bot (its user row with key hash and webhook), or None if that user is no bot."""
    return await db.fetchone(
        f"SELECT {BOT_COLUMNS} FROM bots b JOIN users u ON u.id = b.user_id WHERE b.user_id = ?",
        (user_id,),
    )


async def list_bots(db: Database, include_inactive: bool = False) -> list[Row]:
    """Bots ordered by name."""
    where = "" if include_inactive else "WHERE u.is_active = 1"
    return await db.fetchall(
        f"SELECT {BOT_COLUMNS} FROM bots b JOIN users u ON u.id = b.user_id {where}"
        " ORDER BY u.name COLLATE NOCASE, u.id"
    )


async def find_bots_by_name(db: Database, name: str) -> list[Row]:
    """Active bots with exactly this name (case-insensitive)."""
    return await db.fetchall(
        f"SELECT {BOT_COLUMNS} FROM bots b JOIN users u ON u.id = b.user_id"
        " WHERE u.name = ? COLLATE NOCASE AND u.is_active = 1",
        (name,),
    )


async def update_bot_txn(conn: aiosqlite.Connection, user_id: str, **fields: Any) -> bool:
    """Set some of key_hash, webhook_url, webhook_secret, last_error(_at); True if a bot."""
    allowed = {"key_hash", "webhook_url", "webhook_secret", "last_error", "last_error_at"}
    assert fields and set(fields) <= allowed, fields
    assignments = ", ".join(f"{name} = ?" for name in fields)
    cursor = await conn.execute(
        f"UPDATE bots SET {assignments} WHERE user_id = ?", (*fields.values(), user_id)
    )
    return cursor.rowcount > 0


async def active_bots(db: Database) -> dict[str, bool]:
    """Every active bot's id, with whether it has a webhook URL."""
    rows = await db.fetchall(
        "SELECT b.user_id, b.webhook_url IS NOT NULL FROM bots b JOIN users u ON u.id = b.user_id"
        " WHERE u.is_active = 1"
    )
    return {row[0]: bool(row[1]) for row in rows}


async def room_webhook_bots(db: Database, room_id: str) -> list[Row]:
    """The room's type and its members that are active bots with a webhook (id, name)."""
    return await db.fetchall(
        "SELECT u.id, u.name, r.room_type FROM memberships m"
        " JOIN bots b ON b.user_id = m.user_id JOIN users u ON u.id = m.user_id"
        " JOIN rooms r ON r.id = m.room_id"
        " WHERE m.room_id = ? AND b.webhook_url IS NOT NULL AND u.is_active = 1",
        (room_id,),
    )


async def member_names(db: Database, room_id: str) -> list[Row]:
    """A room's members as (id, name), for finding mentions."""
    return await db.fetchall(
        "SELECT u.id, u.name FROM memberships m JOIN users u ON u.id = m.user_id"
        " WHERE m.room_id = ?",
        (room_id,),
    )


async def insert_webhook_deliveries_txn(conn: aiosqlite.Connection, messages: list[dict]) -> None:
    """Outbox rows, due at once: each message's `webhook_deliveries` (delivery id, bot id)."""
    rows = [
        (delivery_id, bot_id, m["id"], m["created_at"], m["created_at"])
        for m in messages
        for delivery_id, bot_id in m["webhook_deliveries"]
    ]
    await conn.executemany(
        "INSERT INTO webhook_deliveries"
        " (id, bot_id, message_id, attempts, next_attempt_at, created_at)"
        " VALUES (?, ?, ?, 0, ?, ?)",
        rows,
    )


async def due_webhook_deliveries(db: Database, now: str, limit: int) -> list[Row]:
    """Outbox rows due by `now`, oldest first, with what their payload needs."""
    return await db.fetchall(
        "SELECT d.id, d.bot_id, d.message_id, d.attempts,"
        " b.webhook_url, b.webhook_secret, bu.name AS bot_name, bu.is_active AS bot_active,"
        " m.room_id, m.content, m.creator_id, m.seq, cu.name AS creator_name, r.name AS room_name"
        " FROM webhook_deliveries d"
        " JOIN bots b ON b.user_id = d.bot_id JOIN users bu ON bu.id = d.bot_id"
        " JOIN messages m ON m.id = d.message_id JOIN users cu ON cu.id = m.creator_id"
        " JOIN rooms r ON r.id = m.room_id"
        " WHERE d.next_attempt_at <= ? ORDER BY d.next_attempt_at, d.created_at LIMIT ?",
        (now, limit),
    )


async def next_webhook_due(db: Database, exclude: list[str]) -> str | None:
    """When the next outbox row (not one of `exclude`, being sent) is due; None if none."""
    marks = ",".join("?" * len(exclude))
    row = await db.fetchone(
        f"SELECT MIN(next_attempt_at) FROM webhook_deliveries WHERE id NOT IN ({marks})", exclude
    )
    return row[0] if row else None


async def delete_webhook_delivery_txn(conn: aiosqlite.Connection, delivery_id: str) -> None:
    """Remove a delivery from the outbox (answered, or given up)."""
    await conn.execute("DELETE FROM webhook_deliveries WHERE id = ?", (delivery_id,))


async def retry_webhook_delivery_txn(
    conn: aiosqlite.Connection, delivery_id: str, attempts: int, next_attempt_at: str
) -> None:
    """Record a failed attempt and when to try again."""
    await conn.execute(
        "UPDATE webhook_deliveries SET attempts = ?, next_attempt_at = ? WHERE id = ?",
        (attempts, next_attempt_at, delivery_id),
    )


async def delete_bot_deliveries_txn(conn: aiosqlite.Connection, bot_id: str) -> None:
    """Drop a bot's pending deliveries (its webhook was removed or changed)."""
    await conn.execute("DELETE FROM webhook_deliveries WHERE bot_id = ?", (bot_id,))
