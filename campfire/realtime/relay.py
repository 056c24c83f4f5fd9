"""The ordered relay of one worker: every message and change, once, in sequence order.

With several workers (`campfire serve --workers N --redis ...`), a worker learns of the
messages and changes the others commit from Redis, which may lose, delay or (after a
restart) never deliver them. The database stays the only durable log; the relay makes what
a worker hands its hub exactly the database's sequence, in order:

- `high` is the highest number handed to the hub such that every lower number has been
  handed over too, or is known not to exist (a hole: a retry's unused number, a change whose
  message was gone, a row deleted since).
- Numbers above `high + 1` wait in `pending`. A gap older than `gap_wait` (~25 ms) is
  repaired from the database: `store.sequence_since(high)` reads, in one statement, the rows
  after `high` and the sequence counter, which SQLite advances in commit order, so the read
  holds every committed number up to its position.
- A position check every `check_interval` reads the counter: a publish Redis lost, a worker
  that died between its commit and its publish, or Redis being down altogether (the relay then
  polls the database) all end up here.

It imports nothing of Redis: the broker feeds it, and so does the worker's own publishing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from campfire import changes, store
from campfire.db import Database, DatabaseUnavailable
from campfire.realtime.hub import Hub, event_frame
from campfire.views import message_json

log = logging.getLogger(__name__)

# Rows read per repair; a relay further behind reads again at once.
REPAIR_ROWS = 2000


class OrderedRelay:
    """Hands a hub every numbered frame in sequence order, repairing gaps from the database."""

    def __init__(
        self,
        hub: Hub,
        db: Database,
        gap_wait: float = 0.025,
        check_interval: float = 1.0,
        before_repair_delivery: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self.hub = hub
        self.db = db
        self.gap_wait = gap_wait
        self.check_interval = check_interval
        self.high = 0
        self.pending: dict[int, tuple[str, bytes]] = {}  # seq -> (room id, frame)
        self.repairs = 0  # database reads that delivered or skipped something (for tests, logs)
        self._gap_since: float | None = None  # when the oldest unfilled gap was noticed
        self._gap_timer: asyncio.TimerHandle | None = None
        self._repairing: asyncio.Task | None = None
        self._again = False
        self._checker: asyncio.Task | None = None
        self._before_repair_delivery = before_repair_delivery

    async def start(self) -> None:
        """Start from the database's position now (older numbers were never this worker's to
        deliver: connections catch up from the database), and run the position check."""
        self.high = (await store.sequence_since(self.db, 2**62, 1)).position
        self._checker = asyncio.create_task(self._check_loop(), name="relay-position-check")

    async def stop(self) -> None:
        """Stop checking and repairing."""
        if self._gap_timer is not None:
            self._gap_timer.cancel()
        for task in (self._checker, self._repairing):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    # --- feeding ----------------------------------------------------------------------

    def offer(self, seq: int, room_id: str, frame: bytes) -> None:
        """A committed message or change, from this worker or from Redis: deliver it in turn."""
        if seq <= self.high or seq in self.pending:
            return
        self.pending[seq] = (room_id, frame)
        self._drain()

    def _drain(self) -> None:
        """Hand over every pending frame that is next in sequence; watch the gap if one is left."""
        pending = self.pending
        while self.high + 1 in pending:
            self.high += 1
            room_id, frame = pending.pop(self.high)
            self.hub.deliver(room_id, self.high, frame)
        if not pending:
            self._gap_since = None
            return
        if self._gap_since is None:
            self._gap_since = time.monotonic()
        if self._gap_timer is None:
            self._gap_timer = asyncio.get_running_loop().call_later(
                self.gap_wait, self._gap_timeout
            )

    def _gap_timeout(self) -> None:
        """The gap waited long enough: read the database."""
        self._gap_timer = None
        if self.pending:
            self.repair()

    # --- repairing --------------------------------------------------------------------

    def repair(self) -> None:
        """Read the database after `high` soon (once at a time; again if asked meanwhile)."""
        if self._repairing is not None and not self._repairing.done():
            self._again = True
            return
        self._repairing = asyncio.create_task(self._repair(), name="relay-repair")

    async def _repair(self) -> None:
        """Deliver from the database until it has nothing after `high`."""
        try:
            while True:
                self._again = False
                read = await store.sequence_since(self.db, self.high, REPAIR_ROWS)
                if read.position > self.high:
                    if self._before_repair_delivery is not None:
                        await self._before_repair_delivery()
                    self._deliver_read(read)
                more = read.position > 0 and (
                    len(read.messages) >= REPAIR_ROWS or len(read.changes) >= REPAIR_ROWS
                )
                if not (more or self._again):
                    break
        except asyncio.CancelledError:
            raise
        except DatabaseUnavailable:
            pass  # the engine logs the outage once; the position check retries
        except Exception:
            log.exception("reading the sequence from the database failed (will retry)")

    def _deliver_read(self, read: store.SequenceRead) -> None:
        """Hand over, in order, the rows of a read and what waits up to its position."""
        self.repairs += 1
        frames: dict[int, tuple[str, bytes]] = {}
        # Only rows some connection here receives are encoded: the others' rooms are most
        # of what a busy worker reads (skipping them is no hole: `high` moves past them).
        wanted = self.hub.receives
        for row in read.messages:
            if row["seq"] > self.high and wanted(row["room_id"]):
                frames[row["seq"]] = (row["room_id"], self.hub.message_frame(message_json(row)))
        fresh = [row for row in read.changes if row["seq"] > self.high and wanted(row["room_id"])]
        for event in changes.catch_up_events(fresh):
            frames[event["change_seq"]] = (event_room(event), event_frame(event))
        # What Redis brought is what was committed at that number: it wins over a re-read.
        for seq in [s for s in self.pending if s <= read.position]:
            frames[seq] = self.pending.pop(seq)
        for seq in sorted(frames):
            room_id, frame = frames[seq]
            self.hub.deliver(room_id, seq, frame)
        self.high = read.position
        self._gap_since = None
        self._drain()

    async def delivered_so_far(self) -> None:
        """Return once every number committed before this call was handed to the hub (read
        from the database if Redis has not brought it yet)."""
        position = (await store.sequence_since(self.db, 2**62, 1)).position
        for _ in range(3):  # a failed read is logged and retried by the position check
            if self.high >= position:
                return
            self.repair()
            if self._repairing is not None:
                await asyncio.shield(self._repairing)

    # --- the position check -----------------------------------------------------------

    async def _check_loop(self) -> None:
        """Every check_interval: whatever the database holds beyond `high` is fetched."""
        while True:
            await asyncio.sleep(self.check_interval)
            try:
                position = (await store.sequence_since(self.db, 2**62, 1)).position
            except DatabaseUnavailable:
                continue  # the engine logs the outage once; checked again next time
            except Exception:
                log.exception("reading the sequence position failed")
                continue
            if position > self.high:
                self.repair()


def event_room(event: dict) -> str:
    """The room a change event belongs to."""
    if "room_id" in event:
        return event["room_id"]
    if "message" in event:
        return event["message"]["room_id"]
    return event["boost"]["room_id"]
