"""The `campfire` command line, run through click's CliRunner against real SQLite files.

One test starts `campfire serve` as a real process and administers it with the CLI while it runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from campfire import accounts
from campfire.app import create_app
from campfire.cli import main
from campfire.config import Settings
from campfire.core import open_core
from campfire.db import migration_scripts

DOCS = Path(__file__).parent.parent / "docs" / "cli.md"
PASSWORD = "correct horse"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """The developer's own CAMPFIRE_* variables must not change what these tests see."""
    for name in list(os.environ):
        if name.startswith("CAMPFIRE_"):
            monkeypatch.delenv(name)


class Cli:
    """Runs `campfire ...` in-process against one database file."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.runner = CliRunner()

    def __call__(
        self,
        *args: str,
        code: int = 0,
        input: str | None = None,
        env: dict | None = None,
        db: bool = True,
    ) -> Result:
        argv = [*args, "--db", str(self.db)] if db else list(args)
        result = self.runner.invoke(main, argv, input=input, env=env, prog_name="campfire")
        assert result.exit_code == code, (result.exit_code, result.output, result.exception)
        if code == 1:
            assert result.exception is None or isinstance(result.exception, SystemExit)
            assert "Traceback" not in result.output
        return result

    def user(self, email: str, name: str = "Someone", *extra: str) -> str:
        """Add a user; their id."""
        return self(
            "user", "add", email, "--name", name, "--password", PASSWORD, *extra
        ).stdout.strip()

    def token(self, email: str) -> str:
        """Issue a token for a user."""
        return self("token", "issue", email).stdout.strip()


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "campfire.db"


@pytest.fixture
def cli(db_path) -> Cli:
    return Cli(db_path)


def authenticates(db: Path, token: str) -> str | None:
    """The email of the user a token signs in, through the server's own check, or None."""

    async def check() -> str | None:
        async with open_core(Settings(db=str(db))) as core:
            user = await accounts.authenticate(core, token)
            return user.email if user else None

    return asyncio.run(check())


def logs_in(db: Path, email: str, password: str) -> bool:
    """Whether the server's login accepts this password."""

    async def attempt() -> bool:
        async with open_core(Settings(db=str(db))) as core:
            try:
                await accounts.do_login(core, email, password, "127.0.0.1")
            except Exception:
                return False
            return True

    return asyncio.run(attempt())


def query(db: Path, sql: str, params=()) -> list:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


# --- users ---------------------------------------------------------------------------------


def test_user_add_prints_only_the_new_id_and_list_shows_the_user(cli, db_path):
    result = cli(
        "user", "add", "Ann@Example.com", "--name", "Ann", "--password", PASSWORD, "--admin"
    )
    user_id = result.stdout.strip()
    assert result.stdout == user_id + "\n"
    uuid.UUID(user_id)
    assert "Creating a new database" in result.stderr
    listing = cli("user", "list").stdout.splitlines()
    assert listing[0].split() == ["ID", "EMAIL", "NAME", "ADMIN", "ACTIVE"]
    assert listing[1].split() == [user_id, "Ann@Example.com", "Ann", "yes", "yes"]
    assert PASSWORD not in cli("user", "list", "--all").output
    assert logs_in(db_path, "ann@example.com", PASSWORD)


def test_user_add_joins_every_open_room(cli, db_path):
    room_id = cli("room", "add", "lobby").stdout.strip()
    user_id = cli.user("late@example.com")
    assert query(db_path, "SELECT user_id FROM memberships WHERE room_id = ?", (room_id,)) == [
        (user_id,)
    ]


def test_user_add_refuses_a_duplicate_email_in_any_case(cli, db_path):
    cli.user("ann@example.com")
    result = cli(
        "user", "add", "ANN@example.com", "--name", "Other", "--password", PASSWORD, code=1
    )
    assert "already exists" in result.stderr
    assert query(db_path, "SELECT COUNT(*) FROM users") == [(1,)]


