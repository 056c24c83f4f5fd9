"""Attachments (upload, download, thumbnail), avatars, and search."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import MultipartReader, web

from campfire import attachment_files, attachments, avatars, errors, search
from campfire.api.common import core_of, current_user, ok, path_id, streams_body
from campfire.errors import CampfireError

routes = web.RouteTableDef()

# A downloaded file is never a page of ours: no scripts, no plugins, its own sandboxed origin.
FILE_CSP = "default-src 'none'; img-src 'self'; media-src 'self'; sandbox"
FILE_CACHE = "private, max-age=3600"  # a file never changes under its id


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
@streams_body
async def set_avatar(request: web.Request) -> web.Response:
    """Set the caller's avatar (multipart field `file`: a PNG, JPEG, GIF or WebP image)."""
    user = await current_user(request)
    core = core_of(request)
    reader = await multipart(request, core.settings.max_avatar_bytes)
    return ok({"user": await avatars.do_set_avatar(core, user, reader)})


@routes.delete("/api/users/me/avatar")
async def remove_avatar(request: web.Request) -> web.Response:
    """Go back to initials."""
    user = await current_user(request)
    return ok({"user": await avatars.do_remove_avatar(core_of(request), user)})


@routes.get("/api/users/{user_id}/avatar")
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
