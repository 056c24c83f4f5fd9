"""SQL only: functions that read and write rows. No business rules live here.

Functions ending in `_txn` take the write connection inside a transaction (`Database.transaction`);
the others read through `Database`'s read connection.

Both engines run the same SQL (SQLite, and PostgreSQL through db_postgres.py, whose migrations
add the two SQLite functions the queries use: group_concat and the nocase collation). Where
they must differ, the function says so and asks `_postgres(db)`: the sequence counter
(allocate_seqs_txn, insert_messages_txn, sequence_since), full-text search (FTS5 against
tsvector), a join-order hint (catch_up), byte lengths, case-insensitive LIKE, and claiming
webhook deliveries (claim_webhook_deliveries: FOR UPDATE SKIP LOCKED).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from typing import Any, NamedTuple

import aiosqlite

from campfire.db import Database

Row = sqlite3.Row

USER_COLUMNS = "id, name, email, is_admin, is_active, created_at, avatar_key"
MESSAGE_COLUMNS = "seq, id, room_id, creator_id, content, client_message_id, created_at, edited_at"
# The user ids a message mentions, comma-separated (views.message_json splits them).
MENTION_IDS = (
    "(SELECT group_concat(mention.user_id) FROM mentions mention"
    " WHERE mention.message_seq = messages.seq)"
    " AS mention_ids"
)
ROOM_COLUMNS = "id, name, room_type, creator_id, direct_key, created_at"
# GET /api/rooms counts a room's unread messages up to this many (the client shows "999+").
UNREAD_COUNT_CAP = 1000


def _postgres(db_or_conn: object) -> bool:
    """Whether a Database or connection is PostgreSQL's (db_postgres); else SQLite's."""
    return getattr(db_or_conn, "engine", "sqlite") == "postgresql"


async def _one(conn: aiosqlite.Connection, sql: str, params: Any = ()) -> Row | None:
    """First row of a query on the write connection."""
    rows = await conn.execute_fetchall(sql, params)
    return next(iter(rows), None)


async def _fetch_in(db: Database, sql: str, values: list[Any], *params: Any) -> list[Row]:
    """Rows of `sql` whose `{marks}` is an IN list of `values`, in chunks below SQLite's
    bound-variable limit; `params` bind after the list."""
    rows: list[Row] = []
    for start in range(0, len(values), 500):
        part = values[start : start + 500]
        rows += await db.fetchall(sql.format(marks=",".join("?" * len(part))), (*part, *params))
    return rows


# --- users -------------------------------------------------------------------------------


async def insert_user_txn(
    conn: aiosqlite.Connection,
    user_id: str,
    name: str,
    email: str,
    password_hash: str,
    is_admin: bool,
    created_at: str,
) -> None:
    """Insert a user row (raises sqlite3.IntegrityError if the email is taken)."""
    await conn.execute(
        "INSERT INTO users (id, name, email, password_hash, is_admin, is_active, created_at)"
        " VALUES (?, ?, ?, ?, ?, 1, ?)",
        (user_id, name, email, password_hash, int(is_admin), created_at),
    )


async def count_users_txn(conn: aiosqlite.Connection) -> int:
    """How many users exist (inside a transaction, so first-run setup cannot race)."""
    row = await _one(conn, "SELECT COUNT(*) FROM users")
    assert row is not None  # COUNT(*) always answers one row
    return row[0]


async def count_users(db: Database) -> int:
    """How many users exist."""
    row = await db.fetchone("SELECT COUNT(*) FROM users")
    assert row is not None  # COUNT(*) always answers one row
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


async def update_user_txn(conn: aiosqlite.Connection, user_id: str, **fields: Any) -> bool:
    """Set some of name, is_admin, is_active, password_hash; True if the user exists."""
    allowed = {"name", "is_admin", "is_active", "password_hash"}
    assert fields and set(fields) <= allowed, fields
    assignments = ", ".join(f"{name} = ?" for name in fields)
    cursor = await conn.execute(
        f"UPDATE users SET {assignments} WHERE id = ?", (*fields.values(), user_id)
    )
    return cursor.rowcount > 0


# --- sessions ----------------------------------------------------------------------------


async def insert_session_txn(
    conn: aiosqlite.Connection,
    token_hash: str,
    user_id: str,
    created_at: str,
    expires_at: str,
    user_agent: str = "",
) -> None:
    """Store a new session by the hash of its token."""
    await conn.execute(
        "INSERT INTO sessions"
        " (token_hash, user_id, created_at, expires_at, last_used_at, user_agent)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (token_hash, user_id, created_at, expires_at, created_at, user_agent),
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


async def touch_session_txn(conn: aiosqlite.Connection, token_hash: str, now: str) -> None:
    """Record that a session was used."""
    await conn.execute(
        "UPDATE sessions SET last_used_at = ? WHERE token_hash = ?", (now, token_hash)
    )


async def revoke_session_txn(conn: aiosqlite.Connection, token_hash: str, now: str) -> bool:
    """Revoke one session; True if it was live."""
    cursor = await conn.execute(
        "UPDATE sessions SET revoked_at = ? WHERE token_hash = ? AND revoked_at IS NULL",
        (now, token_hash),
    )
    return cursor.rowcount > 0


async def revoke_user_sessions_txn(conn: aiosqlite.Connection, user_id: str, now: str) -> int:
    """Revoke every live session of a user; how many there were."""
    cursor = await conn.execute(
        "UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
        (now, user_id),
    )
    return cursor.rowcount


# --- rooms and memberships ---------------------------------------------------------------


async def insert_room_txn(
    conn: aiosqlite.Connection,
    room_id: str,
    name: str,
    room_type: str,
    creator_id: str | None,
    direct_key: str | None,
    created_at: str,
) -> None:
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


async def find_direct_room_txn(conn: aiosqlite.Connection, direct_key: str) -> Row | None:
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
        room_view_sql() + " WHERE m.user_id = ? ORDER BY r.room_type, r.name COLLATE NOCASE",
        (user_id,),
    )


async def room_name_taken_txn(
    conn: aiosqlite.Connection, name: str, room_type: str, except_id: str | None = None
) -> bool:
    """Whether another room of this type has this name (case-insensitive)."""
    row = await _one(
        conn,
        "SELECT 1 FROM rooms WHERE name = ? COLLATE NOCASE AND room_type = ?"
        " AND id IS DISTINCT FROM ?",
        (name, room_type, except_id),
    )
    return row is not None


# A room as one member sees it: the room, their last-seen mark and involvement, its newest
# message, and how many messages by others came after the mark. With no mark yet, unread counts
# from joining (older history is not news); counting stops at the cap so a huge room costs no more.
def room_view_sql() -> str:
    """The SELECT of a room as one member sees it (the cap read at each call)."""
    return (
        "SELECT r.id, r.name, r.room_type, r.creator_id, r.direct_key, r.created_at,"
        " m.user_id AS viewer_id, m.last_seen_seq, m.involvement,"
        " (SELECT seq FROM messages x WHERE x.room_id = r.id ORDER BY seq DESC LIMIT 1)"
        "   AS last_message_seq,"
        " (SELECT created_at FROM messages x WHERE x.room_id = r.id ORDER BY seq DESC LIMIT 1)"
        "   AS last_message_at,"
        " (SELECT COUNT(*) FROM (SELECT 1 FROM messages x WHERE x.room_id = r.id"
        "   AND x.creator_id != m.user_id AND CASE WHEN m.last_seen_seq IS NULL"
        "   THEN x.created_at >= m.joined_at ELSE x.seq > m.last_seen_seq END"
        f"   LIMIT {UNREAD_COUNT_CAP}) AS capped) AS unread_count,"
        # Of those, how many mention the viewer (semantics.md, "Involvement").
        " (SELECT COUNT(*) FROM mentions mt JOIN messages x ON x.seq = mt.message_seq"
        "   WHERE mt.user_id = m.user_id AND x.room_id = r.id AND x.creator_id != m.user_id"
        "   AND CASE WHEN m.last_seen_seq IS NULL"
        "   THEN x.created_at >= m.joined_at ELSE x.seq > m.last_seen_seq END) AS unread_mentions"
        " FROM memberships m JOIN rooms r ON r.id = m.room_id"
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


async def update_room_txn(conn: aiosqlite.Connection, room_id: str, name: str) -> None:
    """Rename a room."""
    await conn.execute("UPDATE rooms SET name = ? WHERE id = ?", (name, room_id))


async def delete_room_txn(conn: aiosqlite.Connection, room_id: str) -> None:
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


async def add_member_txn(conn: aiosqlite.Connection, room_id: str, user_id: str, now: str) -> bool:
    """Make a user a member; False if they already were."""
    cursor = await conn.execute(
        "INSERT INTO memberships (room_id, user_id, joined_at) VALUES (?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        (room_id, user_id, now),
    )
    return cursor.rowcount > 0


async def remove_member_txn(conn: aiosqlite.Connection, room_id: str, user_id: str) -> bool:
    """End a membership; False if there was none."""
    cursor = await conn.execute(
        "DELETE FROM memberships WHERE room_id = ? AND user_id = ?", (room_id, user_id)
    )
    return cursor.rowcount > 0


async def add_active_users_to_room_txn(conn: aiosqlite.Connection, room_id: str, now: str) -> None:
    """Make every active user a member of an (open) room."""
    await conn.execute(
        "INSERT INTO memberships (room_id, user_id, joined_at)"
        " SELECT ?, id, ? FROM users WHERE is_active = 1 ON CONFLICT DO NOTHING",
        (room_id, now),
    )


async def add_user_to_open_rooms_txn(
    conn: aiosqlite.Connection, user_id: str, now: str
) -> list[str]:
    """Make a user a member of every open room; the ids of the rooms they newly joined."""
    rows = await conn.execute_fetchall(
        "INSERT INTO memberships (room_id, user_id, joined_at)"
        " SELECT id, ?, ? FROM rooms WHERE room_type = 'open' ON CONFLICT DO NOTHING"
        " RETURNING room_id",
        (user_id, now),
    )
    return [row[0] for row in rows]


async def mark_seen_txn(conn: aiosqlite.Connection, room_id: str, user_id: str, seq: int) -> bool:
    """Move a member's last-seen mark forward to `seq`; never backwards."""
    cursor = await conn.execute(
        "UPDATE memberships SET last_seen_seq = ?"
        " WHERE room_id = ? AND user_id = ? AND (last_seen_seq IS NULL OR last_seen_seq < ?)",
        (seq, room_id, user_id, seq),
    )
    return cursor.rowcount > 0


