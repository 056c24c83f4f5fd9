"""The files of attachments on disk: where they are, and removing those of orphans.

An attachment row whose message does not exist is an orphan (its message was a duplicate, was
deleted, its room was deleted, or the process died between the attachment's commit and its
message's). Its files are removed first, then the row, so a crash in between leaves a row that
the next sweep finishes. Separate from attachments.py so that rooms.py can use it (attachments
builds on rooms).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from campfire import clock, store
from campfire.core import Core

log = logging.getLogger(__name__)


def file_path(core: Core, attachment_id: str) -> Path:
    """Where an attachment's bytes are."""
    return core.files.attachments / attachment_id


def thumbnail_path(core: Core, attachment_id: str) -> Path:
    """Where an attachment's thumbnail is."""
    return core.files.attachments / f"{attachment_id}.thumb.webp"


async def delete_files_of(core: Core, message_ids: list[str]) -> int:
    """After these messages were deleted (and committed): remove their files; how many."""
    return await _remove(core, await store.orphan_attachments(core.db, message_ids=message_ids))


async def delete_files_of_room(core: Core, room_id: str) -> int:
    """After a room was deleted (and committed): remove its messages' files; how many."""
    return await _remove(core, await store.orphan_attachments(core.db, room_id=room_id))


async def sweep_orphans(core: Core) -> int:
    """At start: remove the files of attachments whose message is gone (after a crash).

    Only those recorded over a minute ago: with several workers, another one may be between
    recording an upload and committing its message right now."""
    made_before = clock.iso(clock.now() - timedelta(minutes=1))
    removed = await _remove(core, await store.orphan_attachments(core.db, made_before=made_before))
    if removed:
        log.info("removed the files of %d attachments whose messages are gone", removed)
    return removed


async def _remove(core: Core, rows: list[Any]) -> int:
    """Remove orphans' files first, then their rows: a crash between leaves a row to retry."""
    if not rows:
        return 0
    paths = [p for row in rows for p in (file_path(core, row[0]), thumbnail_path(core, row[0]))]
    await core.files.discard(*paths)
    async with core.db.transaction() as conn:
        for row in rows:
            await store.delete_orphan_attachment_txn(conn, row[0])
    return len(rows)
