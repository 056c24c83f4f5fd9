"""`campfire db copy SQLITE_FILE postgresql://...`: move an existing Campfire to PostgreSQL.

Every table is copied in one PostgreSQL transaction (all or nothing), parents before the rows
that refer to them, read from one SQLite snapshot; the sequence counter is then set past every
copied number. The target must be empty (it is migrated first if it has no tables yet).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from campfire.db import migration_scripts, redact

# Every table both engines have, parents first (foreign keys point backwards in this list).
# tests/test_db_copy.py checks it names every table of the schema.
COPY_ORDER = (
    "users",
    "account",
    "sessions",
    "login_links",
    "rooms",
    "memberships",
    "messages",
    "changes",
    "boosts",
    "mentions",
    "attachments",
    "server_keys",
    "push_subscriptions",
    "bots",
    "webhook_deliveries",
)


class CopyError(Exception):
    """Why a copy cannot be made; the message is for the person running it."""


def _open_source(path: Path) -> sqlite3.Connection:
    """The SQLite file, read-only, checked to be a Campfire database at the newest migration."""
    if not path.is_file():
        raise CopyError(f"database {path} does not exist")
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise CopyError(f"database {path}: {exc}") from None
    newest = migration_scripts()[-1][0]
    if version != newest:
        conn.close()
        raise CopyError(
            f"database {path} is at migration {version}, not {newest}: run"
            f" `campfire db migrate --db {path}` first (with this version of Campfire)"
        )
    return conn


async def copy_database(source: Path, url: str) -> dict[str, int]:
    """Copy every row of the SQLite file `source` into the empty PostgreSQL database at `url`;
    how many rows each table got."""
    import psycopg

    from campfire.db_postgres import PostgresDatabase

    src = _open_source(source)
    try:
        target = PostgresDatabase(url, pool_size=2)
        try:
            await target.open()  # applies the migrations to a database without tables
        except sqlite3.Error as exc:  # cannot connect, or no Campfire database
            raise CopyError(f"PostgreSQL database {redact(url)}: {exc}") from None
        await target.close()
        async with await psycopg.AsyncConnection.connect(url) as conn:
            for table in COPY_ORDER:
                cursor = await conn.execute(f"SELECT EXISTS (SELECT 1 FROM {table})")
                row = await cursor.fetchone()
                if row and row[0]:
                    raise CopyError(
                        f"the target database is not empty (table {table} has rows):"
                        " copy only into a new, empty database"
                    )
            src.execute("BEGIN")  # one snapshot of the whole file
            counts: dict[str, int] = {}
            for table in COPY_ORDER:
                counts[table] = await _copy_table(src, conn, table)
            # Numbers taken in SQLite (messages' AUTOINCREMENT mark, which changes raise too)
            # are never given again, even those of deleted messages.
            found = src.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = 'messages'"
            ).fetchone()
            await conn.execute(
                "UPDATE counters SET value = greatest(value, %s,"
                " (SELECT coalesce(max(seq), 0) FROM messages),"
                " (SELECT coalesce(max(seq), 0) FROM changes)) WHERE name = 'messages'",
                (found[0] if found else 0,),
            )
            await conn.commit()
        return counts
    except psycopg.Error as exc:
        raise CopyError(f"copy into PostgreSQL failed: {exc}") from exc
    finally:
        src.close()


async def _copy_table(src: sqlite3.Connection, conn: object, table: str) -> int:
    """COPY one table's rows from SQLite into PostgreSQL (same columns); how many."""
    import psycopg

    assert isinstance(conn, psycopg.AsyncConnection)
    cursor = src.execute(f"SELECT * FROM {table}")
    columns = [d[0] for d in cursor.description]
    names = ", ".join(columns)
    count = 0
    async with conn.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in cursor:
            await copy.write_row(row)
            count += 1
    return count