@pytest.mark.parametrize(
    "args,code,needle",
    [
        (["not-an-email", "--name", "X", "--password", PASSWORD], 1, "email"),
        (["x@example.com", "--name", "X", "--password", "short"], 1, "at least 8"),
        (["x@example.com", "--name", "   ", "--password", PASSWORD], 1, "name"),
        (["x@example.com", "--password", PASSWORD], 2, "--name"),
    ],
)
def test_user_add_rejects_bad_input_and_changes_nothing(cli, db_path, args, code, needle):
    cli.user("first@example.com")
    result = cli("user", "add", *args, code=code)
    assert needle in result.stderr
    assert query(db_path, "SELECT COUNT(*) FROM users") == [(1,)]


def test_user_add_prompts_for_the_password_twice(cli, db_path):
    # A mismatch asks again; the second pair matches.
    result = cli(
        "user",
        "add",
        "p@example.com",
        "--name",
        "P",
        input=f"{PASSWORD}\nsomething else\n{PASSWORD}\n{PASSWORD}\n",
    )
    assert "do not match" in result.output
    assert PASSWORD not in result.output  # hidden input is not echoed
    user_id = result.stdout.strip().splitlines()[-1]
    assert query(db_path, "SELECT email FROM users WHERE id = ?", (user_id,)) == [
        ("p@example.com",)
    ]
    assert logs_in(db_path, "p@example.com", PASSWORD)


def test_user_add_takes_the_password_from_the_environment(cli, db_path):
    result = cli(
        "user", "add", "env@example.com", "--name", "E", env={"CAMPFIRE_PASSWORD": "from the env"}
    )
    assert "Password" not in result.output
    assert logs_in(db_path, "env@example.com", "from the env")


def test_user_add_aborted_prompt_creates_nothing(cli, db_path):
    cli.user("first@example.com")
    cli("user", "add", "p@example.com", "--name", "P", input="", code=1)
    assert query(db_path, "SELECT COUNT(*) FROM users") == [(1,)]


def test_user_passwd_changes_the_password_and_ends_sessions(cli, db_path):
    cli.user("ann@example.com")
    token = cli.token("ann@example.com")
    result = cli("user", "passwd", "ANN@example.com", input="new password\nnew password\n")
    assert "sessions have ended" in result.stdout
    assert authenticates(db_path, token) is None
    assert logs_in(db_path, "ann@example.com", "new password")
    assert not logs_in(db_path, "ann@example.com", PASSWORD)
    assert (
        "at least 8"
        in cli("user", "passwd", "ann@example.com", "--password", "short", code=1).stderr
    )
    assert logs_in(db_path, "ann@example.com", "new password")


def test_deactivate_ends_sessions_hides_the_user_and_activate_brings_them_back(cli, db_path):
    cli.user("ann@example.com", "Ann")
    cli.user("bob@example.com", "Bob")
    token = cli.token("bob@example.com")
    assert "deactivated" in cli("user", "deactivate", "Bob@Example.com").stdout
    assert authenticates(db_path, token) is None
    assert not logs_in(db_path, "bob@example.com", PASSWORD)
    assert "bob@example.com" not in cli("user", "list").stdout
    assert re.search(r"bob@example\.com\s+Bob\s+no\s+no", cli("user", "list", "--all").stdout)
    assert "deactivated" in cli("token", "issue", "bob@example.com", code=1).stderr
    assert "now active" in cli("user", "activate", "bob@example.com").stdout
    assert authenticates(db_path, cli.token("bob@example.com")) == "bob@example.com"


def test_user_admin_grants_and_revokes(cli):
    cli.user("ann@example.com", "Ann")
    assert "now an administrator" in cli("user", "admin", "ann@example.com").stdout
    assert re.search(r"Ann\s+yes\s+yes", cli("user", "list").stdout)
    assert "no longer" in cli("user", "admin", "ann@example.com", "--revoke").stdout
    assert re.search(r"Ann\s+no\s+yes", cli("user", "list").stdout)


@pytest.mark.parametrize(
    "args",
    [
        ["user", "passwd", "nobody@example.com", "--password", PASSWORD],
        ["user", "deactivate", "nobody@example.com"],
        ["user", "activate", "nobody@example.com"],
        ["user", "admin", "nobody@example.com"],
        ["token", "issue", "nobody@example.com"],
        ["token", "revoke", "--all-for", "nobody@example.com"],
        ["room", "member", "add", "lobby", "nobody@example.com"],
        ["room", "member", "remove", "lobby", "nobody@example.com"],
    ],
)
def test_an_unknown_email_is_a_clear_error(cli, args):
    cli.user("ann@example.com")
    cli("room", "add", "lobby")
    result = cli(*args, code=1)
    assert result.stderr == "Error: no user with email 'nobody@example.com'\n"
    assert result.stdout == ""


