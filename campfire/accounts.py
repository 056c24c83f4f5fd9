"""Use cases for people: first-run setup, users, logins, sessions."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import timedelta

from campfire import clock, errors, store
from campfire.auth import hash_token, new_token
from campfire.core import Core
from campfire.errors import CampfireError
from campfire.realtime.connection import CLOSE_POLICY
from campfire.validate import check_email, check_name, check_password, is_text, new_id

# last_used_at is written at most this often per session, not on every request.
TOUCH_INTERVAL = timedelta(minutes=5)


@dataclass(frozen=True)
class SessionUser:
    """The user behind a valid session token."""

    id: str
    name: str
    email: str
    is_admin: bool
    token_hash: str


async def do_create_user(
    core: Core, email: str, name: str, password: str, is_admin: bool = False
) -> sqlite3.Row:
    """Create an active user, a member of every open room."""
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
    return await store.get_user(core.db, user_id)


async def do_setup_first_admin(core: Core, email: str, name: str, password: str) -> sqlite3.Row:
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
    return await store.get_user(core.db, user_id)


def _setup_done() -> CampfireError:
    return CampfireError(errors.SETUP_ALREADY_DONE, "Setup is already done; please log in", 409)


async def needs_setup(core: Core) -> bool:
    """Whether the server has no users yet."""
    return await store.count_users(core.db) == 0


async def do_login(
    core: Core, email: object, password: object, address: str
) -> tuple[sqlite3.Row, str]:
    """Check a password and open a session; slowed per account and per address."""
    if not isinstance(email, str) or not isinstance(password, str) or not is_text(email + password):
        raise errors.bad_request("'email' and 'password' must be strings of valid text")
    keys = ("email:" + email.strip().lower(), "addr:" + address)
    wait = max(core.login_failures.retry_after(key) for key in keys)
    if wait > 0:
        raise errors.rate_limited(f"Too many failed logins; try again in {int(wait) + 1} s", wait)
    row = await store.get_password_hash(core.db, email.strip())
    ok = await core.passwords.verify(row["password_hash"] if row else None, password)
    if not ok or not row["is_active"]:
        for key in keys:
            core.login_failures.failed(key)
        raise CampfireError(errors.INVALID_CREDENTIALS, "Wrong email or password", 401)
    core.login_failures.succeeded(keys[0])
    token = await do_issue_session(core, row["id"])
    return await store.get_user(core.db, row["id"]), token


async def do_issue_session(core: Core, user_id: str, days: int | None = None) -> str:
    """A new session token for a user; only its hash is stored."""
    token = new_token()
    days = core.settings.session_days if days is None else days
    async with core.db.transaction() as conn:
        await store.insert_session_txn(
            conn, hash_token(token), user_id, clock.now_iso(), clock.iso_in(timedelta(days=days))
        )
    return token


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
    return await store.get_user(core.db, user_id)


async def do_set_admin(core: Core, user_id: str, is_admin: bool) -> sqlite3.Row:
    """Grant or take away administrator rights."""
    async with core.db.transaction() as conn:
        if not await store.update_user_txn(conn, user_id, is_admin=int(is_admin)):
            raise errors.user_not_found()
    return await store.get_user(core.db, user_id)


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
