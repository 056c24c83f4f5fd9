"""What every HTTP handler shares: the current user, JSON bodies, JSON answers, errors."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from campfire import accounts, errors
from campfire.accounts import SessionUser
from campfire.auth import (
    COOKIE_NAME,
    client_address,
    is_secure,
    origin_allowed,
    token_from_request,
)
from campfire.bots import loggable_path
from campfire.core import Core
from campfire.db import DatabaseUnavailable
from campfire.errors import CampfireError
from campfire.keys import core_key, settings_key
from campfire.validate import is_uuid

log = logging.getLogger("campfire.http")

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def core_of(request: web.Request) -> Core:
    """The app's Core."""
    return request.app[core_key]


def ok(data: Any, status: int = 200) -> web.Response:
    """A JSON answer."""
    return web.json_response(data, status=status, dumps=_dumps)


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def error_response(exc: CampfireError) -> web.Response:
    """The one error shape: {"error": {"code", "message"}}."""
    response = ok(exc.as_dict(), status=exc.status)
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    if exc.retry_after is not None:
        # Whole seconds, rounded up, never 0: "retry now" would invite a busy loop.
        response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    return response


async def current_user(request: web.Request) -> SessionUser:
    """The authenticated user, or 401; a cookie from a foreign Origin cannot change anything."""
    token, source = token_from_request(request)
    user = await accounts.authenticate(core_of(request), token)
    if user is None:
        raise errors.unauthorized("Missing, invalid or expired session token")
    settings = request.app[settings_key]
    if (
        source == "cookie"
        and request.method not in SAFE_METHODS
        and "Origin" in request.headers
        and not origin_allowed(request, settings.allowed_origins, settings.trust_proxy)
    ):
        raise errors.forbidden("Cross-origin request refused")
    return user


async def admin_user(request: web.Request) -> SessionUser:
    """The authenticated user, who must be an administrator."""
    user = await current_user(request)
    if not user.is_admin:
        raise errors.forbidden("Only administrators can do that")
    return user


async def json_body(request: web.Request) -> dict:
    """The request's JSON object, or a 4xx that says what is wrong with it."""
    if request.content_type != "application/json":
        raise CampfireError(errors.UNSUPPORTED_MEDIA_TYPE, "Send the body as application/json", 415)
    if request.charset and request.charset.lower() not in ("utf-8", "utf8"):
        raise CampfireError(errors.UNSUPPORTED_MEDIA_TYPE, "Send JSON in UTF-8", 415)
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise CampfireError(errors.PAYLOAD_TOO_LARGE, "Request body is too large", 413) from None
    try:
        # Decoded here, strictly: json.loads(bytes) would guess UTF-16 and UTF-32 too. JSON in
        # UTF-8 never holds a NUL byte (it must be escaped), UTF-16 and UTF-32 text always does.
        if b"\x00" in raw:
            raise UnicodeDecodeError("utf-8", raw, 0, 1, "NUL byte")
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CampfireError(errors.INVALID_JSON, "Request body must be JSON in UTF-8") from None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise CampfireError(errors.INVALID_JSON, "Request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise CampfireError(errors.INVALID_JSON, "Request body must be a JSON object")
    return data


def path_id(request: web.Request, name: str, not_found: CampfireError) -> str:
    """A UUID from the path; anything else cannot name a row, so it is not found."""
    value = request.match_info[name]
    if not is_uuid(value):
        raise not_found
    return value.lower()


def set_session_cookie(request: web.Request, response: web.Response, token: str) -> None:
    """The session cookie: HttpOnly, SameSite=Lax, Secure over HTTPS."""
    settings = request.app[settings_key]
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=settings.session_days * 86400,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=is_secure(request, settings.secure_cookies, settings.trust_proxy),
    )


