"""The `campfire` command: serve, and administer users, tokens, rooms and the database."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from aiohttp import web

from campfire import __version__, accounts, errors, rooms, store
from campfire.app import (
    AccessLogger,
    configure_logging,
    create_app,
    new_event_loop,
    tune_for_serving,
)
from campfire.config import ConfigError, Settings, files_dir_of, load_settings
from campfire.core import Core, open_core
from campfire.db import backup_file, is_postgres_url, migration_scripts, redact
from campfire.errors import CampfireError
from campfire.filestore import backup_files
from campfire.keys import core_key, settings_key
from campfire.validate import escape_controls

# What a piece of administration work returns, handed back to its command.
T = TypeVar("T")


class DefaultGroup(click.Group):
    """A group whose default command is `serve`: `campfire` and `campfire --port 8080` serve.

    The group's own options (--config) are parsed first, so `campfire --config c.toml user list`
    reaches `user`; whatever is left that starts with "-" belongs to `serve`.
    """

    default_command = "serve"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("context_settings", {})["ignore_unknown_options"] = True
        super().__init__(*args, **kwargs)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args:
            args = [self.default_command]
        return super().parse_args(ctx, args)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0].startswith("-"):
            args = [self.default_command, *args]
        return super().resolve_command(ctx, args)


def settings_from(ctx: click.Context, **flags: Any) -> Settings:
    """Settings for this invocation: defaults < --config file < environment < flags."""
    root = ctx.find_root()
    try:
        return load_settings(root.params.get("config"), overrides=flags)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def run_with_core(settings: Settings, work: Callable[[Core], Awaitable[T]]) -> T:
    """Open the database, run one piece of work, close; user mistakes become clean errors."""

    async def main() -> T:
        async with open_core(settings) as core:
            return await work(core)

    try:
        return asyncio.run(main())
    except CampfireError as exc:
        raise click.ClickException(exc.message) from None
    except sqlite3.IntegrityError:
        raise  # a broken rule in our own code: keep the stack trace
    except sqlite3.DatabaseError as exc:  # not a database, damaged, unreadable, locked
        raise click.ClickException(f"database {redact(settings.db)}: {exc}") from None


def database_migration(path: Path) -> int:
    """The migration number (PRAGMA user_version) of a database file, read without changing it."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


def version_report(settings: Settings) -> str:
    """The line about the configured database for `campfire --version`."""
    newest = migration_scripts()[-1][0]
    if is_postgres_url(settings.db):
        from campfire.db_postgres import read_schema_version

        try:
            current = asyncio.run(read_schema_version(settings.db))
        except sqlite3.Error as exc:
            return f"database {redact(settings.db)}: cannot read it ({exc})"
    elif not settings.db_path.exists():
        return (
            f"database {settings.db}: does not exist yet (this version creates migration {newest})"
        )
    else:
        try:
            current = database_migration(settings.db_path)
        except sqlite3.Error as exc:
            return f"database {settings.db}: cannot read it ({exc})"
    if current == newest:
        state = "up to date"
    elif current < newest:
        state = (
            f"{newest - current} pending: `campfire db migrate` or starting the server applies them"
        )
    else:
        state = f"newer than this version of Campfire, which knows migrations up to {newest}"
    return f"database {redact(settings.db)}: migration {current} ({state})"


def print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """--version: Campfire's version, then the configured database's migration number."""
    if not value or ctx.resilient_parsing:
        return
    click.echo(f"campfire {__version__}")
    click.echo(version_report(settings_from(ctx)))
    ctx.exit()


@click.group(cls=DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False),
    envvar="CAMPFIRE_CONFIG",
    is_eager=True,  # read before --version, which reports the configured database
    help="TOML settings file (see config.example.toml). Env: CAMPFIRE_CONFIG.",
)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    callback=print_version,
    help="Show the version and the migration number of the database (from --config, "
    "CAMPFIRE_DB), then exit.",
)
def main(config: str | None) -> None:
    """Campfire: a self-hosted group chat server. With no command, runs `serve`."""


def db_option(func: Callable) -> Callable:
    """The --db option every command takes."""
    return click.option(
        "--db",
        "db",
        type=click.Path(dir_okay=False),
        help="SQLite database file (default campfire.db), or postgresql://user@host/dbname."
        " Env: CAMPFIRE_DB.",
    )(func)