# --- messages ----------------------------------------------------------------------------


async def insert_messages_txn(
    conn: aiosqlite.Connection, messages: list[dict]
) -> list[tuple[Row, bool]]:
    """Insert new messages in one statement; for each, (stored row, True if newly created).

    A message whose (room, creator, client_message_id) already exists is not inserted; the
    existing row comes back instead, so retries are answered with the original. The group
    committer runs this in autocommit: the one INSERT is the batch's transaction.
    """
    if _postgres(conn):
        inserted = await _insert_messages_postgres(conn, messages)
    else:
        inserted = await _insert_messages_sqlite(conn, messages)
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
        assert existing is not None  # the conflict that skipped the insert is this row
        results.append((existing, False))
    return results


def _message_params(messages: list[dict]) -> list[Any]:
    """The six inserted values of each message, flat, in order."""
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
    return params


async def _insert_messages_sqlite(conn: aiosqlite.Connection, messages: list[dict]) -> list[Row]:
    """SQLite: one INSERT; AUTOINCREMENT numbers the rows (one writer: in commit order)."""
    values = ",".join("(?, ?, ?, ?, ?, ?)" for _ in messages)
    return list(
        await conn.execute_fetchall(
            "INSERT INTO messages (id, room_id, creator_id, content, client_message_id, created_at)"
            f" VALUES {values} ON CONFLICT (room_id, creator_id, client_message_id) DO NOTHING"
            f" RETURNING {MESSAGE_COLUMNS}",
            _message_params(messages),
        )
    )


async def _insert_messages_postgres(conn: aiosqlite.Connection, messages: list[dict]) -> list[Row]:
    """PostgreSQL: one statement that takes len(messages) numbers from the counter row
    (locked until commit, so numbers become visible in commit order; migration 0003) and
    inserts the batch numbered in its order. A duplicate leaves its number unused."""
    count = len(messages)
    values = ",".join(f"({n}, ?, ?, ?, ?, ?, ?)" for n in range(1, count + 1))
    return list(
        await conn.execute_fetchall(
            f"WITH counter AS (UPDATE counters SET value = value + {count}"
            " WHERE name = 'messages' RETURNING value)"
            " INSERT INTO messages"
            " (seq, id, room_id, creator_id, content, client_message_id, created_at)"
            f" SELECT counter.value - {count} + v.n, v.id, v.room_id, v.creator_id, v.content,"
            "  v.client_message_id, v.created_at"
            f" FROM counter, (VALUES {values})"
            "  AS v (n, id, room_id, creator_id, content, client_message_id, created_at)"
            " ORDER BY v.n"
            " ON CONFLICT (room_id, creator_id, client_message_id) DO NOTHING"
            f" RETURNING {MESSAGE_COLUMNS}",
            _message_params(messages),
        )
    )


async def get_message(db: Database, message_id: str) -> Row | None:
    """A message by id, with the ids it mentions."""
    return await db.fetchone(
        f"SELECT {MESSAGE_COLUMNS}, {MENTION_IDS} FROM messages WHERE id = ?", (message_id,)
    )


