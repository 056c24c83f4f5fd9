"""SQLite access: a serialised write connection, a read connection, migrations, group commit."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any, Generic, TypeVar, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiosqlite

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

BUSY_TIMEOUT_MS = 5000
# SQLite allows 32,766 bound variables per statement; batches stay well below that.
MAX_BATCH = 500
# Background checkpoints: at most one per CHECKPOINT_PAUSE seconds while writes go on; once
# the WAL holds more than WAL_RESTART_FRAMES pages, one runs with writes held so it finishes
# and the next write starts the WAL file over (else, under steady writes, it only grows).
CHECKPOINT_PAUSE = 0.2
WAL_RESTART_FRAMES = 4000


def migration_scripts(package: str = "campfire.migrations") -> list[tuple[int, str]]:
    """The numbered migrations shipped in a package (SQLite's; PostgreSQL's is
    campfire.migrations.postgresql), in order."""
    found = []
    for entry in resources.files(package).iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), entry.read_text(encoding="utf-8")))
    return sorted(found)


async def _connect(path: Path) -> aiosqlite.Connection:
    """Open one connection with the PRAGMAs every connection needs."""
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    try:
        await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await conn.execute("PRAGMA foreign_keys = ON")
        # FULL: a commit the server acknowledged survives power loss, not only a process crash.
        await conn.execute("PRAGMA synchronous = FULL")
    except BaseException:
        # Not a database (or unreadable): close it, or its thread keeps the process from exiting.
        await conn.close()
        raise
    return conn


class ProcessLock:
    """An exclusive lock shared by the processes that write one database (campfire serve
    --workers N): flock on a file beside it, taken around every write transaction.

    SQLite's own lock is no queue: a writer that finds it taken sleeps 1, 2, 5, 10... ms and
    tries again, so under steady writes from two processes one of them waits far longer than
    the other's commit takes. The kernel wakes a flock waiter as the holder lets go.
    """

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self._waiter = ThreadPoolExecutor(1, thread_name_prefix="db-lock")

    async def acquire(self) -> None:
        """Take the lock: at once if free, else by waiting in a thread (the loop runs on)."""
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        taken = asyncio.get_running_loop().run_in_executor(
            self._waiter, fcntl.flock, self._fd, fcntl.LOCK_EX
        )
        try:
            await asyncio.shield(taken)
        except asyncio.CancelledError:
            # The thread still takes it: let it go then, or every other process waits forever.
            taken.add_done_callback(self._release_if_taken)
            raise

    def _release_if_taken(self, taken: asyncio.Future) -> None:
        """Let go of a lock taken for a waiter that was cancelled meanwhile."""
        if not taken.cancelled() and taken.exception() is None:
            self.release()

    def take(self) -> None:
        """Take the lock, waiting as long as it takes (on the writer's thread)."""
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def release(self) -> None:
        """Let the next process write."""
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Stop the waiting thread and close the lock file (which releases the lock)."""
        self._waiter.shutdown(wait=False, cancel_futures=True)
        os.close(self._fd)


class ThreadConnection:
    """The aiosqlite methods store.py uses, answered at once by a sqlite3 connection on the
    thread that owns it: a store coroutine given one never waits, so `_drive` runs it
    through on that thread (Database.run_batch)."""

    engine = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open."""
        return self._conn.in_transaction

    async def execute(self, sql: str, params: Sequence[Any] | dict = ()) -> sqlite3.Cursor:
        """Run one statement; its cursor (rowcount)."""
        return self._conn.execute(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Any]) -> sqlite3.Cursor:
        """Run one statement for each parameter set."""
        return self._conn.executemany(sql, rows)

    async def execute_fetchall(
        self, sql: str, params: Sequence[Any] | dict = ()
    ) -> list[sqlite3.Row]:
        """Run one statement and return every row it answers."""
        return self._conn.execute(sql, params).fetchall()