@main.command()
@click.option("--host", help="Address to listen on (default 127.0.0.1). Env: CAMPFIRE_HOST.")
@click.option("--port", type=int, help="Port to listen on (default 3000). Env: CAMPFIRE_PORT.")
@db_option
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    help="Worker processes on the one port (default 1; more need --redis). Env: CAMPFIRE_WORKERS.",
)
@click.option(
    "--redis",
    "redis_url",
    help="Redis URL the workers share, redis://host:port/db. Env: CAMPFIRE_REDIS_URL.",
)
@click.option("--worker-index", type=int, hidden=True, help="Set by the supervisor.")
@click.pass_context
def serve(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    db: str | None,
    workers: int | None = None,
    redis_url: str | None = None,
    worker_index: int | None = None,
) -> None:
    """Run the server: HTTP API, WebSocket API at /ws, and the web client at /."""
    settings = settings_from(ctx, host=host, port=port, db=db, workers=workers, redis_url=redis_url)
    configure_logging(settings.log_level)
    if settings.redis_url:
        check_redis_installed()
    if worker_index is None and settings.workers > 1:
        if not settings.redis_url:
            raise click.ClickException("--workers above 1 needs --redis (the workers share it)")
        from campfire.supervisor import Supervisor

        click.echo(
            f"Campfire on http://{settings.host}:{settings.port}/ with {settings.workers} workers"
            f" (database {redact(settings.db)}, Redis {redact(settings.redis_url)})",
            err=True,
        )
        sys.exit(Supervisor(settings).run())
    if worker_index is None:
        click.echo(
            f"Campfire on http://{settings.host}:{settings.port}/ (database {redact(settings.db)})",
            err=True,
        )
    try:
        loop = new_event_loop(settings.event_loop)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    tune_for_serving()
    app = create_app(settings, worker_index or 0)
    if not worker_index:
        app.on_startup.append(announce_setup)  # after the database is open
    try:
        web.run_app(
            app,
            host=settings.host,
            port=settings.port,
            access_log_class=AccessLogger,
            shutdown_timeout=settings.shutdown_timeout,
            print=None,
            # Workers share the port: the kernel spreads new connections between them.
            reuse_port=True if worker_index is not None else None,
            loop=loop,
        )
    except OSError as exc:
        raise click.ClickException(
            f"cannot serve on {settings.host}:{settings.port}: {exc.strerror}"
        ) from exc
    except sqlite3.DatabaseError as exc:  # --db names something that is not a Campfire database
        raise click.ClickException(f"database {redact(settings.db)}: {exc}") from None


def check_redis_installed() -> None:
    """A clear error when --redis is used without the redis package."""
    try:
        import redis  # noqa: F401
    except ImportError:
        raise click.ClickException(
            "--redis needs the redis package: pip install 'campfire[redis]'"
        ) from None


async def announce_setup(app: web.Application) -> None:
    """On an empty database, say on the console where to create the administrator."""
    settings = app[settings_key]
    if await accounts.needs_setup(app[core_key]):
        host = settings.host
        if host in ("0.0.0.0", "::", ""):  # every interface: this machine's own name works
            host = "localhost"
        elif ":" in host:
            host = f"[{host}]"
        click.echo(
            f"No accounts yet: open http://{host}:{settings.port}/ in a browser to create the"
            " administrator (or run `campfire user add --admin`).",
            err=True,
        )


# --- shared helpers for the administration commands ---------------------------------------


def admin_core(
    ctx: click.Context, db: str | None, work: Callable[[Core], Awaitable[T]], create: bool = False
) -> T:
    """Run `work` against the configured database; only `create` commands may start a new one.

    A mistyped --db would otherwise silently create an empty database and report "no such user".
    """
    settings = settings_from(ctx, db=db)
    if is_postgres_url(settings.db):
        pass  # a server's database: it exists, or connecting says why not
    elif not settings.db_path.exists():
        if not create:
            raise click.ClickException(
                f"database {settings.db} does not exist"
                " (set --db, CAMPFIRE_DB or db in the config file)"
            )
        click.echo(f"Creating a new database at {settings.db}", err=True)
    return run_with_core(settings, work)


async def user_by_email(core: Core, email: str) -> sqlite3.Row:
    """The user with this email (case-insensitive), or a clear error."""
    row = await store.get_user_by_email(core.db, email.strip())
    if row is None:
        raise CampfireError(errors.USER_NOT_FOUND, f"no user with email {email.strip()!r}")
    return row


