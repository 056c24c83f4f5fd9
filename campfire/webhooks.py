"""Bot webhooks: who is called for a message, the outbox sender, and the bots' replies.

A message that mentions a bot with a webhook, or any message in a direct room with one, gets
an outbox row per bot, written in the transaction that stores the message
(store.insert_messages_txn). One background task sends the rows that are due: a POST of the
JSON payload signed with the bot's webhook secret, with a timeout per attempt; a 2xx answer
deletes the row (and a text/plain body is posted as the bot's reply); a failure schedules a
retry with a growing wait, up to webhook_max_attempts. Rows outlive a restart, so delivery is
at least once: a receiver may see the same X-Campfire-Delivery id again and should ignore it.

A sender takes a row only by claiming it in the database (store.claim_webhook_deliveries):
one statement moves the row's next_attempt_at forward by a lease (lease_seconds: the attempt's
timeout and as much again for recording its answer), only if it is still due. So several
senders on one database (worker 0 of every host) never send the same row at once; a sender
that dies mid-attempt leaves a lease that ends, and any sender takes the row then, with the
same delivery id. What an attempt records afterwards (a retry, giving up) applies only while
its claim holds: the next_attempt_at it set is still there. A sender that stops hands its
claims back. One host on SQLite has one sender (worker 0), as before.

Messages by bots call no webhooks, so two bots cannot answer each other forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import json
import logging
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import aiohttp

from campfire import clock, notifications, store
from campfire.config import Settings
from campfire.db import Database
from campfire.errors import CampfireError
from campfire.validate import new_id
from campfire.views import Record

if TYPE_CHECKING:
    from campfire.core import Core

log = logging.getLogger(__name__)

BATCH = 100  # at most this many outbox rows claimed at a time
MAX_REPLY_BYTES = 64 * 1024  # more of an answer than a message can hold is not read
MAX_ERROR_CHARS = 300
RETRY_GROWTH = 4  # each retry waits this many times longer than the one before
STOP_SECONDS = 5.0  # at most this long for the sender's loop to finish a pass when stopping


def signature(secret: str, body: bytes) -> str:
    """The X-Campfire-Signature value: sha256=<hex HMAC-SHA256 of the raw body>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def payload(row: Record) -> bytes:
    """The JSON a webhook receives for a delivery (semantics.md, "Bots").

    Like once-campfire, the text comes without the mention of the bot being called. Unlike
    it, room.path cannot carry the bot key (only its hash is kept): it is the room's link.
    """
    plain = "".join(_split_mention(row["content"], row["bot_name"])).strip()
    data = {
        "user": {"id": row["creator_id"], "name": row["creator_name"]},
        "room": {
            "id": row["room_id"],
            "name": row["room_name"],
            "path": notifications.room_path(row["room_id"]),
        },
        "message": {
            "id": row["message_id"],
            "body": {"plain": plain},
            "path": notifications.message_path(row["room_id"], row["message_id"]),
        },
    }
    return json.dumps(data, ensure_ascii=False).encode()


def _split_mention(text: str, name: str) -> list[str]:
    """The text in pieces with every `@name` (case-insensitive) left out."""
    needle = "@" + name.casefold()
    folded = text.casefold()
    if len(folded) != len(text):  # casefold changed lengths: keep the text as it is
        return [text]
    pieces, start = [], 0
    while (found := folded.find(needle, start)) >= 0:
        end = found + len(needle)
        if end < len(text) and (text[end].isalnum() or text[end] == "_"):
            pieces.append(text[start:end])  # "@Annabel" is not a mention of "Ann"
        else:
            pieces.append(text[start:found])
        start = end
    pieces.append(text[start:])
    return pieces


def retry_delay(settings: Settings, attempts: int) -> float:
    """Seconds to wait after the `attempts`-th failed attempt."""
    return settings.webhook_retry_seconds * RETRY_GROWTH ** (attempts - 1)


def lease_seconds(settings: Settings) -> float:
    """How long a claim on an outbox row lasts: the attempt's timeout, and as much again for
    recording its answer. Only a sender that died mid-attempt lets a lease run out."""
    return 2 * settings.webhook_timeout


def calls(
    rows: Sequence[Record], author_id: str, mentioned_ids: list[str]
) -> list[tuple[str, str]]:
    """The outbox rows a new message needs, as (delivery id, bot id), given the room's bots
    with a webhook (store.room_webhook_bots_txn): those it mentions, or all of them in a
    direct room, never the author."""
    if not rows:
        return []
    if rows[0]["room_type"] == "direct":
        called = {row["id"] for row in rows}
    else:
        called = {row["id"] for row in rows if row["id"] in mentioned_ids}
    called.discard(author_id)
    return [(new_id(), bot_id) for bot_id in sorted(called)]


