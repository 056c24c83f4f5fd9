"""Bots: administrators manage them under /api/bots; bots speak once-campfire's bot API at
/rooms/{room_id}/{bot_key}/messages (the only route that takes a bot key)."""

from __future__ import annotations

from aiohttp import web

from campfire import attachments, bots, errors, messages, store
from campfire.accounts import SessionUser
from campfire.api.common import admin_user, core_of, json_body, ok, path_id, streams_body
from campfire.api.files_routes import multipart
from campfire.api.openapi import (
    NAME,
    SEQ,
    STRING,
    array,
    describe,
    header,
    nullable,
    obj,
    ref,
)
from campfire.core import Core
from campfire.errors import CampfireError
from campfire.validate import is_uuid, new_id

routes = web.RouteTableDef()

WEBHOOK_URL = nullable({"type": "string", "maxLength": 2000, "description": "http(s); null: none"})
BOT = obj(bot=ref("Bot"))


def _bot_id(request: web.Request) -> str:
    return path_id(request, "bot_id", errors.user_not_found())


@routes.get("/api/bots")
@describe("Active bots", auth="admin", responses={200: obj(bots=array(ref("Bot")))})
async def list_bots(request: web.Request) -> web.Response:
    """Active bots with their webhook URL and last error (administrators)."""
    await admin_user(request)
    rows = await store.list_bots(core_of(request).db)
    return ok({"bots": [bots.bot_json(row) for row in rows]})


@routes.post("/api/bots")
@describe(
    "Make a bot; its key is in the answer, shown this once",
    auth="admin",
    body=obj(["webhook_url"], name=NAME, webhook_url=WEBHOOK_URL),
    responses={201: obj(bot=ref("Bot"), bot_key=STRING)},
)
async def create_bot(request: web.Request) -> web.Response:
    """Make a bot: {"name", "webhook_url"?}; the answer carries its key, shown this once."""
    await admin_user(request)
    body = await json_body(request)
    row, key = await bots.do_create_bot(core_of(request), body.get("name"), body.get("webhook_url"))
    return ok({"bot": bots.bot_json(row, with_secret=True), "bot_key": key}, status=201)


@routes.get("/api/bots/{bot_id}")
@describe("One bot, with its webhook secret", auth="admin", responses={200: BOT}, errors=[404])
async def get_bot(request: web.Request) -> web.Response:
    """One bot, with its webhook secret (administrators)."""
    await admin_user(request)
    row = await bots.access_bot(core_of(request), _bot_id(request))
    return ok({"bot": bots.bot_json(row, with_secret=True)})


@routes.patch("/api/bots/{bot_id}")
@describe(
    'Rename a bot and/or set its webhook URL (null or "" removes it)',
    auth="admin",
    body={
        **obj(["name", "webhook_url"], name=NAME, webhook_url=WEBHOOK_URL),
        "minProperties": 1,
        "additionalProperties": False,
    },
    responses={200: BOT},
    errors=[404],
)
async def update_bot(request: web.Request) -> web.Response:
    """Rename a bot or set its webhook URL (null removes it)."""
    await admin_user(request)
    bot_id = _bot_id(request)
    body = await json_body(request)
    row = await bots.do_update_bot(core_of(request), bot_id, body)
    return ok({"bot": bots.bot_json(row, with_secret=True)})


@routes.post("/api/bots/{bot_id}/key")
@describe(
    "A new key for the bot; the old one stops working",
    auth="admin",
    responses={200: obj(bot_key=STRING)},
    errors=[404],
)
async def reset_key(request: web.Request) -> web.Response:
    """A new key for the bot; the old one stops working."""
    await admin_user(request)
    key = await bots.do_reset_key(core_of(request), _bot_id(request))
    return ok({"bot_key": key})


@routes.delete("/api/bots/{bot_id}")
@describe("Remove a bot (its messages stay)", auth="admin", responses={204: None}, errors=[404])
async def remove_bot(request: web.Request) -> web.Response:
    """Remove a bot (deactivated; its messages stay)."""
    await admin_user(request)
    await bots.do_remove_bot(core_of(request), _bot_id(request))
    return web.Response(status=204)


