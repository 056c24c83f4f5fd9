"""First-run setup, login, logout, health."""

from __future__ import annotations

from aiohttp import web

from campfire import __version__, accounts, store
from campfire.api.common import (
    core_of,
    current_user,
    error_response,
    json_body,
    ok,
    set_session_cookie,
)
from campfire.api.openapi import BOOLEAN, EMAIL, NAME, PASSWORD, describe, obj, ref
from campfire.auth import COOKIE_NAME, client_address
from campfire.errors import SERVICE_UNAVAILABLE, CampfireError
from campfire.keys import settings_key
from campfire.views import user_json

routes = web.RouteTableDef()


@routes.get("/api/setup")
@describe(
    "Whether the server still needs its first administrator",
    auth="none",
    responses={200: obj(needs_setup=BOOLEAN)},
)
async def setup_status(request: web.Request) -> web.Response:
    """Whether the server still needs its first administrator."""
    return ok({"needs_setup": await accounts.needs_setup(core_of(request))})


@routes.post("/api/setup")
@describe(
    "Create the first administrator and sign them in",
    auth="none",
    body=obj(email=EMAIL, name=NAME, password=PASSWORD),
    responses={201: obj(user=ref("User"), session_token={"type": "string"})},
    errors=[409],
)
async def setup(request: web.Request) -> web.Response:
    """Create the first administrator and sign them in; refused once any user exists."""
    body = await json_body(request)
    core = core_of(request)
    user = await accounts.do_setup_first_admin(
        core, body.get("email"), body.get("name"), body.get("password")
    )
    token = await accounts.do_issue_session(
        core, user["id"], user_agent=request.headers.get("User-Agent", "")
    )
    response = ok({"user": user_json(user), "session_token": token}, status=201)
    set_session_cookie(request, response, token)
    return response


@routes.post("/api/auth/login")
@describe(
    "Sign in: a session token for email and password (also set as a cookie)",
    auth="none",
    body=obj(email=EMAIL, password={"type": "string"}),
    responses={200: obj(user=ref("User"), session_token={"type": "string"})},
    errors=[401, 429],
)
async def login(request: web.Request) -> web.Response:
    """Exchange email and password for a session token (also set as a cookie)."""
    body = await json_body(request)
    settings = request.app[settings_key]
    user, token = await accounts.do_login(
        core_of(request),
        body.get("email"),
        body.get("password"),
        client_address(request, settings.trust_proxy, settings.trusted_proxy_hops),
        user_agent=request.headers.get("User-Agent", ""),
    )
    response = ok({"user": user_json(user), "session_token": token})
    set_session_cookie(request, response, token)
    return response


@routes.post("/api/auth/logout")
@describe("End the current session", responses={204: None})
async def logout(request: web.Request) -> web.Response:
    """End the current session; its sockets close."""
    user = await current_user(request)
    await accounts.do_logout(core_of(request), user.token_hash)
    response = web.Response(status=204)
    response.del_cookie(COOKIE_NAME, path="/")
    return response


@routes.get("/health")
@describe(
    "Whether the server and its database answer; the versions",
    auth="none",
    responses={
        200: obj(status={"const": "ok"}, version={"type": "string"}, migration={"type": "integer"})
    },
    errors=[503],
)
async def health(request: web.Request) -> web.Response:
    """Whether the server and its database answer; Campfire's version and the schema's."""
    db = core_of(request).db
    try:
        await store.health_check(db)
        migration = await store.schema_version(db)
    except Exception:
        return error_response(CampfireError(SERVICE_UNAVAILABLE, "Database unavailable", 503))
    return ok({"status": "ok", "version": __version__, "migration": migration})
