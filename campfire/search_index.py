"""Building the search index for messages that existed before it (migration 0004)."""

from __future__ import annotations

import logging

from campfire import store
from campfire.db import Database

log = logging.getLogger(__name__)

BACKFILL_BATCH = 20_000  # messages indexed per transaction


async def build_pending_index(db: Database) -> None:
    """Index the messages older than the search index, in batches, logging progress.

    Runs at start before anything writes; each batch commits with its position, so an
    interrupted build resumes where it stopped.
    """
    async with db.transaction() as conn:
        pending = await store.search_backfill_txn(conn)
    if pending is None:
        return
    first, last = pending["next_seq"], pending["last_seq"]
    log.info("building the search index for existing messages (seq %d to %d)", first, last)
    start, done, span = first, 0, max(1, last - first + 1)
    while first <= last:
        end = min(first + BACKFILL_BATCH - 1, last)
        async with db.transaction() as conn:
            done += await store.index_messages_txn(
                conn, first, end, end + 1 if end < last else None
            )
        log.info("search index: %d messages indexed (%.0f%%)", done, 100 * (end - start + 1) / span)
        first = end + 1
    log.info("search index built: %d messages", done)
