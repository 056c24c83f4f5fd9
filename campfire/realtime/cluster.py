"""The hub of one worker among several (`campfire serve --workers N --redis ...`).

The same hub, with its publish seam extended across workers:
- Messages and changes go to this worker's ordered relay at once and to Redis for the others;
  each worker's relay hands them to its connections in sequence order (relay.py).
- What a user's connections must learn (RoomUpdated, RoomRemoved, UserUpdated, a session
  ended, membership and room changes, typing) is applied here and sent to every worker
  through Redis. What must not be lost (membership removed, room deleted, session ended,
  user deactivated) also reaches every worker from the database: the connection re-check
  (ws.py) runs every `worker_recheck_interval` seconds with workers, and the relay runs it
  before delivering what it read while Redis was down.
- Room presence is counted across workers in Redis (presence.py); typing rides on events.
Applying an event received from another worker, or the re-check's findings, stays local
(LOCAL_ONLY), so nothing is sent around twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from campfire import protocol
from campfire.config import Settings
from campfire.db import Database
from campfire.realtime.allowance import SharedAllowance
from campfire.realtime.broker import RedisBroker, frame_payload, raise_if_cancelled
from campfire.realtime.connection import text_frame
from campfire.realtime.hub import Hub, event_frame
from campfire.realtime.presence import REFRESH, SharedPresence
from campfire.realtime.relay import OrderedRelay

log = logging.getLogger(__name__)

# Set while applying something that must not be sent to the other workers again.
LOCAL_ONLY: contextvars.ContextVar[bool] = contextvars.ContextVar("local_only", default=False)

# Hub methods that every worker applies to its own connections.
EVERYWHERE = (
    "publish_to_user",
    "publish_room_updated",
    "publish_room_removed",
    "publish_user_updated",
    "disconnect_user",
    "disconnect_session",
    "members_added",
    "member_removed",
    "room_deleted",
    "start_typing",
    "stop_typing",
)


class ClusterHub(Hub):
    """A Hub whose deliveries reach the connections of every worker, through Redis."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            typing_timeout=settings.typing_timeout,
            presence_coalesce=settings.presence_coalesce_seconds,
        )
        self.settings = settings
        # Unique even for two hubs in one process (the tests run two workers in one).
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.broker: RedisBroker | None = None
        self.relay: OrderedRelay | None = None
        self.presence: SharedPresence | None = None
        self.allowance: SharedAllowance | None = None  # each user's message allowance
        self.resync: Callable[[], Awaitable[None]] | None = None  # the connection re-check
        # Background jobs woken by another worker (wake_others): job -> handler(job, detail).
        self.wakers: dict[str, Callable[[str, str], None]] = {}
        self.online: dict[str, set[str]] = {}  # room -> users viewing it on any worker
        self._presence_ops: asyncio.Queue[tuple[str, str, int]] = asyncio.Queue()
        self._presence_synced = False
        self._tasks: list[asyncio.Task] = []

    async def start(self, db: Database, resync: Callable[[], Awaitable[None]]) -> None:
        """Start the relay (from the database's position now), Redis, and the presence tasks."""
        settings = self.settings
        self.resync = resync
        self.relay = OrderedRelay(
            self,
            db,
            gap_wait=settings.relay_gap_wait,
            check_interval=settings.relay_check_interval,
            before_repair_delivery=self._before_repair_delivery,
        )
        self.broker = RedisBroker(
            settings.redis_url,
            self.worker_id,
            on_sequenced=self._on_sequenced,
            on_event=self._on_event,
            on_connected=self._on_connected,
            probe_interval=settings.redis_probe_interval,
            stall_seconds=settings.redis_stall_seconds,
        )
        self.presence = SharedPresence(self.broker)
        self.allowance = SharedAllowance(
            self.broker, settings.user_messages_per_second, settings.user_messages_burst
        )
        await self.relay.start()
        await self.broker.start()
        self._tasks = [
            asyncio.create_task(self._presence_writer(), name="presence-writer"),
            asyncio.create_task(self._presence_upkeep(), name="presence-upkeep"),
        ]

    async def stop(self) -> None:
        """Stop the presence tasks, the relay and Redis."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.relay is not None:
            await self.relay.stop()
        if self.broker is not None:
            await self.broker.stop()

    # --- messages and changes: through the relay --------------------------------------

    def publish_message(self, room_id: str, seq: int, message: dict) -> None:
        """A committed message: to this worker's relay now, to the others through Redis."""
        self._sequenced(room_id, seq, self.message_frame(message))

    def publish_change(self, room_id: str, change_seq: int, event: dict) -> None:
        """A committed change: like a message."""
        self._sequenced(room_id, change_seq, event_frame(event))

    async def delivered_so_far(self) -> None:
        """Return once the relay handed over everything committed so far (a connection
        registers after it, so another worker's message committed before it is not live)."""
        if self.relay is not None:
            await self.relay.delivered_so_far()

    def _sequenced(self, room_id: str, seq: int, frame: bytes) -> None:
        """Offer a numbered frame to the local relay and publish it for the other workers."""
        assert self.relay is not None and self.broker is not None
        self.relay.offer(seq, room_id, frame)
        self.broker.publish_sequenced(seq, room_id, frame_payload(frame))

    def _on_sequenced(self, seq: int, room_id: str, payload: bytes) -> None:
        """Another worker's message or change, from Redis."""
        assert self.relay is not None
        self.relay.offer(seq, room_id, text_frame(payload))

    async def _before_repair_delivery(self) -> None:
        """Before delivering rows read from the database while Redis is down, bring
        subscriptions in line with the memberships table: the removal of a member, sent on
        Redis, may have been lost, and it must not be outrun by the room's messages."""
        if self.broker is not None and not self.broker.connected and self.resync is not None:
            await self.resync()

    async def _on_connected(self) -> None:
        """Subscribed to Redis (again): read what was missed, write presence again."""
        assert self.relay is not None
        self.relay.repair()
        self._presence_synced = False
        self._presence_ops.put_nowait(("", "", 0))  # wakes the writer, which syncs first

    # --- events for every worker -------------------------------------------------------

    def _everywhere(self, op: str, *args: Any) -> None:
        """Apply a hub method here, and on every other worker through Redis."""
        if not LOCAL_ONLY.get() and self.broker is not None:
            self.broker.publish_event(op, *args)
        token = LOCAL_ONLY.set(True)
        try:
            getattr(Hub, op)(self, *args)
        finally:
            LOCAL_ONLY.reset(token)

    def _on_event(self, event: dict[str, Any]) -> None:
        """An event from another worker: applied to this worker's connections only."""
        op, args = event["op"], event["args"]
        token = LOCAL_ONLY.set(True)
        try:
            if op == "presence":
                self._apply_presence(*args)
            elif op == "wake":
                handler = self.wakers.get(args[0])
                if handler is not None:
                    handler(args[0], args[1])
            elif op in EVERYWHERE:
                getattr(Hub, op)(self, *args)
            else:
                log.warning("unknown event %r from worker %s", op, event.get("w"))
        finally:
            LOCAL_ONLY.reset(token)

    def wake_others(self, job: str, detail: str = "") -> None:
        """Tell the other workers' background job `job` to look now (self.wakers there)."""
        if self.broker is not None:
            self.broker.publish_event("wake", job, detail)

    @contextlib.contextmanager
    def local_only(self) -> Iterator[None]:
        """Within this block, hub calls reach this worker's connections only (the re-check)."""
        token = LOCAL_ONLY.set(True)
        try:
            yield
        finally:
            LOCAL_ONLY.reset(token)

    def publish_to_user(self, user_id: str, event: dict) -> None:
        """An event to every connection of one user, on every worker."""
        self._everywhere("publish_to_user", user_id, event)

    def publish_room_updated(self, user_id: str, room: dict) -> None:
        """RoomUpdated to a user's connections on every worker."""
        self._everywhere("publish_room_updated", user_id, room)

    def publish_room_removed(self, user_id: str, room_id: str) -> None:
        """RoomRemoved to a user's connections on every worker."""
        self._everywhere("publish_room_removed", user_id, room_id)

    def publish_user_updated(self, user: dict) -> None:
        """UserUpdated to every connection on every worker."""
        self._everywhere("publish_user_updated", user)

    def disconnect_user(self, user_id: str, code: int, reason: str) -> None:
        """End a user's connections on every worker."""
        self._everywhere("disconnect_user", user_id, code, reason)

    def disconnect_session(self, token_hash: str, code: int, reason: str) -> None:
        """End one session's connections on every worker."""
        self._everywhere("disconnect_session", token_hash, code, reason)

    def members_added(self, room_id: str, user_ids: Any) -> None:
        """New members receive the room on every worker."""
        self._everywhere("members_added", room_id, list(user_ids))

    def member_removed(self, room_id: str, user_id: str) -> None:
        """A removed member stops receiving the room on every worker."""
        self._everywhere("member_removed", room_id, user_id)

    def room_deleted(self, room_id: str) -> None:
        """Nobody receives a deleted room, on any worker."""
        self._everywhere("room_deleted", room_id)

    def start_typing(self, user_id: str, room_id: str) -> None:
        """A typing indicator on every worker (each ends it at its deadline)."""
        self._everywhere("start_typing", user_id, room_id)

    def stop_typing(self, user_id: str, room_id: str) -> None:
        """End a typing indicator on every worker, if it is on: every worker holds every
        indicator (start_typing goes everywhere), so a message whose author was not typing
        sends nothing around. (It did: one event per message, and the events between them
        kept the broker from joining a burst of messages into one publish.) An indicator
        whose start is still on its way ends at its deadline."""
        if LOCAL_ONLY.get() or user_id in self.typing.get(room_id, ()):
            self._everywhere("stop_typing", user_id, room_id)

    def sweep_typing(self) -> int:
        """Every worker ends expired indicators itself: nothing is sent around."""
        with self.local_only():
            return super().sweep_typing()

    def is_online(self, user_id: str) -> bool:
        """Whether a user may be connected: always, since they may be on another worker
        (directory changes are then worked out for every member, and each worker delivers
        them to its own connections)."""
        return True

    # --- presence across workers ------------------------------------------------------

    def online_users(self, room_id: str) -> list[str]:
        """Users viewing a room on any worker, in a stable order."""
        return sorted(self.online.get(room_id, set()) | set(self.present.get(room_id, ())))

    def _user_arrived(self, room_id: str, user_id: str) -> None:
        """A user's first connection here: counted in Redis, which says whether they are new
        to the room on every worker (then UserJoined goes out)."""
        self._presence_ops.put_nowait((room_id, user_id, 1))

    def _user_went(self, room_id: str, user_id: str) -> None:
        """A user's last connection here: counted in Redis, which says whether it was their
        last on every worker (then UserLeft goes out)."""
        self._presence_ops.put_nowait((room_id, user_id, -1))

    def _apply_presence(
        self, room_id: str, user_id: str, joined: bool, users: list[str] | None
    ) -> None:
        """A presence transition (from any worker): announced once per worker's viewers."""
        online = self.online.setdefault(room_id, set())
        changed = (user_id not in online) if joined else (user_id in online)
        if joined:
            online.add(user_id)
        else:
            online.discard(user_id)
        if users is not None:
            self._set_online(room_id, users)
        elif not online:
            self.online.pop(room_id, None)
        if changed:
            event = protocol.user_joined if joined else protocol.user_left
            self.publish_to_viewers(room_id, event(user_id, room_id))
        if changed or users is not None:
            self._publish_presence(room_id)

    def _set_online(self, room_id: str, users: list[str]) -> None:
        """The room's viewers on every worker, as Redis counted them just now."""
        if users:
            self.online[room_id] = set(users)
        else:
            self.online.pop(room_id, None)

    def _announce(self, room_id: str, user_id: str, joined: bool, users: list[str] | None) -> None:
        """Apply a transition here and send it to the other workers."""
        assert self.broker is not None
        self.broker.publish_event("presence", room_id, user_id, joined, users)
        self._apply_presence(room_id, user_id, joined, users)

    def _share(self) -> dict[tuple[str, str], int]:
        """This worker's viewing connections per (room, user)."""
        return {
            (room_id, user_id): count
            for room_id, counts in self.present.items()
            for user_id, count in counts.items()
        }

    async def _presence_writer(self) -> None:
        """Write presence changes to Redis one at a time, in order; announce transitions.

        While Redis is unreachable, changes are applied here only (as one process would),
        and the whole share is written again once it is back.
        """
        assert self.presence is not None and self.broker is not None
        while True:
            raise_if_cancelled()
            room_id, user_id, delta = await self._presence_ops.get()
            try:
                if self.broker.connected and not self._presence_synced:
                    for room, user, joined in await self.presence.sync(self._share()):
                        self._announce(room, user, joined, None)
                    self._presence_synced = True
                    continue  # the share written holds this change already
                if not delta:
                    continue
                if not self.broker.connected:
                    raise ConnectionError("Redis is unreachable")
                before, after, users = await self.presence.change(room_id, user_id, delta)
                joined = before <= 0 < after
                left = before > 0 >= after
                if joined or left or delta > 0:
                    # Another tab joining announces no one, but every viewer gets the
                    # PresenceUpdate, as in one process (the joiner learns who is there).
                    self._announce(room_id, user_id, after > 0, users)
                else:  # a tab of a user still viewing on another worker left: nothing to say
                    self._set_online(room_id, users)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                raise_if_cancelled()
                self._presence_synced = False
                log.debug("presence not shared (%s); applied on this worker only", exc)
                if delta:
                    self._apply_presence(room_id, user_id, delta > 0, None)

    async def _presence_upkeep(self) -> None:
        """Every REFRESH seconds: extend this worker's expiry (sync if it was lost) and
        sweep the shares of workers that stopped."""
        assert self.presence is not None and self.broker is not None
        while True:
            raise_if_cancelled()
            await asyncio.sleep(REFRESH)
            if not self.broker.connected:
                continue
            try:
                if await self.presence.refresh():
                    self._presence_synced = False
                    self._presence_ops.put_nowait(("", "", 0))
                for room_id, user_id, joined in await self.presence.sweep():
                    self._announce(room_id, user_id, joined, None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                raise_if_cancelled()
                log.debug("presence upkeep failed: %s", exc)
