"""Passwords (argon2, off the event loop), session tokens, and finding the token in a request."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from campfire import errors

TOKEN_BYTES = 32  # 256 bits from the OS's CSPRNG
COOKIE_NAME = "session_token"
T = TypeVar("T")


class Passwords:
    """argon2id hashing in a small thread pool, so logins never block the event loop.

    The pool's queue is bounded: with `max_pending` hashes waiting or running, the next one is
    refused at once (429) instead of making every later login wait behind a flood.
    """

    def __init__(
        self, workers: int = 2, hasher: PasswordHasher | None = None, max_pending: int = 16
    ) -> None:
        self._hasher = hasher or PasswordHasher()
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="argon2")
        self._max_pending = max(1, max_pending)
        self._pending = 0
        # Verified against when the email is unknown, so both cases cost one verification.
        self._dummy_hash = self._hasher.hash(secrets.token_hex(16))

    async def hash(self, password: str) -> str:
        """Hash a password."""
        return await self._run(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Check a password; with no hash (unknown user) it still spends the same time."""
        return await self._run(
            self._verify_sync,
            password_hash or self._dummy_hash,
            password,
            password_hash is not None,
        )

    async def _run(self, func: Callable[..., T], *args: object) -> T:
        """Run blocking argon2 work in the pool, or refuse at once when its queue is full."""
        if self._pending >= self._max_pending:
            raise errors.rate_limited("The server is busy checking passwords; try again soon", 1)
        self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, func, *args)
        finally:
            self._pending -= 1

    def _verify_sync(self, password_hash: str, password: str, real: bool) -> bool:
        """Blocking verification, run in the pool."""
        try:
            ok = self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        return ok and real

    def close(self) -> None:
        """Stop the worker threads."""
        self._pool.shutdown(wait=True)


def new_token() -> str:
    """A new session token: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """What the database stores instead of the token (SHA-256: tokens are random, not guessable)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def token_from_request(request: web.Request) -> tuple[str | None, str | None]:
    """The session token and where it came from: query, then Bearer header, then cookie."""
    token = request.query.get("token")
    if token:
        return token, "query"
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), "header"
    cookie = request.cookies.get(COOKIE_NAME)
    if cookie:
        return cookie, "cookie"
    return None, None


def request_origin(request: web.Request, trust_proxy: bool) -> str:
    """This server's own origin as the browser sees it (scheme://host[:port])."""
    scheme, host = request.scheme, request.host
    if trust_proxy:
        scheme = request.headers.get("X-Forwarded-Proto", scheme).split(",")[0].strip()
        host = request.headers.get("X-Forwarded-Host", host).split(",")[0].strip()
    return f"{scheme}://{host}".lower()


def origin_allowed(request: web.Request, allowed: tuple[str, ...], trust_proxy: bool) -> bool:
    """Whether the request's Origin is this server or one of the configured origins."""
    origin = request.headers.get("Origin")
    if not origin:
        return False
    origin = origin.strip().lower().rstrip("/")
    return origin == request_origin(request, trust_proxy) or origin in {
        o.lower().rstrip("/") for o in allowed
    }


def is_secure(request: web.Request, secure_cookies: str, trust_proxy: bool) -> bool:
    """Whether the session cookie gets the Secure flag: always, never, or auto (if over HTTPS)."""
    if secure_cookies in ("always", "true"):
        return True
    if secure_cookies in ("never", "false"):
        return False
    if request.secure:
        return True
    return trust_proxy and request.headers.get("X-Forwarded-Proto", "").lower().startswith("https")


def client_address(request: web.Request, trust_proxy: bool, trusted_hops: int = 1) -> str:
    """The client's address: behind trusted proxies, the one the outermost of them saw.

    Each proxy appends the address it received the request from to X-Forwarded-For; what is
    left of those entries the client wrote itself. So the entry `trusted_hops` from the right
    is the one the outermost trusted proxy recorded; the leftmost could be anything.
    """
    if trust_proxy:
        entries = [
            entry.strip()
            for header in request.headers.getall("X-Forwarded-For", ())
            for entry in header.split(",")
            if entry.strip()
        ]
        if entries:
            return entries[-min(max(1, trusted_hops), len(entries))]
    return request.remote or "unknown"
