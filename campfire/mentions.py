"""Mentions: who a message calls by name (`@Ann Lee`), worked out by the server from its
content; and the members an `@` in the composer may complete to."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from campfire import store

if TYPE_CHECKING:  # core imports this module (through batch.py)
    from campfire.core import Core

MAX_AUTOCOMPLETE = 20


def mentioned(content: str, members: Iterable[tuple[str, str]]) -> list[str]:
    """Ids of the members (id, name) whose name follows an `@` in the content.

    Case-insensitive; the longest name that fits wins (`@Ann Lee` is Ann Lee, not Ann), and
    a name must end where a word ends (`@Annabel` does not mention Ann). In order of first
    mention, each once.
    """
    if "@" not in content:
        return []
    text = content.lower()
    names = sorted(
        ((name.lower(), user_id) for user_id, name in members if name.strip()),
        key=lambda pair: -len(pair[0]),
    )
    found: list[str] = []
    at = text.find("@")
    while at >= 0:
        for name, user_id in names:
            end = at + 1 + len(name)
            if text.startswith(name, at + 1) and (end == len(text) or not text[end].isalnum()):
                if user_id not in found:
                    found.append(user_id)
                break
        at = text.find("@", at + 1)
    return found


async def autocomplete_members(core: Core, room_id: str, query: str) -> list:
    """Members of a room whose name (or a word of it) starts with `query`, for `@` completion."""
    return await store.search_members(core.db, room_id, query, MAX_AUTOCOMPLETE)
