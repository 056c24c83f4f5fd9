"""PostgreSQL as the second engine: choosing it, its schema against SQLite's, and the one
sequence staying commit-ordered under writers that race (a private server, tests/pgserver.py;
missing PostgreSQL fails in CI and skips elsewhere). The rest of the suite runs on PostgreSQL
with CAMPFIRE_TEST_DB=postgresql (make test-postgresql)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campfire import store
from campfire.db import Database, make_database
from campfire.db_postgres import Connection, PostgresDatabase, _row_factory, to_psycopg

NOW = "2026-01-01T00:00:00Z"
# Tables only one engine has: SQLite's search index and its backfill mark; PostgreSQL's
# sequence counter and migration bookkeeping (SQLite keeps those in sqlite_sequence and
# PRAGMA user_version).
SQLITE_ONLY = {"messages_fts", "search_backfill"}
POSTGRES_ONLY = {"counters", "schema_version"}


def test_placeholders_become_psycopg_ones_once():
    """`?` and `:name` become %s and %(name)s; `%`, quoted text and casts stay what they mean."""
    assert to_psycopg("SELECT a FROM t WHERE b = ? AND c LIKE '%?x' AND d = :user") == (
        "SELECT a FROM t WHERE b = %s AND c LIKE '%%?x' AND d = %(user)s"
    )
    assert to_psycopg("SELECT x::text, 'it''s :not' FROM t WHERE y % 2 = ?") == (
        "SELECT x::text, 'it''s :not' FROM t WHERE y %% 2 = %s"
    )


def test_the_engine_follows_the_database_setting(tmp_path):
    """A postgresql:// URL selects PostgreSQL; anything else is a SQLite file."""
    assert isinstance(make_database(str(tmp_path / "c.db")), Database)
    assert isinstance(make_database("postgresql://u@/x?host=/tmp"), PostgresDatabase)
    assert isinstance(make_database("postgres://u@h/x"), PostgresDatabase)


def test_sqlite_never_imports_psycopg(tmp_path):
    """Serving from SQLite loads none of psycopg (it is an optional extra)."""
    code = (
        "import asyncio, sys\n"
        "from campfire.config import Settings\n"
        "from campfire.core import open_core\n"
        "async def main():\n"
        f"    async with open_core(Settings(db={str(tmp_path / 'c.db')!r})):\n"
        "        pass\n"
        "asyncio.run(main())\n"
        "assert not [m for m in sys.modules if m.startswith('psycopg')], 'psycopg imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


async def _sqlite_schema(tmp_path) -> dict[str, set[str]]:
    """Tables and their columns of a migrated SQLite database."""
    db = Database(tmp_path / "schema.db")
    await db.open()
    try:
        tables = await db.fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " AND name NOT LIKE 'messages_fts_%'"
        )
        schema = {}
        for (name,) in tables:
            columns = await db.fetchall(f"SELECT name FROM pragma_table_info('{name}')")
            schema[name] = {column for (column,) in columns}
        return schema
    finally:
        await db.close()


async def _postgres_schema(url: str) -> dict[str, set[str]]:
    """Tables and their columns of a migrated PostgreSQL database."""
    db = PostgresDatabase(url)
    await db.open()
    try:
        rows = await db.fetchall(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'public'"
        )
        schema: dict[str, set[str]] = {}
        for table, column in rows:
            schema.setdefault(table, set()).add(column)
        return schema
    finally:
        await db.close()


async def test_both_engines_have_the_same_tables_and_columns(tmp_path, postgres_url):
    """Every migration has its PostgreSQL twin: same tables, same columns, same version."""
    sqlite = await _sqlite_schema(tmp_path)
    postgres = await _postgres_schema(postgres_url)
    assert SQLITE_ONLY <= set(sqlite) and POSTGRES_ONLY <= set(postgres)
    for table in SQLITE_ONLY:
        del sqlite[table]
    for table in POSTGRES_ONLY:
        del postgres[table]
    assert postgres == sqlite
    sqlite_db, postgres_db = Database(tmp_path / "schema.db"), PostgresDatabase(postgres_url)
    await sqlite_db.open()
    await postgres_db.open()
    try:
        assert await sqlite_db.schema_version() == await postgres_db.schema_version() >= 5
    finally:
        await sqlite_db.close()
        await postgres_db.close()


