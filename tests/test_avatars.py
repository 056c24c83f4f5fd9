"""Avatars: set, replace, remove, read with ETag caching, announced as UserUpdated."""

from __future__ import annotations

import io

import aiohttp
from PIL import Image
from test_attachments import files_in, jpeg_turned, png
from wsutil import connect, recv_type, silent


def avatar_form(data: bytes, filename: str = "me.png") -> aiohttp.FormData:
    """The multipart body of an avatar upload."""
    body = aiohttp.FormData()
    body.add_field("file", data, filename=filename, content_type="image/png")
    return body


async def put_avatar(client, token: str, data: bytes):
    """PUT /api/users/me/avatar; the raw response."""
    return await client.put(
        "/api/users/me/avatar",
        headers={"Authorization": f"Bearer {token}"},
        data=avatar_form(data),
    )


async def test_an_avatar_is_cropped_square_resized_and_announced(client, core, api):
    ann, ann_token = await api.user("Ann")
    _, bob_token = await api.user("Bob")
    assert ann["avatar_url"] is None
    ws = await connect(client, bob_token)
    resp = await put_avatar(client, ann_token, png((900, 300)))
    assert resp.status == 200, await resp.text()
    user = (await resp.json())["user"]
    assert user["avatar_url"].startswith(f"/api/users/{ann['id']}/avatar?v=")
    public = {key: value for key, value in user.items() if key != "email"}  # Bob's view
    frame = await recv_type(ws, "UserUpdated")
    assert frame["user"] == public
    resp = await client.get("/api/users", headers={"Authorization": f"Bearer {bob_token}"})
    listed = {u["id"]: u for u in (await resp.json())["users"]}
    assert listed[ann["id"]] == public  # the same public fields as GET /api/users
    resp = await client.get(user["avatar_url"], headers={"Authorization": f"Bearer {bob_token}"})
    assert resp.status == 200 and resp.headers["Content-Type"] == "image/webp"
    assert "immutable" in resp.headers["Cache-Control"]
    picture = Image.open(io.BytesIO(await resp.read()))
    assert picture.size == (256, 256) and not picture.getexif()
    assert files_in(core)["tmp"] == []
    await ws.close()


async def test_etag_answers_304_and_changes_with_the_avatar(client, core, api):
    ann, token = await api.user("Ann")
    auth = {"Authorization": f"Bearer {token}"}
    await put_avatar(client, token, png(color="red"))
    url = f"/api/users/{ann['id']}/avatar"
    resp = await client.get(url, headers=auth)
    etag = resp.headers["ETag"]
    assert resp.headers["Cache-Control"] == "private, no-cache"
    resp = await client.get(url, headers={**auth, "If-None-Match": etag})
    assert resp.status == 304 and await resp.read() == b""
    resp = await put_avatar(client, token, jpeg_turned())
    resp = await client.get(url, headers={**auth, "If-None-Match": etag})
    assert resp.status == 200 and resp.headers["ETag"] != etag
    assert len(files_in(core)["avatars"]) == 1  # the old picture is gone


async def test_removing_the_avatar_goes_back_to_initials(client, core, api):
    ann, token = await api.user("Ann")
    _, bob_token = await api.user("Bob")
    auth = {"Authorization": f"Bearer {token}"}
    await put_avatar(client, token, png())
    ws = await connect(client, bob_token)
    resp = await client.delete("/api/users/me/avatar", headers=auth)
    assert resp.status == 200
    assert (await resp.json())["user"]["avatar_url"] is None
    assert (await recv_type(ws, "UserUpdated"))["user"]["avatar_url"] is None
    resp = await client.get(f"/api/users/{ann['id']}/avatar", headers=auth)
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "AVATAR_NOT_FOUND"
    assert files_in(core)["avatars"] == []
    # Removing it again changes nothing and announces nothing.
    assert (await client.delete("/api/users/me/avatar", headers=auth)).status == 200
    await silent(ws)
    await ws.close()


async def test_what_is_not_a_picture_is_refused_and_nothing_kept(client, core, api):
    ann, token = await api.user("Ann")
    for data in (b"<html><script>alert(1)</script></html>", b"%PDF-1.4", b"\x89PNG\r\n\x1a\nbad"):
        resp = await put_avatar(client, token, data)
        assert resp.status == 415, data
        assert (await resp.json())["error"]["code"] == "NOT_AN_IMAGE"
    bomb = io.BytesIO()
    Image.new("1", (20000, 20000)).save(bomb, "PNG")
    resp = await put_avatar(client, token, bomb.getvalue())
    assert (resp.status, (await resp.json())["error"]["code"]) == (413, "IMAGE_TOO_LARGE")
    # A part whose headers are malformed is a 400 (once a 500: aiohttp raises InvalidHeader).
    resp = await client.put(
        "/api/users/me/avatar",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "multipart/form-data; boundary=abc",
        },
        data=b"--abc\r\n: x\r\n\r\nx\r\n--abc--\r\n",
    )
    assert (resp.status, (await resp.json())["error"]["code"]) == (400, "VALIDATION_FAILED")
    assert files_in(core) == {"tmp": [], "attachments": [], "avatars": []}
    resp = await client.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
    assert (await resp.json())["user"]["avatar_url"] is None
    assert (await client.get(f"/api/users/{ann['id']}/avatar")).status == 401
    assert (await client.put("/api/users/me/avatar", data=avatar_form(png()))).status == 401


async def test_the_avatar_size_limit_holds(aiohttp_client, settings, api):
    from helpers import make_client

    client = await make_client(aiohttp_client, settings, api, max_avatar_bytes=50_000)
    _, token = await api.user("Ann")
    noise = Image.frombytes("L", (400, 400), bytes(range(256)) * 625)
    out = io.BytesIO()
    noise.save(out, "PNG", compress_level=0)
    resp = await put_avatar(client, token, out.getvalue())
    assert (resp.status, (await resp.json())["error"]["code"]) == (413, "PAYLOAD_TOO_LARGE")
