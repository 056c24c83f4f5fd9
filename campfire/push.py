"""Web Push: the VAPID keys, subscriptions, and a background sender that never delays a message.

The message path calls `Push.message_created` after the commit: with nobody subscribed it
returns at once (a set lookup); otherwise it puts one job on a bounded queue. One worker task
works out who to notify (notifications.recipients) and sends the pushes, encrypted by pywebpush
(RFC 8291, aes128gcm), over aiohttp with a timeout and a cap on concurrent sends.

Who has a subscription is kept in memory (`subscribers`). A change made here applies at once;
with workers, one made on another worker arrives as a wake-up through Redis, and since Redis
may lose one, every worker also re-reads the whole set every `push_refresh_seconds` (one
indexed query), as the webhooks re-read the bots.

A push endpoint is a URL any user hands the server, which then POSTs to it (SSRF): only https
is accepted, and the sender's resolver refuses every address that is not public, unless the
`push_allow_insecure_endpoints` setting (for tests) is on.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import ipaddress
import json
import logging
import socket
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid02
from pywebpush import WebPusher

from campfire import clock, errors, notifications, store
from campfire.config import Settings
from campfire.db import Database
from campfire.errors import CampfireError
from campfire.realtime.hub import Hub

log = logging.getLogger(__name__)

VAPID_KEY_NAME = "vapid_private_key"
MAX_ENDPOINT_CHARS = 2048
PUSH_BODY_CHARS = 300  # what a notification shows of a message
VAPID_TOKEN_SECONDS = 12 * 3600  # lifetime of a signed VAPID token (RFC 8292: at most 24 h)
GONE = (404, 410)  # the push service says the subscription no longer exists


def _b64url_decode(value: str) -> bytes:
    """Decode unpadded base64url."""
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def _b64url(data: bytes) -> str:
    """Encode as unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _is_public(host: str) -> bool:
    """Whether an address is a public (global unicast) one."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return address.is_global and not address.is_multicast


def check_endpoint(endpoint: object, allow_insecure: bool) -> str:
    """A push endpoint: an https URL whose host is a name or a public address."""
    if not isinstance(endpoint, str) or not endpoint or len(endpoint) > MAX_ENDPOINT_CHARS:
        raise errors.bad_request(f"'endpoint' must be a URL of at most {MAX_ENDPOINT_CHARS} chars")
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname or ""
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError:
        raise errors.bad_request("'endpoint' is not a valid URL") from None
    if allow_insecure and parts.scheme in ("http", "https") and host:
        return endpoint
    if parts.scheme != "https" or not host or parts.username or parts.password:
        raise errors.bad_request("'endpoint' must be an https URL")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
            raise errors.bad_request("'endpoint' must be on the public internet") from None
        return endpoint  # a name: its addresses are checked when it is resolved
    if not _is_public(host):
        raise errors.bad_request("'endpoint' must be on the public internet")
    return endpoint


def check_keys(keys: object) -> tuple[str, str]:
    """The subscription's p256dh (a P-256 public point) and auth (16 bytes) keys."""
    if not isinstance(keys, dict):
        raise errors.bad_request("'keys' must be an object with 'p256dh' and 'auth'")
    p256dh, auth = keys.get("p256dh"), keys.get("auth")
    try:
        if not isinstance(p256dh, str) or not isinstance(auth, str) or len(p256dh) > 200:
            raise ValueError
        point, secret = _b64url_decode(p256dh), _b64url_decode(auth)
    except (ValueError, binascii.Error):
        raise errors.bad_request("'keys.p256dh' and 'keys.auth' must be base64url") from None
    if len(point) != 65 or point[0] != 4 or len(secret) != 16:
        raise errors.bad_request("'keys' are not a P-256 public key and a 16-byte auth secret")
    return p256dh, auth


