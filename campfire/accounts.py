"""Use cases for people: first-run setup, users, logins, sessions."""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import timedelta

import aiosqlite

from campfire import clock, directory, errors, store
from campfire.auth import hash_token, new_token
from campfire.core import Core
from campfire.errors import CampfireError
from campfire.realtime.connection import CLOSE_POLICY
from campfire.validate import (
    MAX_EMAIL_CHARS,
    MAX_PASSWORD_CHARS,
    check_bool,
    check_email,
    check_name,
    check_password,
    is_text,
    new_id,
)

# last_used_at is written at most this often per session, not on every request.
TOUCH_INTERVAL = timedelta(minutes=5)
MAX_USER_AGENT_CHARS = 300


@dataclass(frozen=True)
class SessionUser:
    """The user behind a valid session token."""

    id: str
    name: str
    email: str
    is_admin: bool
    token_hash: str


async def do_create_user(
    core: Core, email: object, name: object, password: object, is_admin: bool = False
) -> sqlite3.Row:
    """Create an active user, a member of every open room; every open page learns of them."""
    email, name, password = check_email(email), check_name(name), check_password(password)
    password_hash = await core.passwords.hash(password)  # before the transaction, never in it
    user_id, now = new_id(), clock.now_iso()
    try:
        async with core.db.transaction() as conn:
            await store.insert_user_txn(conn, user_id, name, email, password_hash, is_admin, now)
            await store.add_user_to_open_rooms_txn(conn, user_id, now)
    except sqlite3.IntegrityError:
        raise CampfireError(
            errors.EMAIL_TAKEN, "A user with that email already exists", 409
        ) from None
    await directory.user_updated(core, user_id)
    return await access_user(core, user_id)


async def do_setup_first_admin(
    core: Core, email: object, name: object, password: object
) -> sqlite3.Row:
    """Create the first user, an admin; refused once any user exists."""
    email, name, password = check_email(email), check_name(name), check_password(password)
    if await store.count_users(core.db):
        raise _setup_done()
    password_hash = await core.passwords.hash(password)
    user_id, now = new_id(), clock.now_iso()
    async with core.db.transaction() as conn:
        # Checked again inside the transaction: two visitors racing get one admin.
        if await store.count_users_txn(conn):
            raise _setup_done()
        await store.insert_user_txn(conn, user_id, name, email, password_hash, True, now)
        await store.add_user_to_open_rooms_txn(conn, user_id, now)
    return await access_user(core, user_id)


def _setup_done() -> CampfireError:
    return CampfireError(errors.SETUP_ALREADY_DONE, "Setup is already done; please log in", 409)


async def needs_setup(core: Core) -> bool:
    """Whether the server has no users yet."""
    return await store.count_users(core.db) == 0