def _page_query(room_id: str, before: int | None, after: int | None) -> tuple[str, list[Any], str]:
    """The WHERE clause, its parameters and the order of one history page (shared by the page
    and its sizes, so both always select the same messages)."""
    conditions = ["room_id = ?"]
    params: list[Any] = [room_id]  # the seq bounds are ints
    if before is not None:
        conditions.append("seq < ?")
        params.append(before)
    if after is not None:
        conditions.append("seq > ?")
        params.append(after)
    return " AND ".join(conditions), params, "ASC" if after is not None else "DESC"


async def page_messages(
    db: Database, room_id: str, before: int | None, after: int | None, limit: int
) -> list[Row]:
    """Up to `limit` messages of a room in sequence order, newest page first unless `after`.

    With `after`, the oldest messages after it; otherwise the newest before `before` (or the
    newest of all). One more than `limit` is fetched so the caller can tell if there are more.
    """
    where, params, order = _page_query(room_id, before, after)
    return await db.fetchall(
        f"SELECT {MESSAGE_COLUMNS}, {MENTION_IDS} FROM messages WHERE {where}"
        f" ORDER BY seq {order} LIMIT ?",
        (*params, limit + 1),
    )


class CatchUp(NamedTuple):
    """What a new connection missed, read in one statement (one consistent snapshot)."""

    room_ids: list[str]  # the user's rooms
    truncated: dict[str, int]  # room -> seq of the newest message left out by the cap
    changes_truncated: set[str]  # rooms where the cap left changes out
    messages: list[Row]  # missed messages, oldest first
    changes: list[Row]  # missed changes, in sequence order, with the current state they touch
    seen: dict[str, int]  # room -> the newest seq the read covered (messages and changes)


async def catch_up(db: Database, user_id: str, cap: int) -> CatchUp:
    """Everything a new connection needs, in one read: the user's rooms, and what they missed.

    Missed: the messages newer than the user's last-seen mark in each room, at most `cap`
    per room (the newest), and likewise the changes committed after the mark, each with the
    current state of its message and boost (NULL when gone since). Rooms without a mark
    contribute none (their history is read over HTTP). Each room's ranges are bounded by the
    (cap+1)-th newest message and change, so a user far behind costs `cap` rows, not the
    backlog (CROSS JOIN keeps SQLite walking from the marks into the (room_id, seq) indexes,
    never the other way). One statement, so messages and changes come from one snapshot:
    one writer numbers commits in order, so it holds exactly the numbers up to some point.
    """
    # SQLite reads CROSS JOIN ... ON as an inner join in that order; PostgreSQL has no such
    # hint (nor CROSS JOIN with ON) and plans the inner JOIN itself. Its two-argument max()
    # is PostgreSQL's greatest() (one bound, so the index range starts at the cap).
    join, greatest = ("JOIN", "greatest") if _postgres(db) else ("CROSS JOIN", "max")
    rows = await db.fetchall(
        "WITH marks AS MATERIALIZED ("
        "  SELECT ms.room_id, ms.last_seen_seq,"
        "   CASE WHEN ms.last_seen_seq IS NULL THEN NULL ELSE"
        "    (SELECT seq FROM messages x WHERE x.room_id = ms.room_id"
        "     ORDER BY seq DESC LIMIT 1 OFFSET :cap) END AS cutoff,"
        "   CASE WHEN ms.last_seen_seq IS NULL THEN NULL ELSE"
        "    (SELECT seq FROM changes ch WHERE ch.room_id = ms.room_id"
        "     ORDER BY seq DESC LIMIT 1 OFFSET :cap) END AS change_cutoff"
        "  FROM memberships ms WHERE ms.user_id = :user)"
        " SELECT 0 AS part, room_id, last_seen_seq, cutoff, change_cutoff, NULL AS seq,"
        "  NULL AS kind, NULL AS id, NULL AS creator_id, NULL AS content,"
        "  NULL AS client_message_id, NULL AS created_at, NULL AS edited_at,"
        "  NULL AS mention_ids, NULL AS message_seq, NULL AS boost_id, NULL AS booster_id,"
        "  NULL AS boost_content, NULL AS boost_created_at"
        " FROM marks"
        " UNION ALL"
        " SELECT 1, m.room_id, NULL, NULL, NULL, m.seq, NULL, m.id, m.creator_id, m.content,"
        "  m.client_message_id, m.created_at, m.edited_at,"
        "  (SELECT group_concat(mention.user_id) FROM mentions mention"
        "   WHERE mention.message_seq = m.seq),"
        "  m.seq, NULL, NULL, NULL, NULL"
        f" FROM marks {join} messages m"
        "  ON marks.last_seen_seq IS NOT NULL AND m.room_id = marks.room_id"
        f"  AND m.seq > {greatest}(marks.last_seen_seq, coalesce(marks.cutoff, 0))"
        " UNION ALL"
        " SELECT 2, c.room_id, NULL, NULL, NULL, c.seq, c.kind, c.message_id, m.creator_id,"
        "  m.content, m.client_message_id, m.created_at, m.edited_at,"
        "  (SELECT group_concat(mention.user_id) FROM mentions mention"
        "   WHERE mention.message_seq = m.seq),"
        "  m.seq, c.boost_id, b.booster_id, b.content, b.created_at"
        f" FROM marks {join} changes c"
        "  ON marks.last_seen_seq IS NOT NULL AND c.room_id = marks.room_id"
        f"  AND c.seq > {greatest}(marks.last_seen_seq, coalesce(marks.change_cutoff, 0))"
        "  LEFT JOIN messages m ON m.id = c.message_id"
        "  LEFT JOIN boosts b ON b.id = c.boost_id"
        " ORDER BY part, seq",
        {"cap": cap, "user": user_id},
    )
    result = CatchUp([], {}, set(), [], [], {})
    for row in rows:
        part, room_id = row["part"], row["room_id"]
        if part == 0:
            result.room_ids.append(room_id)
            last_seen, cutoff, change_cutoff = (
                row["last_seen_seq"],
                row["cutoff"],
                row["change_cutoff"],
            )
            if last_seen is not None and cutoff is not None and cutoff > last_seen:
                result.truncated[room_id] = cutoff
            if last_seen is not None and change_cutoff is not None and change_cutoff > last_seen:
                result.changes_truncated.add(room_id)
            if last_seen is not None:
                # Seen already: a late live copy (another worker's relay) is not sent again.
                result.seen[room_id] = max(result.seen.get(room_id, 0), last_seen)
            continue
        (result.messages if part == 1 else result.changes).append(row)
        result.seen[room_id] = max(result.seen.get(room_id, 0), row["seq"])
    return result


class SequenceRead(NamedTuple):
    """Messages and changes after a position, read in one statement (one snapshot)."""

    position: int  # every number up to it is in `messages`/`changes`, or gone, or never used
    messages: list[Row]  # in sequence order
    changes: list[Row]  # in sequence order, with the current state they touch (as catch_up)


