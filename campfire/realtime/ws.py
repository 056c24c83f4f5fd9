"""GET /ws: authenticate before the upgrade, register, catch up, then serve client frames."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, ClassVar

from aiohttp import WSMsgType, web

from campfire import (
    accounts,
    attachments,
    changes,
    clock,
    directory,
    errors,
    messages,
    protocol,
    rooms,
    store,
)
from campfire.accounts import SessionUser
from campfire.api.common import error_response
from campfire.api.openapi import describe
from campfire.auth import origin_allowed, token_from_request
from campfire.core import Core
from campfire.db import DatabaseUnavailable
from campfire.errors import CampfireError
from campfire.keys import core_key, settings_key
from campfire.ratelimit import TokenBucket
from campfire.realtime.connection import CLOSE_POLICY, CLOSE_TOO_BIG, Connection
from campfire.realtime.hub import event_frame
from campfire.views import message_json

log = logging.getLogger(__name__)

# Seconds a client over ws_max_connections_per_user is told to wait: about as long as a
# closed tab takes to be noticed and unregistered.
CONNECTION_RETRY_AFTER = 10


@describe(
    "The WebSocket API (docs/websocket.md, frames in campfire/static/websocket.schema.json)",
    responses={101: None},
    errors=[400, 403, 429],
)
async def websocket(request: web.Request) -> web.StreamResponse:
    """The WebSocket endpoint. Authentication failures are HTTP errors before the upgrade."""
    core = request.app[core_key]
    settings = core.settings
    token, source = token_from_request(request)
    user = await accounts.authenticate(core, token)
    if user is None:
        return error_response(errors.unauthorized("Missing, invalid or expired session token"))
    if source == "cookie" and not origin_allowed(
        request, settings.allowed_origins, settings.trust_proxy
    ):
        return error_response(errors.forbidden("Cookie authentication from a foreign Origin"))
    if core.hub.connection_count(user.id) >= settings.ws_max_connections_per_user:
        return error_response(
            CampfireError(
                errors.TOO_MANY_CONNECTIONS,
                "Too many open connections",
                429,
                retry_after=CONNECTION_RETRY_AFTER,
            )
        )
    ws = web.WebSocketResponse(
        heartbeat=settings.ws_heartbeat or None,
        compress=settings.ws_compress,
        # aiohttp refuses a message of max_msg_size bytes or more; ours allows exactly
        # ws_max_frame_bytes (docs/websocket.md: only larger frames close with 1009).
        max_msg_size=settings.ws_max_frame_bytes + 1,
    )
    await ws.prepare(request)
    conn = Connection(ws, request, user.id, user.token_hash, settings.ws_queue_frames)
    handler = CommandHandler(core, conn, user)
    # aiohttp checks an inflated (compressed) message with '>' rather than '>=', so with
    # compression on, the +1 above would let one size too many through: checked here.
    inflated_limit = settings.ws_max_frame_bytes if settings.ws_compress else 0
    try:
        await _register_and_catch_up(core, conn, user)
        async for msg in ws:
            if conn.closing:
                # Once a close is decided (session ended, abuse, shutdown) nothing the client
                # sends is served; the loop only reads on until the socket is gone.
                continue
            if msg.type == WSMsgType.TEXT:
                if inflated_limit and len(msg.data.encode()) > inflated_limit:
                    conn.abort(CLOSE_TOO_BIG, "Message too big")
                    continue
                # Shielded: a frame the server has read is carried out even if the client
                # disconnects meanwhile (a message committed is also broadcast).
                await asyncio.shield(handler.handle(msg.data))
            elif msg.type == WSMsgType.BINARY:
                handler.send_error(
                    errors.UNSUPPORTED_FRAME, "Binary frames are not supported; send JSON text"
                )
    except Exception:
        log.exception("connection %r failed", conn)
    finally:
        conn.closed = True
        core.hub.unregister(conn)
        await conn.finished()
    return ws


async def _register_and_catch_up(core: Core, conn: Connection, user: SessionUser) -> None:
    """Register for live delivery first, then send what was missed, without loss or duplicate.

    Live messages and changes that arrive during the catch-up are held and released
    afterwards, minus those the catch-up already covered, so each reaches this connection
    once, in order: first the missed messages, then the missed changes, then the held ones.
    """
    # What was committed before the connection existed is not live to it (as in one
    # process): with workers, the relay first hands over what it has not yet.
    await core.hub.delivered_so_far()
    conn.hold_live_messages()
    core.hub.register(conn)
    # One read for the user's rooms and what they missed: anything committed after it is
    # published after it, so the connection, registered before it, holds it meanwhile.
    mark = core.hub.removal_mark()
    missed = await store.catch_up(core.db, user.id, core.settings.catchup_limit)
    core.hub.caught_up(conn, missed.room_ids, since=mark)
    frames = []
    for room_id in sorted(missed.truncated.keys() | missed.changes_truncated):
        first = min((r["seq"] for r in missed.messages if r["room_id"] == room_id), default=None)
        event = protocol.missed_messages_truncated(
            room_id, first, room_id in missed.changes_truncated
        )
        frames.append(event_frame(event))
    hub = core.hub
    # Frames still cached were encoded when published, attachment included; the others need
    # their attachments read (one query, only for them: a storm of reconnects hits the cache).
    # A message edited since was cached as it was first: it is sent as it is now.
    cached = {
        row["seq"]: None if row["edited_at"] else hub.cached_frame(row["seq"])
        for row in missed.messages
    }
    rebuilt = await attachments.add_to(
        core, [message_json(row) for row in missed.messages if cached[row["seq"]] is None]
    )
    by_seq = {message["seq"]: message for message in rebuilt}
    for row in missed.messages:
        frames.append(cached[row["seq"]] or hub.message_frame(by_seq[row["seq"]]))
    for event in changes.catch_up_events(missed.changes):
        frames.append(event_frame(event))
    # Per room, the newest number the read covered: live copies up to it were sent (or
    # superseded) already.
    conn.finish_catch_up(frames, missed.seen, event_frame(protocol.ready(user.id)))


class CommandHandler:
    """Serves one connection's client frames, in order, each answered or broadcast."""

    __slots__ = ("bucket", "conn", "core", "flood_limit", "rejected_in_a_row", "user")

    def __init__(self, core: Core, conn: Connection, user: SessionUser) -> None:
        self.core = core
        self.conn = conn
        self.user = user
        settings = core.settings
        self.bucket = TokenBucket(settings.ws_messages_per_second, settings.ws_burst)
        self.flood_limit = settings.ws_burst
        self.rejected_in_a_row = 0

    def send_error(self, code: str, message: str) -> None:
        """An Error frame to this connection alone."""
        self.conn.send(event_frame(protocol.error(code, message)))

    async def handle(self, text: str) -> None:
        """Rate-limit, parse and run one frame; problems become an Error frame."""
        if not self.bucket.allow():
            self.rejected_in_a_row += 1
            if self.rejected_in_a_row > self.flood_limit:
                log.warning("closing %r: flooding over the rate limit", self.conn)
                self.conn.abort(CLOSE_POLICY, "Rate limit exceeded")
            else:
                self.send_error(errors.RATE_LIMITED, "Too many messages; slow down")
            return
        self.rejected_in_a_row = 0
        try:
            command = protocol.parse(text)
            await self.DISPATCH[type(command)](self, command)
        except CampfireError as exc:
            self.send_error(exc.code, exc.message)
        except DatabaseUnavailable:  # not a bug: the engine logged the outage once
            unavailable = errors.database_unavailable()
            self.send_error(unavailable.code, unavailable.message)
        except Exception:
            log.exception("frame from %r failed", self.conn)
            self.send_error(errors.INTERNAL_ERROR, "Something went wrong on the server")

    async def create_message(self, cmd: protocol.CreateMessage) -> None:
        """Store and broadcast; a retry is answered to this connection only."""
        message, created = await messages.do_create_message(
            self.core,
            self.user,
            cmd.room_id,
            cmd.content,
            cmd.client_message_id,
            known_member=cmd.room_id in self.conn.rooms,
        )
        if not created:
            self.conn.send(event_frame(protocol.new_message(message)))

    async def update_last_seen(self, cmd: protocol.UpdateLastSeen) -> None:
        """Move the durable last-seen mark forward."""
        await messages.do_mark_seen(self.core, self.user, cmd.message_id)

    async def update_message(self, cmd: protocol.UpdateMessage) -> None:
        """Edit one's own message; the MessageUpdated broadcast is the answer (an edit that
        changes nothing is answered to this connection only)."""
        message, seq = await changes.do_edit_message(
            self.core, self.user, cmd.message_id, cmd.content
        )
        if seq is None:
            self.conn.send(event_frame(protocol.message_updated(message, None)))

    async def delete_message(self, cmd: protocol.DeleteMessage) -> None:
        """Delete a message; the MessageDeleted broadcast is the answer."""
        await changes.do_delete_message(self.core, self.user, cmd.message_id)

    async def add_boost(self, cmd: protocol.AddBoost) -> None:
        """Boost a message; the same boost again is answered to this connection only."""
        boost, seq = await changes.do_add_boost(self.core, self.user, cmd.message_id, cmd.content)
        if seq is None:
            self.conn.send(event_frame(protocol.boost_added(boost, None)))

    async def remove_boost(self, cmd: protocol.RemoveBoost) -> None:
        """Take back one's own boost; the BoostRemoved broadcast is the answer."""
        await changes.do_remove_boost(self.core, self.user, cmd.boost_id)

    async def join_room(self, cmd: protocol.JoinRoom) -> None:
        """Start viewing a room (joining an open room makes a non-member a member)."""
        if cmd.room_id not in self.conn.rooms:
            mark = self.core.hub.removal_mark()
            await rooms.access_room(self.core, self.user, cmd.room_id, join_open=True)
            self.core.hub.members_added_for(self.conn, [cmd.room_id], since=mark)
            if cmd.room_id not in self.conn.rooms:  # removed while access was checked
                raise errors.room_not_found()
        self.core.hub.join(self.conn, cmd.room_id)

    async def leave_room(self, cmd: protocol.LeaveRoom) -> None:
        """Stop viewing a room; leaving one not viewed is harmless."""
        if cmd.room_id in self.conn.joined:
            self.core.hub.leave(self.conn, cmd.room_id)
        else:
            await rooms.access_room(self.core, self.user, cmd.room_id)

    async def start_typing(self, cmd: protocol.StartTyping) -> None:
        """Typing needs the connection to be in the room."""
        await self._check_joined(cmd.room_id)
        self.core.hub.start_typing(self.user.id, cmd.room_id)

    async def stop_typing(self, cmd: protocol.StopTyping) -> None:
        """End this user's typing indicator in the room."""
        await self._check_joined(cmd.room_id)
        self.core.hub.stop_typing(self.user.id, cmd.room_id)

    async def _check_joined(self, room_id: str) -> None:
        """NOT_IN_ROOM unless this connection joined the room (or the room's own error)."""
        if room_id in self.conn.joined:
            return
        await rooms.access_room(self.core, self.user, room_id)
        raise CampfireError(errors.NOT_IN_ROOM, "Join the room first (send JoinRoom)")

    # One table for the class, not one per connection (bound methods cost ~0.6 KB each socket).
    # Each handler takes the command type it is filed under (a pairing mypy cannot express).
    DISPATCH: ClassVar[dict[type, Callable[[CommandHandler, Any], Awaitable[None]]]] = {
        protocol.CreateMessage: create_message,
        protocol.UpdateLastSeen: update_last_seen,
        protocol.JoinRoom: join_room,
        protocol.LeaveRoom: leave_room,
        protocol.StartTyping: start_typing,
        protocol.StopTyping: stop_typing,
        protocol.UpdateMessage: update_message,
        protocol.DeleteMessage: delete_message,
        protocol.AddBoost: add_boost,
        protocol.RemoveBoost: remove_boost,
    }