_HTTP_CODES = {
    400: errors.BAD_REQUEST,
    401: errors.UNAUTHORIZED,
    403: errors.FORBIDDEN,
    404: errors.NOT_FOUND,
    405: errors.METHOD_NOT_ALLOWED,
    408: errors.REQUEST_TIMEOUT,
    413: errors.PAYLOAD_TOO_LARGE,
    415: errors.UNSUPPORTED_MEDIA_TYPE,
}


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render every failure as the one JSON error shape; log bugs, never leak them."""
    try:
        return await handler(request)
    except CampfireError as exc:
        return error_response(exc)
    except DatabaseUnavailable:  # not a bug: the engine logged the outage once
        return error_response(errors.database_unavailable())
    except web.HTTPException as exc:
        if exc.status < 400 or not request.path.startswith(("/api", "/health", "/ws")):
            raise
        code = _HTTP_CODES.get(exc.status, errors.BAD_REQUEST)
        message = exc.reason if exc.status != 404 else "No such endpoint"
        response = error_response(CampfireError(code, message, exc.status))
        if exc.status == 405:
            response.headers["Allow"] = exc.headers.get("Allow", "")
        return response
    except Exception:
        log.exception("unhandled error in %s %s", request.method, loggable_path(request.path))
        return error_response(
            CampfireError(errors.INTERNAL_ERROR, "Something went wrong on the server", 500)
        )


# How long a refused, over-large body is read and dropped before its connection closes.
LINGERING_SECONDS = 2.0


STREAMS_BODY = "campfire_streams_body"


def streams_body(handler: Handler) -> Handler:
    """Mark a handler that reads its own body as a stream (uploads): body_deadline does not
    read it first, it only holds the sender to upload_min_bytes_per_second."""
    setattr(handler, STREAMS_BODY, True)
    return handler


def body_deadline_middleware(
    timeout: float, per_address: int, trust_proxy: bool, hops: int, min_rate: float
) -> Middleware:
    """A middleware that reads every request body before its handler, within `timeout`
    seconds, with at most `per_address` bodies being read from one client address at once.

    A client that trickles its body gets 408, one over its address's share 429; both have
    their connection closed, so slow senders cannot hold the server's sockets for long.
    """
    reading: dict[str, int] = {}  # client address -> bodies being read now

    @web.middleware
    async def body_deadline(request: web.Request, handler: Handler) -> web.StreamResponse:
        """Read the body under the deadline and the per-address cap, then handle."""
        if not request.body_exists:
            return await handler(request)
        address = client_address(request, trust_proxy, hops)
        if reading.get(address, 0) >= per_address:
            return _closing(
                errors.rate_limited("Too many requests in progress from your address", 1)
            )
        reading[address] = reading.get(address, 0) + 1
        if getattr(request.match_info.handler, STREAMS_BODY, False):
            try:
                return await _streamed_at_rate(request, handler, timeout, min_rate)
            finally:
                _release(reading, address)
        try:
            await asyncio.wait_for(request.read(), timeout)
        except TimeoutError:
            return _closing(
                CampfireError(
                    errors.REQUEST_TIMEOUT, f"Send the request body within {timeout:g} s", 408
                )
            )
        except web.HTTPRequestEntityTooLarge:
            # Not closed at once: a proxy still streaming the body (nginx with request buffering
            # off) would see the connection reset and answer 502. aiohttp's lingering close
            # reads and drops the rest for at most LINGERING_SECONDS, then closes.
            response = error_response(
                CampfireError(errors.PAYLOAD_TOO_LARGE, "Request body is too large", 413)
            )
            response.headers["Connection"] = "close"
            return response
        except ConnectionError:
            # The client went away mid-body: nobody is left to answer, and it is no error.
            log.debug("client %s left during %s %s", address, request.method, request.path)
            return _closing(CampfireError(errors.BAD_REQUEST, "Connection lost", 400))
        finally:
            _release(reading, address)
        return await handler(request)

    return body_deadline


def _release(reading: dict[str, int], address: str) -> None:
    """One body fewer being read from this address."""
    count = reading.pop(address) - 1
    if count:
        reading[address] = count


async def _streamed_at_rate(
    request: web.Request, handler: Handler, grace: float, min_rate: float
) -> web.StreamResponse:
    """Run a handler that streams its body (an upload of up to 100 MB has no fixed deadline),
    cutting the sender off with 408 once, after `grace` seconds, fewer than `min_rate` bytes a
    second have arrived on average. Once the body is in, the handler has all the time it needs."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    task = asyncio.ensure_future(handler(request))
    try:
        while not (await asyncio.wait({task}, timeout=1.0))[0]:
            elapsed = loop.time() - start
            body = request.content
            if (
                body.is_eof()
                or elapsed <= grace
                or body.total_bytes >= (elapsed - grace) * min_rate
            ):
                continue
            task.cancel()  # the handler removes what it wrote (uploads clean up on any exception)
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return _closing(
                CampfireError(
                    errors.REQUEST_TIMEOUT,
                    f"Send the body faster than {min_rate:,.0f} bytes a second",
                    408,
                )
            )
        return task.result()
    finally:
        if not task.done():
            task.cancel()


def _closing(exc: CampfireError) -> web.Response:
    """An error answer after which the connection closes (its body was not read)."""
    response = error_response(exc)
    response.force_close()
    return response


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none';"
        " frame-ancestors 'none'; form-action 'self'"
    ),
}


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """The usual security headers on every response."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.path.startswith("/api"):
        response.headers.setdefault("Cache-Control", "no-store")
