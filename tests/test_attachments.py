"""Attachments: upload through the real HTTP API, streamed to disk, served only to the room."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import io
import os
import resource
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import aiohttp
import pytest
from helpers import make_client
from PIL import Image
from wsutil import connect, recv_type, silent

from campfire import store
from campfire.config import files_dir_of
from campfire.keys import core_key

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts" / "faults"))

from harness import CLI, Server, cli, free_port, make_world

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png(size: tuple[int, int] = (64, 48), color: str = "red") -> bytes:
    """A real PNG picture."""
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def jpeg_turned(size: tuple[int, int] = (80, 40)) -> bytes:
    """A JPEG stored sideways with EXIF orientation 6 (turn 90 degrees) and a GPS position."""
    image = Image.new("RGB", size, "blue")
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "SecretCam"  # Make
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def form(data: bytes, filename: str = "f.bin", cmid: str | None = None, **fields: str):
    """The multipart body of an upload."""
    body = aiohttp.FormData()
    body.add_field("client_message_id", cmid or str(uuid.uuid4()))
    for name, value in fields.items():
        body.add_field(name, value)
    body.add_field("file", data, filename=filename, content_type="image/png")
    return body


async def upload(client, token, room_id, data, filename="f.bin", cmid=None, **fields):
    """POST an attachment; the raw response."""
    return await client.post(
        f"/api/rooms/{room_id}/attachments",
        headers={"Authorization": f"Bearer {token}"},
        data=form(data, filename, cmid, **fields),
    )


def files_in(core) -> dict[str, list[str]]:
    """What the data directory holds, by folder."""
    root = core.settings.files_path
    return {
        name: sorted(p.name for p in (root / name).iterdir()) if (root / name).exists() else []
        for name in ("tmp", "attachments", "avatars")
    }


@pytest.fixture
async def people(api):
    """Ann (who owns a closed room), Bob (a member) and Eve (not a member)."""
    _, ann_token = await api.user("Ann")
    bob, bob_token = await api.user("Bob")
    _, eve_token = await api.user("Eve")
    room = await api.room(ann_token, "secret", members=[bob])
    return {"ann": ann_token, "bob": bob_token, "eve": eve_token, "room": room}


async def test_upload_creates_a_message_with_the_file_broadcast_after_commit(client, core, people):
    room = people["room"]
    ws = await connect(client, people["bob"])
    data = b"%PDF-1.4\n" + b"x" * 300_000
    resp = await upload(client, people["ann"], room["id"], data, "report 2024.pdf")
    assert resp.status == 201, await resp.text()
    message = (await resp.json())["message"]
    attachment = message["attachment"]
    assert message["content"] == "report 2024.pdf"
    assert attachment["filename"] == "report 2024.pdf"
    assert attachment["content_type"] == "application/pdf"
    assert attachment["byte_size"] == len(data)
    assert attachment["thumbnail_url"] is None and attachment["width"] is None
    assert attachment["url"] == f"/api/attachments/{attachment['id']}"
    frame = await recv_type(ws, "NewMessage")
    assert frame["message"] == message
    # On disk under the server's name, complete, and recorded with its hash.
    stored = core.settings.files_path / "attachments" / attachment["id"]
    assert stored.read_bytes() == data
    row = await core.db.fetchone("SELECT sha256 FROM attachments WHERE id = ?", (attachment["id"],))
    assert row[0] == hashlib.sha256(data).hexdigest()
    assert files_in(core)["tmp"] == []
    # History and a new connection's catch-up show it too.
    resp = await client.get(
        f"/api/rooms/{room['id']}/messages", headers={"Authorization": f"Bearer {people['bob']}"}
    )
    assert (await resp.json())["messages"][-1]["attachment"] == attachment
    await ws.close()


async def test_caption_is_the_content(client, people):
    resp = await upload(client, people["ann"], people["room"]["id"], png(), "a.png", caption="Look")
    message = (await resp.json())["message"]
    assert message["content"] == "Look" and message["attachment"]["filename"] == "a.png"


async def test_a_retry_with_the_same_client_message_id_keeps_one_file(client, core, people):
    room, cmid = people["room"], str(uuid.uuid4())
    ws = await connect(client, people["bob"])
    first = await upload(client, people["ann"], room["id"], png(), "a.png", cmid=cmid)
    assert first.status == 201
    await recv_type(ws, "NewMessage")
    again = await upload(client, people["ann"], room["id"], png(color="blue"), "b.png", cmid=cmid)
    assert again.status == 200
    assert (await again.json())["message"] == (await first.json())["message"]
    await silent(ws)
    attachment_id = (await first.json())["message"]["attachment"]["id"]
    assert files_in(core)["attachments"] == [attachment_id, f"{attachment_id}.thumb.webp"]
    assert (await core.db.fetchone("SELECT COUNT(*) FROM attachments"))[0] == 1
    await ws.close()


async def test_download_needs_access_to_the_room_and_answers_the_same_404_otherwise(client, people):
    resp = await upload(client, people["ann"], people["room"]["id"], b"hello\n" * 100, "notes.txt")
    attachment = (await resp.json())["message"]["attachment"]
    for token in (people["ann"], people["bob"]):
        resp = await client.get(attachment["url"], headers={"Authorization": f"Bearer {token}"})
        assert resp.status == 200
        assert await resp.read() == b"hello\n" * 100
    outsider = await client.get(
        attachment["url"], headers={"Authorization": f"Bearer {people['eve']}"}
    )
    unknown = await client.get(
        f"/api/attachments/{uuid.uuid4()}", headers={"Authorization": f"Bearer {people['eve']}"}
    )
    assert outsider.status == unknown.status == 404
    assert await outsider.json() == await unknown.json()
    assert (await outsider.json())["error"]["code"] == "ATTACHMENT_NOT_FOUND"
    assert (await client.get(attachment["url"])).status == 401
    thumb = await client.get(
        f"{attachment['url']}/thumbnail", headers={"Authorization": f"Bearer {people['eve']}"}
    )
    assert thumb.status == 404


async def test_an_html_file_named_png_is_served_neither_as_image_nor_as_html(client, people):
    page = b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>"
    resp = await upload(client, people["ann"], people["room"]["id"], page, "cat.png")
    attachment = (await resp.json())["message"]["attachment"]
    assert attachment["content_type"] == "application/octet-stream"
    assert attachment["thumbnail_url"] is None
    resp = await client.get(attachment["url"], headers={"Authorization": f"Bearer {people['bob']}"})
    assert resp.headers["Content-Type"] == "application/octet-stream"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    assert "sandbox" in resp.headers["Content-Security-Policy"]


async def test_svg_and_pdf_are_downloads_images_and_video_inline(client, people):
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    cases = [
        (svg, "x.svg", "attachment", "application/octet-stream"),
        (b"%PDF-1.4\n%%EOF", "x.pdf", "attachment", "application/octet-stream"),
        (png(), "x.png", "inline", "image/png"),
    ]
    for data, name, disposition, served_as in cases:
        resp = await upload(client, people["ann"], people["room"]["id"], data, name)
        url = (await resp.json())["message"]["attachment"]["url"]
        resp = await client.get(url, headers={"Authorization": f"Bearer {people['bob']}"})
        assert resp.headers["Content-Disposition"].split(";")[0] == disposition, name
        assert resp.headers["Content-Type"] == served_as, name


async def test_file_names_are_metadata_only_and_safely_encoded(client, core, people):
    # As a browser sends '../../etc/passwd"; x=<CR><LF>.txt' (HTML's form-data encoding).
    name = "../../etc/passwd%22; x=%0D%0A.txt"
    resp = await client.post(
        f"/api/rooms/{people['room']['id']}/attachments",
        headers={
            "Authorization": f"Bearer {people['ann']}",
            "Content-Type": "multipart/form-data; boundary=XyZboundary",
        },
        data=raw_multipart(str(uuid.uuid4()), b"data", filename=name),
    )
    attachment = (await resp.json())["message"]["attachment"]
    assert attachment["filename"] == 'passwd"; x=__.txt'
    resp = await client.get(attachment["url"], headers={"Authorization": f"Bearer {people['bob']}"})
    disposition = resp.headers["Content-Disposition"]
    assert disposition == (
        "attachment; filename=\"passwd__ x=__.txt\"; filename*=UTF-8''passwd%22%3B%20x%3D__.txt"
    )
    resp = await upload(client, people["ann"], people["room"]["id"], b"data", "Привет café.txt")
    url = (await resp.json())["message"]["attachment"]["url"]
    resp = await client.get(url, headers={"Authorization": f"Bearer {people['bob']}"})
    assert (
        "filename*=UTF-8''%D0%9F%D1%80%D0%B8%D0%B2%D0%B5%D1%82%20caf%C3%A9.txt"
        in (resp.headers["Content-Disposition"])
    )
    assert set(files_in(core)["attachments"]) <= {
        row[0] for row in await core.db.fetchall("SELECT id FROM attachments")
    }


async def test_video_is_served_with_range_requests(client, people):
    video = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(range(256)) * 400
    resp = await upload(client, people["ann"], people["room"]["id"], video, "clip.mp4")
    attachment = (await resp.json())["message"]["attachment"]
    assert attachment["content_type"] == "video/mp4"
    resp = await client.get(
        attachment["url"],
        headers={"Authorization": f"Bearer {people['bob']}", "Range": "bytes=100-199"},
    )
    assert resp.status == 206
    assert await resp.read() == video[100:200]
    assert resp.headers["Content-Disposition"].startswith("inline;")


async def test_images_get_an_upright_thumbnail_without_metadata(client, people):
    resp = await upload(client, people["ann"], people["room"]["id"], jpeg_turned(), "p.jpg")
    attachment = (await resp.json())["message"]["attachment"]
    assert attachment["content_type"] == "image/jpeg"
    assert (attachment["width"], attachment["height"]) == (40, 80)  # shown upright
    resp = await client.get(
        attachment["thumbnail_url"], headers={"Authorization": f"Bearer {people['bob']}"}
    )
    assert resp.status == 200 and resp.headers["Content-Type"] == "image/webp"
    thumb = Image.open(io.BytesIO(await resp.read()))
    assert thumb.format == "WEBP" and thumb.size == (40, 80)
    assert not thumb.getexif() and "exif" not in thumb.info and "xmp" not in thumb.info
    big = await upload(client, people["ann"], people["room"]["id"], png((2000, 1000)), "b.png")
    url = (await big.json())["message"]["attachment"]["thumbnail_url"]
    resp = await client.get(url, headers={"Authorization": f"Bearer {people['bob']}"})
    assert Image.open(io.BytesIO(await resp.read())).size == (400, 200)


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="a Linux scheduling policy")
async def test_file_and_image_threads_yield_the_core_to_the_event_loop(client, people):
    """The threads that write uploads and make thumbnails run under SCHED_IDLE: on a busy
    core the loop (the chat) goes first (docs/performance.md, chat beside uploads)."""
    resp = await upload(client, people["ann"], people["room"]["id"], png((300, 200)), "a.png")
    assert resp.status == 201 and (await resp.json())["message"]["attachment"]["thumbnail_url"]
    pools = [t for t in threading.enumerate() if t.name.startswith(("files_", "images_"))]
    assert {t.name.split("_")[0] for t in pools} == {"files", "images"}
    for thread in pools:
        assert os.sched_getscheduler(thread.native_id) == os.SCHED_IDLE, thread.name
    assert os.sched_getscheduler(threading.get_native_id()) == os.SCHED_OTHER  # the loop's


async def test_a_broken_image_is_kept_as_a_plain_file(client, people):
    broken = PNG_MAGIC + b"\x00\x00\x00\rIHDR" + b"garbage" * 50
    resp = await upload(client, people["ann"], people["room"]["id"], broken, "x.png")
    attachment = (await resp.json())["message"]["attachment"]
    assert attachment["content_type"] == "application/octet-stream"
    assert attachment["thumbnail_url"] is None


async def test_a_decompression_bomb_is_refused_and_nothing_kept(client, core, people):
    bomb = io.BytesIO()
    Image.new("1", (20000, 20000)).save(bomb, "PNG")  # 400 million pixels in ~50 KB
    assert len(bomb.getvalue()) < 200_000
    resp = await upload(client, people["ann"], people["room"]["id"], bomb.getvalue(), "x.png")
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "IMAGE_TOO_LARGE"
    over_ours = io.BytesIO()
    Image.new("1", (10000, 6000)).save(over_ours, "PNG")  # 60 million: under Pillow's own limit
    resp = await upload(client, people["ann"], people["room"]["id"], over_ours.getvalue(), "y.png")
    assert resp.status == 413
    assert "10000 x 6000" in (await resp.json())["error"]["message"]
    assert files_in(core) == {"tmp": [], "attachments": [], "avatars": []}
    assert (await core.db.fetchone("SELECT COUNT(*) FROM messages"))[0] == 0


async def _chunks(data: bytes, size: int = 64 * 1024):
    for start in range(0, len(data), size):
        yield data[start : start + size]


def raw_multipart(
    cmid: str, payload: bytes, boundary: str = "XyZboundary", filename: str = "big.bin"
) -> bytes:
    """A multipart body built by hand (streamed, cut off, or with a name as browsers send it)."""
    return (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="client_message_id"\r\n\r\n'
            f"{cmid}\r\n--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + payload
        + f"\r\n--{boundary}--\r\n".encode()
    )


async def test_the_size_limit_holds_while_streaming(aiohttp_client, settings, api):
    client = await make_client(aiohttp_client, settings, api, max_upload_bytes=300_000)
    core = client.app[core_key]
    _, token = await api.user("Ann")
    room = await api.room(token, "r")
    body = raw_multipart(str(uuid.uuid4()), b"z" * 2_000_000)
    # Chunked: no Content-Length to refuse early, so the limit must hold on the bytes as they come.
    resp = await client.post(
        f"/api/rooms/{room['id']}/attachments",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "multipart/form-data; boundary=XyZboundary",
        },
        data=_chunks(body),
    )
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "PAYLOAD_TOO_LARGE"
    # With a Content-Length over the limit, refused before reading.
    resp = await upload(client, token, room["id"], b"z" * 400_000)
    assert resp.status == 413
    # Under the limit: fine.
    resp = await upload(client, token, room["id"], b"z" * 200_000)
    assert resp.status == 201
    assert files_in(core)["tmp"] == []
    assert len(files_in(core)["attachments"]) == 1


async def test_an_upload_trickled_below_the_minimum_rate_is_cut_off_and_leaves_nothing(
    aiohttp_client, settings, api
):
    # Uploads stream, so they have no fixed deadline; a sender that keeps the connection alive
    # with a byte now and then is still cut off once it falls below the minimum rate.
    client = await make_client(
        aiohttp_client, settings, api, request_body_timeout=1.0, upload_min_bytes_per_second=50_000
    )
    core = client.app[core_key]
    _, token = await api.user("Ann")
    room = await api.room(token, "slow")
    body = raw_multipart(str(uuid.uuid4()), b"q" * 1_000_000)
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(
        (
            f"POST /api/rooms/{room['id']}/attachments HTTP/1.1\r\n"
            f"Host: localhost\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: multipart/form-data; boundary=XyZboundary\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body[:20_000]
    )
    started, sent, answer = time.monotonic(), 20_000, b""
    while time.monotonic() - started < 8 and not answer:
        writer.write(body[sent : sent + 500])  # 2.5 KB/s: alive, far below the minimum
        sent += 500
        await writer.drain()
        with contextlib.suppress(TimeoutError):
            answer = await asyncio.wait_for(reader.read(65536), 0.2)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"REQUEST_TIMEOUT"' in answer
    assert time.monotonic() - started < 4
    for _ in range(100):  # the handler was cancelled: what it wrote goes
        if not files_in(core)["tmp"]:
            break
        await asyncio.sleep(0.02)
    assert files_in(core) == {"tmp": [], "attachments": [], "avatars": []}
    assert (await core.db.fetchone("SELECT COUNT(*) FROM attachments"))[0] == 0


async def test_an_upload_cut_off_mid_body_leaves_nothing(client, core, people):
    room = people["room"]
    body = raw_multipart(str(uuid.uuid4()), b"q" * 3_000_000)
    _, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(
        (
            f"POST /api/rooms/{room['id']}/attachments HTTP/1.1\r\n"
            f"Host: localhost\r\nAuthorization: Bearer {people['ann']}\r\n"
            "Content-Type: multipart/form-data; boundary=XyZboundary\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body[:1_500_000]
    )
    await writer.drain()
    for _ in range(100):  # the server has started writing the file
        if files_in(core)["tmp"]:
            break
        await asyncio.sleep(0.02)
    assert files_in(core)["tmp"], "the upload never started"
    writer.transport.abort()  # the client vanishes mid-body
    for _ in range(100):
        if not files_in(core)["tmp"]:
            break
        await asyncio.sleep(0.02)
    assert files_in(core) == {"tmp": [], "attachments": [], "avatars": []}
    assert (await core.db.fetchone("SELECT COUNT(*) FROM attachments"))[0] == 0
    assert (await core.db.fetchone("SELECT COUNT(*) FROM messages"))[0] == 0


async def test_bad_uploads_get_clear_errors_and_change_nothing(client, core, people):
    room, ann = people["room"], people["ann"]
    auth = {"Authorization": f"Bearer {ann}"}
    resp = await client.post(f"/api/rooms/{room['id']}/attachments", headers=auth, json={})
    assert resp.status == 415
    missing_file = aiohttp.FormData(default_to_multipart=True)
    missing_file.add_field("client_message_id", str(uuid.uuid4()))
    missing_file.add_field("caption", "hi")
    resp = await client.post(
        f"/api/rooms/{room['id']}/attachments", headers=auth, data=missing_file
    )
    assert resp.status == 400 and "'file'" in (await resp.json())["error"]["message"]
    resp = await upload(client, ann, room["id"], b"x", cmid="not-a-uuid")
    assert (resp.status, (await resp.json())["error"]["code"]) == (400, "MESSAGE_CREATION_FAILED")
    resp = await upload(client, ann, room["id"], b"x", caption="c" * 10_001)
    assert resp.status == 400
    resp = await upload(client, people["eve"], room["id"], b"x")
    assert (resp.status, (await resp.json())["error"]["code"]) == (403, "ROOM_ACCESS_DENIED")
    resp = await upload(client, ann, str(uuid.uuid4()), b"x")
    assert resp.status == 404
    assert files_in(core) == {"tmp": [], "attachments": [], "avatars": []}
    assert (await core.db.fetchone("SELECT COUNT(*) FROM attachments"))[0] == 0


async def test_deleting_the_room_deletes_its_files(client, core, people):
    room = people["room"]
    for name in ("a.png", "b.txt"):
        data = png() if name.endswith("png") else b"text"
        assert (await upload(client, people["ann"], room["id"], data, name)).status == 201
    other = await upload(
        client, people["ann"], (await _other_room(client, people))["id"], b"keep", "k.txt"
    )
    kept = (await other.json())["message"]["attachment"]["id"]
    assert len(files_in(core)["attachments"]) == 4  # two files, one thumbnail, the other room's
    resp = await client.delete(
        f"/api/rooms/{room['id']}", headers={"Authorization": f"Bearer {people['ann']}"}
    )
    assert resp.status == 204
    assert files_in(core)["attachments"] == [kept]
    rows = await core.db.fetchall("SELECT id FROM attachments")
    assert [row[0] for row in rows] == [kept]


async def _other_room(client, people):
    resp = await client.post(
        "/api/rooms",
        headers={"Authorization": f"Bearer {people['ann']}"},
        json={"name": "other", "room_type": "closed"},
    )
    return (await resp.json())["room"]


async def test_the_start_sweep_keeps_uploads_under_way_on_other_processes_and_hosts(core):
    """tmp/ is shared by the workers of a host and by hosts sharing files_dir: a process
    starting removes only what a dead process of its own host, or long-idle another host's,
    left there."""
    import os
    import subprocess

    from campfire import filestore

    tmp = core.settings.files_path / "tmp"
    gone = subprocess.Popen(["true"])
    gone.wait()
    other_host = "h" + "0" * 12 if filestore.HOST != "h" + "0" * 12 else "h" + "1" * 12
    names = {
        "ours, writer alive": f"{filestore.HOST}-{os.getppid()}-{'a' * 32}",
        "ours, writer gone": f"{filestore.HOST}-{gone.pid}-{'b' * 32}",
        "older version, writer alive": f"{os.getppid()}-{'c' * 32}",
        "older version, writer gone": f"{gone.pid}-{'d' * 32}",
        "another host, writing": f"{other_host}-1-{'e' * 32}",
        "another host, idle": f"{other_host}-1-{'f' * 32}",
        "not a name of ours": "partial",
    }
    for name in names.values():
        (tmp / name).write_bytes(b"half")
    idle = time.time() - filestore.FOREIGN_UPLOAD_IDLE - 60
    os.utime(tmp / names["another host, idle"], (idle, idle))
    core.files.open()
    kept = {label for label, name in names.items() if (tmp / name).exists()}
    assert kept == {"ours, writer alive", "older version, writer alive", "another host, writing"}
    assert core.files.temp_path().name.startswith(f"{filestore.HOST}-{os.getpid()}-")


async def test_deleted_messages_lose_their_files_and_a_crash_leftover_is_swept(
    client, core, people
):
    """delete_files_of (for message deletion) and the start-up sweep remove orphans' files."""
    from campfire import attachment_files

    resp = await upload(client, people["ann"], people["room"]["id"], png(), "a.png")
    message = (await resp.json())["message"]
    async with core.db.transaction() as conn:  # what message deletion does to the row
        await conn.execute("DELETE FROM messages WHERE id = ?", (message["id"],))
    resp = await client.get(
        message["attachment"]["url"], headers={"Authorization": f"Bearer {people['ann']}"}
    )
    assert resp.status == 404  # gone with its message at once, even before the files go
    assert await attachment_files.delete_files_of(core, [message["id"]]) == 1
    assert files_in(core)["attachments"] == []
    # A crash between the attachment's commit and its message's: an orphan row and file.
    resp = await upload(client, people["ann"], people["room"]["id"], b"x", "b.txt")
    second = (await resp.json())["message"]
    async with core.db.transaction() as conn:
        await conn.execute("DELETE FROM messages WHERE id = ?", (second["id"],))
    (core.settings.files_path / "tmp" / "partial").write_bytes(b"half")
    core.files.open()
    assert files_in(core)["tmp"] == []
    # Under a minute old it may be another worker's upload whose message is on its way: kept.
    assert await attachment_files.sweep_orphans(core) == 0
    async with core.db.transaction() as conn:
        await conn.execute("UPDATE attachments SET created_at = '2000-01-01T00:00:00.000Z'")
    assert await attachment_files.sweep_orphans(core) == 1
    assert files_in(core)["attachments"] == []
    assert await store.orphan_attachments(core.db) == []


