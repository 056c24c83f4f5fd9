"""One WebSocket connection's outbound side: a bounded queue, one writer task, the close."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import struct
from collections import deque

from aiohttp import web

log = logging.getLogger(__name__)

# Close codes (docs/websocket.md lists them).
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008  # flood over the rate limit, session revoked
CLOSE_TOO_BIG = 1009
CLOSE_TRY_LATER = 1013  # client too slow to read what it is sent

# Seconds an aborted connection gets to finish its close handshake before the TCP connection
# is cut: a client that does not read cannot receive a close frame.
ABORT_GRACE = 2.0

_ids = itertools.count(1)


def text_frame(payload: bytes) -> bytes:
    """A complete, unmasked WebSocket text frame (server to client) around `payload`.

    Built once per event and written as-is to every recipient: encode once, send many.
    """
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x81, size)
    elif size < 65536:
        header = struct.pack("!BBH", 0x81, 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 127, size)
    return header + payload


class Connection:
    """A live connection of one user: what it is subscribed to, and its outbound frames.

    Sending never awaits: a frame is written straight to the socket while the socket keeps
    up; otherwise it waits in a bounded queue that one writer task drains. A client whose
    queue overflows is disconnected, and nobody else waits for it.
    """

    # Thousands of these live at once: slots instead of a __dict__ each.
    __slots__ = (
        "_aborting",
        "_caught_up_to",
        "_close_with",
        "_held",
        "_max_queue",
        "_protocol",
        "_queue",
        "_transport",
        "_wakeup",
        "_writer",
        "closed",
        "id",
        "joined",
        "rooms",
        "token_hash",
        "user_id",
        "ws",
    )

    def __init__(
        self,
        ws: web.WebSocketResponse,
        request: web.Request,
        user_id: str,
        token_hash: str,
        max_queue: int,
    ) -> None:
        self.id = next(_ids)
        self.ws = ws
        self.user_id = user_id
        self.token_hash = token_hash
        self.rooms: set[str] = set()  # rooms whose messages this connection receives
        self.joined: set[str] = set()  # rooms this connection is viewing (presence)
        self._protocol = request.protocol
        self._transport = request.transport
        self._max_queue = max_queue
        # The queue, the writer task and its event exist only once a frame has to wait (or a
        # close is due): most connections never back up, and an idle one then costs ~3 KB less.
        self._queue: deque[bytes] | None = None
        self._wakeup: asyncio.Event | None = None
        self._writer: asyncio.Task | None = None
        self._close_with: tuple[int, str] | None = None
        self._aborting = False
        self.closed = False
        # While catching up, live messages wait here as (room_id, seq, frame).
        self._held: list[tuple[str, int, bytes]] | None = None
        # Per room, the newest message the catch-up sent: a live copy of it or of an older
        # one (committed before the catch-up read, published after) is not sent again.
        self._caught_up_to: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"<Connection {self.id} user={self.user_id}>"

    # --- sending ---------------------------------------------------------------------

    def send(self, frame: bytes) -> None:
        """Queue a complete frame for this client; never blocks."""
        if self.closed or self._close_with is not None:
            return
        transport, queue = self._transport, self._queue
        if (
            not queue
            and transport is not None
            and not transport.is_closing()
            and not self._protocol.writing_paused
        ):
            transport.write(frame)
            return
        if queue is None:
            queue = self._queue = deque()
        if len(queue) >= self._max_queue:
            log.warning("disconnecting %r: too slow to read (%d frames queued)", self, len(queue))
            self.abort(CLOSE_TRY_LATER, "Too slow to read messages")
            return
        queue.append(frame)
        self._wake_writer()

    def send_message(self, room_id: str, seq: int, frame: bytes) -> None:
        """Send a NewMessage frame once: held while catching up, skipped if already sent."""
        if self._caught_up_to and seq <= self._caught_up_to.get(room_id, 0):
            return
        if self._held is not None:
            self._held.append((room_id, seq, frame))
        else:
            self.send(frame)

    def hold_live_messages(self) -> None:
        """Start holding live messages (before the catch-up query runs)."""
        self._held = []

    def finish_catch_up(self, missed: list[bytes], sent: dict[str, int], ready: bytes) -> None:
        """Send the missed messages, the live ones held meanwhile, and Ready, in one write.

        `sent[room]` is the newest message `missed` holds for a room: held messages of this
        connection's rooms newer than that are sent, each once; from now on live ones are too.
        """
        held, self._held = self._held or [], None
        self._caught_up_to = sent
        frames = list(missed)
        released: set[int] = set()
        for room_id, seq, frame in held:
            if room_id in self.rooms and seq not in released and seq > sent.get(room_id, 0):
                released.add(seq)
                frames.append(frame)
        frames.append(ready)
        # One write (one system call) for all of it, not one per message.
        self.send(b"".join(frames))

    def _wake_writer(self) -> None:
        """Wake the writer task, starting it the first time it is needed."""
        wakeup = self._wakeup
        if wakeup is None:  # made together with the writer task
            if self.closed:
                return
            wakeup = self._wakeup = asyncio.Event()
            self._writer = asyncio.create_task(self._write_loop(), name=f"ws-writer-{self.id}")
        wakeup.set()

    async def _write_loop(self) -> None:
        """Drain the queue whenever the socket can take more; close when told to."""
        wakeup = self._wakeup
        assert wakeup is not None  # _wake_writer makes it before starting this task
        try:
            while True:
                await wakeup.wait()
                wakeup.clear()
                queue = self._queue
                while queue:
                    if self._protocol.writing_paused:
                        await self._protocol._drain_helper()
                        continue  # abort() may have emptied the queue meanwhile
                    transport = self._transport
                    if transport is None or transport.is_closing():
                        queue.clear()
                        break
                    transport.write(queue.popleft())
                if self._close_with is not None:
                    code, reason = self._close_with
                    await self.ws.close(code=code, message=reason.encode())
                    return
        except (ConnectionError, asyncio.CancelledError):
            pass
        except Exception:  # a bug here must not take the server down
            log.exception("writer of %r failed", self)
        finally:
            self._queue = None

    # --- closing ---------------------------------------------------------------------

    @property
    def closing(self) -> bool:
        """Whether this connection is closed or a close is decided: its frames are not served."""
        return self.closed or self._close_with is not None

    def close_after_pending(self, code: int, reason: str) -> None:
        """Finish sending what is queued, then close with `code`."""
        if self._close_with is None and not self.closed:
            self._close_with = (code, reason)
            self._wake_writer()

    def abort(self, code: int, reason: str) -> None:
        """Close now, dropping what is queued (abuse or overload)."""
        if self._aborting:
            return
        self._aborting = True
        if self._queue:
            self._queue.clear()  # the writer stops at once: it drains this same deque
        self._close_with = (code, reason)
        self._wake_writer()
        # A client that does not read cannot receive a close frame either: cut it loose
        # if the close handshake does not finish soon.
        loop = asyncio.get_running_loop()
        loop.call_later(ABORT_GRACE, self._force_close)

    def _force_close(self) -> None:
        """Drop the TCP connection if the close did not complete.

        Even once the reader is done: a close that timed out leaves the transport flushing to
        a peer that never reads, which would hold the socket open for good.
        """
        if self._transport is not None:
            self._transport.abort()  # a no-op on a transport already closed

    async def finished(self) -> None:
        """Stop the writer task once the reader is done (the socket is closed)."""
        self.closed = True
        writer = self._writer
        if writer is not None and not writer.done():
            if self._close_with is None:
                writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(writer, timeout=2.0)

    async def wait_closed(self, timeout: float) -> None:
        """Wait for the writer to finish its close, at most `timeout` seconds."""
        if self._writer is None:
            return
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError, Exception):
            await asyncio.wait_for(asyncio.shield(self._writer), timeout)