async def test_migrations_apply_to_an_empty_database_once(postgres_server):
    """An empty database is migrated on open; opening it again (another worker) changes nothing."""
    url = postgres_server.empty_database()
    for _ in range(2):
        db = PostgresDatabase(url)
        await db.open()
        try:
            assert await store.schema_version(db) == 5
            assert await store.count_users(db) == 0
        finally:
            await db.close()


# --- the sequence stays commit-ordered ----------------------------------------------------


async def _world(url: str) -> str:
    """A user and a room to write messages into; the room's id."""
    room_id = str(uuid.uuid4())
    user_id = str(uuid.uuid4())
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO users (id, name, email, password_hash, created_at)"
            " VALUES (%s, 'w', %s, 'x', %s)",
            (user_id, f"{user_id}@example.com", NOW),
        )
        await conn.execute(
            "INSERT INTO rooms (id, name, room_type, creator_id, created_at)"
            " VALUES (%s, %s, 'open', %s, %s)",
            (room_id, room_id, user_id, NOW),
        )
    return f"{room_id},{user_id}"


async def _writer(url: str, world: str, kind: str, count: int, delay: float) -> None:
    """One transaction that takes `count` numbers (new messages, or changes) and sleeps
    `delay` seconds before its COMMIT. No advisory lock: only the counter row orders it."""
    room_id, user_id = world.split(",")
    async with await psycopg.AsyncConnection.connect(
        url, autocommit=True, row_factory=_row_factory
    ) as raw:
        conn = Connection(raw)
        async with raw.transaction():
            if kind == "messages":
                await store.insert_messages_txn(
                    conn,  # type: ignore[arg-type]  # offers what store.py uses
                    [
                        {
                            "id": str(uuid.uuid4()),
                            "room_id": room_id,
                            "creator_id": user_id,
                            "content": "hello",
                            "client_message_id": str(uuid.uuid4()),
                            "created_at": NOW,
                        }
                        for _ in range(count)
                    ],
                )
            else:
                first = await store.allocate_seqs_txn(conn, count)  # type: ignore[arg-type]
                await conn.executemany(
                    "INSERT INTO changes (seq, room_id, kind, message_id, created_at)"
                    " VALUES (?, ?, 'message_deleted', 'gone', ?)",
                    [(first + n, room_id, NOW) for n in range(1, count + 1)],
                )
            await asyncio.sleep(delay)


async def _read_after(conn: psycopg.AsyncConnection, after: int) -> list[int]:
    """The numbers of messages and changes above `after`, as a client's poll reads them."""
    cursor = await conn.execute(
        "SELECT seq FROM messages WHERE seq > %s UNION ALL SELECT seq FROM changes WHERE seq > %s",
        (after, after),
    )
    return sorted(row[0] for row in await cursor.fetchall())


