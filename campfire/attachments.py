"""Use cases for attachments: a message carrying a file (upload), downloads, and removing files.

An upload streams to tmp/, is hashed and fsynced, renamed into attachments/, recorded in the
attachments table, and only then is its message created through the ordinary message path
(deduplicated, group-committed, broadcast after commit). An attachment row whose message does
not exist is an orphan (its message was a duplicate, was deleted, its room was deleted, or the
process died between the two commits): its files are removed, then the row
(attachment_files.py). So nothing is ever half-kept, and a crash at any point leaves at most
orphans that the next start sweeps.
"""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiohttp import BodyPartReader, MultipartReader
from aiohttp.http_exceptions import BadHttpMessage

from campfire import clock, errors, images, store
from campfire.accounts import SessionUser
from campfire.attachment_files import delete_files_of, file_path, thumbnail_path
from campfire.core import Core
from campfire.errors import CampfireError
from campfire.filestore import Upload
from campfire.messages import do_create_message
from campfire.rooms import access_room
from campfire.validate import check_content, check_uuid, is_text, new_id, new_time_ordered_id
from campfire.views import attachment_json

log = logging.getLogger(__name__)

CHUNK_BYTES = 256 * 1024
MAX_FIELD_BYTES = 64 * 1024  # caption (10,000 characters of up to 4 bytes) and the id
MAX_FILENAME_CHARS = 255
# Room for the multipart framing and the small fields around the file.
MULTIPART_OVERHEAD = 2 * MAX_FIELD_BYTES + 16 * 1024
# Served inline (displayed by the browser); everything else is a download. Never HTML, SVG,
# XML, PDF or anything else a browser would run or render with the server's origin.
INLINE_TYPES = images.IMAGE_TYPES | {"video/mp4", "video/webm", "video/quicktime"}
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")


def attachment_not_found() -> CampfireError:
    """404 for an attachment that does not exist or that the caller may not see (the same)."""
    return CampfireError(errors.ATTACHMENT_NOT_FOUND, "Attachment not found", 404)


def clean_filename(name: str | None) -> str:
    """The client's file name as metadata: no path, no control characters, at most 255 chars.

    Clients percent-encode some characters of it (browsers `"`, CR and LF; aiohttp all but
    letters and digits), so it is decoded first.
    """
    name = unicodedata.normalize("NFC", unquote(name or ""))
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_NAME.sub("_", name).strip().lstrip(".") or "file"
    if not is_text(name):
        name = "file"
    if len(name) > MAX_FILENAME_CHARS:
        _stem, dot, ext = name.rpartition(".")
        ext = ext[:16] if dot else ""
        name = name[: MAX_FILENAME_CHARS - len(ext) - 1].rstrip() + ("." + ext if ext else "")
    return name


async def part_chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    """A multipart body part as chunks, never read whole."""
    while chunk := await part.read_chunk(CHUNK_BYTES):
        yield chunk


async def read_field(part: BodyPartReader, name: str) -> str:
    """A small text field of a multipart body, bounded in size."""
    data = bytearray()
    async for chunk in part_chunks(part):
        data += chunk
        if len(data) > MAX_FIELD_BYTES:
            raise errors.bad_request(f"'{name}' is too long")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise errors.bad_request(f"'{name}' must be UTF-8 text") from None


@dataclass
class Received:
    """What a multipart upload carried: the stored file and the fields beside it."""

    upload: Upload | None = None
    filename: str = "file"
    fields: dict[str, str] | None = None


async def receive_multipart(
    core: Core, reader: MultipartReader, file_field: str, text_fields: tuple[str, ...], limit: int
) -> Received:
    """Read a multipart body: one file part streamed to disk, a few small text fields."""
    got = Received(fields={})
    assert got.fields is not None
    try:
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise errors.bad_request("Nested multipart bodies are not accepted")
            if part.name == file_field and got.upload is None:
                got.filename = clean_filename(part.filename)
                got.upload = await core.files.receive(part_chunks(part), limit)
            elif part.name in text_fields and part.name not in got.fields:
                got.fields[part.name] = await read_field(part, part.name)
            else:
                raise errors.bad_request(f"Unexpected form field {str(part.name)[:50]!r}")
    except BaseException as exc:
        if got.upload is not None:
            await core.files.discard(got.upload.path)
        # aiohttp's words for a broken body (BadHttpMessage: a part's headers are malformed)
        if isinstance(exc, (ValueError, AssertionError, BadHttpMessage)):
            raise errors.bad_request("The multipart/form-data body is malformed") from None
        raise
    if got.upload is None:
        raise errors.bad_request(f"Send the file as the multipart field '{file_field}'")
    return got


