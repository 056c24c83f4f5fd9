"""Redis between the workers of one Campfire: a fast path that may lose things.

Three channels: `seq` carries every committed message and change (numbered; the receiving
worker's relay puts them in order and repairs what is lost from the database), `events`
carries what a user's connections on every worker must learn (RoomUpdated, sessions ended,
presence, typing), and one `probe` channel per worker carries the worker's own liveness
probe: a subscription that stops delivering it (Redis frozen, a connection dropped without
an error, an output buffer limit) is torn down and made again. redis-py's PubSub can lose
its connection silently, so nothing here trusts it to report trouble by itself.

Publishing never awaits Redis in the caller: frames go to a bounded queue that one task
sends in pipelined batches; when Redis is down, they are dropped (the database has them).
Only this module (and presence.py) imports `redis`, and only `--redis` loads them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

try:
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import RedisError
except ImportError as exc:  # pragma: no cover: the message is the point
    raise ImportError(
        "--redis needs the redis package: pip install 'campfire[redis]'"
        " (or pip install 'redis[hiredis]>=5')"
    ) from exc

log = logging.getLogger(__name__)

PREFIX = "campfire"
PUBLISH_QUEUE = (
    10_000  # items waiting for Redis; beyond it they are dropped (the database has them)
)
PUBLISH_BATCH = 500
JOINED_BYTES = 1024 * 1024  # a publish of joined `seq` items grows no larger (coalesce)
RECONNECT_MAX_WAIT = 1.0  # seconds between attempts at most (reset once connected)


def raise_if_cancelled() -> None:
    """Re-raise a cancellation that redis-py swallowed or turned into another error (it
    does, when a command or a pipeline is cancelled mid-way): else a loop around Redis calls
    would go on after being stopped, and stopping would wait for it forever."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def frame_payload(frame: bytes) -> bytes:
    """The JSON inside a server-to-client text frame (connection.text_frame)."""
    size = frame[1] & 0x7F
    return frame[2 if size < 126 else 4 if size == 126 else 10 :]


def seq_record(seq: int, worker_id: str, room_id: str, payload: bytes) -> bytes:
    """One numbered item of the `seq` channel: a header line with the payload's length."""
    return f"{seq} {worker_id} {room_id} {len(payload)}\n".encode() + payload


def seq_records(data: bytes) -> Iterator[tuple[int, str, str, bytes]]:
    """The (seq, worker, room, payload) items of one `seq` publish, in order."""
    at = 0
    while at < len(data):
        end = data.index(b"\n", at)
        seq, worker, room_id, size = data[at:end].decode().split(" ")
        at = end + 1 + int(size)
        yield int(seq), worker, room_id, data[end + 1 : at]


def coalesce(batch: list[tuple[str, bytes]], seq_channel: str) -> list[tuple[str, bytes]]:
    """The batch as publishes, with each run of `seq` items joined into one (of at most
    JOINED_BYTES, well inside Redis's output buffer limit for subscribers).

    A worker pays for every message it reads from Redis (each is a separate read in
    redis-py) and every worker reads every item: joined, a burst of commits costs one.
    Order is kept: an event between two items splits their run.
    """
    out: list[tuple[str, bytes]] = []
    run: list[bytes] = []
    size = 0
    for channel, data in batch:
        if channel == seq_channel and size + len(data) <= JOINED_BYTES:
            run.append(data)
            size += len(data)
            continue
        if run:
            out.append((seq_channel, b"".join(run)))
            run, size = [], 0
        if channel == seq_channel:
            run, size = [data], len(data)
        else:
            out.append((channel, data))
    if run:
        out.append((seq_channel, b"".join(run)))
    return out


