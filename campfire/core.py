"""The server's shared parts in one object: settings, database, passwords, hub, group commit."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from campfire import search_index, store
from campfire.auth import Passwords
from campfire.config import Settings
from campfire.db import Database, GroupCommitter
from campfire.filestore import FileStore
from campfire.ratelimit import FailureThrottle, TokenBucket
from campfire.realtime.hub import Hub


class Core:
    """What every use case needs; created once per process (server or CLI command)."""

    def __init__(self, settings: Settings, db: Database, passwords: Passwords) -> None:
        self.settings = settings
        self.db = db
        self.passwords = passwords
        self.hub = Hub(typing_timeout=settings.typing_timeout)
        self.message_writer = GroupCommitter(db, store.insert_messages_txn)
        self.login_failures = FailureThrottle(settings.login_attempts_per_minute)
        self.message_buckets: dict[str, TokenBucket] = {}  # user id -> messages allowed
        self.files = FileStore(settings)  # uploads, thumbnails, avatars on disk

    def allow_message(self, user_id: str) -> bool:
        """Take one from the user's message allowance, shared by HTTP and all their sockets."""
        bucket = self.message_buckets.get(user_id)
        if bucket is None:
            settings = self.settings
            bucket = TokenBucket(settings.user_messages_per_second, settings.user_messages_burst)
            self.message_buckets[user_id] = bucket
        return bucket.allow()


@contextlib.asynccontextmanager
async def open_core(settings: Settings) -> AsyncIterator[Core]:
    """Open the database (applying migrations), start the writer; close both on exit."""
    db = Database(settings.db_path)
    await db.open()
    try:
        # Before any write: an edit or delete of a message not yet indexed would corrupt it.
        await search_index.build_pending_index(db)
    except BaseException:
        await db.close()
        raise
    passwords = Passwords(settings.hash_workers)
    core = Core(settings, db, passwords)
    core.message_writer.start()
    try:
        yield core
    finally:
        await core.message_writer.stop()
        await db.close()
        passwords.close()
        core.files.close()