async def sequence_since(db: Database, after: int, limit: int) -> SequenceRead:
    """The messages and changes numbered after `after` (at most `limit`), and the position
    they cover: the sequence counter read in the same statement (commit-ordered on SQLite,
    so the read is prefix-closed), or the last number read when the limit cut it short.
    The relay of several workers (realtime/relay.py) repairs gaps and polls with it.
    On PostgreSQL the counter row (migration 0003) is as commit-ordered: a statement's
    snapshot that shows it at k holds every committed number up to k."""
    counter = (
        "SELECT value FROM counters WHERE name = 'messages'"
        if _postgres(db)
        else "SELECT seq FROM sqlite_sequence WHERE name = 'messages'"
    )
    rows = await db.fetchall(
        "SELECT * FROM ("
        f" SELECT 0 AS part, ({counter}) AS seq,"
        "  NULL AS room_id, NULL AS kind, NULL AS id, NULL AS creator_id, NULL AS content,"
        "  NULL AS client_message_id, NULL AS created_at, NULL AS edited_at,"
        "  NULL AS mention_ids, NULL AS message_seq, NULL AS boost_id, NULL AS booster_id,"
        "  NULL AS boost_content, NULL AS boost_created_at"
        " UNION ALL"
        " SELECT * FROM (SELECT 1, m.seq, m.room_id, NULL, m.id, m.creator_id, m.content,"
        "  m.client_message_id, m.created_at, m.edited_at,"
        "  (SELECT group_concat(mention.user_id) FROM mentions mention"
        "   WHERE mention.message_seq = m.seq),"
        "  m.seq, NULL, NULL, NULL, NULL"
        "  FROM messages m WHERE m.seq > :after ORDER BY m.seq LIMIT :limit) AS new_messages"
        " UNION ALL"
        " SELECT * FROM (SELECT 2, c.seq, c.room_id, c.kind, c.message_id, m.creator_id,"
        "  m.content, m.client_message_id, m.created_at, m.edited_at,"
        "  (SELECT group_concat(mention.user_id) FROM mentions mention"
        "   WHERE mention.message_seq = m.seq),"
        "  m.seq, c.boost_id, b.booster_id, b.content, b.created_at"
        "  FROM changes c LEFT JOIN messages m ON m.id = c.message_id"
        "  LEFT JOIN boosts b ON b.id = c.boost_id"
        "  WHERE c.seq > :after ORDER BY c.seq LIMIT :limit) AS new_changes"
        ") AS numbered ORDER BY part, seq",
        {"after": after, "limit": limit},
    )
    position = (rows[0]["seq"] or 0) if rows else 0
    messages = [row for row in rows if row["part"] == 1]
    changes = [row for row in rows if row["part"] == 2]
    # A limit that cut either list short: the read covers only up to the smaller of their
    # last numbers (beyond it, rows of the other list may be missing).
    for part in (messages, changes):
        if len(part) >= limit:
            position = min(position, part[-1]["seq"])
    return SequenceRead(
        position,
        [row for row in messages if row["seq"] <= position],
        [row for row in changes if row["seq"] <= position],
    )


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


async def schema_version(db: Database) -> int:
    """The number of the newest migration applied to this database (engine's bookkeeping)."""
    return await db.schema_version()


# --- the account, login links, a user's sessions, involvement, the directory (issue 11) ---


async def get_account(db: Database) -> Row | None:
    """The account row (None until it is first created)."""
    return await db.fetchone(
        "SELECT name, join_code, members_can_create_open_rooms, created_at FROM account"
        " WHERE id = 1"
    )


async def insert_account_txn(
    conn: aiosqlite.Connection,
    name: str,
    join_code: str,
    members_can_create_open_rooms: bool,
    now: str,
) -> None:
    """Create the account row unless it exists already."""
    await conn.execute(
        "INSERT INTO account (id, name, join_code, members_can_create_open_rooms, created_at)"
        " VALUES (1, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
        (name, join_code, int(members_can_create_open_rooms), now),
    )


async def update_account_txn(conn: aiosqlite.Connection, **fields: Any) -> None:
    """Set some of name, join_code, members_can_create_open_rooms."""
    assert fields and set(fields) <= {"name", "join_code", "members_can_create_open_rooms"}
    assignments = ", ".join(f"{name} = ?" for name in fields)
    await conn.execute(f"UPDATE account SET {assignments} WHERE id = 1", tuple(fields.values()))


async def insert_login_link_txn(
    conn: aiosqlite.Connection,
    token_hash: str,
    user_id: str,
    created_by: str | None,
    now: str,
    expires_at: str,
) -> None:
    """Store a login link by the hash of its secret; links that ended long ago are dropped."""
    await conn.execute("DELETE FROM login_links WHERE expires_at < ?", (now,))
    await conn.execute(
        "INSERT INTO login_links (token_hash, user_id, created_by, created_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (token_hash, user_id, created_by, now, expires_at),
    )


async def get_login_link(db: Database, token_hash: str) -> Row | None:
    """A login link with its user's name and status."""
    return await db.fetchone(
        "SELECT l.user_id, l.expires_at, l.used_at, u.name, u.is_active"
        " FROM login_links l JOIN users u ON u.id = l.user_id WHERE l.token_hash = ?",
        (token_hash,),
    )


async def use_login_link_txn(conn: aiosqlite.Connection, token_hash: str, now: str) -> str | None:
    """Mark a live, unused link used; its user's id, or None if it was not usable."""
    row = await _one(
        conn,
        "UPDATE login_links SET used_at = ?"
        " WHERE token_hash = ? AND used_at IS NULL AND expires_at > ? RETURNING user_id",
        (now, token_hash, now),
    )
    return row[0] if row else None


async def list_user_sessions(db: Database, user_id: str, now: str) -> list[Row]:
    """A user's live sessions, newest first."""
    return await db.fetchall(
        "SELECT token_hash, created_at, last_used_at, expires_at, user_agent FROM sessions"
        " WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ?"
        " ORDER BY created_at DESC",
        (user_id, now),
    )


async def revoke_other_sessions_txn(
    conn: aiosqlite.Connection, user_id: str, keep_hash: str, now: str
) -> list[str]:
    """Revoke every live session of a user but one; the hashes revoked."""
    rows = await conn.execute_fetchall(
        "UPDATE sessions SET revoked_at = ?"
        " WHERE user_id = ? AND token_hash != ? AND revoked_at IS NULL RETURNING token_hash",
        (now, user_id, keep_hash),
    )
    return [row[0] for row in rows]


async def last_activity(db: Database) -> dict[str, str]:
    """For each user with a session, when one was last used."""
    rows = await db.fetchall("SELECT user_id, MAX(last_used_at) FROM sessions GROUP BY user_id")
    return {row[0]: row[1] for row in rows}


async def set_involvement_txn(
    conn: aiosqlite.Connection, room_id: str, user_id: str, involvement: str
) -> bool:
    """Set one member's involvement in a room; False if they are not a member."""
    cursor = await conn.execute(
        "UPDATE memberships SET involvement = ? WHERE room_id = ? AND user_id = ?",
        (involvement, room_id, user_id),
    )
    return cursor.rowcount > 0