def _drive(coro: Coroutine[Any, Any, R]) -> R:
    """Run a coroutine that never waits (its awaits are a ThreadConnection's) to its end."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("a batch write waited for something other than its connection")


async def _rollback_quietly(conn: aiosqlite.Connection) -> None:
    """Roll back whatever transaction is open (none is fine)."""
    with contextlib.suppress(sqlite3.Error):
        await conn.rollback()


async def _on_thread(conn: aiosqlite.Connection, fn: Callable[..., R], *args: Any) -> R:
    """Run `fn(*args)` on an aiosqlite connection's own thread, in turn with its statements.

    aiosqlite has no public way to do it; `_execute` is what its own `execute` and `commit`
    use, and every message of the suite goes through here.
    """
    return await conn._execute(fn, *args)


def is_postgres_url(db: str) -> bool:
    """Whether the database setting names a PostgreSQL server rather than a SQLite file."""
    return db.startswith(("postgresql://", "postgres://"))


def redact(db: str) -> str:
    """A database setting (or Redis's URL) for messages and logs: a URL without its password,
    whether in its user part or as a `password=` parameter; a file's path as it is."""
    if "://" not in db:
        return db
    parts = urlsplit(db)
    if parts.password is not None:
        host = parts.netloc.rsplit("@", 1)[1]
        parts = parts._replace(netloc=f"{parts.username}:***@{host}")
    if parts.query:
        query = [
            (key, "***" if key.lower() == "password" else value)
            for key, value in parse_qsl(parts.query, keep_blank_values=True)
        ]
        parts = parts._replace(query=urlencode(query, safe="*/"))
    return urlunsplit(parts)


def make_database(db: str, pool_size: int = 10, shared: bool = False) -> Database:
    """The database the setting names, not yet open: the one place the engine is chosen.

    A postgresql:// URL gives db_postgres.PostgresDatabase (psycopg is imported only then),
    which offers this module's Database interface; anything else is a SQLite file (`shared`:
    written by several processes, see Database).
    """
    if is_postgres_url(db):
        from campfire.db_postgres import PostgresDatabase

        return cast(Database, PostgresDatabase(db, pool_size))
    return Database(db, shared)


class Database:
    """The database file: writes go through one connection, one transaction at a time.

    With `shared`, other processes write the same file (workers): every write also holds
    a ProcessLock on `<file>-writelock`.
    """

    engine = "sqlite"

    def __init__(self, path: str | Path, shared: bool = False) -> None:
        self.path = Path(path)
        self._shared = shared
        self._process_lock: ProcessLock | None = None
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._checkpointer: aiosqlite.Connection | None = None
        self._checkpoint_task: asyncio.Task | None = None
        self._written = asyncio.Event()
        self._write_lock = asyncio.Lock()
        self._abandoned: set[asyncio.Future] = set()  # rollbacks of cancelled transactions

    async def open(self) -> None:
        """Open the connections, switch to WAL, apply pending migrations, start checkpointing."""
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._shared:
            self._process_lock = ProcessLock(self.path.with_name(self.path.name + "-writelock"))
        self._writer = await _connect(self.path)
        try:
            await self._writer.execute("PRAGMA journal_mode = WAL")
            # A checkpoint inside a commit (SQLite's default, every 1,000 pages) stalls every
            # write behind it for its fsync of the database file; _checkpoint_loop does it
            # beside the writes instead (ingest p99 measured in docs/performance.md).
            await self._writer.execute("PRAGMA wal_autocheckpoint = 0")
            # The writer's temporary tables (the rows each batch's INSERT ... RETURNING hands
            # back) in memory rather than a temporary database's own pager: 71-77 -> 52-61 us
            # of its CPU per message in batches of 25 (measured alone, 3 runs each). Journals
            # are not affected; the reader, whose sorts may be large, keeps the default.
            await self._writer.execute("PRAGMA temp_store = MEMORY")
            await self._migrate()
            self._reader = await _connect(self.path)
            self._checkpointer = await _connect(self.path)
        except BaseException:
            await self.close()
            raise
        self._checkpoint_task = asyncio.create_task(self._checkpoint_loop(), name="wal-checkpoint")

    async def close(self) -> None:
        """Stop checkpointing and close the connections (the last one checkpoints the WAL)."""
        if self._checkpoint_task is not None:
            self._checkpoint_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpoint_task
            self._checkpoint_task = None
        for conn in (self._checkpointer, self._reader, self._writer):
            if conn is not None:
                await conn.close()
        self._checkpointer = self._reader = self._writer = None
        if self._process_lock is not None:
            self._process_lock.close()
            self._process_lock = None

    async def _checkpoint_loop(self) -> None:
        """Copy committed pages from the WAL into the database file whenever writes happened."""
        while True:
            await self._written.wait()
            self._written.clear()
            try:
                frames = await self._checkpoint()
                if frames > WAL_RESTART_FRAMES:
                    # With writes held nothing is appended meanwhile, so this checkpoint
                    # completes and the next write restarts the WAL from its beginning.
                    async with self._write_lock, self._processes_lock():
                        await self._checkpoint()
            except Exception:  # never let the loop die: without it the WAL would only grow
                log.exception("WAL checkpoint failed (will retry after the next write)")
            await asyncio.sleep(CHECKPOINT_PAUSE)

    async def schema_version(self) -> int:
        """The number of the newest migration applied (PRAGMA user_version)."""
        row = await self.fetchone("PRAGMA user_version")
        assert row is not None  # a PRAGMA that reads a value always answers one row
        return int(row[0])

    async def _checkpoint(self) -> int:
        """One passive checkpoint (never waits for readers or writer); the WAL's size in pages."""
        assert self._checkpointer is not None
        rows = await self._checkpointer.execute_fetchall("PRAGMA wal_checkpoint(PASSIVE)")
        _busy, wal_frames, _copied = next(iter(rows))
        return wal_frames

    async def _migrate(self) -> None:
        """Apply the migrations newer than PRAGMA user_version, each in its own transaction."""
        assert self._writer is not None
        async with self._write_lock:
            row = await (await self._writer.execute("PRAGMA user_version")).fetchone()
            assert row is not None  # a PRAGMA that reads a value always answers one row
            (version,) = row
            for number, script in migration_scripts():
                if number <= version:
                    continue
                log.info("applying migration %04d", number)
                # executescript commits first, so wrap the script in its own transaction.
                await self._writer.executescript(
                    f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;"
                )

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction (BEGIN IMMEDIATE), committed on success, rolled back on error."""
        if self._writer is None:
            raise RuntimeError("database is closed")
        async with self._write_lock, self._processes_lock():
            conn = self._writer
            try:
                await conn.execute("BEGIN IMMEDIATE")
            except asyncio.CancelledError:
                # The thread runs the BEGIN anyway: queue a ROLLBACK right behind it (ahead of
                # any later transaction's BEGIN, which would fail inside this one).
                rollback = asyncio.ensure_future(_rollback_quietly(conn))
                self._abandoned.add(rollback)
                rollback.add_done_callback(self._abandoned.discard)
                raise
            try:
                yield conn
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    await conn.rollback()
                raise
            try:
                await conn.commit()
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    await conn.rollback()
                raise
            finally:
                self._written.set()

    @contextlib.asynccontextmanager
    async def _processes_lock(self) -> AsyncIterator[None]:
        """The ProcessLock around a write, when other processes write too."""
        lock = self._process_lock
        if lock is None:
            yield
            return
        await lock.acquire()
        try:
            yield
        finally:
            lock.release()

    @contextlib.asynccontextmanager
    async def single_statement(self) -> AsyncIterator[aiosqlite.Connection]:
        """The write connection, serialised with transactions, for one self-contained statement.

        A single statement is atomic on its own (autocommit), so it needs no BEGIN and COMMIT:
        one hop to the database thread instead of three.
        """
        if self._writer is None:
            raise RuntimeError("database is closed")
        async with self._write_lock, self._processes_lock():
            try:
                yield self._writer
            finally:
                self._written.set()

    async def run_batch(
        self,
        write: Callable[[Any, list[T]], Coroutine[Any, Any, list[R]]],
        items: list[T],
        one_statement: bool,
    ) -> list[R]:
        """Write a group commit's batch: `write(conn, items)` inside BEGIN IMMEDIATE..COMMIT,
        or alone in autocommit when it is `one_statement` (GroupCommitter says which).

        The whole of it runs on the writer's thread in one step, `write` driven there with a
        ThreadConnection: no trip back to the event loop between its statements, which under
        load waits behind everything else the loop has to do. With other processes writing,
        their lock is held for the batch's own time only (2 workers: 5-13 ms per batch held
        before, most of it waiting for the loop), and one process pays one hop per batch.
        """
        if self._writer is None:
            raise RuntimeError("database is closed")
        conn = self._writer
        async with self._write_lock:
            try:
                return await _on_thread(
                    conn, self._batch_on_thread, conn._conn, write, items, one_statement
                )
            finally:
                self._written.set()

    def _batch_on_thread(
        self,
        raw: sqlite3.Connection,
        write: Callable[[Any, list[T]], Coroutine[Any, Any, list[R]]],
        items: list[T],
        one_statement: bool,
    ) -> list[R]:
        """On the writer's thread: take the other processes' lock, write, commit, let go."""
        lock = self._process_lock
        if lock is not None:
            lock.take()
        try:
            if one_statement:
                return _drive(write(ThreadConnection(raw), items))
            raw.execute("BEGIN IMMEDIATE")
            try:
                result = _drive(write(ThreadConnection(raw), items))
                raw.commit()
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    raw.rollback()
                raise
            return result
        finally:
            if lock is not None:
                lock.release()

    async def fetchall(self, sql: str, params: Sequence[Any] | dict = ()) -> list[sqlite3.Row]:
        """Run a read query on the read connection and return every row."""
        if self._reader is None:
            raise RuntimeError("database is closed")
        return list(await self._reader.execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: Sequence[Any] | dict = ()) -> sqlite3.Row | None:
        """Run a read query and return its first row, or None."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def backup(self, target: str | Path) -> None:
        """Write a consistent copy of the live database with SQLite's online backup API."""
        if self._reader is None:
            raise RuntimeError("database is closed")
        await backup_file(self.path, Path(target))