async def _race(url: str, world: str, plan: list[tuple[str, int, float, float]]) -> None:
    """Run writers (kind, count, start delay, delay before COMMIT) while a reader polls
    "seq > last seen"; every number that exists at the end was seen by the poll."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as reader:
        start = max([0, *await _read_after(reader, 0)])

        async def delayed(kind: str, count: int, wait: float, hold: float) -> None:
            await asyncio.sleep(wait)
            await _writer(url, world, kind, count, hold)

        writers = asyncio.gather(*(delayed(*step) for step in plan))
        seen: list[int] = []
        last = start
        while not writers.done():
            new = await _read_after(reader, last)
            seen += new
            last = max([last, *new])
            await asyncio.sleep(0.001)
        await writers
        seen += await _read_after(reader, last)
        everything = await _read_after(reader, start)
    assert seen == everything, f"the poll missed {sorted(set(everything) - set(seen))}"
    assert len(everything) == sum(count for _, count, _, _ in plan)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    plan=st.lists(
        st.tuples(
            st.sampled_from(["messages", "changes"]),
            st.integers(1, 5),
            st.floats(0, 0.02),
            st.floats(0, 0.03),
        ),
        min_size=2,
        max_size=8,
    )
)
def test_a_poll_of_seq_never_misses_a_number_on_postgresql(postgres_url, plan):
    """Writers that sleep a random time before COMMIT: the counter row holds each next one
    until the previous commits, so numbers appear in order and a reader skips none."""

    async def run() -> None:
        await _race(postgres_url, await _world(postgres_url), plan)

    asyncio.run(run())


async def test_the_poll_would_catch_a_sequence_numbering(postgres_url):
    """The check above can fail: numbered by a SEQUENCE, the second writer commits first,
    the poll moves past the first writer's number and never reads it."""
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as setup:
        await setup.execute("CREATE TABLE numbered (seq BIGSERIAL PRIMARY KEY)")
    first = await psycopg.AsyncConnection.connect(postgres_url)
    second = await psycopg.AsyncConnection.connect(postgres_url)
    reader = await psycopg.AsyncConnection.connect(postgres_url, autocommit=True)
    try:
        await first.execute("INSERT INTO numbered DEFAULT VALUES")  # takes 1, not committed
        await second.execute("INSERT INTO numbered DEFAULT VALUES")  # takes 2
        await second.commit()
        cursor = await reader.execute("SELECT max(seq) FROM numbered")
        (last,) = await cursor.fetchone()  # type: ignore[misc]
        await first.commit()
        cursor = await reader.execute("SELECT seq FROM numbered WHERE seq > %s", (last,))
        assert last == 2 and await cursor.fetchall() == []  # 1 is there, and never read
    finally:
        for conn in (first, second, reader):
            await conn.close()


async def test_workers_number_in_commit_order_through_the_database(postgres_url):
    """Several PostgresDatabase objects (as several workers or hosts) writing at once:
    every number taken is distinct and the counter stands at the highest."""
    world = await _world(postgres_url)
    room_id, user_id = world.split(",")
    databases = [PostgresDatabase(postgres_url) for _ in range(3)]
    for db in databases:
        await db.open()
    try:

        async def write(db: PostgresDatabase, n: int) -> list[int]:
            async with db.transaction() as conn:
                rows = await store.insert_messages_txn(
                    conn,  # type: ignore[arg-type]
                    [
                        {
                            "id": str(uuid.uuid4()),
                            "room_id": room_id,
                            "creator_id": user_id,
                            "content": f"m{n}",
                            "client_message_id": f"c{n}",
                            "created_at": NOW,
                        }
                    ],
                )
                return [row["seq"] for row, _ in rows]

        taken = await asyncio.gather(*(write(databases[n % 3], n) for n in range(30)))
        numbers = sorted(seq for seqs in taken for seq in seqs)
        assert numbers == list(range(numbers[0], numbers[0] + 30))
        read = await store.sequence_since(databases[0], 0, 1000)
        assert read.position == numbers[-1]
        assert [row["seq"] for row in read.messages] == numbers
    finally:
        for db in databases:
            await db.close()


