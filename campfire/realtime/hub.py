"""The hub: who is connected, which rooms they receive, who is viewing which room, who types.

Owned by the event loop: plain dicts and sets, no locks, and no awaits while its state is
half-changed. Every delivery goes through the publish methods (to a room's members, to a
room's viewers, to a user), the one seam where a broker could later stand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Iterable

from campfire import protocol
from campfire.realtime.connection import (
    CLOSE_GOING_AWAY,
    CLOSE_TRY_LATER,
    Connection,
    text_frame,
)

log = logging.getLogger(__name__)


# Recent NewMessage frames by sequence number, so a reconnect storm encodes each missed
# message once, not once per connection. Bounded in entries and in bytes.
FRAME_CACHE_ENTRIES = 1024
FRAME_CACHE_BYTES = 4 * 1024 * 1024
# Removals remembered for commands that read rooms and subscribe after an await: more than
# this many removals during one such read, and the connection is asked to reconnect.
REMOVALS_KEPT = 1024
RECONNECT = "Please reconnect"


def event_frame(event: dict) -> bytes:
    """Encode an event once, as a ready-to-write frame."""
    return text_frame(protocol.encode(event))


class Hub:
    """In-memory registry of live connections and the rooms they receive and view."""

    def __init__(
        self,
        typing_timeout: float = 10.0,
        clock: Callable[[], float] | None = None,
        presence_coalesce: float = 0.25,
    ) -> None:
        self.typing_timeout = typing_timeout
        self.presence_coalesce = presence_coalesce
        self._clock = clock or (lambda: asyncio.get_running_loop().time())
        self.by_user: dict[str, set[Connection]] = {}
        self.members: dict[str, set[Connection]] = {}  # room -> connections receiving messages
        self.viewers: dict[str, set[Connection]] = {}  # room -> connections viewing it
        self.present: dict[str, dict[str, int]] = {}  # room -> user -> viewing connections
        self.typing: dict[str, dict[str, float]] = {}  # room -> user -> deadline
        self.catching_up: set[Connection] = set()  # registered, rooms not read yet
        # The latest removals (number, room, user or None for a deleted room), so that a
        # subscription decided from a read made before one of them is not made (removal_mark).
        self._removals: deque[tuple[int, str, str | None]] = deque(maxlen=REMOVALS_KEPT)
        self._removal_count = 0
        self._frames: dict[int, bytes] = {}  # seq -> NewMessage frame, oldest first
        # Rooms whose last PresenceUpdate went out less than presence_coalesce ago, with the
        # timer that ends the pause; rooms whose presence changed during their pause.
        self._presence_paused: dict[str, asyncio.TimerHandle] = {}
        self._presence_due: set[str] = set()
        self._frame_bytes = 0
        # ("user"|"room", id) -> the state last published or seen by the re-check, so the
        # re-check can tell what another process (the CLI) changed (campfire/directory.py).
        self.directory_seen: dict[tuple[str, str], tuple] = {}
        self.directory_primed = False  # whether the re-check has read the directory once

    # --- the publish seam ------------------------------------------------------------

    def publish_message(self, room_id: str, seq: int, message: dict) -> None:
        """NewMessage to every connection of every member of the room (the sender's too).

        Connections still catching up do not know their rooms yet: they hold every message,
        and keep those of their own rooms once they know them (Hub.caught_up).
        """
        if self.receives(room_id):
            self._send_in_sequence(room_id, seq, self.message_frame(message))

    def publish_change(self, room_id: str, change_seq: int, event: dict) -> None:
        """A change (MessageUpdated, MessageDeleted, BoostAdded, BoostRemoved) to the same
        connections as NewMessage, numbered in the same sequence (held while catching up)."""
        if self.receives(room_id):
            self._send_in_sequence(room_id, change_seq, event_frame(event))

    def receives(self, room_id: str) -> bool:
        """Whether any connection here receives the room's messages now (or may: catching up)."""
        return room_id in self.members or bool(self.catching_up)

    def deliver(self, room_id: str, seq: int, frame: bytes) -> None:
        """A numbered frame, in sequence order, from a worker's relay (realtime/relay.py)."""
        if self.receives(room_id):
            self._send_in_sequence(room_id, seq, frame)

    def local_only(self) -> contextlib.AbstractContextManager[None]:
        """A block whose hub calls stay in this process: always so in one process
        (cluster.ClusterHub keeps them from the other workers)."""
        return contextlib.nullcontext()

    def _send_in_sequence(self, room_id: str, seq: int, frame: bytes) -> None:
        """A frame numbered `seq` to the room's members and to every connection catching up."""
        for conn in list(self.members.get(room_id, ())):
            conn.send_message(room_id, seq, frame)
        for conn in list(self.catching_up):
            conn.send_message(room_id, seq, frame)

    def message_frame(self, message: dict) -> bytes:
        """The NewMessage frame of a stored message (views.message_json), encoded once."""
        seq = message["seq"]
        if message.get("edited_at") is not None:
            # An edited message's frame changes: never cached, so none goes stale.
            return event_frame(protocol.new_message(message))
        frame = self._frames.get(seq)
        if frame is None:
            frame = event_frame(protocol.new_message(message))
            self._frames[seq] = frame
            self._frame_bytes += len(frame)
            while len(self._frames) > FRAME_CACHE_ENTRIES or self._frame_bytes > FRAME_CACHE_BYTES:
                self._frame_bytes -= len(self._frames.pop(next(iter(self._frames))))
        return frame

    def cached_frame(self, seq: int) -> bytes | None:
        """The NewMessage frame of message `seq` if it is still cached."""
        return self._frames.get(seq)

    def publish_to_viewers(
        self, room_id: str, event: dict, exclude_user: str | None = None
    ) -> None:
        """An event to every connection viewing the room (optionally not to one user)."""
        conns = self.viewers.get(room_id)
        if not conns:
            return
        frame = event_frame(event)
        for conn in list(conns):
            if conn.user_id != exclude_user:
                conn.send(frame)

    def publish_to_user(self, user_id: str, event: dict) -> None:
        """An event to every connection of one user."""
        conns = self.by_user.get(user_id)
        if conns:
            frame = event_frame(event)
            for conn in list(conns):
                conn.send(frame)

    # --- connections -----------------------------------------------------------------

    async def delivered_so_far(self) -> None:
        """Return once everything committed so far was handed to the connections: at once in
        one process (the publish follows the commit); a worker's relay may be behind."""

    def register(self, conn: Connection) -> None:
        """A new connection: it receives every message until it knows its rooms (caught_up)."""
        self.by_user.setdefault(conn.user_id, set()).add(conn)
        self.catching_up.add(conn)

    def caught_up(self, conn: Connection, room_ids: Iterable[str], since: int) -> None:
        """The connection read its rooms (after removal_mark `since`): from now on it
        receives just theirs."""
        self.catching_up.discard(conn)
        self.members_added_for(conn, room_ids, since)

    def unregister(self, conn: Connection) -> None:
        """Forget a closed connection; its presence ends as if it had left every room."""
        self.catching_up.discard(conn)
        for room_id in list(conn.joined):
            self.leave(conn, room_id)
        for room_id in list(conn.rooms):
            self._unsubscribe(conn, room_id)
        conns = self.by_user.get(conn.user_id)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self.by_user[conn.user_id]

    def connection_count(self, user_id: str | None = None) -> int:
        """Live connections, of one user or of everybody."""
        if user_id is not None:
            return len(self.by_user.get(user_id, ()))
        return sum(len(conns) for conns in self.by_user.values())

    def is_online(self, user_id: str) -> bool:
        """Global presence: at least one connection open."""
        return user_id in self.by_user

    def all_connections(self) -> list[Connection]:
        """A snapshot of every live connection."""
        return [conn for conns in self.by_user.values() for conn in conns]

    def _subscribe(self, conn: Connection, room_id: str) -> None:
        conn.rooms.add(room_id)
        self.members.setdefault(room_id, set()).add(conn)

    def _unsubscribe(self, conn: Connection, room_id: str) -> None:
        conn.rooms.discard(room_id)
        conns = self.members.get(room_id)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self.members[room_id]

    # --- viewing (room presence) -----------------------------------------------------

    def join(self, conn: Connection, room_id: str) -> None:
        """A connection starts viewing a room: UserJoined if new, then PresenceUpdate.

        Joining again changes nothing, so only the joiner is answered: a client repeating
        JoinRoom must not make the server send the room's presence to every viewer.
        """
        if conn.closing:
            return
        if room_id in conn.joined:
            conn.send(event_frame(protocol.presence_update(room_id, self.online_users(room_id))))
            return
        conn.joined.add(room_id)
        self.viewers.setdefault(room_id, set()).add(conn)
        counts = self.present.setdefault(room_id, {})
        counts[conn.user_id] = counts.get(conn.user_id, 0) + 1
        if counts[conn.user_id] == 1:
            self._user_arrived(room_id, conn.user_id)
        else:
            self._publish_presence(room_id)

    def _user_arrived(self, room_id: str, user_id: str) -> None:
        """A user's first connection here started viewing: UserJoined, then the list."""
        self.publish_to_viewers(room_id, protocol.user_joined(user_id, room_id))
        self._publish_presence(room_id)

    def leave(self, conn: Connection, room_id: str) -> None:
        """A connection stops viewing a room; when it was the user's last, they leave."""
        if room_id not in conn.joined:
            return
        conn.joined.discard(room_id)
        viewers = self.viewers.get(room_id)
        if viewers is not None:
            viewers.discard(conn)
            if not viewers:
                del self.viewers[room_id]
        counts = self.present.get(room_id, {})
        remaining = counts.get(conn.user_id, 1) - 1
        if remaining > 0:
            counts[conn.user_id] = remaining
            return
        counts.pop(conn.user_id, None)
        if not counts:
            self.present.pop(room_id, None)
        self.stop_typing(conn.user_id, room_id)
        self._user_went(room_id, conn.user_id)

    def _user_went(self, room_id: str, user_id: str) -> None:
        """A user's last connection here stopped viewing: UserLeft, then the list."""
        self.publish_to_viewers(room_id, protocol.user_left(user_id, room_id))
        self._publish_presence(room_id)

    def online_users(self, room_id: str) -> list[str]:
        """Users viewing a room, in a stable order."""
        return sorted(self.present.get(room_id, ()))

    def _publish_presence(self, room_id: str) -> None:
        """PresenceUpdate to the room's viewers, at most once per `presence_coalesce` seconds.

        The first change of a quiet room goes at once; changes during the pause that follows
        are sent together when it ends, as the list at that moment. UserJoined and UserLeft
        are never held, so a user is announced before any PresenceUpdate lists them.
        """
        if room_id in self._presence_paused:
            self._presence_due.add(room_id)
        else:
            self._send_presence(room_id)

    def _send_presence(self, room_id: str) -> None:
        """Send the room's PresenceUpdate now, and pause its updates for a while."""
        if room_id not in self.viewers:
            return
        self.publish_to_viewers(
            room_id, protocol.presence_update(room_id, self.online_users(room_id))
        )
        if self.presence_coalesce > 0:
            self._presence_paused[room_id] = asyncio.get_running_loop().call_later(
                self.presence_coalesce, self._presence_pause_over, room_id
            )

    def _presence_pause_over(self, room_id: str) -> None:
        """End a room's pause, sending the update held during it (if any)."""
        del self._presence_paused[room_id]
        if room_id in self._presence_due:
            self._presence_due.discard(room_id)
            self._send_presence(room_id)

    def _forget_presence(self, room_id: str) -> None:
        """Drop a room's pending presence update (the room is gone)."""
        timer = self._presence_paused.pop(room_id, None)
        if timer is not None:
            timer.cancel()
        self._presence_due.discard(room_id)

    # --- typing ----------------------------------------------------------------------

    def start_typing(self, user_id: str, room_id: str) -> None:
        """Start (or extend) a typing indicator; announced to the others only the first time."""
        typing = self.typing.setdefault(room_id, {})
        first = user_id not in typing
        typing[user_id] = self._clock() + self.typing_timeout
        if first:
            self.publish_to_viewers(room_id, protocol.typing_start(user_id, room_id), user_id)

    def stop_typing(self, user_id: str, room_id: str) -> None:
        """End a typing indicator, announcing it only if it was on."""
        typing = self.typing.get(room_id)
        if not typing or typing.pop(user_id, None) is None:
            return
        if not typing:
            del self.typing[room_id]
        self.publish_to_viewers(room_id, protocol.typing_stop(user_id, room_id), user_id)

    def sweep_typing(self) -> int:
        """End every typing indicator past its deadline; how many ended."""
        now = self._clock()
        expired = [
            (room_id, user_id)
            for room_id, typing in self.typing.items()
            for user_id, deadline in typing.items()
            if deadline <= now
        ]
        for room_id, user_id in expired:
            self.stop_typing(user_id, room_id)
        return len(expired)

    # --- membership changes made elsewhere (HTTP, services) ---------------------------

    def members_added(self, room_id: str, user_ids: Iterable[str]) -> None:
        """New members start receiving the room's messages on their open connections."""
        for user_id in user_ids:
            for conn in list(self.by_user.get(user_id, ())):
                self._subscribe(conn, room_id)

    def removal_mark(self) -> int:
        """A mark to take before reading a user's rooms: members_added_for(since=mark) then
        leaves out the rooms the user lost while the read was awaited."""
        return self._removal_count

    def members_added_for(
        self, conn: Connection, room_ids: Iterable[str], since: int | None = None
    ) -> None:
        """One connection starts receiving these rooms' messages (read after mark `since`)."""
        if conn.closing:  # a command that finished after its socket closed or its session ended
            return
        if since is not None:
            lost = self.removed_since(since, conn.user_id)
            if lost is None:  # too many removals meanwhile to tell which were this user's
                conn.abort(CLOSE_TRY_LATER, RECONNECT)
                return
            room_ids = [room_id for room_id in room_ids if room_id not in lost]
        for room_id in room_ids:
            self._subscribe(conn, room_id)

    def reconnect_user(self, user_id: str) -> None:
        """Close a user's connections with 1013: their clients reconnect, read their rooms
        again and catch up without a gap (when the hub cannot tell what they may receive)."""
        for conn in list(self.by_user.get(user_id, ())):
            conn.abort(CLOSE_TRY_LATER, RECONNECT)

    def removed_since(self, mark: int, user_id: str) -> set[str] | None:
        """The rooms the user lost (removed, or deleted) after removal_mark `mark`; None if
        too many removals happened since to tell."""
        if self._removal_count - mark > len(self._removals):
            return None
        lost = set()
        for number, room_id, removed_user in reversed(self._removals):
            if number <= mark:
                break
            if removed_user is None or removed_user == user_id:
                lost.add(room_id)
        return lost

    def _removed(self, room_id: str, user_id: str | None) -> None:
        """Remember a removal (of a member, or with None of the whole room) for removal_mark."""
        self._removal_count += 1
        self._removals.append((self._removal_count, room_id, user_id))

    def member_removed(self, room_id: str, user_id: str) -> None:
        """A removed member stops receiving the room at once, and leaves it if viewing."""
        self._removed(room_id, user_id)
        for conn in list(self.by_user.get(user_id, ())):
            self.leave(conn, room_id)
            self._unsubscribe(conn, room_id)

    def room_deleted(self, room_id: str) -> None:
        """Nobody receives or views a deleted room any more."""
        self._removed(room_id, None)
        for conn in list(self.viewers.get(room_id, ())):
            self.leave(conn, room_id)
        for conn in list(self.members.get(room_id, ())):
            self._unsubscribe(conn, room_id)
        self.typing.pop(room_id, None)
        self._forget_presence(room_id)

    # --- the directory: rooms and people changing (RoomUpdated, RoomRemoved, UserUpdated) --

    def publish_room_updated(self, user_id: str, room: dict) -> None:
        """RoomUpdated to a user's connections, which from now on receive the room's messages."""
        self.members_added(room["id"], [user_id])
        self.publish_to_user(user_id, protocol.room_updated(room))

    def publish_room_removed(self, user_id: str, room_id: str) -> None:
        """RoomRemoved to a user's connections, which stop receiving and viewing it at once."""
        self.member_removed(room_id, user_id)
        self.publish_to_user(user_id, protocol.room_removed(room_id))

    def publish_user_updated(self, user: dict) -> None:
        """UserUpdated to every live connection."""
        frame = event_frame(protocol.user_updated(user))
        for conn in self.all_connections():
            conn.send(frame)

    def disconnect_user(self, user_id: str, code: int, reason: str) -> None:
        """End every connection of a user (deactivated, or signed out everywhere)."""
        for conn in list(self.by_user.get(user_id, ())):
            self.end_connection(conn, code, reason)

    def disconnect_session(self, token_hash: str, code: int, reason: str) -> None:
        """End the connections opened with one session (logged out or revoked)."""
        for conn in self.all_connections():
            if conn.token_hash == token_hash:
                self.end_connection(conn, code, reason)

    def end_connection(self, conn: Connection, code: int, reason: str) -> None:
        """A connection whose session ended: it stops at once, whether or not its client reads.

        Its frames are no longer served (Connection.closing), it receives nothing more, it
        leaves every room's presence now, and its socket is aborted (queue dropped, not
        drained) so that a client that stopped reading cannot keep it open.
        """
        conn.abort(code, reason)
        self.unregister(conn)

    async def close_all(self, timeout: float) -> None:
        """Shutdown: finish pending writes, close every socket with 1001, wait a bounded time."""
        for timer in self._presence_paused.values():
            timer.cancel()
        self._presence_paused.clear()
        self._presence_due.clear()
        conns = self.all_connections()
        for conn in conns:
            conn.close_after_pending(CLOSE_GOING_AWAY, "Server shutting down")
        if conns:
            log.info("closing %d WebSocket connections", len(conns))
            await asyncio.gather(*(conn.wait_closed(timeout) for conn in conns))