async def backup_file(source: Path, target: Path) -> None:
    """Copy `source` to `target` with the online backup API (safe while a server writes)."""

    def run() -> None:
        tmp = target.with_name(target.name + ".partial")
        tmp.unlink(missing_ok=True)
        # as_uri() percent-encodes '?', '#' and '%', which would otherwise end the file name.
        src = sqlite3.connect(f"{Path(source).absolute().as_uri()}?mode=ro", uri=True)
        try:
            src.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            dst = sqlite3.connect(tmp)
            try:
                src.backup(dst)
                dst.execute("PRAGMA journal_mode = DELETE")
            finally:
                dst.close()
        except BaseException:
            tmp.unlink(missing_ok=True)  # no half-written copy left beside the target
            raise
        finally:
            src.close()
        tmp.replace(target)

    await asyncio.to_thread(run)


class DatabaseUnavailable(sqlite3.OperationalError):
    """The database server cannot be reached (PostgreSQL down or restarting): a whole batch
    fails at once, and callers answer "try again" (it is an sqlite3 error, as they catch)."""


class _Pending(Generic[T]):
    """One item waiting for the next group commit, with the future its caller awaits."""

    __slots__ = ("future", "item")

    def __init__(self, item: T, future: asyncio.Future) -> None:
        self.item = item
        self.future = future


