"""What the group committer writes: new messages and changes to them, with their mentions
and bot webhook calls worked out inside the same transaction (store.write_batch_txn)."""

from __future__ import annotations

from typing import Any

import aiosqlite

from campfire import store, webhooks
from campfire.mentions import mentioned

# Items whose content may mention members: a new message, and an edit (new content).
WITH_CONTENT = ("message", "message_updated")


def is_plain(items: list[dict]) -> bool:
    """Whether a batch is only new messages that can mention nobody and call no webhook:
    one INSERT writes it, in autocommit."""
    return all(
        item["kind"] == "message" and "@" not in item["content"] and not item["may_call"]
        for item in items
    )


async def write_batch(conn: aiosqlite.Connection, items: list[dict]) -> list[Any]:
    """Work out the items' mentions and webhook calls, then write them; one result each.

    Done here rather than before queueing, so the members are read once per batch on the
    write connection (not once per message, which cost each message with an `@` a thread
    round trip of its own) and as they are when the message commits.
    """
    await _mentions_txn(conn, items)
    await _webhook_calls_txn(conn, items)
    return await store.write_batch_txn(conn, items)


async def _mentions_txn(conn: aiosqlite.Connection, items: list[dict]) -> None:
    """Set `mentions` of each new message and edit: the members its content names."""
    naming = []
    for item in items:
        if item["kind"] in WITH_CONTENT:
            item["mentions"] = []
            if "@" in item["content"]:
                naming.append(item)
    if not naming:
        return
    members = await store.member_names_txn(conn, sorted({item["room_id"] for item in naming}))
    for item in naming:
        # Sorted, as stored and as read back (views.message_json).
        item["mentions"] = sorted(mentioned(item["content"], members.get(item["room_id"], ())))


async def _webhook_calls_txn(conn: aiosqlite.Connection, items: list[dict]) -> None:
    """Set `webhook_deliveries` of each new message that may call a bot (webhooks.calls)."""
    calling = []
    for item in items:
        if item["kind"] == "message":
            item["webhook_deliveries"] = []
            if item["may_call"]:
                calling.append(item)
    if not calling:
        return
    bots = await store.room_webhook_bots_txn(conn, sorted({item["room_id"] for item in calling}))
    for item in calling:
        rows = bots.get(item["room_id"], [])
        item["webhook_deliveries"] = webhooks.calls(rows, item["creator_id"], item["mentions"])