async def set_room_involvement_txn(
    conn: aiosqlite.Connection, room_id: str, involvement: str
) -> None:
    """Set every membership of a room to one involvement (a new direct room's default)."""
    await conn.execute(
        "UPDATE memberships SET involvement = ? WHERE room_id = ?", (involvement, room_id)
    )


async def update_room_type_txn(conn: aiosqlite.Connection, room_id: str, room_type: str) -> None:
    """Switch a room between open and closed."""
    await conn.execute("UPDATE rooms SET room_type = ? WHERE id = ?", (room_type, room_id))


async def room_views(db: Database, room_id: str, user_ids: list[str]) -> list[Row]:
    """A room as each of these members sees it (non-members are absent)."""
    sql = room_view_sql() + " WHERE m.user_id IN ({marks}) AND m.room_id = ?"
    return await _fetch_in(db, sql, user_ids, room_id)


async def direct_members(db: Database, room_ids: list[str]) -> dict[str, list[Row]]:
    """For each of these rooms, its members' id, name and status."""
    members: dict[str, list[Row]] = {room_id: [] for room_id in room_ids}
    rows = await _fetch_in(
        db,
        "SELECT m.room_id, u.id, u.name, u.is_active FROM memberships m"
        " JOIN users u ON u.id = m.user_id WHERE m.room_id IN ({marks})",
        room_ids,
    )
    for row in rows:
        members[row["room_id"]].append(row)
    return members


async def direct_room_ids_of_user(db: Database, user_id: str) -> list[str]:
    """The direct rooms a user is in."""
    rows = await db.fetchall(
        "SELECT r.id FROM memberships m JOIN rooms r ON r.id = m.room_id"
        " WHERE m.user_id = ? AND r.room_type = 'direct'",
        (user_id,),
    )
    return [row[0] for row in rows]


async def room_states(db: Database) -> list[Row]:
    """Every room's id, name and type (what the re-check compares)."""
    return await db.fetchall("SELECT id, name, room_type FROM rooms")


async def member_ids_txn(conn: aiosqlite.Connection, room_id: str) -> list[str]:
    """Ids of a room's members, inside a transaction (before deleting the room, say)."""
    rows = await conn.execute_fetchall(
        "SELECT user_id FROM memberships WHERE room_id = ?", (room_id,)
    )
    return [row[0] for row in rows]


# --- changes: edits, deletions, boosts, mentions -------------------------------------------

BOOST_COLUMNS = "b.id, b.message_id, m.room_id, b.booster_id, b.content, b.created_at"
# Within one batch, changes are numbered and applied kind by kind in this order (each kind in
# arrival order), so that replaying them in sequence order gives the committed state: an
# edit, boost or boost removal that meets a deletion of its message in the same batch
# comes before it.
CHANGE_ORDER = {"message_updated": 0, "boost_added": 1, "boost_removed": 2, "message_deleted": 3}


def batch_order(item: dict) -> int:
    """Where an item goes in a batch: new messages, then changes in CHANGE_ORDER."""
    return 0 if item["kind"] == "message" else 1 + CHANGE_ORDER[item["kind"]]


async def write_batch_txn(conn: aiosqlite.Connection, items: list[dict]) -> list[Any]:
    """Write a batch of new messages and changes to them; one result per item, in order.

    A new message (`kind` "message") gives (stored row, created) as insert_messages_txn, and
    its mentions are stored. A change gives a dict with its `seq` (from the message sequence)
    and the state it made, or None when its message or boost was gone. New messages are
    numbered before changes, and changes in batch_order (the committer sorts batches so, so
    items come back in the order of their numbers). Runs in one transaction
    (GroupCommitter), or in autocommit for a batch batch.is_plain accepts. Items carry
    their mentions and webhook deliveries already (campfire/batch.py works them out).
    """
    results: list[Any] = [None] * len(items)
    new = [i for i, item in enumerate(items) if item["kind"] == "message"]
    if new:
        stored = await insert_messages_txn(conn, [items[i] for i in new])
        mentions = []
        for i, (row, created) in zip(new, stored, strict=True):
            results[i] = (row, created)
            if created:
                mentions += [(row["seq"], user_id) for user_id in items[i]["mentions"]]
        if mentions:
            await conn.executemany(
                "INSERT INTO mentions (message_seq, user_id) VALUES (?, ?)", mentions
            )
        # Bot webhooks the new messages call: outbox rows committed with them (webhooks.py).
        calling = [items[i] for i, (_, created) in zip(new, stored, strict=True) if created]
        calling = [item for item in calling if item["webhook_deliveries"]]
        if calling:
            await insert_webhook_deliveries_txn(conn, calling)
    changes = sorted(
        (i for i, item in enumerate(items) if item["kind"] != "message"),
        key=lambda i: batch_order(items[i]),
    )
    if changes:
        await _write_changes_txn(conn, items, changes, results)
    return results


async def _write_changes_txn(
    conn: aiosqlite.Connection, items: list[dict], order: list[int], results: list
) -> None:
    """Apply the changes items[i] for i in `order`: each kind in one statement."""
    message_ids = sorted({items[i]["message_id"] for i in order})
    rows = await _rows_in(
        conn,
        f"SELECT {MESSAGE_COLUMNS}, {MENTION_IDS} FROM messages WHERE id IN ({{marks}})",
        message_ids,
    )
    messages = {row["id"]: dict(row) for row in rows}
    mentioned_before = {row["seq"] for row in rows if row["mention_ids"]}
    removed_ids = sorted({items[i]["boost_id"] for i in order if "boost_id" in items[i]})
    boosts = {
        row["id"]: dict(row)
        for row in await _rows_in(
            conn,
            f"SELECT {BOOST_COLUMNS} FROM boosts b JOIN messages m ON m.id = b.message_id"
            " WHERE b.id IN ({marks})",
            removed_ids,
        )
    }
    seq = await allocate_seqs_txn(conn, len(order))
    edits, new_mentions, added, removed, deleted, log = [], {}, [], [], [], []
    boost: dict[str, Any] | None
    for i in order:
        item, seq = items[i], seq + 1
        kind, message = item["kind"], messages.get(item["message_id"])
        if message is None:
            continue  # deleted meanwhile (by an earlier batch, or earlier in this one)
        if kind == "message_updated":
            message.update(content=item["content"], edited_at=item["created_at"])
            edits.append((item["content"], item["created_at"], message["seq"]))
            new_mentions[message["seq"]] = item["mentions"]  # the last edit's mentions stay
            results[i] = {"seq": seq, "message": dict(message), "mentions": item["mentions"]}
            boost_id = None
        elif kind == "boost_added":
            boost = {
                "id": item["new_boost_id"],
                "message_id": message["id"],
                "room_id": message["room_id"],
                "booster_id": item["booster_id"],
                "content": item["content"],
                "created_at": item["created_at"],
            }
            boosts[boost["id"]] = boost
            added.append(boost)
            results[i] = {"seq": seq, "boost": boost}
            boost_id = boost["id"]
        elif kind == "boost_removed":
            boost = boosts.pop(item["boost_id"], None)
            if boost is None or boost["message_id"] != message["id"]:
                continue
            removed.append((boost["id"],))
            results[i] = {"seq": seq, "boost": boost}
            boost_id = boost["id"]
        else:  # message_deleted; its boosts and mentions go with it (ON DELETE CASCADE)
            del messages[message["id"]]
            deleted.append((message["seq"],))
            results[i] = {"seq": seq, "message": message}
            boost_id = None
        log.append((seq, message["room_id"], kind, message["id"], boost_id, item["created_at"]))
    if edits:
        await conn.executemany(
            "UPDATE messages SET content = ?, edited_at = ? WHERE seq = ?", edits
        )
        stale = [(s,) for s in new_mentions if s in mentioned_before]
        if stale:  # most edits mention nobody, before or after: then no statement at all
            await conn.executemany("DELETE FROM mentions WHERE message_seq = ?", stale)
        mentions = [(s, user_id) for s, ids in new_mentions.items() for user_id in ids]
        if mentions:
            await conn.executemany(
                "INSERT INTO mentions (message_seq, user_id) VALUES (?, ?)", mentions
            )
    if added:
        await conn.executemany(
            "INSERT INTO boosts (id, message_id, booster_id, content, created_at)"
            " VALUES (:id, :message_id, :booster_id, :content, :created_at)",
            added,
        )
    if removed:
        await conn.executemany("DELETE FROM boosts WHERE id = ?", removed)
    if deleted:
        await conn.executemany("DELETE FROM messages WHERE seq = ?", deleted)
    if log:
        await conn.executemany(
            "INSERT INTO changes (seq, room_id, kind, message_id, boost_id, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            log,
        )


