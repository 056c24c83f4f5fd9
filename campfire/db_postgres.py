"""PostgreSQL storage (`--db postgresql://...`): db.Database's interface on psycopg 3.

Imported only when the database setting is a PostgreSQL URL (db.make_database), so SQLite
installs need none of psycopg. store.py runs the same SQL on both engines; here each statement's
`?` and `:name` placeholders become psycopg's once (cached), rows read by name and by index as
sqlite3.Row does, and psycopg's errors are raised as the sqlite3 ones callers already catch.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

import psycopg
import psycopg.adapt
import psycopg.errors
from psycopg_pool import AsyncConnectionPool

from campfire import db
from campfire.db import DatabaseUnavailable

log = logging.getLogger(__name__)
# psycopg's pool logs every checkout and return at INFO: lines by the thousand per second
# under load (and their cost). Its warnings (connections lost, failing to connect) stay.
logging.getLogger("psycopg.pool").setLevel(logging.WARNING)

# How long a caller waits for a pooled connection before "database unavailable" (the pool's
# own default, 30 s, would hold a client's message that long).
POOL_WAIT = 5.0
# While the database is away: how often a connection is tried, to notice its return.
RECONNECT_EVERY = 0.5

T = TypeVar("T")
R = TypeVar("R")

# Advisory lock keys (any constant bigint): one writer at a time across every worker and host,
# as SQLite's BEGIN IMMEDIATE gives (the use cases read-then-write inside a transaction, e.g.
# "is this room name taken", and rely on it); and one process migrating at a time.
WRITE_LOCK = 0x43616D7066697265  # "Campfire"
MIGRATE_LOCK = WRITE_LOCK + 1


def migration_scripts() -> list[tuple[int, str]]:
    """The numbered PostgreSQL migrations (campfire/migrations/postgresql), in order."""
    return db.migration_scripts("campfire.migrations.postgresql")


# A quoted string or identifier (kept, `%` escaped), `::`, `?`, `:name`, or a literal `%`.
_SQL_TOKEN = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"|::|\?|:(\w+)|%")


@functools.lru_cache(maxsize=2048)
def to_psycopg(sql: str) -> str:
    """SQLite's placeholders (`?`, `:name`) as psycopg's (`%s`, `%(name)s`), `%` escaped."""

    def token(match: re.Match[str]) -> str:
        text = match.group(0)
        if text == "?":
            return "%s"
        if text == "%":
            return "%%"
        if match.group(1):
            return f"%({match.group(1)})s"
        return text.replace("%", "%%")  # psycopg reads % inside quotes too

    return _SQL_TOKEN.sub(token, sql)


class Row:
    """A result row read by column name or by index, like sqlite3.Row (first name wins)."""

    __slots__ = ("_names", "_values")

    def __init__(self, values: Sequence[Any], names: dict[str, int]) -> None:
        self._values = tuple(values)
        self._names = names

    def __getitem__(self, key: int | str | slice) -> Any:
        """A value by column name or position."""
        if isinstance(key, str):
            return self._values[self._names[key]]
        return self._values[key]

    def __iter__(self) -> Iterator[Any]:
        """The values in column order (so a row unpacks like a tuple)."""
        return iter(self._values)

    def __len__(self) -> int:
        """How many columns."""
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        """Rows compare by their values."""
        if isinstance(other, Row):
            return self._values == other._values
        return NotImplemented

    def __hash__(self) -> int:
        """Hash of the values."""
        return hash(self._values)

    def __repr__(self) -> str:
        """The row as a dict, for test failures."""
        return f"Row({dict(zip(self.keys(), self._values, strict=True))!r})"

    def keys(self) -> list[str]:
        """The column names in order (so dict(row) works)."""
        return sorted(self._names, key=self._names.__getitem__)


def _row_factory(cursor: Any) -> Any:
    """psycopg row factory making Rows that share one name index per result."""
    description = cursor.description
    if description is None:
        return tuple
    names: dict[str, int] = {}
    for index, column in enumerate(description):
        names.setdefault(column.name, index)
    return lambda values: Row(values, names)


class _BoolAsInt(psycopg.adapt.Dumper):
    """SQLite has no boolean: the schema keeps 0/1 INTEGERs on both engines, so bools go as 1/0."""

    oid = psycopg.postgres.types["int4"].oid

    def dump(self, obj: Any) -> bytes:
        """1 or 0."""
        return b"1" if obj else b"0"


@contextlib.contextmanager
def _as_sqlite_errors() -> Iterator[None]:
    """Raise psycopg's errors as the sqlite3 classes the use cases catch."""
    try:
        yield
    except psycopg.errors.IntegrityError as exc:
        raise sqlite3.IntegrityError(str(exc)) from exc
    except psycopg.Error as exc:
        if isinstance(
            exc, psycopg.errors.SyntaxErrorOrAccessRuleViolation | psycopg.errors.DataError
        ):
            raise  # a bug in a statement: its own error, with its own message
        raise sqlite3.OperationalError(str(exc)) from exc


