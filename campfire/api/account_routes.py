"""The account (its name, join link, settings), joining by link, login links, and their pages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from campfire import accounts, errors
from campfire.api.common import (
    admin_user,
    core_of,
    json_body,
    ok,
    set_session_cookie,
)
from campfire.api.openapi import BOOLEAN, EMAIL, NAME, PASSWORD, TIMESTAMP, UUID, describe, obj, ref
from campfire.auth import client_address, request_origin, token_from_request
from campfire.keys import settings_key
from campfire.views import Record, user_json

routes = web.RouteTableDef()

STATIC_DIR = Path(__file__).parent.parent / "static"
JOIN_PATH = "/join/"
LOGIN_LINK_PATH = "/login-link/"


def public_base(request: web.Request) -> str:
    """Where people reach this server: the public_url setting, else the request's own origin."""
    settings = request.app[settings_key]
    return settings.public_url.rstrip("/") or request_origin(request, settings.trust_proxy)


def _address(request: web.Request) -> str:
    return client_address(request, request.app[settings_key].trust_proxy)


def _user_agent(request: web.Request) -> str:
    return request.headers.get("User-Agent", "")


def account_json(request: web.Request, row: Record, level: str) -> dict:
    """The account as `level` (public, member, admin) may see it: only admins see the code."""
    data = {"name": row["name"]}
    if level in ("member", "admin"):
        data["members_can_create_open_rooms"] = bool(row["members_can_create_open_rooms"])
    if level == "admin":
        data["join_code"] = row["join_code"]
        data["join_url"] = public_base(request) + JOIN_PATH + row["join_code"]
    return data


@routes.get("/api/account")
@describe(
    "The account: its name for anyone, settings for members, join link for administrators",
    auth="none",
    responses={200: obj(account=ref("Account"))},
)
async def get_account(request: web.Request) -> web.Response:
    """The account's name for anyone (the sign-in page shows it); its settings for members;
    its join code and link for administrators."""
    core = core_of(request)
    token, _ = token_from_request(request)
    user = await accounts.authenticate(core, token)
    level = "public" if user is None else "admin" if user.is_admin else "member"
    return ok({"account": account_json(request, await accounts.get_account(core), level)})


@routes.patch("/api/account")
@describe(
    "Rename the account or set whether members may create open rooms",
    auth="admin",
    body={
        **obj(
            ["name", "members_can_create_open_rooms"],
            name=NAME,
            members_can_create_open_rooms=BOOLEAN,
        ),
        "minProperties": 1,
        "additionalProperties": False,
    },
    responses={200: obj(account=ref("Account"))},
)
async def update_account(request: web.Request) -> web.Response:
    """Administrators rename the account or decide whether members may create open rooms."""
    await admin_user(request)
    body = await json_body(request)
    known = {"name", "members_can_create_open_rooms"}
    if not body or not set(body) <= known:
        raise errors.bad_request(f"Send one or more of: {', '.join(sorted(known))}")
    row = await accounts.do_update_account(
        core_of(request), body.get("name"), body.get("members_can_create_open_rooms")
    )
    return ok({"account": account_json(request, row, "admin")})


@routes.post("/api/account/join_code")
@describe(
    "Replace the join code; the old join link stops working",
    auth="admin",
    responses={200: obj(account=ref("Account"))},
)
async def new_join_code(request: web.Request) -> web.Response:
    """Administrators replace the join code; the old link stops working."""
    await admin_user(request)
    row = await accounts.do_new_join_code(core_of(request))
    return ok({"account": account_json(request, row, "admin")})


@routes.get("/api/join/{code}")
@describe(
    "Whether a join code is valid: the account's name, else 404 INVALID_JOIN_CODE",
    auth="none",
    responses={200: obj(account=obj(name={"type": "string"}))},
    errors=[404, 429],
)
async def check_join_code(request: web.Request) -> web.Response:
    """Whether a join code is valid: the account's name, or a 404 that says so."""
    row = await accounts.check_join_code(
        core_of(request), request.match_info["code"], _address(request)
    )
    return ok({"account": {"name": row["name"]}})


@routes.post("/api/join/{code}")
@describe(
    "Join with the account's join code: a new member, signed in (cookie too)",
    auth="none",
    body=obj(email=EMAIL, name=NAME, password=PASSWORD),
    responses={201: ref("SignedIn")},
    errors=[404, 409, 429],
)
async def join(request: web.Request) -> web.Response:
    """Join with the account's join code: name, email, password -> a new member, signed in."""
    body = await json_body(request)
    user, token = await accounts.do_join(
        core_of(request),
        request.match_info["code"],
        body.get("email"),
        body.get("name"),
        body.get("password"),
        _address(request),
        _user_agent(request),
    )
    response = ok({"user": user_json(user), "session_token": token}, status=201)
    set_session_cookie(request, response, token)
    return response


@routes.get("/api/login_links/{token}")
@describe(
    "Whom a login link signs in, without using it",
    auth="none",
    responses={200: obj(user=obj(id=UUID, name={"type": "string"}), expires_at=TIMESTAMP)},
    errors=[403, 404, 410, 429],
)
async def check_login_link(request: web.Request) -> web.Response:
    """Whom a login link signs in, without using it; 404 unknown, 410 used or expired."""
    row = await accounts.check_login_link(
        core_of(request), request.match_info["token"], _address(request)
    )
    return ok(
        {"user": {"id": row["user_id"], "name": row["name"]}, "expires_at": row["expires_at"]}
    )


@routes.post("/api/login_links/{token}")
@describe(
    "Use a login link: signed in (cookie too), optionally with a new password",
    auth="none",
    body=obj(["password"], password=PASSWORD),
    responses={200: ref("SignedIn")},
    errors=[403, 404, 410, 429],
    description="The body is optional: none signs in without changing the password.",
)
async def redeem_login_link(request: web.Request) -> web.Response:
    """Use a login link: signed in (cookie and token, as login), optionally with a new password."""
    body = await json_body(request) if request.body_exists else {}
    user, token = await accounts.do_redeem_login_link(
        core_of(request),
        request.match_info["token"],
        body.get("password"),
        _address(request),
        _user_agent(request),
    )
    response = ok({"user": user_json(user), "session_token": token})
    set_session_cookie(request, response, token)
    return response


def _page(name: str) -> Callable[[web.Request], Awaitable[web.FileResponse]]:
    """A handler that serves one static page of the web client."""

    async def page(request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC_DIR / name, headers={"Cache-Control": "no-cache"})

    page.__doc__ = f"The page {name}."
    page.__name__ = name.removesuffix(".html").replace("-", "_") + "_page"  # operationId
    return page


PAGE = {200: "text/html", 304: None}  # FileResponse answers If-None-Match / If-Modified-Since
routes.get(JOIN_PATH + "{code}")(
    describe("The web client's join page", auth="none", responses=PAGE)(_page("join.html"))
)
routes.get(LOGIN_LINK_PATH + "{token}")(
    describe("The web client's login link page", auth="none", responses=PAGE)(
        _page("login-link.html")
    )
)