async def _rows_in(conn: aiosqlite.Connection, sql: str, values: list[Any]) -> list[Row]:
    """Rows of `sql` on the write connection, its `{marks}` an IN list of `values` (chunked)."""
    rows: list[Row] = []
    for start in range(0, len(values), 500):
        part = values[start : start + 500]
        rows += await conn.execute_fetchall(sql.format(marks=",".join("?" * len(part))), part)
    return rows


async def allocate_seqs_txn(conn: aiosqlite.Connection, count: int) -> int:
    """Take `count` numbers from the message sequence; the one before the first.

    The sequence is messages' AUTOINCREMENT counter (sqlite_sequence): raising it here
    makes the next message's seq larger than these. A change needs a message, so the
    counter exists. On PostgreSQL it is the counter row new messages take theirs from too.
    """
    sql = (
        "UPDATE counters SET value = value + ? WHERE name = 'messages' RETURNING value"
        if _postgres(conn)
        else "UPDATE sqlite_sequence SET seq = seq + ? WHERE name = 'messages' RETURNING seq"
    )
    row = await _one(conn, sql, (count,))
    if row is None:
        raise sqlite3.IntegrityError("no message sequence yet")
    return row[0] - count


async def get_boost(db: Database, boost_id: str) -> Row | None:
    """A boost by id, with its message's room."""
    return await db.fetchone(
        f"SELECT {BOOST_COLUMNS} FROM boosts b JOIN messages m ON m.id = b.message_id"
        " WHERE b.id = ?",
        (boost_id,),
    )


async def boosts_of_messages(db: Database, message_ids: list[str]) -> list[Row]:
    """The boosts of these messages, oldest first."""
    return await _fetch_in(
        db,
        f"SELECT {BOOST_COLUMNS} FROM boosts b JOIN messages m ON m.id = b.message_id"
        " WHERE b.message_id IN ({marks}) ORDER BY b.created_at, b.id",
        message_ids,
    )


async def member_names_txn(
    conn: aiosqlite.Connection, room_ids: list[str]
) -> dict[str, list[tuple[str, str]]]:
    """(id, name) of the members of each room, for working out mentions in a write."""
    rows = await _rows_in(
        conn,
        "SELECT m.room_id, u.id, u.name FROM memberships m JOIN users u ON u.id = m.user_id"
        " WHERE m.room_id IN ({marks})",
        room_ids,
    )
    names: dict[str, list[tuple[str, str]]] = {}
    for row in rows:
        names.setdefault(row["room_id"], []).append((row["id"], row["name"]))
    return names


async def search_members(db: Database, room_id: str, query: str, limit: int) -> list[Row]:
    """Members whose name, or a word of it, starts with `query` (case-insensitive for ASCII)."""
    pattern = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    like = "ILIKE" if _postgres(db) else "LIKE"  # SQLite's LIKE ignores ASCII case already
    return await db.fetchall(
        f"SELECT {', '.join('u.' + c for c in USER_COLUMNS.split(', '))}"
        " FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.room_id = ?"
        f" AND (u.name {like} ? ESCAPE '\\' OR u.name {like} ? ESCAPE '\\')"
        " ORDER BY u.name COLLATE NOCASE LIMIT ?",
        (room_id, f"{pattern}%", f"% {pattern}%", limit),
    )


async def page_mentions(db: Database, user_id: str, before: int | None, limit: int) -> list[Row]:
    """The newest messages mentioning a user in rooms they belong to, before `before`;
    one more than `limit`, so the caller can tell if there are more."""
    return await db.fetchall(
        f"SELECT {', '.join('messages.' + c for c in MESSAGE_COLUMNS.split(', '))},"
        f" {MENTION_IDS}"
        " FROM mentions mn JOIN messages ON messages.seq = mn.message_seq"
        " JOIN memberships ms ON ms.room_id = messages.room_id AND ms.user_id = mn.user_id"
        " WHERE mn.user_id = ? AND mn.message_seq < ? ORDER BY mn.message_seq DESC LIMIT ?",
        (user_id, 2**63 - 1 if before is None else before, limit + 1),
    )


async def message_for_change(
    db: Database, message_id: str, user_id: str, boost: str | None = None
) -> Row | None:
    """A message with what a change to it needs to check, in one read: its room's type and
    creator, whether the user is a member, and the user's boosts on it (the id of one with
    content `boost`, and how many)."""
    return await db.fetchone(
        f"SELECT {', '.join('m.' + c for c in MESSAGE_COLUMNS.split(', '))},"
        " (SELECT group_concat(mention.user_id) FROM mentions mention"
        "  WHERE mention.message_seq = m.seq) AS mention_ids,"
        " r.room_type, r.creator_id AS room_creator_id,"
        " EXISTS (SELECT 1 FROM memberships ms WHERE ms.room_id = m.room_id"
        "  AND ms.user_id = :user) AS is_member,"
        " (SELECT b.id FROM boosts b WHERE b.message_id = m.id AND b.booster_id = :user"
        "  AND b.content = :boost) AS own_boost_id,"
        " (SELECT COUNT(*) FROM boosts b WHERE b.message_id = m.id AND b.booster_id = :user)"
        "  AS own_boosts"
        " FROM messages m JOIN rooms r ON r.id = m.room_id WHERE m.id = :id",
        {"id": message_id, "user": user_id, "boost": boost},
    )