class Connection:
    """One pooled connection inside a transaction, with the aiosqlite methods store.py uses."""

    engine = "postgresql"

    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self._conn = conn

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open (aiosqlite's attribute; False in autocommit)."""
        return self._conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    async def execute(self, sql: str, params: Sequence[Any] | dict = ()) -> psycopg.AsyncCursor:
        """Run one statement; the cursor (rowcount, fetchone) as aiosqlite answers."""
        cursor = self._conn.cursor()
        with _as_sqlite_errors():
            if params:
                await cursor.execute(to_psycopg(sql), params)
            else:
                await cursor.execute(sql)
        return cursor

    async def executemany(self, sql: str, rows: Sequence[Any]) -> None:
        """Run one statement for each parameter set (psycopg pipelines them: one round trip)."""
        rows = list(rows)
        if not rows:
            return
        with _as_sqlite_errors():
            async with self._conn.cursor() as cursor:
                await cursor.executemany(to_psycopg(sql), rows)

    async def execute_fetchall(self, sql: str, params: Sequence[Any] | dict = ()) -> list[Row]:
        """Run one statement and return every row it answers."""
        cursor = await self.execute(sql, params)
        try:
            rows = await cursor.fetchall() if cursor.description is not None else []
            return cast(list[Row], rows)  # _row_factory made them
        finally:
            await cursor.close()


class PostgresDatabase:
    """A PostgreSQL database behind a connection pool; writes one transaction at a time."""

    engine = "postgresql"

    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.url = url
        self._pool_size = max(2, pool_size)
        self._pool: AsyncConnectionPool | None = None
        # Writers of this process queue here, so at most one pooled connection waits on the
        # advisory lock and the others stay free for reads.
        self._write_lock = asyncio.Lock()
        # Set while the database is away (a pooled connection broke): tries it until it
        # answers, then replaces the pool. Callers meanwhile fail at once.
        self._reconnecting: asyncio.Task | None = None

    @property
    def path(self) -> Path:
        """No file: the data directory must be set (config files_dir); see Settings."""
        raise RuntimeError("a PostgreSQL database has no file path")

    def _new_pool(self) -> AsyncConnectionPool:
        """A connection pool (not opened yet)."""
        return AsyncConnectionPool(
            self.url,
            min_size=1,
            max_size=self._pool_size,
            open=False,
            kwargs={"autocommit": True, "row_factory": _row_factory},
            configure=_configure,
            name="campfire",
            timeout=POOL_WAIT,
        )

    async def open(self) -> None:
        """Open the pool and apply pending migrations."""
        # One connection first: if the server or database is not there, its own error says
        # why (the pool would only time out).
        with _as_sqlite_errors():
            await (await psycopg.AsyncConnection.connect(self.url, connect_timeout=10)).close()
        self._pool = self._new_pool()
        try:
            with _as_sqlite_errors():
                await self._pool.open(wait=True, timeout=10)
            await self._migrate()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Close every pooled connection."""
        if self._reconnecting is not None:
            self._reconnecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconnecting
            self._reconnecting = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def _require_pool(self) -> AsyncConnectionPool:
        """The open pool, or an error if the database is closed."""
        if self._pool is None:
            raise RuntimeError("database is closed")
        return self._pool

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[psycopg.AsyncConnection]:
        """A pooled connection, or DatabaseUnavailable at once while the database is away
        (and after POOL_WAIT without a free connection). A connection found broken starts
        the reconnection: psycopg's pool would retry with a backoff growing to minutes."""
        if self._reconnecting is not None:
            raise DatabaseUnavailable("the database is unavailable (reconnecting)")
        pool = self._require_pool()
        conn: psycopg.AsyncConnection | None = None
        try:
            async with pool.connection() as conn:
                yield conn
        except (psycopg.Error, sqlite3.OperationalError) as exc:
            if conn is None or conn.broken:
                if conn is not None:
                    self._lost(exc)
                raise DatabaseUnavailable(f"the database is unavailable: {exc}") from exc
            raise

    def _lost(self, exc: BaseException) -> None:
        """A connection broke: fail callers at once and reconnect (once, whoever notices)."""
        if self._reconnecting is None:
            log.warning("lost the PostgreSQL connection (%s); reconnecting", exc)
            self._reconnecting = asyncio.create_task(self._reconnect(), name="pg-reconnect")

    async def _reconnect(self) -> None:
        """Try the database every RECONNECT_EVERY s; once it answers, a fresh pool replaces
        the one whose connections died, and callers are served again."""
        started = asyncio.get_running_loop().time()
        while True:
            await asyncio.sleep(RECONNECT_EVERY)
            fresh = self._new_pool()
            try:
                await fresh.open(wait=True, timeout=RECONNECT_EVERY * 4)
                if self._pool is not None:  # its connections in use close when returned
                    await self._pool.close(timeout=1)
            except psycopg.Error:
                await fresh.close()
                continue
            except BaseException:  # cancelled by close(): leave no pool behind
                await fresh.close()
                raise
            self._pool = fresh
            self._reconnecting = None
            away = asyncio.get_running_loop().time() - started
            log.warning("PostgreSQL answers again (after %.1f s); reconnected", away)
            return

    async def schema_version(self) -> int:
        """The number of the newest migration applied (0 on an empty database)."""
        row = await self.fetchone(
            "SELECT CASE WHEN to_regclass('schema_version') IS NULL THEN 0"
            " ELSE (SELECT coalesce(max(version), 0) FROM schema_version) END"
        )
        assert row is not None
        return int(row[0])

    async def _migrate(self) -> None:
        """Apply the migrations newer than schema_version, each in its own transaction."""
        pool = self._require_pool()
        async with pool.connection() as conn:
            # Session lock: several workers or hosts start at once, one migrates.
            await conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATE_LOCK,))
            try:
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"
                )
                cursor = await conn.execute("SELECT coalesce(max(version), 0) FROM schema_version")
                row = await cursor.fetchone()
                version = row[0] if row else 0
                for number, script in migration_scripts():
                    if number <= version:
                        continue
                    log.info("applying PostgreSQL migration %04d", number)
                    async with conn.transaction():
                        await conn.execute(script)
                        await conn.execute("DELETE FROM schema_version")
                        await conn.execute(
                            "INSERT INTO schema_version (version) VALUES (%s)", (number,)
                        )
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATE_LOCK,))

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """One write transaction holding the write lock, committed on success, else rolled back."""
        async with self._write_lock, self._connection() as conn:
            with _as_sqlite_errors():
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
                    yield Connection(conn)

    @contextlib.asynccontextmanager
    async def single_statement(self) -> AsyncIterator[Connection]:
        """A pooled connection in autocommit for one self-contained statement (a batch of
        plain new messages): its own transaction, one round trip, no BEGIN and COMMIT.

        It takes no write lock: it reads nothing to decide what it writes, its numbers come
        from the counter row (locked until its commit, so still in commit order), and the
        constraints refuse what a concurrent transaction made invalid (a deleted room).
        """
        async with self._connection() as conn:
            yield Connection(conn)

    async def run_batch(
        self,
        write: Callable[[Any, list[T]], Coroutine[Any, Any, list[R]]],
        items: list[T],
        one_statement: bool,
    ) -> list[R]:
        """Write a group commit's batch: in autocommit when it is `one_statement`, else in
        one transaction (as db.Database.run_batch; here each statement is a round trip)."""
        if one_statement:
            async with self.single_statement() as conn:
                return await write(conn, items)
        async with self.transaction() as conn:
            return await write(conn, items)

    async def fetchall(self, sql: str, params: Sequence[Any] | dict = ()) -> list[Row]:
        """Run a read query on a pooled connection and return every row."""
        async with self._connection() as conn:
            return await Connection(conn).execute_fetchall(sql, params)

    async def fetchone(self, sql: str, params: Sequence[Any] | dict = ()) -> Row | None:
        """Run a read query and return its first row, or None."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def backup(self, target: str | Path) -> None:
        """Not done here: pg_dump is PostgreSQL's online backup (docs/operations.md)."""
        raise RuntimeError("back up a PostgreSQL database with pg_dump (docs/operations.md)")


async def read_schema_version(url: str) -> int:
    """The migration a PostgreSQL database is at, read without migrating it (0: none yet)."""
    with _as_sqlite_errors():
        async with await psycopg.AsyncConnection.connect(url, connect_timeout=10) as conn:
            cursor = await conn.execute("SELECT to_regclass('schema_version') IS NOT NULL")
            row = await cursor.fetchone()
            if not row or not row[0]:
                return 0
            cursor = await conn.execute("SELECT coalesce(max(version), 0) FROM schema_version")
            row = await cursor.fetchone()
            return int(row[0]) if row else 0


async def _configure(conn: psycopg.AsyncConnection) -> None:
    """Set up each new pooled connection: bools as integers."""
    conn.adapters.register_dumper(bool, _BoolAsInt)
