"""Bots: administrators make them; they speak once-campfire's bot API and nothing else."""

import aiohttp
import pytest
from click.testing import CliRunner

from campfire.cli import main
from campfire.keys import core_key
from tests.wsutil import connect


async def make_bot(api, name="Deploy Bot", webhook_url=None):
    if api.admin_token is None:
        await api.setup_admin()
    resp = await api.client.post(
        "/api/bots",
        headers=api.auth(api.admin_token),
        json={"name": name, "webhook_url": webhook_url},
    )
    assert resp.status == 201, await resp.text()
    data = await resp.json()
    return data["bot"], data["bot_key"]


async def test_a_bot_posts_text_and_reads_its_room(client, api):
    _ann, ann_token = await api.user("Ann")
    bot, key = await make_bot(api)
    room = await api.room(ann_token, members=[bot])
    resp = await client.post(
        f"/rooms/{room['id']}/{key}/messages",
        data="Build passed",
        headers={"Content-Type": "text/plain"},
    )
    assert resp.status == 201, await resp.text()
    location = resp.headers["Location"]
    posted = (await resp.json())["message"]
    assert posted["creator_id"] == bot["id"] and posted["content"] == "Build passed"
    page = await (await client.get(location, headers=api.auth(ann_token))).json()
    assert [m["id"] for m in page["messages"]] == [posted["id"]]
    # curl -d sends a form content type; once-campfire posts the raw body, and so do we.
    resp = await client.post(f"/rooms/{room['id']}/{key}/messages", data=b"Deployed v2")
    assert resp.status == 201
    # A JSON body is text too: posted as it is, as once-campfire does.
    resp = await client.post(f"/rooms/{room['id']}/{key}/messages", json={"content": "x"})
    assert (await resp.json())["message"]["content"] == '{"content": "x"}'
    # Reading: JSON, newest page first, Link rel="next" pages back.
    resp = await client.get(f"/rooms/{room['id']}/{key}/messages?limit=2")
    assert resp.status == 200
    page = await resp.json()
    assert [m["content"] for m in page["messages"]] == ["Deployed v2", '{"content": "x"}']
    link = resp.headers["Link"]
    assert link.endswith('; rel="next"')
    older = await (await client.get(link[1 : link.index(">")])).json()
    assert [m["content"] for m in older["messages"]] == ["Build passed"]
    assert older["has_more"] is False


async def test_a_bot_acts_only_in_its_rooms_and_only_with_a_live_key(client, api):
    ann, ann_token = await api.user("Ann")
    bot, key = await make_bot(api)
    room = await api.room(ann_token)  # closed, the bot is not in it
    url = f"/rooms/{room['id']}/{key}/messages"
    resp = await client.post(url, data="hi")
    assert resp.status == 403
    assert (await client.get(url)).status == 403
    resp = await client.post(f"/rooms/{room['id']}/{key[:-1]}x/messages", data="hi")
    assert resp.status == 401
    resp = await client.post(f"/rooms/{room['id']}/{ann['id']}-guess/messages", data="hi")
    assert resp.status == 401
    resp = await client.post(f"/rooms/not-a-room/{key}/messages", data="hi")
    assert resp.status == 404
    # Resetting the key ends the old one.
    await api.room(ann_token, name="with bot", members=[bot])
    resp = await client.post(f"/api/bots/{bot['id']}/key", headers=api.auth(api.admin_token))
    new_key = (await resp.json())["bot_key"]
    assert new_key != key
    rooms = (await (await client.get("/api/rooms", headers=api.auth(ann_token))).json())["rooms"]
    with_bot = next(r for r in rooms if r["name"] == "with bot")
    assert (await client.post(f"/rooms/{with_bot['id']}/{key}/messages", data="x")).status == 401
    assert (
        await client.post(f"/rooms/{with_bot['id']}/{new_key}/messages", data="x")
    ).status == 201
    # Removed: the key stops.
    resp = await client.delete(f"/api/bots/{bot['id']}", headers=api.auth(api.admin_token))
    assert resp.status == 204
    assert (
        await client.post(f"/rooms/{with_bot['id']}/{new_key}/messages", data="x")
    ).status == 401


async def test_empty_too_long_and_attachment_bodies_are_refused(client, api):
    _, ann_token = await api.user("Ann")
    bot, key = await make_bot(api)
    room = await api.room(ann_token, members=[bot])
    url = f"/rooms/{room['id']}/{key}/messages"
    assert (await client.post(url, data="   ")).status == 400
    assert (await client.post(url, data="x" * 10_001)).status == 400
    assert (await client.post(url, data=b"\xff\xfe")).status == 400
    form = aiohttp.FormData()
    form.add_field("file", b"%PDF-1.4\n", filename="a.pdf")  # the page's field, not the bots'
    assert (await client.post(url, data=form)).status == 400
    page = await (await client.get(url)).json()
    assert page["messages"] == []


