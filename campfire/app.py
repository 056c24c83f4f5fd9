"""create_app(settings): the aiohttp application with its database, hub, routes and client."""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import ERROR as UNPARSED

from campfire import api, attachment_files
from campfire.api.common import (
    LINGERING_SECONDS,
    add_security_headers,
    body_deadline_middleware,
    error_middleware,
)
from campfire.api.openapi import describe
from campfire.bots import loggable_path
from campfire.config import Settings
from campfire.core import open_core
from campfire.keys import core_key, settings_key, worker_index_key
from campfire.realtime import ws

STATIC_DIR = Path(__file__).parent / "static"
log = logging.getLogger(__name__)

# Seconds between two log lines about failing accept() calls (out of file descriptors).
ACCEPT_ERROR_LOG_INTERVAL = 60.0
_ACCEPT_ERRNOS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)

# Collect young objects after 10,000 net allocations instead of CPython's 700. Every open
# connection holds ~90 objects the collector tracks (aiohttp's request, transport, tasks...),
# so while thousands connect at once the heap grows fast and, at 700, full collections of
# it ran again and again: in a 5,000-client reconnect storm 15 of them, up to 0.4 s each,
# 2.3 s of the 5 s. At 10,000: GC 2.7 -> 0.8 s, storm 5.3 -> 4.0 s (docs/performance.md).
GC_THRESHOLD = (10_000, 10, 10)
# The event loop and the database threads share the GIL, and CPython lets a thread run 5 ms
# before it must hand the GIL to one that waits: the loop waited that long behind a group
# commit's batch. At 1 ms, ingest p99 (1 run each, back to back): 22.3, 29.1 -> 20.6, 12.3
# ms at the same CPU per message (docs/performance.md).
SWITCH_INTERVAL = 0.001


def tune_for_serving() -> None:
    """Make the cyclic garbage collector run less often, and the GIL change hands sooner,
    in a long-running server."""
    gc.set_threshold(*GC_THRESHOLD)
    sys.setswitchinterval(SWITCH_INTERVAL)


def new_event_loop(choice: str) -> asyncio.AbstractEventLoop:
    """The loop `serve` runs on (setting event_loop): Python's own, or uvloop.

    Measured on the same machine, 3 runs each (docs/performance.md): uvloop spends 12% less
    CPU per fan-out delivery (11.98 against 13.57 us) but a 5,000-client reconnect storm
    takes 36% longer (5.22 against 3.84 s, over its 5 s target), and ingest is the same;
    so Python's loop is the default and uvloop a choice for rooms that broadcast a lot.
    """
    if choice == "asyncio":
        return asyncio.new_event_loop()
    if choice != "uvloop":
        raise ValueError(f"event_loop must be asyncio or uvloop, not {choice!r}")
    try:
        import uvloop
    except ImportError:
        raise ValueError(
            "event_loop = uvloop needs uvloop: pip install 'campfire[uvloop]'"
        ) from None
    return uvloop.new_event_loop()


async def core_ctx(app: web.Application) -> AsyncIterator[None]:
    """Open the database and the message writer for the app's lifetime (with Redis, a worker
    among several: its hub reaches the other workers' connections)."""
    settings = app[settings_key]
    async with open_core(settings, cluster=bool(settings.redis_url)) as core:
        app[core_key] = core
        core.files.open()  # the data directory, emptied of partial uploads
        await attachment_files.sweep_orphans(core)
        cluster = None
        if settings.redis_url:  # imported only then: one process never loads Redis code
            from campfire.realtime.cluster import ClusterHub

            assert isinstance(core.hub, ClusterHub)  # open_core(cluster=True) made one
            cluster = core.hub
            with cluster.local_only():  # the task below inherits it: its findings stay here
                await cluster.start(core.db, lambda: ws.recheck_once(core))
            core.shared_allowance = cluster.allowance
            # Background jobs that other workers wake: webhooks (worker 0 sends), the bots
            # and push subscribers every worker keeps in memory.
            cluster.wakers.update(webhooks=core.webhooks.woken, bots=core.webhooks.woken)
            cluster.wakers["push"] = core.push.woken
            core.webhooks.tell_others = core.push.tell_others = cluster.wake_others
        try:
            yield
        finally:
            if cluster is not None:
                await cluster.stop()


async def notifications_ctx(app: web.Application) -> AsyncIterator[None]:
    """Run the Web Push sender and the webhook outbox sender while the server runs.

    Pushes go out from the worker that committed the message (each worker has its queue);
    the webhook outbox has one sender, on worker 0, woken through Redis by the others' rows
    (or at its next look); every worker keeps its list of bots fresh.
    """
    core = app[core_key]
    await core.push.start()
    await core.webhooks.start(core, send=app[worker_index_key] == 0)
    yield
    await core.webhooks.stop()
    await core.push.stop()


