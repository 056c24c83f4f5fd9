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

USER_COLUMNS = "id, name, email, is_admin, is_active, created_at, avatar_key"
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
        " AND u.is_active = 1",
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
        "SELECT u.id, u.name, u.email, u.is_admin, u.is_active, u.created_at, u.avatar_key"
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
    inserted = await conn.execute_fetchall(
        "INSERT INTO messages (id, room_id, creator_id, content, client_message_id, created_at)"
        f" VALUES {values} ON CONFLICT (room_id, creator_id, client_message_id) DO NOTHING"
        f" RETURNING {MESSAGE_COLUMNS}",
        params,
    )
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


# --- attachments -------------------------------------------------------------------------

ATTACHMENT_COLUMNS = (
    "id, message_id, room_id, filename, content_type, byte_size, sha256, width, height,"
    " has_thumbnail, created_at"
)


async def insert_attachment_txn(conn: aiosqlite.Connection, a: dict) -> None:
    """Record an attachment (written just before its message; see migration 0004)."""
    await conn.execute(
        f"INSERT INTO attachments ({ATTACHMENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            a["id"],
            a["message_id"],
            a["room_id"],
            a["filename"],
            a["content_type"],
            a["byte_size"],
            a["sha256"],
            a["width"],
            a["height"],
            int(a["has_thumbnail"]),
            a["created_at"],
        ),
    )


async def get_live_attachment(db: Database, attachment_id: str) -> Row | None:
    """An attachment whose message exists, with that message's room."""
    return await db.fetchone(
        f"SELECT {', '.join('a.' + c.strip() for c in ATTACHMENT_COLUMNS.split(','))},"
        " m.room_id AS message_room_id"
        " FROM attachments a JOIN messages m ON m.id = a.message_id WHERE a.id = ?",
        (attachment_id,),
    )


async def attachments_of_messages(db: Database, message_ids: list[str]) -> list[Row]:
    """The attachments of these messages."""
    sql = f"SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE message_id IN ({{marks}})"
    return await _fetch_in(db, sql, message_ids)


async def orphan_attachments(
    db: Database, message_ids: list[str] | None = None, room_id: str | None = None
) -> list[Row]:
    """Attachments whose message no longer exists: of these messages, of a room, or all."""
    orphan = "NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = a.message_id)"
    if message_ids is not None:
        sql = (
            f"SELECT a.id, a.has_thumbnail FROM attachments a"
            f" WHERE a.message_id IN ({{marks}}) AND {orphan}"
        )
        return await _fetch_in(db, sql, message_ids)
    if room_id is not None:
        return await db.fetchall(
            f"SELECT a.id, a.has_thumbnail FROM attachments a WHERE a.room_id = ? AND {orphan}",
            (room_id,),
        )
    return await db.fetchall(f"SELECT a.id, a.has_thumbnail FROM attachments a WHERE {orphan}")


async def delete_orphan_attachment_txn(conn: aiosqlite.Connection, attachment_id: str) -> None:
    """Forget an attachment whose files are gone, unless its message exists after all."""
    await conn.execute(
        "DELETE FROM attachments WHERE id = ?"
        " AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = attachments.message_id)",
        (attachment_id,),
    )


# --- avatars -----------------------------------------------------------------------------


async def set_avatar_key_txn(
    conn: aiosqlite.Connection, user_id: str, key: str | None
) -> tuple[bool, str | None]:
    """Set (or clear) a user's avatar key; (user exists, the previous key)."""
    row = await _one(conn, "SELECT avatar_key FROM users WHERE id = ?", (user_id,))
    if row is None:
        return False, None
    await conn.execute("UPDATE users SET avatar_key = ? WHERE id = ?", (key, user_id))
    return True, row[0]


# --- search ------------------------------------------------------------------------------

# Markers around matched words in snippets: private-use characters, so a client can escape the
# text first and then turn them into <mark>, never trusting markup from the server.
SNIPPET_START, SNIPPET_END = "\ue000", "\ue001"


async def search_messages(
    db: Database,
    match: str,
    user_id: str,
    room_id: str | None,
    creator_id: str | None,
    before: int | None,
    limit: int,
) -> list[Row]:
    """Messages matching an FTS5 expression in the user's rooms, newest first, with snippets.

    Driven by the index in descending rowid (seq) order, so the LIMIT stops the scan early;
    one more than `limit` is fetched so the caller can tell if there are more.
    """
    conditions = [
        "messages_fts MATCH ?",
        "m.room_id IN (SELECT room_id FROM memberships WHERE user_id = ?)",
    ]
    params: list[Any] = [match, user_id]
    if room_id is not None:
        conditions.append("m.room_id = ?")
        params.append(room_id)
    if creator_id is not None:
        conditions.append("m.creator_id = ?")
        params.append(creator_id)
    if before is not None:
        conditions.append("messages_fts.rowid < ?")
        params.append(before)
    cols = ", ".join(f"m.{c.strip()}" for c in MESSAGE_COLUMNS.split(","))
    return await db.fetchall(
        f"SELECT {cols}, snippet(messages_fts, 0, ?, ?, '…', 16) AS snippet"
        " FROM messages_fts CROSS JOIN messages m ON m.seq = messages_fts.rowid"
        f" WHERE {' AND '.join(conditions)} ORDER BY messages_fts.rowid DESC LIMIT ?",
        (SNIPPET_START, SNIPPET_END, *params, limit + 1),
    )


async def search_backfill_txn(conn: aiosqlite.Connection) -> Row | None:
    """The range of messages older than the search index still to be indexed, if any."""
    return await _one(conn, "SELECT next_seq, last_seq FROM search_backfill")


async def index_messages_txn(
    conn: aiosqlite.Connection, first_seq: int, last_seq: int, next_seq: int | None
) -> int:
    """Index the messages with seq in [first_seq, last_seq]; record where to go on (None: done)."""
    cursor = await conn.execute(
        "INSERT INTO messages_fts (rowid, content)"
        " SELECT seq, content FROM messages WHERE seq BETWEEN ? AND ?",
        (first_seq, last_seq),
    )
    if next_seq is None:
        await conn.execute("DELETE FROM search_backfill")
    else:
        await conn.execute("UPDATE search_backfill SET next_seq = ?", (next_seq,))
    return cursor.rowcount