class PublicOnlyResolver(AbstractResolver):
    """A resolver that drops every address that is not public, so a push endpoint's name
    cannot lead the server to its own network (loopback, private, link-local...)."""

    def __init__(self) -> None:
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The host's public addresses; an error if it has none."""
        found = await self._inner.resolve(host, port, family)
        public = [entry for entry in found if _is_public(entry["host"])]
        if not public:
            raise OSError(f"{host} has no public address")
        return public

    async def close(self) -> None:
        """Close the wrapped resolver."""
        await self._inner.close()


class Push:
    """The server's Web Push sender: keys, who is subscribed, and the delivery worker."""

    def __init__(self, settings: Settings, db: Database, hub: Hub) -> None:
        self.settings = settings
        self.db = db
        self.hub = hub
        self.subscribers: set[str] = set()  # users with a subscription: the hot path's test
        self.public_key = ""  # VAPID application server key, base64url (for PushManager)
        self.dropped = 0  # jobs dropped because the queue was full
        self._vapid: Vapid02 | None = None
        self._tokens: dict[str, tuple[float, dict[str, str]]] = {}  # audience -> VAPID header
        self._queue: asyncio.Queue[tuple[str, dict[str, Any], set[str]]] = asyncio.Queue(
            settings.push_queue_size
        )
        self._session: aiohttp.ClientSession | None = None
        self._worker: asyncio.Task | None = None
        self._sending: set[asyncio.Task] = set()
        self._limit = asyncio.Semaphore(max(1, settings.push_concurrency))
        # With workers: tells the others that a user's subscriptions changed ("push", user id),
        # so that every worker's `subscribers` knows whom to push to (cluster.wake_others).
        self.tell_others: Callable[[str, str], None] | None = None
        self._refreshing: set[asyncio.Task] = set()
        self._rereader: asyncio.Task | None = None
        # Users whose subscriptions were re-read one by one while a whole re-read was under
        # way (None: none is): their fresher answer wins over the whole re-read's.
        self._changed_meanwhile: set[str] | None = None

    # --- lifetime ---------------------------------------------------------------------

    async def start(self) -> None:
        """Load (or make, on first start) the VAPID key, the subscribers; start the worker."""
        self._vapid = await self._load_vapid()
        point = self._vapid.public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.public_key = _b64url(point)
        self.subscribers = await store.push_subscriber_ids(self.db)
        resolver = None if self.settings.push_allow_insecure_endpoints else PublicOnlyResolver()
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(resolver=resolver, limit=self.settings.push_concurrency),
            timeout=aiohttp.ClientTimeout(total=self.settings.push_timeout),
        )
        self._worker = asyncio.create_task(self._run(), name="web-push")
        self._rereader = asyncio.create_task(self._reread_loop(), name="push-subscribers")

    async def stop(self) -> None:
        """Stop the worker and abandon pushes in flight (they are best effort)."""
        tasks = [self._worker, self._rereader, *self._sending, *self._refreshing]
        for task in tasks:
            if task is not None:
                task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                if task is not None:
                    await task
        self._worker = self._rereader = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _load_vapid(self) -> Vapid02:
        """The server's VAPID key pair, made and kept in the database on first start."""
        pem = await store.get_server_key(self.db, VAPID_KEY_NAME)
        if pem is None:
            fresh = Vapid02()
            fresh.generate_keys()
            async with self.db.transaction() as conn:
                await store.insert_server_key_txn(
                    conn, VAPID_KEY_NAME, fresh.private_pem().decode(), clock.now_iso()
                )
            pem = await store.get_server_key(self.db, VAPID_KEY_NAME)  # another process may win
            assert pem is not None
        return Vapid02.from_pem(pem.encode())

    # --- subscriptions ----------------------------------------------------------------

    async def subscribe(self, user_id: str, endpoint: object, keys: object) -> None:
        """Store a browser's subscription for a user (beyond the cap, the oldest goes)."""
        endpoint = check_endpoint(endpoint, self.settings.push_allow_insecure_endpoints)
        p256dh, auth = check_keys(keys)
        async with self.db.transaction() as conn:
            await store.upsert_push_subscription_txn(
                conn, endpoint, user_id, p256dh, auth, clock.now_iso()
            )
            await store.trim_push_subscriptions_txn(
                conn, user_id, self.settings.push_subscriptions_per_user
            )
        await self._refresh_subscriber(user_id)

    async def unsubscribe(self, user_id: str, endpoint: object) -> bool:
        """Delete one of the user's subscriptions; False if they had none at that endpoint."""
        if not isinstance(endpoint, str) or len(endpoint) > MAX_ENDPOINT_CHARS:
            raise errors.bad_request("'endpoint' must be the subscription's endpoint URL")
        async with self.db.transaction() as conn:
            deleted = await store.delete_push_subscription_txn(conn, endpoint, user_id)
        await self._refresh_subscriber(user_id)
        return deleted

    async def _forget(self, endpoint: str, user_id: str) -> None:
        """The push service says a subscription is gone: delete it."""
        async with self.db.transaction() as conn:
            await store.delete_push_subscription_txn(conn, endpoint)
        await self._refresh_subscriber(user_id)

    async def _refresh_subscriber(self, user_id: str, tell: bool = True) -> None:
        """Keep the in-memory set of subscribers true to the database for one user (on
        every worker, with workers)."""
        if await store.user_has_push_subscription(self.db, user_id):
            self.subscribers.add(user_id)
        else:
            self.subscribers.discard(user_id)
        if self._changed_meanwhile is not None:
            self._changed_meanwhile.add(user_id)
        if tell and self.tell_others is not None:
            self.tell_others("push", user_id)

    async def reread_subscribers(self) -> None:
        """Re-read every user with a subscription (one indexed query): a change another
        worker made whose wake-up Redis lost, or one the CLI made, applies here too."""
        self._changed_meanwhile = set()
        try:
            found = await store.push_subscriber_ids(self.db)
            for user_id in self._changed_meanwhile:  # read one by one since: fresher
                if user_id in self.subscribers:
                    found.add(user_id)
                else:
                    found.discard(user_id)
            self.subscribers = found
        finally:
            self._changed_meanwhile = None

    async def _reread_loop(self) -> None:
        """Re-read the subscribers every push_refresh_seconds, for as long as the server runs."""
        while True:
            await asyncio.sleep(self.settings.push_refresh_seconds)
            try:
                await self.reread_subscribers()
            except Exception:  # never let it die: the set would go stale again
                log.exception("could not re-read the push subscribers")

    def woken(self, _job: str, user_id: str) -> None:
        """Another worker changed a user's subscriptions: read them again here."""
        task = asyncio.create_task(self._refresh_subscriber(user_id, tell=False))
        self._refreshing.add(task)
        task.add_done_callback(self._refreshing.discard)

    # --- the hot path -----------------------------------------------------------------

    def message_created(self, room_id: str, message: dict[str, Any]) -> None:
        """After a message's commit: queue its pushes. Never awaits; nearly free when nobody
        has subscribed. Who views the room is taken now, as the message is published: on
        every worker, with workers (the hub counts them across workers)."""
        if not self.subscribers or self._worker is None:
            return
        viewing = set(self.hub.online_users(room_id))
        candidates = self.subscribers - viewing
        candidates.discard(message["creator_id"])
        if not candidates:
            return
        try:
            self._queue.put_nowait((room_id, message, viewing))
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped % 100 == 1:
                log.warning("push queue full: %d messages got no push so far", self.dropped)

    # --- the worker -------------------------------------------------------------------

    async def _run(self) -> None:
        """Take jobs one by one; each job's pushes go out concurrently (bounded)."""
        while True:
            room_id, message, viewing = await self._queue.get()
            try:
                await self._notify(room_id, message, viewing)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not work out the pushes of a message in room %s", room_id)
            finally:
                self._queue.task_done()

    async def _notify(self, room_id: str, message: dict[str, Any], viewing: set[str]) -> None:
        """Work out who gets a push for this message and start sending them."""
        rows = await store.notify_members(self.db, room_id)
        if not rows:
            return
        room_type, room_name = rows[0]["room_type"], rows[0]["room_name"]
        names = {row["id"]: row["name"] for row in rows}
        members = [(row["id"], row["involvement"]) for row in rows]
        chosen = notifications.recipients(
            message["creator_id"], members, message["mentions"], viewing
        )
        chosen &= self.subscribers
        if not chosen:
            return
        payload = self.payload(room_id, room_type, room_name, names, message)
        for sub in await store.push_subscriptions_of(self.db, sorted(chosen)):
            await self._limit.acquire()  # bounded: the worker waits here, not the message path
            task = asyncio.create_task(self._send(dict(sub), payload))
            self._sending.add(task)
            task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task) -> None:
        """A push finished: free its slot."""
        self._sending.discard(task)
        self._limit.release()

    @staticmethod
    def payload(
        room_id: str, room_type: str, room_name: str, names: dict[str, str], message: dict
    ) -> bytes:
        """What the service worker shows: the author and room, the text, the room's link."""
        author = names.get(message["creator_id"], "Someone")
        text = message["content"]
        if len(text) > PUSH_BODY_CHARS:
            text = text[: PUSH_BODY_CHARS - 1] + "…"
        direct = room_type == "direct"
        data = {
            "title": author if direct else room_name,
            "body": text if direct else f"{author}: {text}",
            "path": notifications.room_path(room_id),
            "room_id": room_id,
            "message_id": message["id"],
        }
        return json.dumps(data, ensure_ascii=False).encode()

    def _vapid_headers(self, endpoint: str) -> dict[str, str]:
        """The VAPID Authorization header for an endpoint's push service (cached per origin)."""
        parts = urlsplit(endpoint)
        audience = f"{parts.scheme}://{parts.netloc}"
        now = time.time()
        cached = self._tokens.get(audience)
        if cached is not None and cached[0] > now + 600:
            return cached[1]
        expires = int(now) + VAPID_TOKEN_SECONDS
        assert self._vapid is not None
        claims = {"aud": audience, "sub": self.settings.push_subject, "exp": expires}
        headers = self._vapid.sign(claims)
        if len(self._tokens) > 100:
            self._tokens.clear()
        self._tokens[audience] = (float(expires), headers)
        return headers

    async def _send(self, sub: dict[str, Any], payload: bytes) -> None:
        """Encrypt and send one push; a 404/410 answer deletes the subscription."""
        endpoint = sub["endpoint"]
        try:
            check_endpoint(endpoint, self.settings.push_allow_insecure_endpoints)
            pusher = WebPusher(
                {"endpoint": endpoint, "keys": {"p256dh": sub["p256dh"], "auth": sub["auth"]}},
                aiohttp_session=self._session,
            )
            response = await pusher.send_async(
                payload,
                headers=self._vapid_headers(endpoint),
                ttl=self.settings.push_ttl,
                timeout=aiohttp.ClientTimeout(total=self.settings.push_timeout),
            )
            assert isinstance(response, aiohttp.ClientResponse)
            status = response.status
        except asyncio.CancelledError:
            raise
        except (CampfireError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.info("push to %s failed: %s", urlsplit(endpoint).netloc, exc or type(exc).__name__)
            return
        if status in GONE:
            await self._forget(endpoint, sub["user_id"])
        elif status >= 300:
            log.info("push service %s answered %d", urlsplit(endpoint).netloc, status)

    async def idle(self) -> None:
        """Wait until queued jobs are worked out and pushes in flight have finished (tests)."""
        await self._queue.join()
        while self._sending:
            await asyncio.wait(list(self._sending))
