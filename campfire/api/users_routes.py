"""People: who am I, who is here, and administrators managing accounts."""

from __future__ import annotations

from aiohttp import web

from campfire import accounts, errors, store
from campfire.api.account_routes import LOGIN_LINK_PATH, public_base
from campfire.api.common import admin_user, core_of, current_user, json_body, ok, path_id
from campfire.api.openapi import (
    BOOLEAN,
    EMAIL,
    NAME,
    PASSWORD,
    STRING,
    TIMESTAMP,
    array,
    describe,
    obj,
    ref,
)
from campfire.validate import check_bool, check_name
from campfire.views import user_json, user_json_for

routes = web.RouteTableDef()


@routes.get("/api/users/me")
@describe("The signed-in user", responses={200: obj(user=ref("User"))})
async def me(request: web.Request) -> web.Response:
    """The signed-in user."""
    user = await current_user(request)
    return ok({"user": user_json(await accounts.access_user(core_of(request), user.id))})


@routes.patch("/api/users/me")
@describe(
    "Change one's own name (the only key allowed)",
    body={**obj(name=NAME), "additionalProperties": False},
    responses={200: obj(user=ref("User"))},
)
async def update_me(request: web.Request) -> web.Response:
    """Change one's own name."""
    user = await current_user(request)
    body = await json_body(request)
    if set(body) != {"name"}:
        raise errors.bad_request("Send: name (to change your password, PUT /api/users/me/password)")
    core = core_of(request)
    await accounts.do_rename_user(core, user.id, body["name"])
    return ok({"user": user_json(await accounts.access_user(core, user.id))})


@routes.put("/api/users/me/password")
@describe(
    "Change one's password with the current one; every other session ends",
    body=obj(current_password=STRING, password=PASSWORD),
    responses={204: None},
    errors=[429],
    description="A wrong current password is 403 WRONG_PASSWORD (the caller stays signed in).",
)
async def change_my_password(request: web.Request) -> web.Response:
    """Change one's password with the current one; every other session ends."""
    user = await current_user(request)
    body = await json_body(request)
    await accounts.do_change_own_password(
        core_of(request), user, body.get("current_password"), body.get("password")
    )
    return web.Response(status=204)


@routes.get("/api/users/me/sessions")
@describe("One's live sessions, newest first", responses={200: obj(sessions=array(ref("Session")))})
async def my_sessions(request: web.Request) -> web.Response:
    """One's live sessions: created, last used, user agent, and which is this one."""
    user = await current_user(request)
    return ok({"sessions": await accounts.list_sessions(core_of(request), user)})


@routes.delete("/api/users/me/sessions/{session_id}")
@describe("End one of one's sessions (its sockets close)", responses={204: None}, errors=[404])
async def end_my_session(request: web.Request) -> web.Response:
    """End one of one's sessions (its sockets close)."""
    user = await current_user(request)
    public_id = request.match_info["session_id"]
    await accounts.do_end_session(core_of(request), user, public_id)
    return web.Response(status=204)


@routes.get("/api/users")
@describe(
    "Active users (administrators: ?include_inactive=1 for all)",
    query={"include_inactive": {"type": "string", "description": "1 or true: all users"}},
    responses={200: obj(users=array(ref("User")))},
)
async def list_users(request: web.Request) -> web.Response:
    """Everyone, deactivated people included (marked), so history always has their names;
    administrators also see each person's last activity."""
    user = await current_user(request)
    core = core_of(request)
    rows = await store.list_users(core.db, include_inactive=True)
    shown = core.settings.emails_visible_to_members
    users = [user_json_for(row, user, shown) for row in rows]
    if user.is_admin:
        activity = await store.last_activity(core.db)
        for data in users:
            data["last_active_at"] = activity.get(data["id"])
    return ok({"users": users})


@routes.post("/api/users")
@describe(
    "Create an account",
    auth="admin",
    body=obj(["is_admin"], email=EMAIL, name=NAME, password=PASSWORD, is_admin=BOOLEAN),
    responses={201: obj(user=ref("User"))},
    errors=[409],
)
async def create_user(request: web.Request) -> web.Response:
    """Administrators create accounts."""
    await admin_user(request)
    body = await json_body(request)
    is_admin = check_bool(body.get("is_admin", False), "is_admin")
    row = await accounts.do_create_user(
        core_of(request), body.get("email"), body.get("name"), body.get("password"), is_admin
    )
    return ok({"user": user_json(row)}, status=201)


@routes.patch("/api/users/{user_id}")
@describe(
    "Deactivate, reactivate, grant or take admin rights, rename",
    auth="admin",
    body={
        **obj(["is_active", "is_admin", "name"], is_active=BOOLEAN, is_admin=BOOLEAN, name=NAME),
        "minProperties": 1,
        "additionalProperties": False,  # unlike other bodies: an unknown key is refused
    },
    responses={200: obj(user=ref("User"))},
    errors=[404],
)
async def update_user(request: web.Request) -> web.Response:
    """Administrators deactivate or reactivate users, grant or take admin rights, rename."""
    admin = await admin_user(request)
    user_id = path_id(request, "user_id", errors.user_not_found())
    body = await json_body(request)
    core = core_of(request)
    await accounts.access_user(core, user_id)
    known = {"is_active", "is_admin", "name"}
    if not body or not set(body) <= known:
        raise errors.bad_request(f"Send one or more of: {', '.join(sorted(known))}")
    changes = {key: check_bool(body[key], key) for key in ("is_active", "is_admin") if key in body}
    name = check_name(body["name"]) if "name" in body else None
    if user_id == admin.id and (
        changes.get("is_active") is False or changes.get("is_admin") is False
    ):
        raise errors.forbidden("You cannot deactivate yourself or drop your own admin rights")
    if "is_admin" in changes:
        await accounts.do_set_admin(core, user_id, changes["is_admin"])
    if name is not None:
        await accounts.do_rename_user(core, user_id, name)
    if "is_active" in changes:
        await accounts.do_set_active(core, user_id, changes["is_active"])
    return ok({"user": user_json(await accounts.access_user(core, user_id))})


@routes.post("/api/users/{user_id}/login_link")
@describe(
    "A one-use login link for 4 hours (administrators; anyone for themselves: `me`)",
    path={"user_id": {"anyOf": [{"format": "uuid", "type": "string"}, {"const": "me"}]}},
    responses={201: obj(url=STRING, expires_at=TIMESTAMP)},
    errors=[404],
)
async def make_login_link(request: web.Request) -> web.Response:
    """A one-use link that signs the user in for 4 hours (administrators, or a user for
    themselves: `me`)."""
    user = await current_user(request)
    if request.match_info["user_id"] == "me":
        user_id = user.id
    else:
        user_id = path_id(request, "user_id", errors.user_not_found())
    token, expires_at = await accounts.do_make_login_link(core_of(request), user, user_id)
    return ok(
        {"url": public_base(request) + LOGIN_LINK_PATH + token, "expires_at": expires_at}, 201
    )