async def boost_for_change(db: Database, boost_id: str, user_id: str) -> Row | None:
    """A boost with its message's room, the room's type, and whether the user is a member."""
    return await db.fetchone(
        f"SELECT {BOOST_COLUMNS}, r.room_type,"
        " EXISTS (SELECT 1 FROM memberships ms WHERE ms.room_id = m.room_id"
        "  AND ms.user_id = ?) AS is_member"
        " FROM boosts b JOIN messages m ON m.id = b.message_id JOIN rooms r ON r.id = m.room_id"
        " WHERE b.id = ?",
        (user_id, boost_id),
    )


# --- limits (issue 10) ------------------------------------------------------------------


async def nth_newest_room_since_txn(
    conn: aiosqlite.Connection, creator_id: str, room_types: tuple[str, ...], since: str, n: int
) -> str | None:
    """When the creator's n-th newest room of these types made after `since` was made, if any.

    Read inside the write transaction that would add one more, so concurrent creations count.
    """
    marks = ",".join("?" * len(room_types))
    row = await _one(
        conn,
        f"SELECT created_at FROM rooms WHERE creator_id = ? AND room_type IN ({marks})"
        " AND created_at > ? ORDER BY created_at DESC LIMIT 1 OFFSET ?",
        (creator_id, *room_types, since, n - 1),
    )
    return row[0] if row else None


async def page_message_sizes(
    db: Database, room_id: str, before: int | None, after: int | None, limit: int
) -> list[int]:
    """The content sizes in bytes of the messages `page_messages` would return, in its order.

    Decodes no content into Python (for 200 messages of 40 KB: 13 ms here against 36 ms for
    the rows), so a history page can be cut to a byte budget before its rows are fetched.
    """
    where, params, order = _page_query(room_id, before, after)
    # SQLite 3.40 has no octet_length; PostgreSQL has no BLOB (bytes of UTF-8 text, both).
    size = "octet_length(content)" if _postgres(db) else "length(CAST(content AS BLOB))"
    rows = await db.fetchall(
        f"SELECT {size} FROM messages WHERE {where} ORDER BY seq {order} LIMIT ?",
        (*params, limit),
    )
    return [row[0] for row in rows]


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
        "INSERT INTO server_keys (name, value, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
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
    return await db.fetchall(
        "SELECT u.id, u.name, m.involvement, r.room_type, r.name AS room_name"
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


async def room_webhook_bots_txn(
    conn: aiosqlite.Connection, room_ids: list[str]
) -> dict[str, list[Row]]:
    """Each room's members that are active bots with a webhook (id, name, room_type)."""
    rows = await _rows_in(
        conn,
        "SELECT m.room_id, u.id, u.name, r.room_type FROM memberships m"
        " JOIN bots b ON b.user_id = m.user_id JOIN users u ON u.id = m.user_id"
        " JOIN rooms r ON r.id = m.room_id"
        " WHERE m.room_id IN ({marks}) AND b.webhook_url IS NOT NULL AND u.is_active = 1",
        room_ids,
    )
    bots: dict[str, list[Row]] = {}
    for row in rows:
        bots.setdefault(row["room_id"], []).append(row)
    return bots


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


async def claim_webhook_deliveries(
    conn: aiosqlite.Connection, now: str, lease_until: str, limit: int, exclude: list[str]
) -> list[str]:
    """Claim up to `limit` outbox rows due by `now` (oldest first, not one of `exclude`) for
    one attempt each: their next_attempt_at moves to `lease_until`; the ids claimed.

    One statement in autocommit (Database.single_statement), conditioned on the row still
    being due, so two senders (hosts) never claim the same row. SQLite's write lock makes it
    atomic. PostgreSQL differs here: the subquery says FOR UPDATE SKIP LOCKED, so one sender
    skips the rows another is claiming at that moment instead of waiting for them.
    """
    skip_locked = " FOR UPDATE SKIP LOCKED" if _postgres(conn) else ""
    mine = f" AND id NOT IN ({','.join('?' * len(exclude))})" if exclude else ""  # not "IN ()"
    rows = await conn.execute_fetchall(
        "UPDATE webhook_deliveries SET next_attempt_at = ?"
        " WHERE id IN (SELECT id FROM webhook_deliveries"
        f"  WHERE next_attempt_at <= ?{mine}"
        f"  ORDER BY next_attempt_at, created_at LIMIT ?{skip_locked})"
        " AND next_attempt_at <= ? RETURNING id",
        (lease_until, now, *exclude, limit, now),
    )
    return [row[0] for row in rows]


async def webhook_deliveries_by_id(db: Database, delivery_ids: list[str]) -> list[Row]:
    """These outbox rows, oldest first, with what their payload needs."""
    rows = await _fetch_in(
        db,
        "SELECT d.id, d.bot_id, d.message_id, d.attempts, d.next_attempt_at, d.created_at,"
        " b.webhook_url, b.webhook_secret, bu.name AS bot_name, bu.is_active AS bot_active,"
        " m.room_id, m.content, m.creator_id, m.seq, cu.name AS creator_name, r.name AS room_name"
        " FROM webhook_deliveries d"
        " JOIN bots b ON b.user_id = d.bot_id JOIN users bu ON bu.id = d.bot_id"
        " JOIN messages m ON m.id = d.message_id JOIN users cu ON cu.id = m.creator_id"
        " JOIN rooms r ON r.id = m.room_id"
        " WHERE d.id IN ({marks})",
        delivery_ids,
    )
    return sorted(rows, key=lambda row: (row["created_at"], row["id"]))


async def next_webhook_due(db: Database, exclude: list[str]) -> str | None:
    """When the next outbox row (not one of `exclude`, being sent) is due; None if none.
    A row another sender holds is "due" when its lease ends."""
    marks = ",".join("?" * len(exclude))
    where = f" WHERE id NOT IN ({marks})" if exclude else ""  # PostgreSQL refuses "IN ()"
    row = await db.fetchone(f"SELECT MIN(next_attempt_at) FROM webhook_deliveries{where}", exclude)
    return row[0] if row else None


async def delete_webhook_delivery_txn(
    conn: aiosqlite.Connection, delivery_id: str, lease: str | None = None
) -> bool:
    """Remove a delivery from the outbox (answered, or given up); with `lease`, only while
    this sender's claim holds (no other sender took the row since). True if removed."""
    if lease is None:
        cursor = await conn.execute("DELETE FROM webhook_deliveries WHERE id = ?", (delivery_id,))
    else:
        cursor = await conn.execute(
            "DELETE FROM webhook_deliveries WHERE id = ? AND next_attempt_at = ?",
            (delivery_id, lease),
        )
    return cursor.rowcount > 0


async def retry_webhook_delivery_txn(
    conn: aiosqlite.Connection, delivery_id: str, attempts: int, next_attempt_at: str, lease: str
) -> bool:
    """Record a failed attempt and when to try again, only while this sender's claim (its
    `lease`) holds; False if another sender took the row meanwhile (its attempt counts)."""
    cursor = await conn.execute(
        "UPDATE webhook_deliveries SET attempts = ?, next_attempt_at = ?"
        " WHERE id = ? AND next_attempt_at = ?",
        (attempts, next_attempt_at, delivery_id, lease),
    )
    return cursor.rowcount > 0


async def release_webhook_deliveries_txn(
    conn: aiosqlite.Connection, leases: dict[str, str], now: str
) -> None:
    """Hand back claimed rows whose attempts were abandoned (the sender stops): due `now`,
    each only if its claim (delivery id -> lease) still holds."""
    await conn.executemany(
        "UPDATE webhook_deliveries SET next_attempt_at = ? WHERE id = ? AND next_attempt_at = ?",
        [(now, delivery_id, lease) for delivery_id, lease in leases.items()],
    )


async def delete_bot_deliveries_txn(conn: aiosqlite.Connection, bot_id: str) -> None:
    """Drop a bot's pending deliveries (its webhook was removed or changed)."""
    await conn.execute("DELETE FROM webhook_deliveries WHERE bot_id = ?", (bot_id,))


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
    db: Database,
    message_ids: list[str] | None = None,
    room_id: str | None = None,
    made_before: str = "",
) -> list[Row]:
    """Attachments whose message no longer exists: of these messages, of a room, or all those
    recorded before `made_before` (younger ones may be uploads whose message is on its way)."""
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
    return await db.fetchall(
        f"SELECT a.id, a.has_thumbnail FROM attachments a WHERE {orphan} AND a.created_at < ?",
        (made_before,),
    )


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


