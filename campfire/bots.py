"""Use cases for bots: users with role `bot` that post with a key, made by administrators.

A bot's key is its user id, a hyphen and a random secret (once-campfire's shape); only the
SHA-256 of the secret is stored (auth.hash_token), so a key is shown once, when made or reset.
A bot never gets a session: store.get_session refuses every bot, whatever token it holds.
"""

from __future__ import annotations

import hmac
import re
import secrets
import sqlite3
from typing import Any
from urllib.parse import urlsplit

from campfire import clock, errors, store
from campfire.accounts import SessionUser
from campfire.auth import hash_token
from campfire.core import Core
from campfire.errors import CampfireError
from campfire.validate import check_name, is_uuid, new_id
from campfire.views import Record

SECRET_BYTES = 24  # 192 random bits per key
WEBHOOK_SECRET_BYTES = 32
MAX_WEBHOOK_URL_CHARS = 2000
UNUSABLE_PASSWORD = "!bot"  # not an argon2 hash: every password check fails
BOT_EMAIL_DOMAIN = "bots.invalid"  # RFC 2606: can never be a real address
_KEY_IN_PATH = re.compile(r"^(/rooms/[^/]+/)[^/]+(/messages)")


def loggable_path(path: str) -> str:
    """A request path fit for a log line: a bot key in it is replaced by '***'."""
    return _KEY_IN_PATH.sub(r"\1***\2", path)


def new_key(bot_id: str) -> tuple[str, str]:
    """A new key for a bot and the hash of its secret: (key, key_hash)."""
    secret = secrets.token_urlsafe(SECRET_BYTES)
    return f"{bot_id}-{secret}", hash_token(secret)


def parse_key(key: str) -> tuple[str, str] | None:
    """(bot id, secret) from a key, or None if it cannot be one."""
    if len(key) < 38 or len(key) > 200 or key[36] != "-" or not is_uuid(key[:36]):
        return None
    return key[:36].lower(), key[37:]


async def authenticate(core: Core, key: str) -> SessionUser | None:
    """The active bot a key belongs to, or None (unknown, reset, removed)."""
    parsed = parse_key(key)
    if parsed is None:
        return None
    bot_id, secret = parsed
    row = await store.get_bot(core.db, bot_id)
    if row is None or not row["is_active"] or not row["key_hash"]:
        return None
    if not hmac.compare_digest(row["key_hash"], hash_token(secret)):
        return None
    return SessionUser(row["id"], row["name"], row["email"], False, "")