def check_login_input(email: object, password: object) -> tuple[str, str]:
    """The email (trimmed) and password of a login, or a 400: strings of text, not too long."""
    if not isinstance(email, str) or not isinstance(password, str) or not is_text(email + password):
        raise errors.bad_request("'email' and 'password' must be strings of valid text")
    email = email.strip()
    if len(email) > MAX_EMAIL_CHARS:
        raise errors.bad_request(f"'email' must be at most {MAX_EMAIL_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise errors.bad_request(f"'password' must be at most {MAX_PASSWORD_CHARS} characters")
    return email, password


async def do_login(
    core: Core, email: object, password: object, address: str, user_agent: str = ""
) -> tuple[sqlite3.Row, str]:
    """Check a password and open a session; slowed per account and per address.

    The attempt is reserved on both keys before the password is checked, so guesses sent
    at once count against the limit while they are verified, not only after they failed.
    """
    email, password = check_login_input(email, password)
    keys = ("email:" + email.lower(), "addr:" + address)
    wait = core.login_failures.reserve(keys)
    if wait > 0:
        raise errors.rate_limited(
            f"Too many login attempts; try again in {math.ceil(wait)} s", wait
        )
    failed = False
    try:
        row = await store.get_password_hash(core.db, email)
        ok = await core.passwords.verify(row["password_hash"] if row else None, password)
        failed = row is None or not ok or not row["is_active"]
    finally:
        core.login_failures.release(keys, failed)
    if failed:
        raise CampfireError(errors.INVALID_CREDENTIALS, "Wrong email or password", 401)
    assert row is not None  # an unknown email failed above
    core.login_failures.succeeded(keys[0])
    token = await do_issue_session(core, row["id"], user_agent=user_agent)
    return await access_user(core, row["id"]), token


async def do_issue_session(
    core: Core, user_id: str, days: int | None = None, user_agent: str = ""
) -> str:
    """A new session token for a user; only its hash is stored."""
    token = new_token()
    async with core.db.transaction() as conn:
        await _insert_session_txn(core, conn, token, user_id, user_agent, days)
    return token


async def _insert_session_txn(
    core: Core,
    conn: aiosqlite.Connection,
    token: str,
    user_id: str,
    user_agent: str,
    days: int | None = None,
) -> None:
    """Store a new session for `token` inside the caller's transaction."""
    days = core.settings.session_days if days is None else days
    await store.insert_session_txn(
        conn,
        hash_token(token),
        user_id,
        clock.now_iso(),
        clock.iso_in(timedelta(days=days)),
        user_agent[:MAX_USER_AGENT_CHARS],
    )


async def authenticate(core: Core, token: str | None) -> SessionUser | None:
    """The user of a live session token, or None (unknown, expired, revoked, deactivated)."""
    if not token or len(token) > 200:
        return None
    token_hash = hash_token(token)
    now = clock.now()
    row = await store.get_session(core.db, token_hash, clock.iso(now))
    if row is None:
        return None
    if row["last_used_at"] < clock.iso(now - TOUCH_INTERVAL):
        async with core.db.transaction() as conn:
            await store.touch_session_txn(conn, token_hash, clock.iso(now))
    return SessionUser(row["id"], row["name"], row["email"], bool(row["is_admin"]), token_hash)


async def do_logout(core: Core, token_hash: str) -> None:
    """Revoke a session; sockets opened with it close at once."""
    async with core.db.transaction() as conn:
        await store.revoke_session_txn(conn, token_hash, clock.now_iso())
    core.hub.disconnect_session(token_hash, CLOSE_POLICY, "Session ended")


async def do_revoke_token(core: Core, token: str) -> bool:
    """Revoke a session by its token; True if it was live."""
    token_hash = hash_token(token)
    async with core.db.transaction() as conn:
        revoked = await store.revoke_session_txn(conn, token_hash, clock.now_iso())
    core.hub.disconnect_session(token_hash, CLOSE_POLICY, "Session ended")
    return revoked


async def do_revoke_user_sessions(core: Core, user_id: str) -> int:
    """Revoke every session of a user and close their sockets."""
    async with core.db.transaction() as conn:
        count = await store.revoke_user_sessions_txn(conn, user_id, clock.now_iso())
    core.hub.disconnect_user(user_id, CLOSE_POLICY, "Session ended")
    return count


async def do_change_password(core: Core, user_id: str, password: str) -> None:
    """Set a new password; every existing session of the user ends."""
    password_hash = await core.passwords.hash(check_password(password))
    async with core.db.transaction() as conn:
        if not await store.update_user_txn(conn, user_id, password_hash=password_hash):
            raise errors.user_not_found()
        await store.revoke_user_sessions_txn(conn, user_id, clock.now_iso())
    core.hub.disconnect_user(user_id, CLOSE_POLICY, "Password changed")


async def do_set_active(core: Core, user_id: str, active: bool) -> sqlite3.Row:
    """Deactivate (sessions end at once, sockets close) or reactivate a user."""
    async with core.db.transaction() as conn:
        if not await store.update_user_txn(conn, user_id, is_active=int(active)):
            raise errors.user_not_found()
        if not active:
            await store.revoke_user_sessions_txn(conn, user_id, clock.now_iso())
        else:
            await store.add_user_to_open_rooms_txn(conn, user_id, clock.now_iso())
    if not active:
        core.hub.disconnect_user(user_id, CLOSE_POLICY, "Account deactivated")
    await directory.user_updated(core, user_id)
    return await access_user(core, user_id)


async def do_set_admin(core: Core, user_id: str, is_admin: bool) -> sqlite3.Row:
    """Grant or take away administrator rights."""
    async with core.db.transaction() as conn:
        if not await store.update_user_txn(conn, user_id, is_admin=int(is_admin)):
            raise errors.user_not_found()
    await directory.user_updated(core, user_id)
    return await access_user(core, user_id)


async def access_user(core: Core, user_id: str) -> sqlite3.Row:
    """A user by id, or USER_NOT_FOUND."""
    row = await store.get_user(core.db, user_id)
    if row is None:
        raise errors.user_not_found()
    return row


async def do_rename_user(core: Core, user_id: str, name: str) -> None:
    """Change a user's display name."""
    name = check_name(name)
    async with core.db.transaction() as conn:
        if not await store.update_user_txn(conn, user_id, name=name):
            raise errors.user_not_found()
    await directory.user_updated(core, user_id, renamed=True)


# --- the account: its name, join link, and who may create open rooms (issue 11) ----------

JOIN_CODE_BYTES = 12  # 96 random bits: 16 URL-safe characters
LOGIN_LINK_LIFETIME = timedelta(hours=4)
INVOLVEMENTS = ("everything", "mentions", "nothing", "invisible")


def default_members_can_create_open_rooms(core: Core) -> bool:
    """What a fresh account starts with (the open_rooms_admin_only setting); from then on the
    account setting decides, and administrators change it from the browser."""
    return not core.settings.open_rooms_admin_only


async def get_account(core: Core) -> sqlite3.Row:
    """The account row, created with a new join code on first use."""
    row = await store.get_account(core.db)
    if row is None:
        async with core.db.transaction() as conn:
            await store.insert_account_txn(
                conn,
                "Campfire",
                secrets.token_urlsafe(JOIN_CODE_BYTES),
                default_members_can_create_open_rooms(core),
                clock.now_iso(),
            )
        row = await store.get_account(core.db)
        assert row is not None  # just inserted (here or by a racing request), never deleted
    return row


async def do_update_account(core: Core, name: object, open_rooms: object) -> sqlite3.Row:
    """Change the account's name and/or whether members may create open rooms (None: keep)."""
    changes: dict[str, object] = {}
    if name is not None:
        changes["name"] = check_name(name)
    if open_rooms is not None:
        changes["members_can_create_open_rooms"] = int(
            check_bool(open_rooms, "members_can_create_open_rooms")
        )
    if not changes:
        raise errors.bad_request("Send one or more of: members_can_create_open_rooms, name")
    await get_account(core)
    async with core.db.transaction() as conn:
        await store.update_account_txn(conn, **changes)
    return await get_account(core)


async def do_new_join_code(core: Core) -> sqlite3.Row:
    """Replace the join code: the old join link stops working at once."""
    await get_account(core)
    async with core.db.transaction() as conn:
        await store.update_account_txn(conn, join_code=secrets.token_urlsafe(JOIN_CODE_BYTES))
    return await get_account(core)


def _check_throttle(core: Core, key: str, what: str) -> None:
    """RATE_LIMITED (with Retry-After) while `key` is over its allowance."""
    wait = core.login_failures.retry_after(key)
    if wait > 0:
        raise errors.rate_limited(f"Too many {what}; try again in {int(wait) + 1} s", wait)


async def check_join_code(core: Core, code: str, address: str) -> sqlite3.Row:
    """The account, if `code` is its join code; else a 404 that says so (throttled per address)."""
    key = "join:" + address
    _check_throttle(core, key, "attempts to join")
    account = await get_account(core)
    if not hmac.compare_digest(code.encode("utf-8", "replace"), account["join_code"].encode()):
        core.login_failures.failed(key)
        raise CampfireError(
            errors.INVALID_JOIN_CODE,
            "This join link is not valid: it may have been replaced. Ask for a new one.",
            404,
        )
    return account


async def do_join(
    core: Core,
    code: str,
    email: object,
    name: object,
    password: object,
    address: str,
    user_agent: str = "",
) -> tuple[sqlite3.Row, str]:
    """A person joins with the account's join code: a new member, signed in."""
    await check_join_code(core, code, address)
    # Successful joins count too: one address cannot mint accounts without bound.
    core.login_failures.failed("join:" + address)
    row = await do_create_user(core, email, name, password)
    token = await do_issue_session(core, row["id"], user_agent=user_agent)
    return row, token


# --- login links: one-use, 4 hours, sign a person in (and let them set a password) -------


async def do_make_login_link(
    core: Core, actor: SessionUser | None, user_id: str
) -> tuple[str, str]:
    """A new login link's secret and expiry; administrators for anyone, users for themselves
    (actor None: an administrator at the shell)."""
    if actor is not None and not actor.is_admin and actor.id != user_id:
        raise errors.forbidden("Only administrators can make a login link for someone else")
    target = await access_user(core, user_id)
    if not target["is_active"]:
        raise errors.forbidden("That user is deactivated; reactivate them first")
    token, now = new_token(), clock.now()
    expires_at = clock.iso(now + LOGIN_LINK_LIFETIME)
    async with core.db.transaction() as conn:
        await store.insert_login_link_txn(
            conn,
            hash_token(token),
            user_id,
            actor.id if actor else None,
            clock.iso(now),
            expires_at,
        )
    return token, expires_at


async def check_login_link(core: Core, token: str, address: str) -> sqlite3.Row:
    """A usable login link (with its user's name), or a clear 404/410 (throttled per address)."""
    key = "link:" + address
    _check_throttle(core, key, "attempts with login links")
    row = await store.get_login_link(core.db, hash_token(token)) if len(token) <= 200 else None
    if row is None:
        core.login_failures.failed(key)
        raise CampfireError(errors.LOGIN_LINK_INVALID, "This login link is not valid", 404)
    if row["used_at"] is not None:
        raise CampfireError(
            errors.LOGIN_LINK_USED, "This login link was already used; ask for a new one", 410
        )
    if row["expires_at"] <= clock.now_iso():
        raise CampfireError(
            errors.LOGIN_LINK_EXPIRED, "This login link has expired; ask for a new one", 410
        )
    if not row["is_active"]:
        raise errors.forbidden("This account is deactivated")
    return row


async def do_redeem_login_link(
    core: Core, token: str, password: object, address: str, user_agent: str = ""
) -> tuple[sqlite3.Row, str]:
    """Use a login link: a new session, and with `password` a new password (other sessions
    of the user end then, as on any password change)."""
    link = await check_login_link(core, token, address)
    password_hash = None
    if password is not None:
        password_hash = await core.passwords.hash(check_password(password))
    session_token, now = new_token(), clock.now_iso()
    async with core.db.transaction() as conn:
        user_id = await store.use_login_link_txn(conn, hash_token(token), now)
        if user_id is None:  # used by a racing request, or expired, since the check
            raise CampfireError(
                errors.LOGIN_LINK_USED, "This login link was already used; ask for a new one", 410
            )
        if password_hash is not None:
            await store.update_user_txn(conn, user_id, password_hash=password_hash)
            await store.revoke_user_sessions_txn(conn, user_id, now)
        await _insert_session_txn(core, conn, session_token, user_id, user_agent)
    if password_hash is not None:
        # Only the sessions revoked above have sockets: the new one has none yet.
        core.hub.disconnect_user(link["user_id"], CLOSE_POLICY, "Password changed")
    return await access_user(core, link["user_id"]), session_token


# --- my account: name, password, sessions ------------------------------------------------


async def do_change_own_password(
    core: Core, user: SessionUser, current: object, new: object
) -> None:
    """Change one's password, proving the current one; every other session ends."""
    if not isinstance(current, str) or not is_text(current):
        raise errors.bad_request("'current_password' must be a string")
    new = check_password(new)
    key = "password:" + user.id
    # Reserved before verifying, as logins are: guesses sent at once count while in flight.
    wait = core.login_failures.reserve([key])
    if wait > 0:
        raise errors.rate_limited(
            f"Too many wrong passwords; try again in {math.ceil(wait)} s", wait
        )
    failed = True
    try:
        row = await store.get_password_hash(core.db, user.email)
        failed = not await core.passwords.verify(row["password_hash"] if row else None, current)
    finally:
        core.login_failures.release([key], failed)
    if failed:
        raise CampfireError(errors.WRONG_PASSWORD, "The current password is wrong", 403)
    core.login_failures.succeeded(key)
    password_hash = await core.passwords.hash(new)
    now = clock.now_iso()
    async with core.db.transaction() as conn:
        await store.update_user_txn(conn, user.id, password_hash=password_hash)
        ended = await store.revoke_other_sessions_txn(conn, user.id, user.token_hash, now)
    for token_hash in ended:
        core.hub.disconnect_session(token_hash, CLOSE_POLICY, "Password changed")


def session_id(token_hash: str) -> str:
    """A session's public id: derived from its hash, so neither can be found from it."""
    return hashlib.sha256(b"session-id:" + token_hash.encode()).hexdigest()[:32]


async def list_sessions(core: Core, user: SessionUser) -> list[dict]:
    """The user's live sessions: id, created, last used, user agent, and which is this one."""
    rows = await store.list_user_sessions(core.db, user.id, clock.now_iso())
    return [
        {
            "id": session_id(row["token_hash"]),
            "created_at": row["created_at"],
            "last_used_at": row["last_used_at"],
            "expires_at": row["expires_at"],
            "user_agent": row["user_agent"],
            "current": row["token_hash"] == user.token_hash,
        }
        for row in rows
    ]


async def do_end_session(core: Core, user: SessionUser, public_id: str) -> None:
    """End one of the user's own sessions by its public id; its sockets close."""
    rows = await store.list_user_sessions(core.db, user.id, clock.now_iso())
    # Compared as bytes: compare_digest refuses str with non-ASCII characters (a TypeError).
    wanted = public_id.encode("utf-8", "replace")
    for row in rows:
        if hmac.compare_digest(session_id(row["token_hash"]).encode(), wanted):
            await do_logout(core, row["token_hash"])
            return
    raise CampfireError(errors.NOT_FOUND, "No such session", 404)