def _cli(*args: str, db: str | None = None) -> subprocess.CompletedProcess:
    """`campfire ...` in a subprocess: no CAMPFIRE_* setting but CAMPFIRE_DB=`db` if given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPFIRE_")}
    if db is not None:
        env["CAMPFIRE_DB"] = db
    return subprocess.run(
        [sys.executable, "-m", "campfire", *args], capture_output=True, text=True, env=env
    )


def test_cli_migrates_and_reports_a_postgresql_database(postgres_server):
    """--version reads the migration without applying it; db migrate applies and prints it."""
    url = postgres_server.empty_database()
    version = _cli("--version", db=url)
    assert "migration 0 (5 pending" in version.stdout, version.stdout + version.stderr
    migrated = _cli("db", "migrate", "--db", url)
    assert migrated.returncode == 0 and migrated.stdout.strip() == "5", migrated.stderr
    added = _cli(
        "user", "add", "ann@example.com", "--name", "Ann", "--password", "x" * 12, "--db", url
    )
    assert added.returncode == 0, added.stderr
    listed = _cli("user", "list", "--db", url)
    assert "ann@example.com" in listed.stdout
    taken = _cli(
        "user", "add", "ANN@example.com", "--name", "Ann", "--password", "x" * 12, "--db", url
    )
    assert taken.returncode == 1 and "already exists" in taken.stderr  # e-mails ignore case


def test_cli_names_an_unreachable_server_without_its_password(tmp_path):
    """A server that is not there: a one-line error, the URL shown without its password."""
    url = f"postgresql://campfire:hunter2@/campfire?host={tmp_path}&connect_timeout=2"
    done = _cli("user", "list", "--db", url)
    assert done.returncode == 1 and "Error: database postgresql://campfire:***@" in done.stderr
    assert "hunter2" not in done.stderr and "Traceback" not in done.stderr


def test_a_password_in_the_url_never_shows_in_messages():
    """redact hides the password in the user part and as a `password=` parameter."""
    from campfire.db import redact

    assert redact("postgresql://u:hunter2@db/c") == "postgresql://u:***@db/c"
    shown = redact("postgresql://u@db/c?sslmode=require&password=hunter2&host=/run/pg")
    assert "hunter2" not in shown and "password=***" in shown and "host=/run/pg" in shown
    upper = redact("postgresql://u@db/c?PASSWORD=se%26cret")
    assert "se" not in upper.split("?")[1], upper
    assert redact("/var/lib/campfire/campfire.db") == "/var/lib/campfire/campfire.db"
    assert redact("redis://:hunter2@127.0.0.1:6379/0") == "redis://:***@127.0.0.1:6379/0"


async def test_search_terms_are_never_tsquery_syntax(postgres_url):
    """Whatever a prefix or phrase holds (quotes, backslashes, colons, tsquery operators), it
    is a word to find, never an error or an operator; stems and accents fold as on SQLite."""
    from campfire.search import match_expression

    world = await _world(postgres_url)
    room_id, user_id = world.split(",")
    db = PostgresDatabase(postgres_url)
    await db.open()
    try:
        async with db.transaction() as conn:
            await store.add_member_txn(conn, room_id, user_id, NOW)  # type: ignore[arg-type]
            await store.insert_messages_txn(
                conn,  # type: ignore[arg-type]
                [
                    {
                        "id": str(uuid.uuid4()),
                        "room_id": room_id,
                        "creator_id": user_id,
                        "content": text,
                        "client_message_id": str(uuid.uuid4()),
                        "created_at": NOW,
                    }
                    for text in ["Deploying the café today", "it's a:b & c|d", "back\\slash"]
                ],
            )

        async def found(query: str) -> list[str]:
            match = match_expression(query)
            assert match is not None
            rows = await store.search_messages(db, match, user_id, None, None, None, 10)
            return [row["content"] for row in rows]

        assert await found("deploy cafe") == ["Deploying the café today"]
        assert await found("depl*") == ["Deploying the café today"]
        assert await found('"the cafe"') == ["Deploying the café today"]
        assert await found('"cafe the"') == []
        for tricky in ["it's*", "a:b*", "c|d", "!a", "back\\*", "E'x'*", "'&x'*", "(c)*"]:
            await found(tricky)  # no error, whatever it finds
        assert await found("back\\*") == ["back\\slash"]
    finally:
        await db.close()