class RedisBroker:
    """The Redis side of one worker: publishing, the subscription, the liveness probe."""

    def __init__(
        self,
        url: str,
        worker_id: str,
        on_sequenced: Callable[[int, str, bytes], None],
        on_event: Callable[[dict[str, Any]], None],
        on_connected: Callable[[], Awaitable[None]],
        probe_interval: float = 1.0,
        stall_seconds: float = 2.5,
    ) -> None:
        self.worker_id = worker_id
        self.client = aioredis.Redis.from_url(
            url,
            socket_timeout=max(0.5, probe_interval),
            socket_connect_timeout=max(0.5, probe_interval),
            # No retries inside redis-py: a frozen Redis must fail fast; this class retries.
            retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False,
        )
        self.seq_channel = f"{PREFIX}:seq"
        self.events_channel = f"{PREFIX}:events"
        self.probe_channel = f"{PREFIX}:probe:{worker_id}"
        self._seq_bytes, self._events_bytes = (
            self.seq_channel.encode(),
            self.events_channel.encode(),
        )
        self._on_sequenced = on_sequenced
        self._on_event = on_event
        self._on_connected = on_connected
        self.probe_interval = probe_interval
        self.stall_seconds = stall_seconds
        self.connected = False  # subscribed, and the last probe came back in time
        self.outages = 0  # times the subscription was lost (logs, tests)
        self.dropped = 0  # items not published because Redis was down or the queue full
        self._queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(PUBLISH_QUEUE)
        self._last_probe = 0.0
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        """Start subscribing, publishing and probing (in the background: Redis may be down)."""
        self._tasks = [
            asyncio.create_task(self._subscribe_loop(), name="redis-subscribe"),
            asyncio.create_task(self._publish_loop(), name="redis-publish"),
            asyncio.create_task(self._probe_loop(), name="redis-probe"),
        ]

    async def stop(self) -> None:
        """Stop the tasks and close the connections."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.aclose(), 2)

    # --- publishing -------------------------------------------------------------------

    def publish_sequenced(self, seq: int, room_id: str, payload: bytes) -> None:
        """A committed message or change for the other workers' relays."""
        self._put(self.seq_channel, seq_record(seq, self.worker_id, room_id, payload))

    def publish_event(self, op: str, *args: Any) -> None:
        """An event every worker applies to its own connections (cluster.ClusterHub)."""
        data = json.dumps({"w": self.worker_id, "op": op, "args": args}, separators=(",", ":"))
        self._put(self.events_channel, data.encode())

    def _put(self, channel: str, data: bytes) -> None:
        """Queue one publish; never waits."""
        try:
            self._queue.put_nowait((channel, data))
        except asyncio.QueueFull:
            self.dropped += 1

    async def _publish_loop(self) -> None:
        """Send what is queued, in batches, in order; drop a batch Redis refused."""
        while True:
            raise_if_cancelled()
            batch = [await self._queue.get()]
            while len(batch) < PUBLISH_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                async with self.client.pipeline(transaction=False) as pipe:
                    for channel, data in coalesce(batch, self.seq_channel):
                        pipe.publish(channel, data)
                    await pipe.execute()
            except (TimeoutError, RedisError, OSError) as exc:
                raise_if_cancelled()
                self.dropped += len(batch)
                log.debug("publishing to Redis failed: %s", exc)
                await asyncio.sleep(0.05)  # Redis down: the database carries these meanwhile

    # --- subscribing ------------------------------------------------------------------

    async def _subscribe_loop(self) -> None:
        """Subscribe, read, and start over whenever the subscription fails or goes quiet."""
        wait = 0.05
        while True:
            raise_if_cancelled()
            pubsub = self.client.pubsub()
            try:
                await pubsub.subscribe(self.seq_channel, self.events_channel, self.probe_channel)
                self._last_probe = time.monotonic()
                self.connected = True
                wait = 0.05
                log.info("subscribed to Redis")
                # Subscribed first, then repaired: nothing committed from now on is missed.
                await self._on_connected()
                await self._read(pubsub)
            except asyncio.CancelledError:
                await _drop(pubsub)
                raise
            except Exception as exc:
                raise_if_cancelled()
                if self.connected:
                    self.outages += 1
                    log.warning("Redis subscription lost (%s); polling the database", exc)
                self.connected = False
            await _drop(pubsub)
            await asyncio.sleep(wait)
            wait = min(RECONNECT_MAX_WAIT, wait * 2)

    async def _read(self, pubsub: Any) -> None:
        """Dispatch messages until the probe stops coming back."""
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
            if message is not None and message["type"] == "message":
                self._dispatch(message["channel"], message["data"])
            if time.monotonic() - self._last_probe > self.stall_seconds:
                raise TimeoutError(f"no probe for {self.stall_seconds} s")

    def _dispatch(self, channel: bytes, data: bytes) -> None:
        """Hand one published item to the relay or the hub; a bad item is logged, not fatal."""
        try:
            if channel == self._seq_bytes:
                for seq, worker, room_id, payload in seq_records(data):
                    if worker != self.worker_id:
                        self._on_sequenced(seq, room_id, payload)
            elif channel == self._events_bytes:
                event = json.loads(data)
                if event["w"] != self.worker_id:
                    self._on_event(event)
            else:
                self._last_probe = time.monotonic()
        except Exception:
            log.exception("could not apply an item from Redis")

    async def _probe_loop(self) -> None:
        """Publish a probe to this worker's own channel every probe_interval."""
        while True:
            await asyncio.sleep(self.probe_interval)
            with contextlib.suppress(RedisError, OSError, asyncio.TimeoutError):
                try:
                    await asyncio.wait_for(
                        self.client.publish(self.probe_channel, b"1"), self.probe_interval
                    )
                finally:
                    raise_if_cancelled()


async def _drop(pubsub: Any) -> None:
    """Close a subscription without waiting on a Redis that may be frozen."""
    with contextlib.suppress(Exception):
        connection = pubsub.connection
        if connection is not None:
            await asyncio.wait_for(connection.disconnect(), 0.5)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(pubsub.aclose(), 0.5)
