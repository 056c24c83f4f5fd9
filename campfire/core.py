"""The server's shared parts in one object: settings, database, passwords, hub, group commit."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from campfire import batch, search_index, store
from campfire.auth import Passwords
from campfire.config import Settings
from campfire.db import Database, GroupCommitter, make_database
from campfire.filestore import FileStore
from campfire.push import Push
from campfire.ratelimit import FailureThrottle, TokenBucket
from campfire.realtime.hub import Hub
from campfire.webhooks import Webhooks

if TYPE_CHECKING:  # imported only with --redis (it needs the redis package)
    from campfire.realtime.allowance import SharedAllowance


class Core:
    """What every use case needs; created once per process (server or CLI command)."""

    def __init__(
        self, settings: Settings, db: Database, passwords: Passwords, cluster: bool = False
    ) -> None:
        self.settings = settings
        self.db = db
        self.passwords = passwords
        self.hub = Hub(
            typing_timeout=settings.typing_timeout,
            presence_coalesce=settings.presence_coalesce_seconds,
        )
        if cluster:  # a worker among several (--workers N --redis ...): imports redis
            from campfire.realtime.cluster import ClusterHub

            self.hub = ClusterHub(settings)
        # New messages and changes to them share one queue and transaction (and so one
        # sequence, numbered in commit order).
        self.message_writer = GroupCommitter(
            db,
            batch.write_batch,
            one_statement=batch.is_plain,
            order=store.batch_order,
        )
        self.login_failures = FailureThrottle(
            settings.login_attempts_per_minute,
            max_keys=settings.login_throttle_max_keys,
            max_in_flight=settings.login_attempts_in_flight,
        )
        self.message_buckets: dict[str, TokenBucket] = {}  # user id -> messages allowed
        # With workers, the allowance shared through Redis (set by app.core_ctx once started).
        self.shared_allowance: SharedAllowance | None = None
        self.history_buckets: dict[str, TokenBucket] = {}  # user id -> history pages allowed
        # Started by the server only (app.notifications_ctx), never by CLI commands.
        self.push = Push(settings, db, self.hub)
        self.webhooks = Webhooks(settings, db)
        self.files = FileStore(settings)  # uploads, thumbnails, avatars on disk

    def allow_message(self, user_id: str) -> bool:
        """Take one from the user's message allowance, shared by HTTP and all their sockets."""
        bucket = self.message_buckets.get(user_id)
        if bucket is None:
            settings = self.settings
            # With N workers each keeps its own allowance: 1/N of it, so the sum stays the same.
            workers = max(1, settings.workers)
            bucket = TokenBucket(
                settings.user_messages_per_second / workers,
                max(1, settings.user_messages_burst // workers),
            )
            self.message_buckets[user_id] = bucket
        return bucket.allow()

    def message_retry_after(self, user_id: str) -> float:
        """Seconds until the user's message allowance has room for one more."""
        bucket = self.message_buckets.get(user_id)
        return bucket.retry_after() if bucket else 0.0

    async def message_wait(self, user_id: str) -> float:
        """Take one from the user's message allowance: 0, or seconds until they may send.

        With workers the allowance is one bucket in Redis that all of them share; when Redis
        is unreachable (or slow to answer), each worker falls back to its own 1/N of it
        (allow_message), so the total stays within the allowance while Redis is away.
        """
        if self.shared_allowance is not None:
            wait = await self.shared_allowance.take(user_id)
            if wait is not None:
                return wait
        if self.allow_message(user_id):
            return 0.0
        return self.message_retry_after(user_id)

    def history_wait(self, user_id: str) -> float:
        """Take one history page from the user's allowance: 0, or seconds until they may read."""
        bucket = self.history_buckets.get(user_id)
        if bucket is None:
            settings = self.settings
            bucket = TokenBucket(settings.history_pages_per_second, settings.history_pages_burst)
            self.history_buckets[user_id] = bucket
        return 0.0 if bucket.allow() else bucket.retry_after()


@contextlib.asynccontextmanager
async def open_core(settings: Settings, cluster: bool = False) -> AsyncIterator[Core]:
    """Open the database (applying migrations), start the writer; close both on exit."""
    # Several workers write one SQLite file: they take turns through a lock of their own.
    db = make_database(settings.db, settings.db_pool_size, shared=settings.workers > 1)
    await db.open()
    try:
        # Before any write: an edit or delete of a message not yet indexed would corrupt it.
        await search_index.build_pending_index(db)
    except BaseException:
        await db.close()
        raise
    passwords = Passwords(settings.hash_workers, max_pending=settings.hash_queue)
    core = Core(settings, db, passwords, cluster)
    core.message_writer.start()
    try:
        yield core
    finally:
        await core.message_writer.stop()
        await db.close()
        passwords.close()
        core.files.close()
