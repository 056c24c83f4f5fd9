"""Use cases for avatars: set one (cropped square, resized, off the loop), remove it, read it."""

from __future__ import annotations

from pathlib import Path

from aiohttp import MultipartReader

from campfire import accounts, directory, errors, images, store
from campfire.accounts import SessionUser
from campfire.attachments import receive_multipart
from campfire.core import Core
from campfire.errors import CampfireError
from campfire.views import user_json

KEY_CHARS = 16  # of the source's sha256: the avatar's version


def avatar_path(core: Core, user_id: str, key: str) -> Path:
    """Where a user's avatar of this version is."""
    return core.files.avatars / f"{user_id}-{key}.webp"


def not_an_image() -> CampfireError:
    """415 for an avatar that is not a PNG, JPEG, GIF or WebP picture."""
    return CampfireError(
        errors.NOT_AN_IMAGE, "An avatar must be a PNG, JPEG, GIF or WebP image", 415
    )


async def do_set_avatar(core: Core, user: SessionUser, reader: MultipartReader) -> dict:
    """Store the picture in the body's `file` field as the user's avatar; the user's JSON."""
    got = await receive_multipart(core, reader, "file", (), core.settings.max_avatar_bytes)
    assert got.upload is not None
    upload = got.upload
    try:
        if upload.content_type not in images.IMAGE_TYPES:
            raise not_an_image()
        key = upload.sha256[:KEY_CHARS]
        limit = core.settings.max_image_pixels
        try:
            await core.files.write_new(
                avatar_path(core, user.id, key),
                lambda tmp: images.make_avatar(upload.path, tmp, limit),
            )
        except images.NotAnImage:
            raise not_an_image() from None
    finally:
        await core.files.discard(upload.path)
    return await _switch(core, user.id, key)


async def do_remove_avatar(core: Core, user: SessionUser) -> dict:
    """Go back to initials; the user's JSON."""
    return await _switch(core, user.id, None)


async def _switch(core: Core, user_id: str, key: str | None) -> dict:
    """Point the user at another avatar version (or none), drop the old file, tell everyone."""
    async with core.db.transaction() as conn:
        exists, old = await store.set_avatar_key_txn(conn, user_id, key)
    if not exists:
        if key is not None:
            await core.files.discard(avatar_path(core, user_id, key))
        raise errors.user_not_found()
    if old is not None and old != key:
        await core.files.discard(avatar_path(core, user_id, old))
    if old != key:
        await directory.user_updated(core, user_id)
    return user_json(await accounts.access_user(core, user_id))


async def read_avatar(core: Core, user_id: str) -> tuple[str, bytes]:
    """A user's avatar version and bytes, or AVATAR_NOT_FOUND."""
    row = await store.get_user(core.db, user_id)
    if row is None or not row["avatar_key"]:
        raise CampfireError(errors.AVATAR_NOT_FOUND, "This user has no avatar", 404)
    key = row["avatar_key"]
    try:
        data = await core.files.run_io(avatar_path(core, user_id, key).read_bytes)
    except FileNotFoundError:  # replaced between the read of the row and of the file
        raise CampfireError(errors.AVATAR_NOT_FOUND, "This user has no avatar", 404) from None
    return key, data