async def test_a_bot_posts_a_file_as_once_campfire_scripts_do(client, api):
    # curl -F attachment=@build.log $CAMPFIRE/rooms/$ROOM/$KEY/messages
    _, ann_token = await api.user("Ann")
    bot, key = await make_bot(api)
    room = await api.room(ann_token, members=[bot])
    url = f"/rooms/{room['id']}/{key}/messages"
    form = aiohttp.FormData()
    form.add_field("attachment", b"%PDF-1.4\nreport", filename="report.pdf")
    resp = await client.post(url, data=form)
    assert resp.status == 201, await resp.text()
    message = (await resp.json())["message"]
    assert message["creator_id"] == bot["id"] and message["content"] == "report.pdf"
    assert message["attachment"]["content_type"] == "application/pdf"
    download = await client.get(
        message["attachment"]["url"], headers={"Authorization": f"Bearer {ann_token}"}
    )
    assert await download.read() == b"%PDF-1.4\nreport"
    back = await client.get(resp.headers["Location"], headers=api.auth(ann_token))
    assert [m["id"] for m in (await back.json())["messages"]] == [message["id"]]


async def test_a_bot_key_opens_nothing_else(client, api):
    _, _ann_token = await api.user("Ann")
    _, key = await make_bot(api)
    assert (await client.get("/api/rooms", headers=api.auth(key))).status == 401
    assert (await client.get("/api/users/me", headers=api.auth(key))).status == 401
    assert (await client.get("/api/rooms", params={"token": key})).status == 401
    resp = await client.get("/ws", headers=api.auth(key))
    assert resp.status == 401
    resp = await client.get("/ws", params={"token": key})
    assert resp.status == 401


async def test_a_bot_never_gets_a_session_even_with_a_token_issued(client, api, core):
    from campfire import accounts

    bot, _ = await make_bot(api)
    token = await accounts.do_issue_session(core, bot["id"])
    assert (await client.get("/api/rooms", headers=api.auth(token))).status == 401
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await connect(client, token)
    assert refused.value.status == 401


async def test_only_administrators_manage_bots_and_see_secrets(client, api):
    _, ann_token = await api.user("Ann")
    bot, _ = await make_bot(api, webhook_url="https://bots.example.com/hook")
    for method, path in (
        ("GET", "/api/bots"),
        ("POST", "/api/bots"),
        ("GET", f"/api/bots/{bot['id']}"),
        ("PATCH", f"/api/bots/{bot['id']}"),
        ("POST", f"/api/bots/{bot['id']}/key"),
        ("DELETE", f"/api/bots/{bot['id']}"),
    ):
        resp = await client.request(method, path, headers=api.auth(ann_token), json={"name": "x"})
        assert resp.status == 403, (method, path)
    admin = api.auth(api.admin_token)
    listed = (await (await client.get("/api/bots", headers=admin)).json())["bots"]
    assert [b["name"] for b in listed] == ["Deploy Bot"] and "webhook_secret" not in listed[0]
    shown = (await (await client.get(f"/api/bots/{bot['id']}", headers=admin)).json())["bot"]
    assert len(shown["webhook_secret"]) == 64 and shown["role"] == "bot"
    resp = await client.patch(
        f"/api/bots/{bot['id']}", headers=admin, json={"webhook_url": "ftp://x"}
    )
    assert resp.status == 400
    resp = await client.patch(f"/api/bots/{bot['id']}", headers=admin, json={"webhook_url": None})
    assert (await resp.json())["bot"]["webhook_secret"] is None


def test_the_cli_manages_bots(tmp_path):
    db = str(tmp_path / "c.db")
    runner = CliRunner()

    def run(*args):
        result = runner.invoke(main, [*args, "--db", db], prog_name="campfire")
        assert result.exit_code == 0, result.output
        return result.stdout

    key = run("bot", "add", "CI", "--webhook", "https://ci.example.com/hook").strip()
    assert len(key.split("\n")) == 1 and len(key) > 40 and key[36] == "-"
    assert "CI" in run("bot", "list")
    shown = run("bot", "show", "CI")
    assert "https://ci.example.com/hook" in shown and "webhook_secret: " in shown
    assert "webhook_secret: -" not in shown
    new_key = run("bot", "reset-key", "CI").strip()
    assert new_key != key and new_key[:36] == key[:36]
    assert "Removed bot 'CI'" in run("bot", "remove", "CI", "--yes")
    assert "CI" not in run("bot", "list")
    result = runner.invoke(main, ["bot", "add", "X", "--webhook", "file:///etc/passwd", "--db", db])
    assert result.exit_code == 1 and "http" in result.output


async def test_bot_keys_do_not_reach_the_log(client, api, caplog):
    _, ann_token = await api.user("Ann")
    bot, key = await make_bot(api)
    room = await api.room(ann_token, members=[bot])
    import logging

    from campfire.app import AccessLogger

    logger = AccessLogger(logging.getLogger("test.access"), "")

    class Request:
        remote, method, path = "127.0.0.1", "POST", f"/rooms/{room['id']}/{key}/messages"

    class Response:
        status = 201

    with caplog.at_level(logging.INFO, "test.access"):
        logger.log(Request(), Response(), 0.01)
    assert key not in caplog.text and key[37:] not in caplog.text and "***" in caplog.text
    assert client.app[core_key] is not None