class GroupCommitter(Generic[T, R]):
    """Writes items in batches: everything that arrived during one commit goes into the next.

    A lone item commits at once; under load the batch grows, so throughput scales with load
    instead of paying one transaction (and several thread hops) per item.

    A batch for which `one_statement(items)` is true (the default: every batch) is written
    in autocommit: `write_batch` must then write with ONE statement (reads after it are fine),
    which is the transaction. Other batches (messages with mentions, edits, boosts,
    deletions) are written inside one BEGIN IMMEDIATE ... COMMIT. Either way the database
    does the whole batch in one hop to its thread (Database.run_batch), so under load a
    change costs about what a message costs. Measured with scripts/bench: one hop instead of
    three took ingest from 3,600 to 5,000 messages/s committed, on one core.
    """

    def __init__(
        self,
        db: Database,
        write_batch: Callable[[Any, list[T]], Coroutine[Any, Any, list[R]]],
        max_batch: int = MAX_BATCH,
        one_statement: Callable[[list[T]], bool] = lambda items: True,
        order: Callable[[T], int] | None = None,
    ) -> None:
        self._db = db
        self._write_batch = write_batch
        self._one_statement = one_statement
        self._order = order
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Pending[T]] = asyncio.Queue()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        """Start the background task that commits batches."""
        self._task = asyncio.create_task(self._run(), name="group-commit")

    async def stop(self) -> None:
        """Commit what is queued, then stop."""
        if self._task is None:
            return
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def submit(self, item: T) -> R:
        """Queue one item and wait until the transaction that holds it has committed."""
        if self._task is None:
            raise RuntimeError("group committer is not running")
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(item, future))
        return await future

    async def _run(self) -> None:
        """Take everything queued, write it in one transaction, resolve the callers."""
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            order = self._order
            if order is not None:
                # The order write_batch numbers them in: callers then resume (and publish)
                # in that order too.
                batch.sort(key=lambda pending: order(pending.item))
            try:
                await self._commit(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _commit(self, batch: list[_Pending[T]]) -> None:
        """Write a batch; if it fails as a whole, retry item by item so one bad item fails alone."""
        try:
            results = await self._write_in_transaction([p.item for p in batch])
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if len(batch) == 1 or isinstance(exc, DatabaseUnavailable):
                for pending in batch:  # no database: trying item by item would only wait longer
                    _settle(pending.future, error=exc)
                return
            log.warning("batch of %d failed (%s); retrying one by one", len(batch), exc)
            for pending in batch:
                await self._commit([pending])
            return
        for pending, result in zip(batch, results, strict=False):
            _settle(pending.future, result=result)

    async def _write_in_transaction(self, items: list[T]) -> list[R]:
        """One transaction for the whole batch: its single writing statement, or BEGIN..COMMIT."""
        return await self._db.run_batch(self._write_batch, items, self._one_statement(items))


def _settle(future: asyncio.Future, result: Any = None, error: BaseException | None = None) -> None:
    """Resolve a caller's future unless it gave up waiting."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