_SEARCH_COLUMNS = ", ".join(f"m.{c.strip()}" for c in MESSAGE_COLUMNS.split(","))


def _search_filters(
    conditions: list[str],
    params: list[Any],
    user_id: str,
    room_id: str | None,
    creator_id: str | None,
    before: int | None,
    seq_column: str,
) -> tuple[list[str], list[Any]]:
    """A search's WHERE terms after the engine's own match: only the caller's rooms, then
    the optional room, author and `before` (on `seq_column`), with their parameters."""
    conditions = [*conditions, "m.room_id IN (SELECT room_id FROM memberships WHERE user_id = ?)"]
    params = [*params, user_id]
    for column, value in (("m.room_id", room_id), ("m.creator_id", creator_id)):
        if value is not None:
            conditions.append(f"{column} = ?")
            params.append(value)
    if before is not None:
        conditions.append(f"{seq_column} < ?")
        params.append(before)
    return conditions, params


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
    On PostgreSQL: _search_messages_postgres, the same search on a tsvector index.
    """
    if _postgres(db):
        return await _search_messages_postgres(
            db, match, user_id, room_id, creator_id, before, limit
        )
    conditions, params = _search_filters(
        ["messages_fts MATCH ?"],
        [match],
        user_id,
        room_id,
        creator_id,
        before,
        "messages_fts.rowid",
    )
    cols = _SEARCH_COLUMNS
    return await db.fetchall(
        f"SELECT {cols}, snippet(messages_fts, 0, ?, ?, '…', 16) AS snippet"
        " FROM messages_fts CROSS JOIN messages m ON m.seq = messages_fts.rowid"
        f" WHERE {' AND '.join(conditions)} ORDER BY messages_fts.rowid DESC LIMIT ?",
        (SNIPPET_START, SNIPPET_END, *params, limit + 1),
    )


# An FTS5 term of search.match_expression: a quoted phrase ("" inside), maybe a * after it.
_FTS5_TERM = re.compile(r'"((?:[^"]|"")*)"(\*?)')
# ts_headline's options: the snippet markers, and about as many words as FTS5's snippet (16).
# A message shorter than SNIPPET_WHOLE_CHARS is shown whole, as FTS5 shows one of 16 words or
# fewer (a fragment would also lose the punctuation around its first and last words).
_HEADLINE_MARKS = f"StartSel={SNIPPET_START}, StopSel={SNIPPET_END}"
_HEADLINE_WHOLE = f"{_HEADLINE_MARKS}, HighlightAll=true"
_HEADLINE_PART = f"{_HEADLINE_MARKS}, MaxWords=16, MinWords=8, ShortWord=0, MaxFragments=1"
SNIPPET_WHOLE_CHARS = 120


def _tsquery_sql(match: str) -> tuple[str, list[str]]:
    """The SQL of a tsquery meaning all of the FTS5 expression's terms, and its parameters.

    Each phrase goes through phraseto_tsquery (words in order, nothing the user typed is
    tsquery syntax); a prefix term (word*) becomes one quoted lexeme with :* for to_tsquery.
    """
    parts, params = [], []
    for text, star in _FTS5_TERM.findall(match):
        text = text.replace('""', '"')
        if star:
            # tsquery's own quoting: ' doubled, \ escaped; then the prefix mark.
            quoted = "'" + text.replace("\\", "\\\\").replace("'", "''") + "':*"
            parts.append("to_tsquery('campfire', ?)")
            params.append(quoted)
        else:
            parts.append("phraseto_tsquery('campfire', ?)")
            params.append(text)
    return " && ".join(parts), params


async def _search_messages_postgres(
    db: Database,
    match: str,
    user_id: str,
    room_id: str | None,
    creator_id: str | None,
    before: int | None,
    limit: int,
) -> list[Row]:
    """search_messages on PostgreSQL: the GIN index on to_tsvector('campfire', content)
    (migration postgresql/0004), newest first, snippets by ts_headline."""
    query_sql, query_params = _tsquery_sql(match)
    conditions, params = _search_filters(
        ["to_tsvector('campfire', m.content) @@ q.query"], [], user_id, room_id, creator_id,
        before, "m.seq",
    )  # fmt: skip
    cols = _SEARCH_COLUMNS
    return await db.fetchall(
        f"WITH q AS (SELECT {query_sql} AS query)"
        # ts_headline drops what looks like an HTML tag: '<' is swapped for a private-use
        # character around it, so the snippet keeps the text as typed (the client escapes it).
        f" SELECT {cols}, replace(ts_headline('campfire', replace(m.content, '<', chr(57346)),"
        f"  q.query, CASE WHEN length(m.content) < {SNIPPET_WHOLE_CHARS} THEN ? ELSE ? END),"
        "  chr(57346), '<') AS snippet"
        " FROM q, messages m"
        f" WHERE {' AND '.join(conditions)} ORDER BY m.seq DESC LIMIT ?",
        (*query_params, _HEADLINE_WHOLE, _HEADLINE_PART, *params, limit + 1),
    )


async def search_backfill_txn(conn: aiosqlite.Connection) -> Row | None:
    """The range of messages older than the search index still to be indexed, if any.

    PostgreSQL's index is on the messages themselves: never anything to backfill there.
    """
    if _postgres(conn):
        return None
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
