"""The `campfire` command: serve, and administer users, tokens, rooms and the database."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

import click
from aiohttp import web

from campfire.app import AccessLogger, configure_logging, create_app
from campfire.config import ConfigError, Settings, load_settings
from campfire.core import Core, open_core
from campfire.errors import CampfireError


class DefaultGroup(click.Group):
    """A group whose default command is `serve`, so a bare `campfire` starts the server."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0].startswith("-") and args[0] not in ("--help", "-h", "--version")):
            args = ["serve", *args]
        return super().parse_args(ctx, args)


def settings_from(ctx: click.Context, **flags: Any) -> Settings:
    """Settings for this invocation: defaults < --config file < environment < flags."""
    root = ctx.find_root()
    try:
        return load_settings(root.params.get("config"), overrides=flags)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def run_with_core(settings: Settings, work: Callable[[Core], Awaitable[Any]]) -> Any:
    """Open the database, run one piece of work, close; user mistakes become clean errors."""

    async def main() -> Any:
        async with open_core(settings) as core:
            return await work(core)

    try:
        return asyncio.run(main())
    except CampfireError as exc:
        raise click.ClickException(exc.message) from None


@click.group(cls=DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config", "config", type=click.Path(dir_okay=False), envvar="CAMPFIRE_CONFIG",
    help="TOML settings file (see config.example.toml). Env: CAMPFIRE_CONFIG.",
)
@click.version_option(package_name="campfire")
def main(config: str | None) -> None:
    """Campfire: a self-hosted group chat server. With no command, runs `serve`."""


def db_option(func: Callable) -> Callable:
    """The --db option every command takes."""
    return click.option(
        "--db", "db", type=click.Path(dir_okay=False),
        help="SQLite database file (default campfire.db). Env: CAMPFIRE_DB.",
    )(func)


@main.command()
@click.option("--host", help="Address to listen on (default 127.0.0.1). Env: CAMPFIRE_HOST.")
@click.option("--port", type=int, help="Port to listen on (default 3000). Env: CAMPFIRE_PORT.")
@db_option
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, db: str | None) -> None:
    """Run the server: HTTP API, WebSocket API at /ws, and the web client at /."""
    settings = settings_from(ctx, host=host, port=port, db=db)
    configure_logging(settings.log_level)
    click.echo(f"Campfire on http://{settings.host}:{settings.port}/ (database {settings.db})", err=True)
    try:
        web.run_app(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            access_log_class=AccessLogger,
            shutdown_timeout=settings.shutdown_timeout,
            print=None,
        )
    except OSError as exc:
        raise click.ClickException(f"cannot serve on {settings.host}:{settings.port}: {exc.strerror}")