def check_upload_length(content_length: int | None, limit: int) -> None:
    """Refuse at once a body that announces more than the limit allows (413)."""
    if content_length is not None and content_length > limit + MULTIPART_OVERHEAD:
        raise CampfireError(
            errors.PAYLOAD_TOO_LARGE, f"The file is larger than the limit of {limit:,} bytes", 413
        )


async def do_upload(
    core: Core,
    user: SessionUser,
    room_id: str,
    open_body: Callable[[], Awaitable[MultipartReader]],
    file_field: str = "file",
    client_message_id: str | None = None,
) -> tuple[dict, bool]:
    """Post a message carrying a file; (message, created). A retry returns the original.

    The body is opened (`open_body`) only after the room's access and the user's allowance
    are checked: an outsider learns nothing from how the body is refused. The page sends the
    file as `file` with its `client_message_id`; once-campfire's bot API sends `attachment`
    alone (the caller then gives the id).
    """
    await access_room(core, user, room_id, join_open=True)
    if wait := await core.message_wait(user.id):
        raise errors.rate_limited("Too many messages; slow down", wait)
    reader = await open_body()
    fields = ("caption",) if client_message_id else ("client_message_id", "caption")
    got = await receive_multipart(core, reader, file_field, fields, core.settings.max_upload_bytes)
    assert got.upload is not None and got.fields is not None
    upload = got.upload
    attachment_id, message_id = new_id(), new_time_ordered_id()
    target, thumb = file_path(core, attachment_id), thumbnail_path(core, attachment_id)
    try:
        if client_message_id is None:
            try:
                client_message_id = check_uuid(
                    got.fields.get("client_message_id"), "client_message_id"
                )
            except CampfireError as exc:
                raise CampfireError(errors.MESSAGE_CREATION_FAILED, exc.message) from None
        caption = got.fields.get("caption", "")
        content = check_content(caption) if caption.strip() else got.filename
        row: dict[str, Any] = {
            "id": attachment_id,
            "message_id": message_id,
            "room_id": room_id,
            "filename": got.filename,
            "content_type": upload.content_type,
            "byte_size": upload.size,
            "sha256": upload.sha256,
            "width": None,
            "height": None,
            "has_thumbnail": False,
            "created_at": clock.now_iso(),
        }
        if row["content_type"] in images.IMAGE_TYPES:
            await _add_thumbnail(core, upload.path, thumb, row)
        await core.files.keep(upload.path, target)
    except BaseException:
        await core.files.discard(upload.path, thumb, target)
        raise
    try:
        async with core.db.transaction() as conn:
            await store.insert_attachment_txn(conn, row)
        message, created = await do_create_message(
            core,
            user,
            room_id,
            content,
            client_message_id,
            known_member=True,
            message_id=message_id,
            attachment=attachment_json(row),
            counted=True,
        )
    except asyncio.CancelledError:
        # The message may still commit from the writer's queue: its files must stay. If it
        # does not, the row is an orphan that the next start sweeps.
        raise
    except BaseException:
        await delete_files_of(core, [message_id])  # only if the message does not exist
        raise
    if not created:  # a retry: the original keeps its file, this copy goes
        await delete_files_of(core, [message_id])
        await add_to(core, [message])
    return message, created


async def _add_thumbnail(core: Core, source: Path, thumb: Path, row: dict[str, Any]) -> None:
    """Make the thumbnail and note the picture's size; a file Pillow cannot read is no image."""
    limit = core.settings.max_image_pixels
    try:
        size = await core.files.write_new(
            thumb, lambda tmp: images.make_thumbnail(source, tmp, limit)
        )
    except images.NotAnImage as exc:
        log.info("upload has an image signature but does not decode (%s): kept as a file", exc)
        row["content_type"] = "application/octet-stream"
        return
    row.update(width=size.width, height=size.height, has_thumbnail=True)


async def add_to(core: Core, messages: list[dict]) -> list[dict]:
    """Add `attachment` to those of these messages (views.message_json) that carry a file."""
    if messages:
        rows = await store.attachments_of_messages(core.db, [m["id"] for m in messages])
        by_message = {row["message_id"]: row for row in rows}
        for message in messages:
            row = by_message.get(message["id"])
            if row is not None:
                message["attachment"] = attachment_json(row)
    return messages


async def access_attachment(core: Core, user: SessionUser, attachment_id: str) -> Any:
    """An attachment the user may download: its message exists and they can read its room.

    Not existing and not allowed answer the same 404, so ids reveal nothing.
    """
    row = await store.get_live_attachment(core.db, check_uuid(attachment_id, "attachment_id"))
    if row is None:
        raise attachment_not_found()
    try:
        await access_room(core, user, row["message_room_id"])
    except CampfireError:
        raise attachment_not_found() from None
    return row
