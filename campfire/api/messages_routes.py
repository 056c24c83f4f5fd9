"""Changing messages after their creation (additions): edit, delete, boosts; mentions."""

from __future__ import annotations

from aiohttp import web

from campfire import changes, messages
from campfire.api.common import core_of, current_user, json_body, ok, path_id
from campfire.api.openapi import SEQ, array, describe, nullable, obj, ref

routes = web.RouteTableDef()

CONTENT = {"type": "string", "minLength": 1, "maxLength": 10000}
CHANGE_SEQ = nullable({**SEQ, "description": "null: nothing changed, nothing was sent"})


def _message_id(request: web.Request) -> str:
    return path_id(request, "message_id", changes.message_not_found())


@routes.patch("/api/messages/{message_id}")
@describe(
    "Edit one's own message (the same content again: change_seq null)",
    body=obj(content=CONTENT),
    responses={200: obj(message=ref("Message"), change_seq=CHANGE_SEQ)},
    errors=[404, 429, 503],
)
async def edit_message(request: web.Request) -> web.Response:
    """Edit one's own message: {"content"}."""
    user = await current_user(request)
    message_id = _message_id(request)
    body = await json_body(request)
    message, seq = await changes.do_edit_message(
        core_of(request), user, message_id, body.get("content")
    )
    return ok({"message": message, "change_seq": seq})


@routes.delete("/api/messages/{message_id}")
@describe(
    "Delete a message (its author, or a manager of its room)",
    responses={204: None},
    errors=[404, 429, 503],
)
async def delete_message(request: web.Request) -> web.Response:
    """Delete a message (its author, or a manager of its room)."""
    user = await current_user(request)
    await changes.do_delete_message(core_of(request), user, _message_id(request))
    return web.Response(status=204)


@routes.post("/api/messages/{message_id}/boosts")
@describe(
    "Boost a message (201); the same boost again answers 200 with the first",
    body=obj(content={"type": "string", "minLength": 1, "maxLength": 16}),
    responses={
        200: obj(boost=ref("Boost"), change_seq={"type": "null"}),
        201: obj(boost=ref("Boost"), change_seq=SEQ),
    },
    errors=[404, 429, 503],
)
async def add_boost(request: web.Request) -> web.Response:
    """Boost a message: {"content"}; 201, or 200 with the first if this person already did."""
    user = await current_user(request)
    message_id = _message_id(request)
    body = await json_body(request)
    boost, seq = await changes.do_add_boost(core_of(request), user, message_id, body.get("content"))
    return ok({"boost": boost, "change_seq": seq}, status=201 if seq is not None else 200)


@routes.delete("/api/messages/{message_id}/boosts/{boost_id}")
@describe("Take back one's own boost", responses={204: None}, errors=[404, 429, 503])
async def remove_boost(request: web.Request) -> web.Response:
    """Take back one's own boost."""
    user = await current_user(request)
    message_id = _message_id(request)
    boost_id = path_id(request, "boost_id", changes.boost_not_found())
    await changes.do_remove_boost(core_of(request), user, boost_id, message_id)
    return web.Response(status=204)


@routes.get("/api/mentions")
@describe(
    "The newest messages that mention the caller, newest first",
    query={"before": SEQ, "limit": {"type": "integer", "minimum": 1, "maximum": 200}},
    responses={200: obj(messages=array(ref("Message")), has_more={"type": "boolean"})},
    errors=[400],
)
async def list_mentions(request: web.Request) -> web.Response:
    """The newest messages that mention the caller: ?before=SEQ, ?limit=N (1-200)."""
    user = await current_user(request)
    q = request.query
    return ok(await messages.list_mentions(core_of(request), user, q.get("before"), q.get("limit")))