def test_commands_refuse_a_database_that_does_not_exist(cli, db_path):
    for args in (["user", "list"], ["token", "issue", "a@example.com"], ["room", "list"]):
        assert "does not exist" in cli(*args, code=1).stderr
    assert not db_path.exists()


def test_a_file_that_is_not_a_database_is_a_clear_error(cli, db_path, tmp_path):
    db_path.write_bytes(b"not a database" * 100)
    for args in (
        ["user", "list"],
        ["user", "add", "a@example.com", "--name", "A", "--password", PASSWORD],
    ):
        assert "file is not a database" in cli(*args, code=1).stderr
    # serve too, in its own process: it must exit, not hang on a leftover database thread.
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "campfire",
            "serve",
            "--db",
            str(db_path),
            "--port",
            str(free_port()),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1
    assert "Error: database" in proc.stderr and "not a database" in proc.stderr
    assert "Traceback" not in proc.stderr


# --- settings ------------------------------------------------------------------------------


def test_the_config_file_and_environment_choose_the_database(cli, tmp_path):
    cli.user("ann@example.com")
    conf = tmp_path / "c.toml"
    conf.write_text(f'db = "{cli.db}"\n')
    assert "ann@example.com" in cli("--config", str(conf), "user", "list", db=False).stdout
    assert (
        "ann@example.com"
        in cli("user", "list", db=False, env={"CAMPFIRE_CONFIG": str(conf)}).stdout
    )
    # The environment beats the file, and the flag beats both.
    other = tmp_path / "other.db"
    assert (
        "does not exist"
        in cli(
            "--config", str(conf), "user", "list", db=False, env={"CAMPFIRE_DB": str(other)}, code=1
        ).stderr
    )
    assert (
        "ann@example.com"
        in cli("--config", str(conf), "user", "list", env={"CAMPFIRE_DB": str(other)}).stdout
    )


@pytest.mark.parametrize(
    "content,needle", [("db = ", "not valid TOML"), ("colour = 1", "unknown setting")]
)
def test_a_bad_config_file_is_a_clear_error(cli, tmp_path, content, needle):
    conf = tmp_path / "bad.toml"
    conf.write_text(content)
    result = cli("--config", str(conf), "user", "list", code=1)
    assert needle in result.stderr
    result = cli("--config", str(tmp_path / "missing.toml"), "room", "list", code=1)
    assert "cannot read config file" in result.stderr


def test_options_without_a_command_go_to_serve(cli):
    result = cli("--port", "eighty", db=False, code=2)
    assert "campfire serve" in result.output and "eighty" in result.output
    assert "No such command 'usr'" in cli("usr", "list", db=False, code=2).output


# --- tokens --------------------------------------------------------------------------------


def test_token_issue_prints_only_the_token_and_it_authenticates(cli, db_path):
    cli.user("ann@example.com")
    result = cli("token", "issue", "ANN@example.com")
    token = result.stdout.strip()
    assert result.stdout == token + "\n" and len(token) >= 40 and " " not in token
    assert authenticates(db_path, token) == "ann@example.com"
    assert token not in json.dumps(
        query(db_path, "SELECT * FROM sessions")
    )  # only its hash is stored


def test_token_issue_expiry(cli, db_path):
    cli.user("ann@example.com")
    cli("token", "issue", "ann@example.com", "--expires-days", "2")
    (expires,) = query(db_path, "SELECT expires_at FROM sessions")[0]
    left = datetime.fromisoformat(expires.replace("Z", "+00:00")) - datetime.now(UTC)
    assert timedelta(days=2) - timedelta(minutes=1) < left <= timedelta(days=2)
    assert (
        "--expires-days"
        in cli("token", "issue", "ann@example.com", "--expires-days", "0", code=2).stderr
    )


