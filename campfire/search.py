"""Full-text search over the messages of the caller's rooms (SQLite FTS5)."""

from __future__ import annotations

import re

from campfire import errors, store
from campfire.accounts import SessionUser
from campfire.attachments import add_to
from campfire.core import Core
from campfire.rooms import access_room
from campfire.validate import check_uuid, whole_number_param
from campfire.views import message_json

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_QUERY_CHARS = 500
MAX_TERMS = 16

# A phrase in double quotes (the closing quote may be missing), or a run of non-space.
_TERM = re.compile(r'"([^"]*)"?|([^\s"]+)')


def match_expression(query: str) -> str | None:
    """The user's words as an FTS5 expression that can only mean "all of these terms".

    Every term is quoted by us (quotes inside doubled), so nothing the user types is FTS5
    syntax: no column filters, NEAR, OR/NOT or parentheses. "Quoted words" stay a phrase; a
    word ending in * matches as a prefix. Terms without a letter or digit are dropped (the
    tokenizer would find nothing in them); None when nothing is left.
    """
    terms: list[str] = []
    for phrase, word in _TERM.findall(query):
        text, prefix = (phrase, False) if phrase else (word.rstrip("*"), word.endswith("*"))
        if not any(ch.isalnum() for ch in text):
            continue
        quoted = '"' + text.replace('"', '""') + '"'
        terms.append(quoted + ("*" if prefix else ""))
        if len(terms) == MAX_TERMS:
            break
    return " ".join(terms) if terms else None


async def search(
    core: Core,
    user: SessionUser,
    query: object,
    room_id: object = None,
    creator_id: object = None,
    before: object = None,
    limit: object = None,
) -> dict:
    """The caller's matching messages, newest first, with snippets, has_more and a cursor."""
    if not isinstance(query, str) or len(query) > MAX_QUERY_CHARS:
        raise errors.bad_request(f"'q' must be text of at most {MAX_QUERY_CHARS} characters")
    count = whole_number_param(limit, "limit")
    count = DEFAULT_LIMIT if count is None else count
    if not 1 <= count <= MAX_LIMIT:
        raise errors.bad_request(f"'limit' must be between 1 and {MAX_LIMIT}")
    before_seq = whole_number_param(before, "before")
    room = check_uuid(room_id, "room_id") if room_id else None
    creator = check_uuid(creator_id, "creator_id") if creator_id else None
    if room is not None:
        await access_room(core, user, room)  # ROOM_NOT_FOUND / ROOM_ACCESS_DENIED as elsewhere
    match = match_expression(query)
    if match is None:
        return {"results": [], "has_more": False, "next_before": None}
    rows = await store.search_messages(core.db, match, user.id, room, creator, before_seq, count)
    has_more = len(rows) > count
    rows = rows[:count]
    messages = await add_to(core, [message_json(row) for row in rows])
    results = [
        {"message": message, "snippet": row["snippet"]}
        for message, row in zip(messages, rows, strict=True)
    ]
    next_before = rows[-1]["seq"] if has_more else None
    return {"results": results, "has_more": has_more, "next_before": next_before}