async def _sweep_typing(core: Core, interval: float) -> None:
    """End expired typing indicators every `interval` seconds."""
    while True:
        await asyncio.sleep(interval)
        core.hub.sweep_typing()


async def _recheck_connections(core: Core, interval: float) -> None:
    """Apply changes made outside this process (the CLI) to open connections.

    Sockets whose session ended (revoked, expired, user deactivated) are closed; each
    connected user's room subscriptions are brought in line with the memberships table, and
    directory changes are announced (campfire/directory.py).
    """
    while True:
        await asyncio.sleep(interval)
        try:
            await recheck_once(core)
        except DatabaseUnavailable:
            pass  # the engine logs the outage once; the next pass catches up
        except Exception:
            log.exception("re-checking open connections failed")


async def recheck_once(core: Core) -> None:
    """One pass of _recheck_connections: for this process's connections only."""
    with core.hub.local_only():
        await _recheck_once(core)


async def _recheck_once(core: Core) -> None:
    """One pass of _recheck_connections."""
    conns = core.hub.all_connections()
    if not conns:
        return
    live = await store.live_session_hashes(
        core.db, sorted({c.token_hash for c in conns}), clock.now_iso()
    )
    for conn in conns:
        if conn.token_hash not in live:
            core.hub.end_connection(conn, CLOSE_POLICY, "Session ended")
    # Subscriptions follow the memberships table, and rooms gained or lost, renamed rooms and
    # changed people are announced (RoomUpdated, RoomRemoved, UserUpdated).
    await directory.sync_from_database(core)


async def realtime_ctx(app: web.Application) -> AsyncIterator[None]:
    """Run the typing sweep and the connection re-check while the app runs."""
    core = app[core_key]
    settings = app[settings_key]
    tasks = [
        asyncio.create_task(
            _sweep_typing(core, settings.typing_sweep_interval), name="typing-sweep"
        ),
        asyncio.create_task(
            # With workers, what another worker changed and Redis lost is found this way.
            _recheck_connections(
                core,
                settings.worker_recheck_interval
                if settings.redis_url
                else settings.ws_recheck_interval,
            ),
            name="recheck-connections",
        ),
    ]
    yield
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def close_connections(app: web.Application) -> None:
    """On shutdown: finish pending writes and close every socket with 1001."""
    await app[core_key].hub.close_all(app[settings_key].shutdown_timeout)


def setup(app: web.Application) -> None:
    """Add /ws, its background tasks, and its shutdown."""
    app.router.add_get("/ws", websocket)
    app.cleanup_ctx.append(realtime_ctx)
    app.on_shutdown.append(close_connections)