async def test_backup_holds_the_database_and_its_files_and_serves_them(tmp_path):
    """`campfire db backup` writes PATH and PATH-files; `campfire serve --db PATH` serves both."""
    world = make_world(tmp_path / "live", users=1)
    server = Server(world, tmp_path / "server.log")
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            body = form(png(), "p.png")
            async with session.post(
                f"{world.base}/api/rooms/{world.room_id}/attachments",
                headers={"Authorization": f"Bearer {world.tokens[0]}"},
                data=body,
            ) as resp:
                assert resp.status == 201, await resp.text()
                attachment = (await resp.json())["message"]["attachment"]
        backup = tmp_path / "backup" / "campfire.db"
        backup.parent.mkdir()
        await asyncio.to_thread(cli, world.env, "db", "backup", str(backup))
    finally:
        await server.stop()
    files = files_dir_of(backup)
    assert (files / "attachments" / attachment["id"]).read_bytes() == png()
    assert (files / "attachments" / f"{attachment['id']}.thumb.webp").exists()
    assert sqlite3.connect(backup).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    port = free_port()
    env = {**world.env, "CAMPFIRE_PORT": str(port), "CAMPFIRE_DB": str(tmp_path / "unused.db")}
    restored = dataclasses.replace(world, env=env, port=port)
    copy = Server(restored, tmp_path / "restored.log")
    await copy.start("--db", str(backup))
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(
                f"{restored.base}{attachment['url']}",
                headers={"Authorization": f"Bearer {world.tokens[0]}"},
            ) as resp:
                assert resp.status == 200
                assert await resp.read() == png()
    finally:
        await copy.stop()