def test_token_revoke_by_argument_and_from_stdin(cli, db_path):
    cli.user("ann@example.com")
    first, second = cli.token("ann@example.com"), cli.token("ann@example.com")
    assert "revoked" in cli("token", "revoke", first).stdout
    assert authenticates(db_path, first) is None
    assert authenticates(db_path, second) == "ann@example.com"
    cli("token", "revoke", "-", input=second + "\n")
    assert authenticates(db_path, second) is None
    assert "no live session" in cli("token", "revoke", first, code=1).stderr
    assert "no live session" in cli("token", "revoke", "not-a-token", code=1).stderr
    assert "empty" in cli("token", "revoke", "-", input="\n", code=1).stderr
    # A token may start with "-" (URL-safe base64): it is still a token, not an option.
    assert "no live session" in cli("token", "revoke", "-Zq3x_token", code=1).stderr


def test_token_revoke_all_for_a_user(cli, db_path):
    cli.user("ann@example.com")
    cli.user("bob@example.com")
    tokens = [cli.token("ann@example.com") for _ in range(3)]
    bobs = cli.token("bob@example.com")
    assert "Revoked 3 sessions" in cli("token", "revoke", "--all-for", "Ann@example.com").stdout
    assert all(authenticates(db_path, t) is None for t in tokens)
    assert authenticates(db_path, bobs) == "bob@example.com"


def test_token_revoke_needs_exactly_one_target(cli):
    cli.user("ann@example.com")
    assert "either a TOKEN" in cli("token", "revoke", code=2).stderr
    assert (
        "either a TOKEN"
        in cli("token", "revoke", "x", "--all-for", "ann@example.com", code=2).stderr
    )


# --- rooms ---------------------------------------------------------------------------------


def test_room_add_prints_only_the_id_and_open_rooms_hold_every_active_user(cli):
    cli.user("ann@example.com")
    cli.user("bob@example.com")
    cli.user("gone@example.com")
    cli("user", "deactivate", "gone@example.com")
    result = cli("room", "add", "Lobby")
    open_id = result.stdout.strip()
    assert result.stdout == open_id + "\n"
    closed_id = cli("room", "add", "Secrets", "--type", "closed").stdout.strip()
    lines = cli("room", "list").stdout.splitlines()
    assert lines[0].split() == ["ID", "TYPE", "MEMBERS", "NAME"]
    assert [line.split() for line in lines[1:]] == [
        [closed_id, "closed", "0", "Secrets"],
        [open_id, "open", "2", "Lobby"],
    ]


def test_room_add_rejects_a_bad_type_or_name(cli, db_path):
    cli.user("ann@example.com")
    assert "'secret' is not one of" in cli("room", "add", "x", "--type", "secret", code=2).stderr
    assert "name" in cli("room", "add", " ", code=1).stderr
    assert query(db_path, "SELECT COUNT(*) FROM rooms") == [(0,)]


def test_room_members_by_room_name_or_id(cli, db_path):
    ann = cli.user("ann@example.com")
    room_id = cli("room", "add", "Secrets", "--type", "closed").stdout.strip()

    def members() -> list:
        """The room's members, as the database holds them."""
        return query(db_path, "SELECT user_id FROM memberships WHERE room_id = ?", (room_id,))

    assert (
        "is now a member of 'Secrets'"
        in cli("room", "member", "add", "secrets", "ANN@example.com").stdout
    )
    assert members() == [(ann,)]
    assert "was already" in cli("room", "member", "add", room_id.upper(), "ann@example.com").stdout
    assert "is no longer" in cli("room", "member", "remove", room_id, "ann@example.com").stdout
    assert members() == []
    assert "was not" in cli("room", "member", "remove", "Secrets", "ann@example.com").stdout


def test_room_member_errors(cli, db_path):
    cli.user("ann@example.com")
    cli.user("gone@example.com")
    cli("user", "deactivate", "gone@example.com")
    # Names are unique per room type: an open and a closed room can share one.
    cli("room", "add", "Twice", "--type", "open")
    assert "already a room named" in cli("room", "add", "twice", "--type", "open", code=1).stderr
    cli("room", "add", "twice", "--type", "closed")
    cli("room", "add", "Once", "--type", "closed")
    assert (
        "Room not found"
        in cli("room", "member", "add", "Nowhere", "ann@example.com", code=1).stderr
    )
    assert (
        "Room not found"
        in cli("room", "member", "add", str(uuid.uuid4()), "ann@example.com", code=1).stderr
    )
    assert (
        "Several rooms are named 'Twice'"
        in cli("room", "member", "add", "Twice", "ann@example.com", code=1).stderr
    )
    assert "deactivated" in cli("room", "member", "add", "Once", "gone@example.com", code=1).stderr
    # Only Ann's membership of the open "Twice" (everyone joins an open room): none added.
    assert query(db_path, "SELECT COUNT(*) FROM memberships") == [(1,)]


