"""Who is notified of a message (semantics.md, "Involvement"), and the links notifications open.

`recipients` is the one rule, a pure function: every kind of notification (web push today,
desktop and sound in the page through the client) asks it.
"""

from __future__ import annotations

from collections.abc import Iterable

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


def room_path(room_id: str) -> str:
    """The web client's link to a room (what a notification opens)."""
    return f"/#room={room_id}"


def message_path(room_id: str, message_id: str) -> str:
    """The web client's link to one message in its room."""
    return f"/#room={room_id}&message={message_id}"
