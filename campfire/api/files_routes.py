"""Attachments (upload, download, thumbnail), avatars, and search."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import MultipartReader, web

from campfire import attachment_files, attachments, avatars, errors, search
from campfire.api.common import core_of, current_user, ok, path_id, streams_body
from campfire.api.openapi import (
    SEQ,
    STRING,
    UUID,
    array,
    describe,
    header,
    media,
    nullable,
    obj,
    ref,
)
from campfire.errors import CampfireError

routes = web.RouteTableDef()

# A downloaded file is never a page of ours: no scripts, no plugins, its own sandboxed origin.
FILE_CSP = "default-src 'none'; img-src 'self'; media-src 'self'; sandbox"
FILE_CACHE = "private, max-age=3600"  # a file never changes under its id

FILE_TYPES = ("image/*", "video/*", "application/octet-stream")
FILE_HEADERS = {
    "Content-Disposition": header("inline or attachment, with the file name"),
    "ETag": header("The file's version, for If-None-Match"),
}
IMAGE_FILE = {
    "file": {"type": "string", "contentMediaType": "application/octet-stream"},
}


async def multipart(request: web.Request, limit: int) -> MultipartReader:
    """The request's multipart reader, after refusing a body announced as too large."""
    if request.content_type != "multipart/form-data":
        raise CampfireError(
            errors.UNSUPPORTED_MEDIA_TYPE, "Send the file as multipart/form-data", 415
        )
    attachments.check_upload_length(request.content_length, limit)
    try:
        return await request.multipart()
    except (ValueError, KeyError, AssertionError):  # no boundary, or a bad one
        raise errors.bad_request("The multipart/form-data body is malformed") from None


def content_disposition(kind: str, filename: str) -> str:
    """`inline` or `attachment` with the name both as plain ASCII and RFC 5987 UTF-8."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\;%' else "_" for ch in filename)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@routes.post("/api/rooms/{room_id}/attachments")
@describe(
    "Post a message carrying a file (201); a retry with the same client_message_id answers 200",
    content={
        "multipart/form-data": obj(
            ["caption"],
            file={"type": "string", "contentMediaType": "application/octet-stream"},
            client_message_id=UUID,
            caption={"type": "string", "maxLength": 10000},
        )
    },
    responses={200: obj(message=ref("Message")), 201: obj(message=ref("Message"))},
    errors=[400, 404, 429, 503, 507],
)
@streams_body
async def upload(request: web.Request) -> web.Response:
    """Post a message carrying a file (multipart: file, client_message_id, caption)."""
    user = await current_user(request)
    room_id = path_id(request, "room_id", errors.room_not_found())
    core = core_of(request)
    message, created = await attachments.do_upload(
        core, user, room_id, lambda: multipart(request, core.settings.max_upload_bytes)
    )
    return ok({"message": message}, status=201 if created else 200)


@routes.get("/api/attachments/{attachment_id}")
@describe(
    "An attachment's bytes: pictures and videos inline, anything else as a download",
    responses={
        200: media(*FILE_TYPES),
        206: media(*FILE_TYPES, description="The requested Range"),
        304: None,
    },
    headers={200: FILE_HEADERS, 206: FILE_HEADERS, 304: {"ETag": FILE_HEADERS["ETag"]}},
    errors=[404],
)
async def download(request: web.Request) -> web.StreamResponse:
    """An attachment's bytes (Range requests supported), for people who can read its room."""
    user = await current_user(request)
    core = core_of(request)
    attachment_id = path_id(request, "attachment_id", attachments.attachment_not_found())
    row = await attachments.access_attachment(core, user, attachment_id)
    content_type = row["content_type"]
    kind = "inline" if content_type in attachments.INLINE_TYPES else "attachment"
    if kind == "attachment":
        content_type = "application/octet-stream"  # never rendered, whatever it claims to be
    return web.FileResponse(
        attachment_files.file_path(core, row["id"]),
        headers={
            "Content-Type": content_type,
            "Content-Disposition": content_disposition(kind, row["filename"]),
            "Content-Security-Policy": FILE_CSP,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": FILE_CACHE,
        },
    )


