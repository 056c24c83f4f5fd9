"""Checks for input from the outside world; each raises CampfireError with a clear message."""

from __future__ import annotations

import random
import re
import time
import uuid
from typing import Any

from campfire.errors import MESSAGE_CREATION_FAILED, CampfireError, bad_request

MAX_CONTENT_CHARS = 10_000
MAX_NAME_CHARS = 100
MAX_EMAIL_CHARS = 254
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024
ROOM_TYPES = ("open", "closed", "direct")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Control characters (C0, DEL, C1) and the Unicode line and paragraph separators: a terminal
# acts on them (ESC sequences clear the screen or retitle the window, CR overwrites a line,
# LF forges one), so names refuse them and terminal output escapes them.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def new_id() -> str:
    """A new identifier: a random UUID, lowercase and hyphenated."""
    return str(uuid.uuid4())


def new_time_ordered_id() -> str:
    """A new UUIDv7 (RFC 9562): milliseconds since the epoch, then 74 random bits.

    For messages: ids that grow with time go in at the end of the id index instead of on
    a random page of it, so a batch of messages writes a few pages, not one per message.
    """
    # random, not os.urandom: the bits only keep ids apart (they are no secret), and
    # os.urandom lets go of the GIL for its system call, which under load handed the event
    # loop's turn to the database thread once per message.
    raw = bytearray(
        (time.time_ns() // 1_000_000).to_bytes(6, "big") + random.getrandbits(80).to_bytes(10)
    )
    raw[6] = 0x70 | (raw[6] & 0x0F)  # version 7
    raw[8] = 0x80 | (raw[8] & 0x3F)  # RFC 9562 variant
    return str(uuid.UUID(bytes=bytes(raw)))


def is_uuid(value: Any) -> bool:
    """Whether a value is a UUID string in canonical form (any case)."""
    # fullmatch: with match and "$", "<uuid>\n" passed (and was stored as a distinct id).
    return isinstance(value, str) and _UUID.fullmatch(value.lower()) is not None


def check_uuid(value: Any, field: str) -> str:
    """A UUID string, normalised to lowercase."""
    if not is_uuid(value):
        raise bad_request(f"'{field}' must be a UUID string")
    return value.lower()


def check_str(value: Any, field: str, max_chars: int, allow_empty: bool = False) -> str:
    """A string field, trimmed, not too long."""
    if not isinstance(value, str):
        raise bad_request(f"'{field}' must be a string")
    text = value.strip()
    if not text and not allow_empty:
        raise bad_request(f"'{field}' must not be empty")
    if len(text) > max_chars:
        raise bad_request(f"'{field}' must be at most {max_chars} characters")
    if "\x00" in text or not is_text(text):
        raise bad_request(f"'{field}' must be valid text without NUL characters")
    return text


def is_text(text: str) -> bool:
    """Whether a string is valid Unicode (JSON can smuggle in lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_name(value: Any, field: str = "name") -> str:
    """A person's or a room's name: one line of text, no control characters."""
    name = check_str(value, field, MAX_NAME_CHARS)
    if _CONTROL.search(name):
        raise bad_request(
            f"'{field}' must not contain control characters (newlines, tabs, escapes)"
        )
    return name


def check_email(value: Any) -> str:
    """An email address, trimmed (compared case-insensitively by the database)."""
    email = check_str(value, "email", MAX_EMAIL_CHARS)
    if not _EMAIL.match(email) or _CONTROL.search(email):
        raise bad_request("'email' must be an email address")
    return email


def check_password(value: Any) -> str:
    """A new password: long enough, not absurdly long. Not trimmed."""
    if not isinstance(value, str):
        raise bad_request("'password' must be a string")
    if not is_text(value):  # a lone surrogate from JSON would crash the hasher
        raise bad_request("'password' must be valid text")
    if len(value) < MIN_PASSWORD_CHARS:
        raise bad_request(f"'password' must be at least {MIN_PASSWORD_CHARS} characters")
    if len(value) > MAX_PASSWORD_CHARS:
        raise bad_request(f"'password' must be at most {MAX_PASSWORD_CHARS} characters")
    return value


def check_room_type(value: Any, allowed: tuple[str, ...] = ROOM_TYPES) -> str:
    """One of the room types."""
    if value not in allowed:
        raise bad_request(f"'room_type' must be one of: {', '.join(allowed)}")
    return value


def check_content(value: Any) -> str:
    """Message content: stored as sent, non-empty after trimming, at most 10,000 characters."""
    if not isinstance(value, str):
        raise CampfireError(MESSAGE_CREATION_FAILED, "'content' must be a string")
    if not value.strip():
        raise CampfireError(MESSAGE_CREATION_FAILED, "Message content must not be empty")
    if len(value) > MAX_CONTENT_CHARS:
        raise CampfireError(
            MESSAGE_CREATION_FAILED,
            f"Message content must be at most {MAX_CONTENT_CHARS} characters",
        )
    if "\x00" in value or not is_text(value):
        raise CampfireError(
            MESSAGE_CREATION_FAILED, "Message content must be valid text without NUL characters"
        )
    return value


def check_bool(value: Any, field: str) -> bool:
    """A JSON boolean."""
    if not isinstance(value, bool):
        raise bad_request(f"'{field}' must be true or false")
    return value


def escape_controls(text: str, keep: str = "") -> str:
    """Text safe for a terminal: control characters (but those in `keep`) become escapes (\\x1b)."""
    return _CONTROL.sub(
        lambda m: m[0] if m[0] in keep else m[0].encode("unicode_escape").decode("ascii"), text
    )


def whole_number_param(value: object, name: str) -> int | None:
    """A whole-number query parameter (a sequence-number cursor or a page size), or None
    when absent; fits SQLite's 64-bit integers."""
    if value is None or value == "":
        return None
    try:
        number = int(str(value))
    except ValueError:
        raise bad_request(f"'{name}' must be a whole number") from None
    if not 0 <= number <= 2**63 - 1:
        raise bad_request(f"'{name}' is out of range")
    return number