def start_with_file_size_limit(world, log_path: Path, limit: int) -> subprocess.Popen:
    """`campfire serve` with RLIMIT_FSIZE: no file it writes may grow past `limit` bytes."""

    def cap_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    with open(log_path, "a") as log:
        return subprocess.Popen(
            [*CLI, "serve"], env=world.env, stdout=log, stderr=log, preexec_fn=cap_file_size
        )


async def test_a_full_disk_is_a_clear_error_and_leaves_nothing(tmp_path):
    """The server under RLIMIT_FSIZE (a file may not grow past 2 MB: EFBIG, as ENOSPC would be)."""
    world = make_world(tmp_path, users=1)
    limit = 2 * 1024 * 1024
    proc = start_with_file_size_limit(world, tmp_path / "server.log", limit)
    try:
        auth = {"Authorization": f"Bearer {world.tokens[0]}"}
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 20
            while True:
                try:
                    async with session.get(f"{world.base}/health") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    assert time.monotonic() < deadline and proc.poll() is None
                    await asyncio.sleep(0.05)
            url = f"{world.base}/api/rooms/{world.room_id}/attachments"
            async with session.post(url, headers=auth, data=form(b"f" * (3 * limit // 2))) as resp:
                assert resp.status == 507
                assert (await resp.json())["error"]["code"] == "STORAGE_FULL"
            files = files_dir_of(Path(world.env["CAMPFIRE_DB"]))
            assert list((files / "tmp").iterdir()) == []
            assert list((files / "attachments").iterdir()) == []
            # The server goes on: a file that fits is stored.
            async with session.post(url, headers=auth, data=form(b"small")) as resp:
                assert resp.status == 201
            async with session.get(
                f"{world.base}/api/rooms/{world.room_id}/messages", headers=auth
            ) as resp:
                assert [m["content"] for m in (await resp.json())["messages"]] == ["f.bin"]
    finally:
        proc.terminate()
        proc.wait(15)


async def test_malformed_multipart_bodies_are_clear_400s(client, core, people):
    url = f"/api/rooms/{people['room']['id']}/attachments"
    auth = {"Authorization": f"Bearer {people['ann']}"}
    cases = [
        ("multipart/form-data", b"no boundary at all"),
        ("multipart/form-data; boundary=abc", b"not multipart at all"),
        ("multipart/form-data; boundary=abc", b"--abc\r\nContent-Disposition: form-data\r\n\r\nx"),
        ("multipart/form-data; boundary=abc", b"--abc\r\n\r\n\r\n--abc--\r\n"),
        ("multipart/mixed; boundary=abc", b"--abc--\r\n"),
        # a part header that is no header (once a 500: aiohttp raises InvalidHeader)
        ("multipart/form-data; boundary=abc", b"--abc\r\n: x\r\n\r\nx\r\n--abc--\r\n"),
        (
            "multipart/form-data; boundary=abc",
            b"--abc\r\nBad Header\x01: x\r\n\r\nx\r\n--abc--\r\n",
        ),
    ]
    for content_type, body in cases:
        resp = await client.post(url, headers={**auth, "Content-Type": content_type}, data=body)
        assert resp.status in (400, 415), (content_type, body, resp.status)
        assert (await resp.json())["error"]["code"] in (
            "VALIDATION_FAILED",
            "BAD_REQUEST",
            "UNSUPPORTED_MEDIA_TYPE",
        )
    assert files_in(core) == {"tmp": [], "attachments": [], "avatars": []}
