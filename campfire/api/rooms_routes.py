"""Rooms, their members, and their messages."""

from __future__ import annotations

from aiohttp import web

from campfire import accounts, attachments, errors, mentions, messages, rooms, store
from campfire.api.common import core_of, current_user, json_body, ok, path_id
from campfire.api.openapi import BOOLEAN, NAME, SEQ, UUID, array, describe, obj, ref
from campfire.validate import check_uuid
from campfire.views import user_json_for

routes = web.RouteTableDef()


def _room_id(request: web.Request) -> str:
    return path_id(request, "room_id", errors.room_not_found())


@routes.get("/api/rooms")
@describe("The caller's rooms", responses={200: obj(rooms=array(ref("Room")))})
async def list_rooms(request: web.Request) -> web.Response:
    """The caller's rooms, with last-seen mark, involvement and newest message; rooms whose
    involvement is `invisible` are included (the client hides them)."""
    user = await current_user(request)
    return ok({"rooms": await rooms.list_rooms_for(core_of(request), user.id)})


@routes.post("/api/rooms")
@describe(
    "Create an open or closed room",
    body=obj(["room_type"], name=NAME, room_type={"enum": ["open", "closed"]}),
    responses={201: obj(room=ref("Room"))},
    errors=[409, 429],
)
async def create_room(request: web.Request) -> web.Response:
    """Create an open or closed room (open ones: as the account setting allows)."""
    user = await current_user(request)
    body = await json_body(request)
    core = core_of(request)
    room_type = body.get("room_type", "closed")
    rooms.check_may_create_room(await accounts.get_account(core), user, room_type)
    row = await rooms.do_create_room(
        core, user.id, body.get("name"), room_type, creator_is_admin=user.is_admin
    )
    return ok({"room": await rooms.room_view(core, user, row["id"])}, status=201)


@routes.post("/api/rooms/direct")
@describe(
    "Find (200) or create (201) the direct room of the caller and these users",
    body=obj(user_ids=array(UUID, max_items=50)),
    responses={200: obj(room=ref("Room")), 201: obj(room=ref("Room"))},
    errors=[404, 429],
)
async def direct_room(request: web.Request) -> web.Response:
    """Find or create the direct room for the caller and the given users."""
    user = await current_user(request)
    body = await json_body(request)
    core = core_of(request)
    row, created = await rooms.do_find_or_create_direct(core, user, body.get("user_ids"))
    return ok(
        {"room": await rooms.room_view(core, user, row["id"])}, status=201 if created else 200
    )


@routes.get("/api/rooms/{room_id}")
@describe("One room", responses={200: obj(room=ref("Room"))}, errors=[403, 404])
async def get_room(request: web.Request) -> web.Response:
    """One room the caller may see."""
    user = await current_user(request)
    return ok({"room": await rooms.room_view(core_of(request), user, _room_id(request))})


@routes.patch("/api/rooms/{room_id}")
@describe(
    "Rename a room and/or switch it between open and closed",
    body=obj(name=NAME, room_type={"enum": ["open", "closed"]}),
    responses={200: obj(room=ref("Room"))},
    errors=[404, 409],
)
async def update_room(request: web.Request) -> web.Response:
    """Rename a room and/or switch it open <-> closed (its creator or an administrator)."""
    user = await current_user(request)
    room_id = _room_id(request)
    body = await json_body(request)
    core = core_of(request)
    if not body or not set(body) <= {"name", "room_type"}:
        raise errors.bad_request("Send one or more of: name, room_type")
    row = await rooms.do_update_room(core, user, room_id, body.get("name"), body.get("room_type"))
    return ok({"room": await rooms.room_view(core, user, room_id, row)})


@routes.put("/api/rooms/{room_id}/involvement")
@describe(
    "Set how much a room may interrupt the caller (direct rooms: not `mentions`)",
    body=obj(involvement={"enum": ["everything", "mentions", "nothing", "invisible"]}),
    responses={200: obj(room=ref("Room"))},
    errors=[404],
)
async def set_involvement(request: web.Request) -> web.Response:
    """Set how much a room may interrupt the caller: everything, mentions, nothing, invisible."""
    user = await current_user(request)
    room_id = _room_id(request)
    body = await json_body(request)
    room = await rooms.do_set_involvement(core_of(request), user, room_id, body.get("involvement"))
    return ok({"room": room})


