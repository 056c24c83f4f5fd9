"""Bot webhooks: who is called for a message, the outbox sender, and the bots' replies.

A message that mentions a bot with a webhook, or any message in a direct room with one, gets
an outbox row per bot, written in the transaction that stores the message
(store.insert_messages_txn). One background task sends the rows that are due: a POST of the
JSON payload signed with the bot's webhook secret, with a timeout per attempt; a 2xx answer
deletes the row (and a text/plain body is posted as the bot's reply); a failure schedules a
retry with a growing wait, up to webhook_max_attempts. Rows outlive a restart, so delivery is
at least once: a receiver may see the same X-Campfire-Delivery id again and should ignore it.

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

BATCH = 100  # outbox rows read at a time
MAX_REPLY_BYTES = 64 * 1024  # more of an answer than a message can hold is not read
MAX_ERROR_CHARS = 300
RETRY_GROWTH = 4  # each retry waits this many times longer than the one before


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
        self._limit = asyncio.Semaphore(max(1, settings.webhook_concurrency))
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
        self._task = asyncio.create_task(self._run(), name="webhooks")

    async def stop(self) -> None:
        """Stop sending; deliveries in flight stay in the outbox and go again after a start."""
        tasks = [t for t in (self._task, *self._inflight.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = None
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
        while True:
            self._wake.clear()
            try:
                if loop.time() - self._refreshed >= self.settings.webhook_poll_seconds:
                    await self.refresh_bots()
                wait = self.settings.webhook_poll_seconds
                if self.sending:
                    await self._start_due()
                    wait = await self._seconds_to_next()
            except asyncio.CancelledError:
                raise
            except Exception:  # never let the sender die: the outbox would only grow
                log.exception("webhook outbox pass failed")
                wait = self.settings.webhook_poll_seconds
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def _start_due(self) -> None:
        """Start a send for every due row not already being sent."""
        rows = await store.due_webhook_deliveries(
            self.db, clock.now_iso(), BATCH + len(self._inflight)
        )
        for row in rows:
            if row["id"] in self._inflight:
                continue
            await self._limit.acquire()
            task = asyncio.create_task(self._deliver(row), name="webhook-delivery")
            self._inflight[row["id"]] = task
            task.add_done_callback(functools.partial(self._done, row["id"]))

    def _done(self, delivery_id: str, _task: asyncio.Task[None]) -> None:
        """A send finished: free its slot and look at the outbox again."""
        self._inflight.pop(delivery_id, None)
        self._limit.release()
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

    async def _deliver(self, row: sqlite3.Row) -> None:
        """One attempt at one delivery, and what follows from its answer."""
        if not row["webhook_url"] or not row["bot_active"]:
            async with self.db.transaction() as conn:
                await store.delete_webhook_delivery_txn(conn, row["id"])
            return
        body = payload(row)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Campfire-Webhooks",
            "X-Campfire-Delivery": row["id"],
            "X-Campfire-Signature": signature(row["webhook_secret"] or "", body),
        }
        assert self._session is not None
        reply: str | None = None
        try:
            async with self._session.post(
                row["webhook_url"], data=body, headers=headers, allow_redirects=False
            ) as response:
                if not 200 <= response.status < 300:
                    raise _Failed(f"the webhook answered HTTP {response.status}")
                if response.content_type == "text/plain":
                    raw = await _read_capped(response, MAX_REPLY_BYTES)
                    reply = raw.decode(response.charset or "utf-8", errors="replace")
        except asyncio.CancelledError:
            raise
        except _Failed as exc:
            await self._failed(row, str(exc))
            return
        except TimeoutError:
            await self._failed(row, f"no answer within {self.settings.webhook_timeout:g} s")
            return
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            await self._failed(row, f"could not reach the webhook: {exc or type(exc).__name__}")
            return
        async with self.db.transaction() as conn:
            await store.delete_webhook_delivery_txn(conn, row["id"])
            await store.update_bot_txn(conn, row["bot_id"], last_error=None, last_error_at=None)
        if reply is not None and reply.strip():
            await self._post_reply(row, reply)

    async def _failed(self, row: sqlite3.Row, error: str) -> None:
        """Record a failed attempt: retry later, or give up after the last one."""
        attempts = row["attempts"] + 1
        error = error[:MAX_ERROR_CHARS]
        now = clock.now_iso()
        async with self.db.transaction() as conn:
            if attempts >= self.settings.webhook_max_attempts:
                await store.delete_webhook_delivery_txn(conn, row["id"])
                error = f"gave up after {attempts} attempts: {error}"
            else:
                retry_at = clock.iso_in(timedelta(seconds=retry_delay(self.settings, attempts)))
                await store.retry_webhook_delivery_txn(conn, row["id"], attempts, retry_at)
            await store.update_bot_txn(conn, row["bot_id"], last_error=error, last_error_at=now)
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


class _Failed(Exception):
    """An attempt that reached the webhook but did not succeed."""


async def _read_capped(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """At most `limit` bytes of a response body."""
    chunks, size = [], 0
    async for chunk in response.content.iter_chunked(16 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit]