def check_webhook_url(url: object) -> str | None:
    """A webhook URL (http or https, with a host) or None to have none.

    Administrators set these, and may point bots at their own internal services, so any host
    is allowed (docs/bots.md says so): the scheme is the limit.
    """
    if url is None or url == "":
        return None
    if not isinstance(url, str) or len(url) > MAX_WEBHOOK_URL_CHARS:
        raise errors.bad_request(f"'webhook_url' must be a URL of at most {MAX_WEBHOOK_URL_CHARS}")
    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError:
        raise errors.bad_request("'webhook_url' is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise errors.bad_request("'webhook_url' must be an http or https URL")
    return url


def bot_json(row: Record, with_secret: bool = False) -> dict:
    """A bot as administrators see it; the webhook secret only when asked for."""
    data = {
        "id": row["id"],
        "name": row["name"],
        "role": "bot",
        "is_active": bool(row["is_active"]),
        "created_at": row["created_at"],
        "webhook_url": row["webhook_url"],
        "last_error": row["last_error"],
        "last_error_at": row["last_error_at"],
    }
    if with_secret:
        data["webhook_secret"] = row["webhook_secret"]
    return data


async def access_bot(core: Core, bot_id: str) -> sqlite3.Row:
    """A bot by id, or USER_NOT_FOUND."""
    row = await store.get_bot(core.db, bot_id)
    if row is None:
        raise errors.user_not_found()
    return row


async def do_create_bot(core: Core, name: object, webhook_url: object = None) -> tuple[Any, str]:
    """Create a bot (a member of every open room, as any user); (bot row, key)."""
    name = check_name(name)
    url = check_webhook_url(webhook_url)
    bot_id, now = new_id(), clock.now_iso()
    key, key_hash = new_key(bot_id)
    webhook_secret = secrets.token_hex(WEBHOOK_SECRET_BYTES) if url else None
    email = f"bot-{bot_id}@{BOT_EMAIL_DOMAIN}"
    async with core.db.transaction() as conn:
        await store.insert_user_txn(conn, bot_id, name, email, UNUSABLE_PASSWORD, False, now)
        await store.insert_bot_txn(conn, bot_id, key_hash, url, webhook_secret, now)
        await store.add_user_to_open_rooms_txn(conn, bot_id, now)
    await core.webhooks.bots_changed()
    return await access_bot(core, bot_id), key


async def do_update_bot(core: Core, bot_id: str, changes: dict) -> sqlite3.Row:
    """Rename a bot and/or set its webhook URL (null or "" removes it).

    The webhook secret is made when a URL is first set and kept while one is set; removing
    the URL drops the secret and the pending deliveries.
    """
    known = {"name", "webhook_url"}
    if not changes or not set(changes) <= known:
        raise errors.bad_request(f"Send one or more of: {', '.join(sorted(known))}")
    row = await access_bot(core, bot_id)
    if not row["is_active"]:
        raise errors.user_not_found()
    name = check_name(changes["name"]) if "name" in changes else None
    async with core.db.transaction() as conn:
        if name is not None:
            await store.update_user_txn(conn, bot_id, name=name)
        if "webhook_url" in changes:
            url = check_webhook_url(changes["webhook_url"])
            if url is None:
                await store.update_bot_txn(conn, bot_id, webhook_url=None, webhook_secret=None)
                await store.delete_bot_deliveries_txn(conn, bot_id)
            else:
                secret = row["webhook_secret"] or secrets.token_hex(WEBHOOK_SECRET_BYTES)
                await store.update_bot_txn(conn, bot_id, webhook_url=url, webhook_secret=secret)
    await core.webhooks.bots_changed()
    return await access_bot(core, bot_id)


async def do_reset_key(core: Core, bot_id: str) -> str:
    """A new key for a bot; the old one stops working at once."""
    row = await access_bot(core, bot_id)
    if not row["is_active"]:
        raise errors.user_not_found()
    key, key_hash = new_key(bot_id)
    async with core.db.transaction() as conn:
        await store.update_bot_txn(conn, bot_id, key_hash=key_hash)
    return key


async def do_remove_bot(core: Core, bot_id: str) -> None:
    """Remove a bot: deactivated (its messages stay, by a bot marked inactive), key and
    webhook gone, pending deliveries dropped."""
    await access_bot(core, bot_id)
    async with core.db.transaction() as conn:
        await store.update_user_txn(conn, bot_id, is_active=0)
        await store.update_bot_txn(conn, bot_id, key_hash="", webhook_url=None, webhook_secret=None)
        await store.delete_bot_deliveries_txn(conn, bot_id)
    await core.webhooks.bots_changed()


async def resolve_bot(core: Core, ref: str) -> sqlite3.Row:
    """An active bot named by id or by (unique) name, for the CLI."""
    ref = ref.strip()
    if is_uuid(ref):
        row = await store.get_bot(core.db, ref.lower())
        if row is not None and row["is_active"]:
            return row
    matches = await store.find_bots_by_name(core.db, ref)
    if not matches:
        raise CampfireError(errors.USER_NOT_FOUND, f"no bot {ref!r}", 404)
    if len(matches) > 1:
        raise CampfireError(errors.BAD_REQUEST, f"Several bots are named {ref!r}; use the id")
    return matches[0]