def print_table(headers: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Aligned columns with a header line, for people reading a terminal.

    Cells hold user data: control characters are escaped, so a name cannot drive the terminal.
    """
    cells = [tuple(escape_controls(str(v)) for v in row) for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    for line in (headers, *cells):
        click.echo("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=False)).rstrip())


def yes_no(value: Any) -> str:
    """A 0/1 column as a word."""
    return "yes" if value else "no"


def password_option(func: Callable) -> Callable:
    """--password, prompted (hidden, twice) when not given; Env: CAMPFIRE_PASSWORD."""
    return click.option(
        "--password",
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        envvar="CAMPFIRE_PASSWORD",
        help="The password (at least 8 characters). Prompted for, hidden, when not given. "
        "Env: CAMPFIRE_PASSWORD.",
    )(func)


# --- campfire user ------------------------------------------------------------------------


@main.group()
def user() -> None:
    """Add, list and change users."""


@user.command("add")
@click.argument("email")
@click.option("--name", required=True, help="The user's display name.")
@password_option
@click.option("--admin", is_flag=True, help="Make the user an administrator.")
@db_option
@click.pass_context
def user_add(
    ctx: click.Context, email: str, name: str, password: str, admin: bool, db: str | None
) -> None:
    """Create an active user (a member of every open room); prints the new user's id."""
    row = admin_core(
        ctx,
        db,
        lambda core: accounts.do_create_user(core, email, name, password, admin),
        create=True,
    )
    click.echo(row["id"])


@user.command("list")
@click.option("--all", "include_inactive", is_flag=True, help="Include deactivated users.")
@db_option
@click.pass_context
def user_list(ctx: click.Context, include_inactive: bool, db: str | None) -> None:
    """List users: id, email, name, admin, active."""
    rows = admin_core(ctx, db, lambda core: store.list_users(core.db, include_inactive))
    print_table(
        ("ID", "EMAIL", "NAME", "ADMIN", "ACTIVE"),
        [
            (r["id"], r["email"], r["name"], yes_no(r["is_admin"]), yes_no(r["is_active"]))
            for r in rows
        ],
    )


@user.command("passwd")
@click.argument("email")
@password_option
@db_option
@click.pass_context
def user_passwd(ctx: click.Context, email: str, password: str, db: str | None) -> None:
    """Set a user's password; every session of theirs ends."""

    async def work(core: Core) -> None:
        row = await user_by_email(core, email)
        await accounts.do_change_password(core, row["id"], password)

    admin_core(ctx, db, work)
    click.echo(f"Password changed for {email.strip()}; their sessions have ended.")


def _set_active_command(active: bool) -> Callable:
    """The body of `user activate` / `user deactivate`."""

    @db_option
    @click.argument("email")
    @click.pass_context
    def command(ctx: click.Context, email: str, db: str | None) -> None:
        async def work(core: Core) -> None:
            row = await user_by_email(core, email)
            await accounts.do_set_active(core, row["id"], active)

        admin_core(ctx, db, work)
        click.echo(f"{email.strip()} is now {'active' if active else 'deactivated'}.")

    return command


user.command("deactivate", help="Deactivate a user: they cannot log in, and their sessions end.")(
    _set_active_command(False)
)
user.command("activate", help="Reactivate a user (they rejoin every open room).")(
    _set_active_command(True)
)


@user.command("admin")
@click.argument("email")
@click.option(
    "--revoke", is_flag=True, help="Take administrator rights away instead of granting them."
)
@db_option
@click.pass_context
def user_admin(ctx: click.Context, email: str, revoke: bool, db: str | None) -> None:
    """Grant a user administrator rights (or take them away with --revoke)."""

    async def work(core: Core) -> None:
        row = await user_by_email(core, email)
        await accounts.do_set_admin(core, row["id"], not revoke)

    admin_core(ctx, db, work)
    click.echo(f"{email.strip()} is {'no longer' if revoke else 'now'} an administrator.")


# --- campfire token -----------------------------------------------------------------------


@main.group()
def token() -> None:
    """Issue and revoke session tokens (for scripts and bots)."""


@token.command("issue")
@click.argument("email")
@click.option(
    "--expires-days",
    type=click.IntRange(min=1),
    default=None,
    help="Days until the token expires (default: the session_days setting, 30).",
)
@db_option
@click.pass_context
def token_issue(ctx: click.Context, email: str, expires_days: int | None, db: str | None) -> None:
    """Open a session for a user and print its token, alone on stdout."""

    async def work(core: Core) -> str:
        row = await user_by_email(core, email)
        if not row["is_active"]:
            raise CampfireError(
                errors.FORBIDDEN, f"{email.strip()} is deactivated; activate them first"
            )
        return await accounts.do_issue_session(core, row["id"], expires_days)

    click.echo(admin_core(ctx, db, work))


# Tokens are URL-safe base64 and may start with "-": let such a TOKEN through as an argument.
@token.command("revoke", context_settings={"ignore_unknown_options": True})
@click.argument("token_value", metavar="[TOKEN|-]", required=False)
@click.option(
    "--all-for", "all_for", metavar="EMAIL", help="Revoke every session of this user instead."
)
@db_option
@click.pass_context
def token_revoke(
    ctx: click.Context, token_value: str | None, all_for: str | None, db: str | None
) -> None:
    """End a session by its token ('-' reads it from stdin), or all of a user's with --all-for."""
    if (token_value is None) == (all_for is None):
        raise click.UsageError(
            "give either a TOKEN (or - to read it from stdin) or --all-for EMAIL"
        )
    if all_for is not None:

        async def revoke_all(core: Core) -> int:
            row = await user_by_email(core, all_for)
            return await accounts.do_revoke_user_sessions(core, row["id"])

        count = admin_core(ctx, db, revoke_all)
        click.echo(f"Revoked {count} session{'s' if count != 1 else ''} of {all_for.strip()}.")
        return
    assert token_value is not None  # exactly one of TOKEN and --all-for (checked above)
    if token_value == "-":
        token_value = sys.stdin.read()
    token_value = token_value.strip()
    if not token_value:
        raise click.ClickException("the token is empty")
    if not admin_core(ctx, db, lambda core: accounts.do_revoke_token(core, token_value)):
        raise click.ClickException(
            "no live session has that token (already revoked, expired or mistyped)"
        )
    click.echo("Session revoked.")


# --- campfire room ------------------------------------------------------------------------


@main.group()
def room() -> None:
    """Add, list and delete rooms, and manage their members."""


@room.command("add")
@click.argument("name")
@click.option(
    "--type",
    "room_type",
    type=click.Choice(["open", "closed"]),
    default="open",
    show_default=True,
    help="open: every active user is a member; closed: members are added explicitly.",
)
@db_option
@click.pass_context
def room_add(ctx: click.Context, name: str, room_type: str, db: str | None) -> None:
    """Create a room; prints the new room's id, alone on stdout."""
    row = admin_core(
        ctx, db, lambda core: rooms.do_create_room(core, None, name, room_type), create=True
    )
    click.echo(row["id"])


@room.command("list")
@db_option
@click.pass_context
def room_list(ctx: click.Context, db: str | None) -> None:
    """List every room: id, type, members, name."""
    rows = admin_core(ctx, db, lambda core: store.list_rooms(core.db))
    print_table(
        ("ID", "TYPE", "MEMBERS", "NAME"),
        [(r["id"], r["room_type"], r["member_count"], r["name"]) for r in rows],
    )


@room.command("delete")
@click.argument("room_ref", metavar="ROOM")
@click.confirmation_option(
    "--yes",
    "-y",
    prompt="Delete this room and all its messages?",
    help="Do not ask for confirmation.",
)
@db_option
@click.pass_context
def room_delete(ctx: click.Context, room_ref: str, db: str | None) -> None:
    """Delete a room (by id or name) with all its messages."""

    async def work(core: Core) -> Any:
        found = await rooms.resolve_room(core, room_ref)
        await rooms.do_delete_room(core, None, found["id"])
        return found

    found = admin_core(ctx, db, work)
    click.echo(f"Deleted room {found['name']!r} ({found['id']}).")


@room.group("member")
def room_member() -> None:
    """Add people to a room or remove them."""


def _membership_command(add: bool) -> Callable:
    """The body of `room member add` / `room member remove`."""

    @click.argument("room_ref", metavar="ROOM")
    @click.argument("email")
    @db_option
    @click.pass_context
    def command(ctx: click.Context, room_ref: str, email: str, db: str | None) -> None:
        async def work(core: Core) -> tuple[Any, bool]:
            found = await rooms.resolve_room(core, room_ref)
            person = await user_by_email(core, email)
            if add and not person["is_active"]:
                raise CampfireError(
                    errors.FORBIDDEN, f"{email.strip()} is deactivated; activate them first"
                )
            change = rooms.do_add_member if add else rooms.do_remove_member
            return found, await change(core, None, found["id"], person["id"])

        found, changed = admin_core(ctx, db, work)
        if add:
            state = "is now" if changed else "was already"
            click.echo(f"{email.strip()} {state} a member of {found['name']!r}.")
        else:
            state = "is no longer" if changed else "was not"
            click.echo(f"{email.strip()} {state} a member of {found['name']!r}.")

    return command


room_member.command(
    "add", help="Make a user (by email) a member of ROOM (an id, or a unique name)."
)(_membership_command(True))
room_member.command("remove", help="Remove a user (by email) from ROOM (an id, or a unique name).")(
    _membership_command(False)
)


# --- campfire db --------------------------------------------------------------------------


@main.group("db")
def db_group() -> None:
    """Back up the database and apply migrations."""


@db_group.command("backup")
@click.argument("target", metavar="PATH", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
@db_option
@click.pass_context
def db_backup(ctx: click.Context, target: Path, force: bool, db: str | None) -> None:
    """Write a consistent copy of the database to PATH; safe while the server runs.

    Uses SQLite's online backup API and opens the database read-only (no migrations).
    The uploaded files the copy refers to go to PATH-files, where `campfire serve --db
    PATH` finds them.
    """
    settings = settings_from(ctx, db=db)
    if is_postgres_url(settings.db):
        raise click.ClickException(
            "a PostgreSQL database is backed up with pg_dump (docs/operations.md, PostgreSQL)"
        )
    source = settings.db_path
    if not source.is_file():
        raise click.ClickException(f"database {source} does not exist")
    if target.exists() and target.resolve() == source.resolve():
        raise click.ClickException("the backup must go to another file than the database itself")
    if target.exists() and not force:
        raise click.ClickException(f"{target} already exists (use --force to overwrite it)")
    if not target.parent.is_dir():
        raise click.ClickException(f"directory {target.parent} does not exist")
    try:
        asyncio.run(backup_file(source, target))
    except sqlite3.Error as exc:
        raise click.ClickException(f"backup of {source} failed: {exc}") from None
    click.echo(f"Backed up {source} to {target} ({target.stat().st_size} bytes).", err=True)
    _backup_files(settings_from(ctx, db=db), target)


def _backup_files(settings: Settings, target: Path) -> None:
    """Copy the uploaded files the backup refers to into the data directory beside it."""
    files_target = files_dir_of(target)
    if files_target.resolve() == settings.files_path.resolve():
        raise click.ClickException("the backup's files would overwrite the live data directory")
    try:
        copied, missing = backup_files(target, settings.files_path, files_target)
    except (OSError, sqlite3.Error) as exc:
        raise click.ClickException(f"backup of the files failed: {exc}") from None
    click.echo(f"Copied {copied} files to {files_target}.", err=True)
    for name in missing:
        click.echo(f"warning: {name} was deleted during the backup; not copied", err=True)


@db_group.command("migrate")
@db_option
@click.pass_context
def db_migrate(ctx: click.Context, db: str | None) -> None:
    """Apply pending schema migrations (serve does this too) and print the schema version."""

    async def work(core: Core) -> int:
        return await store.schema_version(core.db)

    click.echo(admin_core(ctx, db, work, create=True))


@db_group.command("copy")
@click.argument("source", metavar="SQLITE_FILE", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("target", metavar="POSTGRESQL_URL")
def db_copy(source: Path, target: str) -> None:
    """Copy a (stopped) Campfire's SQLite database into an empty PostgreSQL database.

    Every table, in one transaction; the target is migrated first if it has no tables, and
    refused if it holds any rows. Uploaded files stay where they are: set files_dir to them.
    """
    if not is_postgres_url(target):
        raise click.ClickException("the target must be a postgresql:// URL")
    from campfire.db_copy import CopyError, copy_database

    try:
        counts = asyncio.run(copy_database(source, target))
    except CopyError as exc:
        raise click.ClickException(str(exc)) from None
    summary = ", ".join(f"{count} {table}" for table, count in counts.items() if count)
    click.echo(f"Copied {source} to {redact(target)}: {summary or 'no rows'}.", err=True)
    click.echo(
        f"Uploaded files stay in {files_dir_of(source)}: point files_dir at that directory"
        " (or a copy of it) when serving from PostgreSQL.",
        err=True,
    )


# --- campfire account, campfire user login-link (issue 11) --------------------------------


def public_base(settings: Settings) -> str:
    """Where people reach the server: the public_url setting, else http://host:port."""
    return settings.public_url.rstrip("/") or f"http://{settings.host}:{settings.port}"


@main.group()
def account() -> None:
    """The Campfire's join link."""


@account.command("join-link")
@click.option("--new", "new_code", is_flag=True, help="Make a new link; the old one stops working.")
@db_option
@click.pass_context
def account_join_link(ctx: click.Context, new_code: bool, db: str | None) -> None:
    """Print the link people open to join (set public_url so it names the public address)."""

    async def work(core: Core) -> str:
        row = await (accounts.do_new_join_code(core) if new_code else accounts.get_account(core))
        return row["join_code"]

    code = admin_core(ctx, db, work)
    click.echo(f"{public_base(settings_from(ctx, db=db))}/join/{code}")


@user.command("login-link")
@click.argument("email")
@db_option
@click.pass_context
def user_login_link(ctx: click.Context, email: str, db: str | None) -> None:
    """Print a one-use link that signs the user in (valid 4 hours) and lets them set a password."""

    async def work(core: Core) -> tuple[str, str]:
        row = await user_by_email(core, email)
        return await accounts.do_make_login_link(core, None, row["id"])

    token, expires_at = admin_core(ctx, db, work)
    click.echo(f"{public_base(settings_from(ctx, db=db))}/login-link/{token}")
    click.echo(f"Valid until {expires_at}, once.", err=True)


# --- campfire bot -------------------------------------------------------------------------


@main.group()
def bot() -> None:
    """Add, list, show, re-key and remove bots (once-campfire's bot API; docs/bots.md)."""


@bot.command("add")
@click.argument("name")
@click.option("--webhook", "webhook_url", metavar="URL", help="Webhook URL (http or https).")
@db_option
@click.pass_context
def bot_add(ctx: click.Context, name: str, webhook_url: str | None, db: str | None) -> None:
    """Create a bot (a member of every open room); prints its key, alone on stdout."""
    from campfire import bots

    _row, key = admin_core(
        ctx, db, lambda core: bots.do_create_bot(core, name, webhook_url), create=True
    )
    click.echo(key)


@bot.command("list")
@db_option
@click.pass_context
def bot_list(ctx: click.Context, db: str | None) -> None:
    """List active bots: id, name, webhook URL, last error."""
    rows = admin_core(ctx, db, lambda core: store.list_bots(core.db))
    print_table(
        ("ID", "NAME", "WEBHOOK", "LAST ERROR"),
        [(r["id"], r["name"], r["webhook_url"] or "-", r["last_error"] or "-") for r in rows],
    )


@bot.command("show")
@click.argument("bot_ref", metavar="BOT")
@db_option
@click.pass_context
def bot_show(ctx: click.Context, bot_ref: str, db: str | None) -> None:
    """Show a bot (by id or name), with its webhook secret."""
    from campfire import bots

    row = admin_core(ctx, db, lambda core: bots.resolve_bot(core, bot_ref))
    for label, value in (
        ("id", row["id"]),
        ("name", row["name"]),
        ("webhook_url", row["webhook_url"] or "-"),
        ("webhook_secret", row["webhook_secret"] or "-"),
        ("last_error", row["last_error"] or "-"),
        ("last_error_at", row["last_error_at"] or "-"),
    ):
        click.echo(f"{label}: {value}")


@bot.command("reset-key")
@click.argument("bot_ref", metavar="BOT")
@db_option
@click.pass_context
def bot_reset_key(ctx: click.Context, bot_ref: str, db: str | None) -> None:
    """Give a bot (by id or name) a new key, printed alone on stdout; the old one stops."""
    from campfire import bots

    async def work(core: Core) -> str:
        row = await bots.resolve_bot(core, bot_ref)
        return await bots.do_reset_key(core, row["id"])

    click.echo(admin_core(ctx, db, work))


@bot.command("remove")
@click.argument("bot_ref", metavar="BOT")
@click.confirmation_option("--yes", "-y", prompt="Remove this bot?", help="Do not ask.")
@db_option
@click.pass_context
def bot_remove(ctx: click.Context, bot_ref: str, db: str | None) -> None:
    """Remove a bot (by id or name): its key and webhook stop; its messages stay."""
    from campfire import bots

    async def work(core: Core) -> Any:
        row = await bots.resolve_bot(core, bot_ref)
        await bots.do_remove_bot(core, row["id"])
        return row

    row = admin_core(ctx, db, work)
    click.echo(f"Removed bot {row['name']!r} ({row['id']}).")
