"""create_app(settings): the aiohttp application with its database, hub, routes and client."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from campfire import api
from campfire.api.common import add_security_headers, error_middleware
from campfire.api.openapi import describe
from campfire.config import Settings
from campfire.core import open_core
from campfire.keys import core_key, settings_key
from campfire.realtime import ws

STATIC_DIR = Path(__file__).parent / "static"

# Collect young objects after 10,000 net allocations instead of CPython's 700. Every open
# connection holds ~90 objects the collector tracks (aiohttp's request, transport, tasks...),
# so while thousands connect at once the heap grows fast and, at 700, full collections of
# it ran again and again: in a 5,000-client reconnect storm 15 of them, up to 0.4 s each,
# 2.3 s of the 5 s. At 10,000: GC 2.7 -> 0.8 s, storm 5.3 -> 4.0 s (docs/performance.md).
GC_THRESHOLD = (10_000, 10, 10)


def tune_gc_for_serving() -> None:
    """Make the cyclic garbage collector run less often in a long-running server."""
    gc.set_threshold(*GC_THRESHOLD)


async def core_ctx(app: web.Application) -> AsyncIterator[None]:
    """Open the database and the message writer for the app's lifetime."""
    async with open_core(app[settings_key]) as core:
        app[core_key] = core
        yield


@describe("The web client's page", auth="none", responses={200: "text/html"})
async def index(request: web.Request) -> web.FileResponse:
    """The web client's page."""
    return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


def create_app(settings: Settings) -> web.Application:
    """Wire the whole server for these settings (nothing is opened until the app starts)."""
    app = web.Application(middlewares=[error_middleware], client_max_size=settings.max_body_bytes)
    app[settings_key] = settings
    app.cleanup_ctx.append(core_ctx)
    app.on_response_prepare.append(add_security_headers)
    ws.setup(app)  # first: the router tries routes in order, and /ws is the busiest at a storm
    api.setup_routes(app)
    app.router.add_get("/", index)
    app.router.add_static("/static/", STATIC_DIR, append_version=False)
    return app


class AccessLogger(AbstractAccessLogger):
    """One line per request: method, path without the query string (tokens), status, time."""

    def log(self, request, response, time) -> None:
        self.logger.info(
            "%s %s %s %s %.1fms",
            request.remote,
            request.method,
            request.path,
            response.status,
            time * 1000,
        )


def configure_logging(level: str) -> None:
    """Plain timestamped log lines on stderr."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # aiosqlite logs every query with its parameters at DEBUG: password and token hashes,
    # message content. Our own DEBUG lines are wanted; those are not.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