def test_room_delete_asks_first(cli, db_path):
    cli.user("ann@example.com")
    room_id = cli("room", "add", "Lobby").stdout.strip()
    cli("room", "delete", "Lobby", input="n\n", code=1)
    assert query(db_path, "SELECT COUNT(*) FROM rooms") == [(1,)]
    assert "Deleted room 'Lobby'" in cli("room", "delete", "lobby", input="y\n").stdout
    assert query(db_path, "SELECT COUNT(*) FROM rooms") == [(0,)]
    assert query(db_path, "SELECT COUNT(*) FROM memberships") == [(0,)]
    cli("room", "add", "Other")
    assert "Room not found" in cli("room", "delete", room_id, "--yes", code=1).stderr
    cli("room", "delete", "other", "--yes")
    assert query(db_path, "SELECT COUNT(*) FROM rooms") == [(0,)]


# --- database ------------------------------------------------------------------------------


def test_db_migrate_creates_the_schema_and_prints_its_version(cli, db_path):
    latest = migration_scripts()[-1][0]
    assert cli("db", "migrate").stdout == f"{latest}\n"
    assert query(db_path, "PRAGMA user_version") == [(latest,)]
    assert cli("db", "migrate").stdout == f"{latest}\n"


def test_db_backup_copies_the_rows(cli, tmp_path):
    ann = cli.user("ann@example.com")
    target = tmp_path / "backup.db"
    result = cli("db", "backup", str(target))
    assert result.stdout == "" and "Backed up" in result.stderr
    assert query(target, "SELECT id, email FROM users") == [(ann, "ann@example.com")]
    assert query(target, "PRAGMA integrity_check") == [("ok",)]
    assert query(target, "PRAGMA journal_mode") == [("delete",)]


def test_db_backup_refuses_to_overwrite_unless_forced(cli, tmp_path):
    cli.user("ann@example.com")
    target = tmp_path / "backup.db"
    target.write_text("precious")
    assert "already exists" in cli("db", "backup", str(target), code=1).stderr
    assert target.read_text() == "precious"
    cli("db", "backup", str(target), "--force")
    assert query(target, "SELECT email FROM users") == [("ann@example.com",)]


def test_db_backup_errors(cli, db_path, tmp_path):
    assert "does not exist" in cli("db", "backup", str(tmp_path / "b.db"), code=1).stderr
    cli.user("ann@example.com")
    assert "another file" in cli("db", "backup", str(db_path), "--force", code=1).stderr
    assert "directory" in cli("db", "backup", str(tmp_path / "no" / "b.db"), code=1).stderr
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database" * 100)
    result = cli("db", "backup", str(tmp_path / "b.db"), "--db", str(junk), db=False, code=1)
    assert "not a database" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("b.db")) == []


def test_db_backup_of_a_file_name_with_uri_characters(tmp_path):
    cli = Cli(tmp_path / "odd #1?%20.db")
    cli.user("ann@example.com")
    cli("db", "backup", str(tmp_path / "b.db"))
    assert query(tmp_path / "b.db", "SELECT email FROM users") == [("ann@example.com",)]


def test_db_backup_does_not_migrate_the_source(cli, tmp_path):
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as conn:
        conn.execute("CREATE TABLE t (x)")
    cli("db", "backup", str(tmp_path / "b.db"), "--db", str(old), db=False)
    assert query(old, "PRAGMA user_version") == [(0,)]
    assert query(tmp_path / "b.db", "SELECT name FROM sqlite_master") == [("t",)]


# --- against a running server --------------------------------------------------------------


