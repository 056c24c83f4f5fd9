"""A private PostgreSQL server for the tests: initdb into a temporary directory, postgres on
a unix socket there (no TCP port), a migrated template database, one fresh database per test.

The binaries come from Debian's postgresql package (.ci/run installs it); missing, the tests
that need them fail in CI and are skipped elsewhere. PostgreSQL refuses to run as root: as
root, the server runs as the `postgres` user the package creates.
"""

from __future__ import annotations

import asyncio
import glob
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

USER = "campfire"
TEMPLATE = "migrated_template"


def postgres_bin() -> Path:
    """The directory of initdb and postgres: missing, fail in CI and skip elsewhere."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists() and Path(candidate, "postgres").exists():
            return Path(candidate)
    import pytest  # only here: scripts/bench/run.py uses this module without pytest installed

    message = "PostgreSQL is not installed (Debian packages postgresql postgresql-contrib)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


class PostgresServer:
    """One postgres process with its data directory and socket in `root`."""

    # A test database is thrown away: no fsync, no waiting for the WAL (durability is
    # SQLite's tests, and `settings` turns it back on where a test is about it).
    TEST_SETTINGS: ClassVar[dict[str, str]] = {
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "300",
    }

    def __init__(
        self, settings: dict[str, str] | None = None, password: str = "", parent: Path | None = None
    ) -> None:
        # Its own directory straight under /tmp (or `parent`): pytest's are private to root,
        # and the server may run as another user (below) that must reach its socket and data.
        self.root = Path(tempfile.mkdtemp(prefix="campfire-pg-", dir=parent))
        self.settings = {**self.TEST_SETTINGS, **(settings or {})}
        self.password = password  # put in url() (trust auth ignores it): logs must not show it
        self.bin = postgres_bin()
        self.process: subprocess.Popen | None = None
        self._names = itertools.count(1)
        self._owner: dict = {}
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            self._owner = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def _run(self, *args: str) -> None:
        """Run one PostgreSQL program as the server's user; its output on failure."""
        done = subprocess.run(args, capture_output=True, **self._owner)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stderr.decode(errors='replace')}")

    def start(self) -> None:
        """initdb, start postgres on a unix socket, wait until it answers, make the template."""
        if self._owner:
            shutil.chown(self.root, self._owner["user"], self._owner["group"])
        data = self.root / "data"
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(data),
            "-U",
            USER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        self._spawn()
        self._wait_ready()
        self.sql(f"CREATE DATABASE {TEMPLATE}")
        asyncio.run(_migrate(self.url(TEMPLATE)))

    def _spawn(self) -> None:
        """Start postgres on the data directory, its output appended to postgres.log."""
        log = open(self.root / "postgres.log", "ab")  # the server writes it while it runs
        options = [
            arg for name, value in self.settings.items() for arg in ("-c", f"{name}={value}")
        ]
        self.process = subprocess.Popen(
            [str(self.bin / "postgres"), "-D", str(self.root / "data"), "-k", str(self.root),
             "-c", "listen_addresses=", *options],
            stdout=log,
            stderr=subprocess.STDOUT,
            **self._owner,
        )  # fmt: skip
        log.close()

    def restart(self, mode: str = "fast", down: float = 0.0) -> None:
        """`pg_ctl stop -m fast|immediate` (immediate: a crash, recovered from WAL at start),
        `down` seconds with no server, then postgres again on the same data and socket."""
        self._run(str(self.bin / "pg_ctl"), "stop", "-D", str(self.root / "data"), "-m", mode)
        assert self.process is not None
        self.process.wait(timeout=30)
        time.sleep(down)
        self._spawn()
        self._wait_ready()

    def _wait_ready(self) -> None:
        """Wait until the server takes connections (or fail with its log)."""
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(self.url("postgres")).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline or (
                    self.process and self.process.poll() is not None
                ):
                    raise RuntimeError((self.root / "postgres.log").read_text()) from None
                time.sleep(0.05)

    def url(self, database: str) -> str:
        """The URL of one database on this server (over the unix socket)."""
        user = f"{USER}:{self.password}" if self.password else USER
        return f"postgresql://{user}@/{database}?host={self.root}"

    def sql(self, statement: str, database: str = "postgres") -> None:
        """Run one statement outside a transaction (CREATE/DROP DATABASE)."""
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            conn.execute(statement)

    def fresh_database(self) -> str:
        """A new database with every migration applied (a copy of the template); its URL."""
        name = f"t{os.getpid()}_{next(self._names)}"
        self.sql(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return self.url(name)

    def empty_database(self) -> str:
        """A new database with no tables at all; its URL (dropped with the server)."""
        name = f"e{os.getpid()}_{next(self._names)}"
        self.sql(f"CREATE DATABASE {name}")
        return self.url(name)

    def drop(self, url: str) -> None:
        """Drop one test's database, closing any connection a test left open to it."""
        name = urlsplit(url).path.lstrip("/")
        self.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        """Stop the server (fast shutdown) and wait for it."""
        if self.process is not None and self.process.poll() is None:
            # SIGINT is the fast shutdown; SIGTERM's smart one waits for every client to go.
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        shutil.rmtree(self.root, ignore_errors=True)


async def _migrate(url: str) -> None:
    """Apply Campfire's PostgreSQL migrations to one database."""
    from campfire.db_postgres import PostgresDatabase

    db = PostgresDatabase(url)
    await db.open()
    await db.close()


def suite_engine() -> str:
    """The engine the suite runs on: CAMPFIRE_TEST_DB=postgresql, or SQLite by default."""
    return os.environ.get("CAMPFIRE_TEST_DB", "sqlite").lower()