@routes.delete("/api/rooms/{room_id}")
@describe("Delete a room and its messages", responses={204: None}, errors=[404])
async def delete_room(request: web.Request) -> web.Response:
    """Delete a room and its messages (its creator or an administrator)."""
    user = await current_user(request)
    await rooms.do_delete_room(core_of(request), user, _room_id(request))
    return web.Response(status=204)


@routes.get("/api/rooms/{room_id}/members")
@describe("A room's members", responses={200: obj(members=array(ref("User")))}, errors=[403, 404])
async def list_members(request: web.Request) -> web.Response:
    """A room's members; with ?query=an, those whose name (or a word of it) starts so (at
    most 20, for `@` autocomplete)."""
    user = await current_user(request)
    core, room_id = core_of(request), _room_id(request)
    await rooms.access_room(core, user, room_id)
    query = request.query.get("query")
    if query is not None:
        rows = await mentions.autocomplete_members(core, room_id, query[:100])
    else:
        rows = await store.list_members(core.db, room_id)
    shown = core.settings.emails_visible_to_members
    return ok({"members": [user_json_for(row, user, shown) for row in rows]})


@routes.post("/api/rooms/{room_id}/members")
@describe(
    "Add a member (201; 200 if they already are one)",
    body=obj(user_id=UUID),
    responses={200: obj(added=BOOLEAN), 201: obj(added=BOOLEAN)},
    errors=[404],
)
async def add_member(request: web.Request) -> web.Response:
    """Add a member (the room's creator or an administrator)."""
    user = await current_user(request)
    room_id = _room_id(request)
    body = await json_body(request)
    member_id = check_uuid(body.get("user_id"), "user_id")
    added = await rooms.do_add_member(core_of(request), user, room_id, member_id)
    return ok({"added": added}, status=201 if added else 200)


@routes.delete("/api/rooms/{room_id}/members/{user_id}")
@describe("Remove a member, or leave", responses={204: None}, errors=[404])
async def remove_member(request: web.Request) -> web.Response:
    """Remove a member (a manager removes anyone; anyone may leave: `me` is the caller)."""
    user = await current_user(request)
    room_id = _room_id(request)
    if request.match_info["user_id"] == "me":
        member_id = user.id
    else:
        member_id = path_id(request, "user_id", errors.user_not_found())
    if not await rooms.do_remove_member(core_of(request), user, room_id, member_id):
        raise errors.CampfireError(errors.NOT_FOUND, "That user is not a member of this room", 404)
    return web.Response(status=204)


@routes.get("/api/rooms/{room_id}/messages")
@describe(
    "A page of history, oldest first",
    query={
        "before": SEQ,
        "after": SEQ,
        "around": SEQ,
        "limit": {"type": "integer", "minimum": 1, "maximum": 200},
    },
    responses={200: ref("MessagePage")},
    errors=[400, 403, 404, 429],
)
async def list_messages(request: web.Request) -> web.Response:
    """A page of history: ?before=SEQ or ?after=SEQ or ?around=SEQ, and ?limit=N (1-200)."""
    user = await current_user(request)
    q = request.query
    core = core_of(request)
    if "around" in q:
        page = await messages.history_around(
            core, user, _room_id(request), q.get("around"), q.get("limit")
        )
    else:
        page = await messages.history(
            core, user, _room_id(request), q.get("before"), q.get("after"), q.get("limit")
        )
    await attachments.add_to(core, page["messages"])
    return ok(page)


@routes.post("/api/rooms/{room_id}/messages")
@describe(
    "Post a message (201); a retry with the same client_message_id answers 200",
    body=obj(
        content={"type": "string", "minLength": 1, "maxLength": 10000}, client_message_id=UUID
    ),
    responses={200: obj(message=ref("Message")), 201: obj(message=ref("Message"))},
    errors=[403, 404, 429, 503],
)
async def post_message(request: web.Request) -> web.Response:
    """Post a message; a retry with the same client_message_id returns the original (200)."""
    user = await current_user(request)
    room_id = _room_id(request)
    body = await json_body(request)
    message, created = await messages.do_create_message(
        core_of(request), user, room_id, body.get("content"), body.get("client_message_id")
    )
    return ok({"message": message}, status=201 if created else 200)