class Webhooks:
    """Knows which users are bots (and which have webhooks) and sends the outbox."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.bots: dict[str, bool] = {}  # active bot id -> has a webhook; refreshed on change
        self._core: Core | None = None
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self._inflight: dict[str, asyncio.Task] = {}
        self._leases: dict[str, str] = {}  # delivery id being sent -> the lease it was claimed to
        self._slots = max(1, settings.webhook_concurrency)
        self._posting: set[str] = set()  # deliveries waiting for their webhook's answer
        self._stopping = False
        self.delivered = 0  # deliveries this sender got a 2xx answer for
        self._session: aiohttp.ClientSession | None = None
        self._refreshed = 0.0
        self.sending = True  # False on workers other than 0: they only keep `bots` fresh
        # With workers: tells the others' webhooks (cluster.ClusterHub.wake_others) that
        # outbox rows were committed ("webhooks") or bots changed ("bots").
        self.tell_others: Callable[[str, str], None] | None = None

    # --- lifetime ---------------------------------------------------------------------

    async def start(self, core: Core, send: bool = True) -> None:
        """Read the bots and start sending the outbox (the server only; not the CLI).
        With workers, only worker 0 sends; the others keep their list of bots fresh."""
        self._core = core
        self.sending = send
        await self.refresh_bots()
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.settings.webhook_timeout)
        )
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="webhooks")

    async def stop(self) -> None:
        """Stop sending; deliveries in flight stay in the outbox, their claims handed back so
        that they go again at once (after a start here, or from another host's sender).

        Only waits are cancelled (the loop's sleep, the POSTs), never a database write under
        way: a task cancelled inside a write could leave the writer's transaction open.
        """
        if self._task is not None:
            self._stopping = True
            self._wake.set()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, STOP_SECONDS)
            self._task = None
        held = dict(self._leases)
        for delivery_id in self._posting:
            self._inflight[delivery_id].cancel()
        await asyncio.gather(*self._inflight.values(), return_exceptions=True)
        if held:
            try:
                async with self.db.transaction() as conn:
                    await store.release_webhook_deliveries_txn(conn, held, clock.now_iso())
            except Exception:  # the database is going too: the leases end by themselves
                log.exception("could not hand back %d webhook deliveries", len(held))
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def refresh_bots(self) -> None:
        """Re-read which users are bots with webhooks (after a change, and now and then for
        changes made by the CLI in another process)."""
        self.bots = await store.active_bots(self.db)
        self._refreshed = asyncio.get_running_loop().time()

    def wake(self) -> None:
        """New outbox rows were committed: look at the outbox now (with workers, worker 0
        is told through Redis; a lost wake-up waits for its next poll)."""
        self._wake.set()
        if self.tell_others is not None:
            self.tell_others("webhooks", "")

    async def bots_changed(self) -> None:
        """A bot was added, changed or removed here: re-read them, on every worker."""
        await self.refresh_bots()
        if self.tell_others is not None:
            self.tell_others("bots", "")

    def woken(self, job: str, _detail: str = "") -> None:
        """A wake-up from another worker: outbox rows to send, or bots to re-read (one
        lost on the way waits for the next poll, webhook_poll_seconds)."""
        if job == "bots":
            self._refreshed = float("-inf")  # the loop's next pass re-reads them
        if job in ("bots", "webhooks"):
            self._wake.set()

    # --- before a message is queued -------------------------------------------------------

    def may_call(self, author_id: str) -> bool:
        """Whether a message by this author may call a bot's webhook: some bot has one, and
        the author is not a bot. False costs the message nothing more."""
        return any(self.bots.values()) and author_id not in self.bots

    # --- the sender -------------------------------------------------------------------

    async def _run(self) -> None:
        """Send what is due; sleep until the next row is due, new rows come, or a poll."""
        loop = asyncio.get_running_loop()
        while not self._stopping:
            self._wake.clear()
            try:
                if loop.time() - self._refreshed >= self.settings.webhook_poll_seconds:
                    await self.refresh_bots()
                wait = self.settings.webhook_poll_seconds
                if self.sending:
                    await self._start_due()
                    if len(self._inflight) < self._slots:  # when full, a finished send wakes
                        wait = await self._seconds_to_next()
            except asyncio.CancelledError:
                raise
            except Exception:  # never let the sender die: the outbox would only grow
                log.exception("webhook outbox pass failed")
                wait = self.settings.webhook_poll_seconds
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def _start_due(self) -> None:
        """Claim as many due rows as there are free slots, and start sending each."""
        free = min(BATCH, self._slots - len(self._inflight))
        if free <= 0:
            return
        lease = clock.iso_in(timedelta(seconds=lease_seconds(self.settings)))
        async with self.db.single_statement() as conn:
            claimed = await store.claim_webhook_deliveries(
                conn, clock.now_iso(), lease, free, list(self._inflight)
            )
        if not claimed:
            return
        # A row gone meanwhile (its message or bot deleted) is simply not read.
        for row in await store.webhook_deliveries_by_id(self.db, claimed):
            task = asyncio.create_task(self._deliver(row, lease), name="webhook-delivery")
            self._inflight[row["id"]] = task
            self._leases[row["id"]] = lease
            task.add_done_callback(functools.partial(self._done, row["id"]))

    def _done(self, delivery_id: str, _task: asyncio.Task[None]) -> None:
        """A send finished: free its slot and look at the outbox again."""
        self._inflight.pop(delivery_id, None)
        self._leases.pop(delivery_id, None)
        self._wake.set()

    async def _seconds_to_next(self) -> float:
        """Seconds until the next row is due (at most the poll interval)."""
        poll = self.settings.webhook_poll_seconds
        due = await store.next_webhook_due(self.db, list(self._inflight))
        if due is None:
            return poll
        now = clock.now_iso()
        if due <= now:
            return 0.0
        seconds = (datetime.fromisoformat(due) - clock.now()).total_seconds()
        return max(0.0, min(poll, seconds))

    async def _deliver(self, row: sqlite3.Row, lease: str) -> None:
        """One attempt at one claimed delivery (claimed until `lease`), and what follows from
        its answer."""
        if self._stopping:  # started as the sender stops: stop() hands the claim back
            return
        if not row["webhook_url"] or not row["bot_active"]:
            async with self.db.transaction() as conn:
                await store.delete_webhook_delivery_txn(conn, row["id"])
            return
        error, reply = await self._post(row)
        if error is not None:
            await self._failed(row, lease, error)
            return
        self.delivered += 1
        async with self.db.transaction() as conn:
            # Answered: gone from the outbox even if another sender took it meanwhile.
            await store.delete_webhook_delivery_txn(conn, row["id"])
            await store.update_bot_txn(conn, row["bot_id"], last_error=None, last_error_at=None)
        if reply is not None and reply.strip():
            await self._post_reply(row, reply)

    async def _post(self, row: sqlite3.Row) -> tuple[str | None, str | None]:
        """POST one delivery: (why it failed or None, the text/plain answer or None).
        This wait is the only part of a delivery that stop() cancels."""
        body = payload(row)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Campfire-Webhooks",
            "X-Campfire-Delivery": row["id"],
            "X-Campfire-Signature": signature(row["webhook_secret"] or "", body),
        }
        assert self._session is not None
        reply: str | None = None
        self._posting.add(row["id"])
        try:
            async with self._session.post(
                row["webhook_url"], data=body, headers=headers, allow_redirects=False
            ) as response:
                if not 200 <= response.status < 300:
                    return f"the webhook answered HTTP {response.status}", None
                if response.content_type == "text/plain":
                    raw = await _read_capped(response, MAX_REPLY_BYTES)
                    reply = raw.decode(response.charset or "utf-8", errors="replace")
        except TimeoutError:
            return f"no answer within {self.settings.webhook_timeout:g} s", None
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return f"could not reach the webhook: {exc or type(exc).__name__}", None
        finally:
            self._posting.discard(row["id"])
        return None, reply

    async def _failed(self, row: sqlite3.Row, lease: str, error: str) -> None:
        """Record a failed attempt: retry later, or give up after the last one (only while
        this sender's claim holds; else the sender that took the row over records its own)."""
        attempts = row["attempts"] + 1
        error = error[:MAX_ERROR_CHARS]
        now = clock.now_iso()
        async with self.db.transaction() as conn:
            if attempts >= self.settings.webhook_max_attempts:
                held = await store.delete_webhook_delivery_txn(conn, row["id"], lease)
                error = f"gave up after {attempts} attempts: {error}"
            else:
                retry_at = clock.iso_in(timedelta(seconds=retry_delay(self.settings, attempts)))
                held = await store.retry_webhook_delivery_txn(
                    conn, row["id"], attempts, retry_at, lease
                )
            if held:
                await store.update_bot_txn(conn, row["bot_id"], last_error=error, last_error_at=now)
        if not held:
            error = f"{error} (not recorded: its claim had ended and another sender took it)"
        log.info("webhook delivery %s of bot %s failed: %s", row["id"], row["bot_id"], error)

    async def _post_reply(self, row: sqlite3.Row, text: str) -> None:
        """Post a webhook's text/plain answer as the bot's message in the room.

        The delivery id is the reply's client_message_id, so a delivery sent twice (at least
        once) still posts its reply once.
        """
        # Imported here: both import core, which imports this module.
        from campfire import messages
        from campfire.accounts import SessionUser

        assert self._core is not None
        core = self._core
        if not await store.is_member(core.db, row["room_id"], row["bot_id"]):
            return
        bot = SessionUser(row["bot_id"], row["bot_name"], "", False, "")
        try:
            await messages.do_create_message(
                core, bot, row["room_id"], text, row["id"], known_member=True
            )
        except CampfireError as exc:
            async with self.db.transaction() as conn:
                await store.update_bot_txn(
                    conn,
                    row["bot_id"],
                    last_error=f"reply not posted: {exc.message}"[:MAX_ERROR_CHARS],
                    last_error_at=clock.now_iso(),
                )

    async def idle(self) -> None:
        """Wait until no delivery is being sent (tests)."""
        while self._inflight:
            await asyncio.wait(list(self._inflight.values()))


async def _read_capped(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """At most `limit` bytes of a response body."""
    chunks, size = [], 0
    async for chunk in response.content.iter_chunked(16 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit]