async def test_a_cli_token_authenticates_against_the_app(aiohttp_client, db_path):
    cli = Cli(db_path)
    # run_with_core starts its own event loop, so the CLI runs in a thread beside this one.
    await asyncio.to_thread(cli.user, "ann@example.com", "Ann")
    client = await aiohttp_client(create_app(Settings(db=str(db_path))))
    token = await asyncio.to_thread(cli.token, "ann@example.com")
    resp = await client.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200
    assert (await resp.json())["user"]["email"] == "ann@example.com"
    await asyncio.to_thread(cli, "token", "revoke", token)
    resp = await client.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 401


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(base: str, method: str, path: str, token: str | None = None, body: dict | None = None):
    """One HTTP request; (status, parsed JSON body)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


@pytest.fixture
def server(tmp_path, db_path):
    """`campfire serve` as a real process on a free 127.0.0.1 port; its base URL."""
    port = free_port()
    log = open(tmp_path / "server.log", "wb")
    env = {**os.environ, "CAMPFIRE_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "campfire", "serve", "--db", str(db_path), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if http(base, "GET", "/health")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_administer_a_running_server_and_back_it_up_while_it_writes(server, cli, tmp_path):
    cli.user("ann@example.com", "Ann")
    token = cli.token("ann@example.com")
    status, body = http(server, "GET", "/api/users/me", token)
    assert status == 200 and body["user"]["email"] == "ann@example.com"
    room_id = cli("room", "add", "Lobby").stdout.strip()

    posted, stop, failures = [], threading.Event(), []

    def writer() -> None:
        while not stop.is_set():
            status, _ = http(
                server,
                "POST",
                f"/api/rooms/{room_id}/messages",
                token,
                {"content": f"line {len(posted)}", "client_message_id": str(uuid.uuid4())},
            )
            if status not in (200, 201):
                failures.append(status)
                return
            posted.append(1)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(posted) < 20 and thread.is_alive():
            time.sleep(0.01)
        before = len(posted)
        target = tmp_path / "live-backup.db"
        cli("db", "backup", str(target))
        after = len(posted)
    finally:
        stop.set()
        thread.join()
    assert not failures
    assert query(target, "PRAGMA integrity_check") == [("ok",)]
    assert query(target, "SELECT email FROM users") == [("ann@example.com",)]
    (copied,) = query(target, "SELECT COUNT(*) FROM messages WHERE room_id = ?", (room_id,))[0]
    assert before <= copied <= after + 1
    assert before >= 20

    cli("token", "revoke", token)
    assert http(server, "GET", "/api/users/me", token)[0] == 401


# --- documentation -------------------------------------------------------------------------


def leaf_commands(group: click.Group = main, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every runnable command, as its words after `campfire`."""
    found = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found += leaf_commands(command, (*path, name))
        else:
            found.append((*path, name))
    return found


def help_text(path: tuple[str, ...]) -> str:
    """The real `--help` output of a command, at a fixed width."""
    result = CliRunner().invoke(main, [*path, "--help"], prog_name="campfire", terminal_width=80)
    assert result.exit_code == 0, result.output
    return result.stdout


HELP_BLOCK = re.compile(
    r"<!-- help: campfire (?P<cmd>[\w -]+?) -->\n```text\n(?P<text>.*?)```\n", re.S
)


def test_every_command_is_documented_with_its_real_help():
    """docs/cli.md shows each command's --help; UPDATE_CLI_DOCS=1 rewrites those blocks."""
    text = DOCS.read_text()
    if os.environ.get("UPDATE_CLI_DOCS") == "1":
        text = HELP_BLOCK.sub(
            lambda m: (
                f"<!-- help: campfire {m['cmd']} -->\n"
                f"```text\n{help_text(tuple(m['cmd'].split()))}```\n"
            ),
            text,
        )
        DOCS.write_text(text)
    documented = {tuple(m["cmd"].split()): m["text"] for m in HELP_BLOCK.finditer(text)}
    missing = [" ".join(c) for c in leaf_commands() if c not in documented]
    assert not missing, f"docs/cli.md lacks a '<!-- help: campfire ... -->' block for: {missing}"
    for command, shown in documented.items():
        assert shown == help_text(command), (
            f"docs/cli.md shows stale help for 'campfire {' '.join(command)}'"
        )