@describe("The web client's page", auth="none", responses={200: "text/html"})
async def index(request: web.Request) -> web.FileResponse:
    """The web client's page."""
    return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


def create_app(settings: Settings, worker_index: int = 0) -> web.Application:
    """Wire the whole server for these settings (nothing is opened until the app starts).

    `worker_index`: which of the supervisor's workers this is; worker 0 runs the jobs that
    must run once (the webhook outbox sender)."""
    body_deadline = body_deadline_middleware(
        settings.request_body_timeout,
        settings.pending_requests_per_address,
        settings.trust_proxy,
        settings.trusted_proxy_hops,
        settings.upload_min_bytes_per_second,
    )
    app = web.Application(
        middlewares=[error_middleware, body_deadline],
        client_max_size=settings.max_body_bytes,
        # A short lingering close: body_deadline reads every body before any handler runs, so
        # a body left unread is one refused. Too slow or too many: closed at once (force_close
        # skips lingering), not read for aiohttp's default 10 s from a sender that may trickle
        # on forever. Too large: its rest read and dropped for at most 2 s, so a proxy that
        # streams it gets the 413 and not a reset.
        handler_args={"lingering_time": LINGERING_SECONDS},
    )
    app[settings_key] = settings
    app[worker_index_key] = worker_index
    app.on_startup.append(quiet_accept_errors)
    app.cleanup_ctx.append(core_ctx)
    app.cleanup_ctx.append(notifications_ctx)
    app.on_response_prepare.append(add_security_headers)
    ws.setup(app)  # first: the router tries routes in order, and /ws is the busiest at a storm
    api.setup_routes(app)
    app.router.add_get("/", index)
    app.router.add_static("/static/", STATIC_DIR, append_version=False)
    return app


class AccessLogger(AbstractAccessLogger):
    """One line per request: method, path without the query string (tokens), status, time."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        """Log one finished request."""
        if request.method == UNPARSED.method and request.version == UNPARSED.version:
            return  # a request aiohttp could not parse: BadRequestLogFilter's line stands for it
        # Page assets and health checks would drown the API lines: DEBUG, unless they failed.
        quiet = request.path == "/health" or request.path.startswith("/static/")
        self.logger.log(
            logging.DEBUG if quiet and response.status < 400 else logging.INFO,
            "%s %s %s %s %.1fms",
            request.remote,
            request.method,
            loggable_path(request.path),
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
    # psycopg and its pool (PostgreSQL) likewise log connection details and statements.
    logging.getLogger("psycopg").setLevel(logging.INFO)
    logging.getLogger("aiohttp.server").addFilter(BadRequestLogFilter())


class BadRequestLogFilter(logging.Filter):
    """aiohttp logs a malformed request at ERROR with a traceback whose message quotes the raw
    request line, ?token= and all: make it one line that names the client, not the line."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite aiohttp's record of a request it could not parse; keep every other one."""
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.msg, record.args = "bad request from %s: %s", (remote, type(exc).__name__)
            record.exc_info, record.exc_text = None, None
            record.levelno = min(record.levelno, logging.INFO)
            record.levelname = logging.getLevelName(record.levelno)
        return True


class AcceptErrorLog:
    """The event loop's exception handler: failed accept() calls make one line per interval.

    Out of file descriptors, asyncio reports each failed accept() with a traceback, and
    retries about a hundred times a second (once per backlog slot); after the listening
    socket closes, those pending retries fail again on its old descriptor. Everything else
    goes to the handler that was there before.
    """

    def __init__(
        self,
        previous: Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object] | None,
        interval: float = ACCEPT_ERROR_LOG_INTERVAL,
    ) -> None:
        self.previous = previous
        self.interval = interval
        self.last = -interval
        self.suppressed = 0

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """Count an accept error and log it if the interval has passed; pass on the rest."""
        if not self._about_accept(context):
            if self.previous is not None:
                self.previous(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        now = time.monotonic()
        if now - self.last < self.interval:
            self.suppressed += 1
            return
        more = f" ({self.suppressed} more since the last report)" if self.suppressed else ""
        log.error("cannot accept connections: %s%s", context.get("exception"), more)
        self.last, self.suppressed = now, 0

    @staticmethod
    def _about_accept(context: dict[str, Any]) -> bool:
        """Whether an event-loop error is a failed accept() or a retry of one."""
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in _ACCEPT_ERRNOS:
            return True
        callback = getattr(context.get("handle"), "_callback", None)
        return isinstance(exc, ValueError) and getattr(callback, "__name__", "") == "_start_serving"


async def quiet_accept_errors(app: web.Application) -> None:
    """Install AcceptErrorLog on the running loop (once; it stays for the loop's life, since
    retries of accept() can fire after the app has shut down)."""
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    if not isinstance(previous, AcceptErrorLog):
        loop.set_exception_handler(AcceptErrorLog(previous))