@routes.get("/api/attachments/{attachment_id}/thumbnail")
@describe(
    "A picture attachment's thumbnail (404 NOT_FOUND for other files)",
    responses={200: "image/webp", 304: None},
    errors=[404],
)
async def thumbnail(request: web.Request) -> web.StreamResponse:
    """An image attachment's thumbnail (WebP)."""
    user = await current_user(request)
    core = core_of(request)
    attachment_id = path_id(request, "attachment_id", attachments.attachment_not_found())
    row = await attachments.access_attachment(core, user, attachment_id)
    if not row["has_thumbnail"]:
        raise CampfireError(errors.NOT_FOUND, "This attachment has no thumbnail", 404)
    return web.FileResponse(
        attachment_files.thumbnail_path(core, row["id"]),
        headers={
            "Content-Type": "image/webp",
            "Content-Disposition": "inline",
            "Content-Security-Policy": FILE_CSP,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": FILE_CACHE,
        },
    )


@routes.put("/api/users/me/avatar")
@describe(
    "Set one's avatar: a PNG, JPEG, GIF or WebP picture in the multipart field `file`",
    content={"multipart/form-data": obj(**IMAGE_FILE)},
    responses={200: obj(user=ref("User"))},
    errors=[400, 404, 507],
)
@streams_body
async def set_avatar(request: web.Request) -> web.Response:
    """Set the caller's avatar (multipart field `file`: a PNG, JPEG, GIF or WebP image)."""
    user = await current_user(request)
    core = core_of(request)
    reader = await multipart(request, core.settings.max_avatar_bytes)
    return ok({"user": await avatars.do_set_avatar(core, user, reader)})


@routes.delete("/api/users/me/avatar")
@describe("Go back to initials", responses={200: obj(user=ref("User"))}, errors=[404])
async def remove_avatar(request: web.Request) -> web.Response:
    """Go back to initials."""
    user = await current_user(request)
    return ok({"user": await avatars.do_remove_avatar(core_of(request), user)})


@routes.get("/api/users/{user_id}/avatar")
@describe(
    "A user's avatar (WebP); If-None-Match with its ETag answers 304",
    query={"v": {"type": "string", "description": "the version from avatar_url: cache for good"}},
    responses={200: "image/webp", 304: None},
    headers={
        200: {"ETag": header("The avatar's version")},
        304: {"ETag": header("The avatar's version")},
    },
    errors=[404],
)
async def get_avatar(request: web.Request) -> web.Response:
    """A user's avatar (WebP) with an ETag; If-None-Match answers 304."""
    await current_user(request)
    user_id = path_id(request, "user_id", errors.user_not_found())
    key, data = await avatars.read_avatar(core_of(request), user_id)
    etag = f'"{key}"'
    # The URL carries the version (?v=key): that exact URL may be cached for good.
    versioned = request.query.get("v") == key
    headers = {
        "ETag": etag,
        "Cache-Control": "private, max-age=31536000, immutable"
        if versioned
        else "private, no-cache",
        "Content-Security-Policy": FILE_CSP,
    }
    if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        return web.Response(status=304, headers=headers)
    return web.Response(body=data, content_type="image/webp", headers=headers)


@routes.get("/api/search")
@describe(
    "Full-text search over the caller's rooms, newest first",
    query={
        "q": {"type": "string", "maxLength": 500},
        "room_id": UUID,
        "creator_id": UUID,
        "before": SEQ,
        "limit": {"type": "integer", "minimum": 1, "maximum": 100},
    },
    responses={
        200: obj(
            results=array(obj(message=ref("Message"), snippet=STRING)),
            has_more={"type": "boolean"},
            next_before=nullable(SEQ),
        )
    },
    errors=[400, 403, 404],
)
async def search_messages(request: web.Request) -> web.Response:
    """Full-text search: ?q=&room_id=&creator_id=&before=&limit=."""
    user = await current_user(request)
    q = request.query
    return ok(
        await search.search(
            core_of(request),
            user,
            q.get("q", ""),
            q.get("room_id"),
            q.get("creator_id"),
            q.get("before"),
            q.get("limit"),
        )
    )
