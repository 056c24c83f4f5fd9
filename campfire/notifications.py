"""Who is notified of a message (semantics.md, "Involvement"), and the links notifications open.

`recipients` is the one rule, a pure function: every kind of notification (web push today,
desktop and sound in the page through the client) asks it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

INVOLVEMENTS = ("everything", "mentions", "nothing", "invisible")


def recipients(
    author_id: str,
    members: Iterable[tuple[str, str]],
    mentioned_ids: Iterable[str],
    viewing_user_ids: Iterable[str],
) -> set[str]:
    """The members to notify of a message: not the author, nobody viewing the room, and by
    involvement: `everything` always, `mentions` when mentioned, never `nothing`/`invisible`.

    `members` are (user id, involvement) pairs; an unknown involvement notifies nobody.
    """
    mentioned, viewing = set(mentioned_ids), set(viewing_user_ids)
    chosen = set()
    for user_id, involvement in members:
        if user_id == author_id or user_id in viewing:
            continue
        if involvement == "everything" or (involvement == "mentions" and user_id in mentioned):
            chosen.add(user_id)
    return chosen


def involvement_of(member: Mapping[str, Any], room_type: str) -> str:
    """A member's involvement in a room.

    MERGE(team, migration 0002): this branch has no `memberships.involvement` column, so the
    defaults stand in for it. Once the column exists (store.notify_members selects it), this
    becomes `return member["involvement"]`.
    """
    keys = member.keys() if hasattr(member, "keys") else ()
    if "involvement" in keys and member["involvement"] in INVOLVEMENTS:
        return member["involvement"]
    return "everything" if room_type == "direct" else "mentions"


def find_mentions(content: str, members: Iterable[tuple[str, str]]) -> set[str]:
    """Ids of the members whose name follows an `@` in the content (case-insensitive,
    longest name first, so `@Ann Lee` is Ann Lee and not Ann).

    MERGE(living, migration 0003): the server then stores each message's `mentions`; callers
    use the stored list (message["mentions"]) instead of this function.
    """
    if "@" not in content:
        return set()
    by_name: dict[str, set[str]] = {}
    for user_id, name in members:
        by_name.setdefault(name.casefold(), set()).add(user_id)
    if not by_name:
        return set()
    names = sorted(by_name, key=len, reverse=True)
    # A name ends at a non-word character or the end, so "@Annabel" is not "@Ann".
    pattern = re.compile(
        "@(" + "|".join(re.escape(name) for name in names) + r")(?!\w)", re.IGNORECASE
    )
    found: set[str] = set()
    for match in pattern.finditer(content):
        found |= by_name.get(match.group(1).casefold(), set())
    return found


def mentioned_ids(message: Mapping[str, Any], members: Iterable[tuple[str, str]]) -> set[str]:
    """The users a stored message mentions: its `mentions` field when the server stores them
    (after the merge with living), else worked out from its content."""
    stored = message.get("mentions")
    if stored is not None:
        return set(stored)
    return find_mentions(message["content"], members)


def room_path(room_id: str) -> str:
    """The web client's link to a room (what a notification opens)."""
    return f"/#room={room_id}"


def message_path(room_id: str, message_id: str) -> str:
    """The web client's link to one message in its room."""
    return f"/#room={room_id}&message={message_id}"