# --- the bot API (once-campfire) ---------------------------------------------------------


async def _bot_in_room(request: web.Request) -> tuple[Core, SessionUser, str]:
    """The bot whose key is in the path, and the room it acts in (it must be a member)."""
    core = core_of(request)
    bot = await bots.authenticate(core, request.match_info["bot_key"])
    if bot is None:
        raise errors.unauthorized("Unknown or reset bot key")
    room_id = request.match_info["room_id"]
    if not is_uuid(room_id):
        raise errors.room_not_found()
    room_id = room_id.lower()
    if await store.get_room(core.db, room_id) is None:
        raise errors.room_not_found()
    if not await store.is_member(core.db, room_id, bot.id):
        raise errors.room_access_denied()
    return core, bot, room_id


@routes.post("/rooms/{room_id}/{bot_key}/messages")
@streams_body
@describe(
    "The bot API: post the raw body as the bot's message (once-campfire's)",
    auth="none",
    content={
        "text/plain": {"type": "string", "minLength": 1, "maxLength": 10000},
        "multipart/form-data": {
            "type": "object",
            "properties": {"attachment": {"type": "string", "format": "binary"}},
            "required": ["attachment"],
        },
    },
    responses={201: obj(message=ref("Message"))},
    headers={201: {"Location": header("A history URL that reads the message back")}},
    errors=[400, 401, 403, 404, 429, 503],
    description=(
        "The key in the path authenticates (401 for an unknown or reset key). Any body but"
        " multipart is taken as UTF-8 text; multipart posts its `attachment` part as a file."
    ),
)
async def bot_post(request: web.Request) -> web.Response:
    """Post the raw request body as the bot's message (any content type but multipart, as
    once-campfire does: `curl -d 'Build passed' ...` works). 201 with a Location."""
    core, bot, room_id = await _bot_in_room(request)
    if request.content_type.startswith("multipart/"):  # `curl -F attachment=@build.log ...`
        message, _ = await attachments.do_upload(
            core,
            bot,
            room_id,
            lambda: multipart(request, core.settings.max_upload_bytes),
            file_field="attachment",
            client_message_id=new_id(),
        )
        return _posted(room_id, message)
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise CampfireError(errors.PAYLOAD_TOO_LARGE, "Request body is too large", 413) from None
    try:
        content = raw.decode(request.charset or "utf-8")
    except (UnicodeDecodeError, LookupError):
        raise errors.bad_request("The body must be UTF-8 text") from None
    message, _ = await messages.do_create_message(
        core, bot, room_id, content, new_id(), known_member=True
    )
    return _posted(room_id, message)


def _posted(room_id: str, message: dict) -> web.Response:
    """201 with the message, and a Location: the history query that reads it back."""
    response = ok({"message": message}, status=201)
    response.headers["Location"] = (
        f"/api/rooms/{room_id}/messages?after={message['seq'] - 1}&limit=1"
    )
    return response


@routes.get("/rooms/{room_id}/{bot_key}/messages")
@describe(
    "The bot API: a page of the room's history, the newest page first (once-campfire's)",
    auth="none",
    query={"before": SEQ, "limit": {"type": "integer", "minimum": 1, "maximum": 200}},
    responses={200: ref("MessagePage")},
    headers={200: {"Link": header('<...?before=SEQ>; rel="next" while there is more', False)}},
    errors=[400, 401, 403, 404, 429],
)
async def bot_read(request: web.Request) -> web.Response:
    """A page of the room's history, newest page first; `Link: <...>; rel="next"` pages back."""
    core, bot, room_id = await _bot_in_room(request)
    q = request.query
    page = await messages.history(core, bot, room_id, q.get("before"), None, q.get("limit"))
    response = ok(page)
    if page["has_more"] and page["messages"]:
        oldest = page["messages"][0]["seq"]
        limit = f"&limit={q['limit']}" if q.get("limit") else ""
        response.headers["Link"] = f'<{request.path}?before={oldest}{limit}>; rel="next"'
    return response
