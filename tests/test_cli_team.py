"""The CLI for running a team: join and login links, and its changes reaching open pages
(another process: through the socket re-check, set short here)."""

from __future__ import annotations

import asyncio

import pytest
from click.testing import CliRunner
from test_http_auth import PASSWORD, bearer
from test_ws_recheck import cli
from wsutil import connect, recv_type, silent

from campfire.cli import main


@pytest.fixture
def settings(settings):
    """Re-check open connections often, so changes from the CLI arrive quickly."""
    return settings.replace(ws_recheck_interval=0.2)


async def test_account_join_link_prints_the_link_and_can_replace_it(client, api, settings):
    await api.setup_admin()
    resp = await client.get("/api/account", headers=bearer(api.admin_token))
    code = (await resp.json())["account"]["join_code"]
    assert await cli(settings, "account", "join-link") == f"http://127.0.0.1:3000/join/{code}"
    link = await cli(settings, "account", "join-link", "--new")
    new_code = link.rsplit("/", 1)[1]
    assert new_code != code
    body = {"name": "Zoe", "email": "zoe@example.com", "password": PASSWORD}
    assert (await client.post(f"/api/join/{code}", json=body)).status == 404
    assert (await client.post(f"/api/join/{new_code}", json=body)).status == 201


async def test_account_join_link_uses_the_public_url(client, api, settings):
    await api.setup_admin()
    link = await asyncio.to_thread(
        CliRunner().invoke,
        main,
        ["account", "join-link", "--db", settings.db],
        env={"CAMPFIRE_PUBLIC_URL": "https://chat.example.com/"},
    )
    assert link.exit_code == 0, link.output
    assert link.output.startswith("https://chat.example.com/join/")


async def test_user_login_link_prints_a_link_that_signs_in(client, api, settings):
    bob, _ = await api.user("Bob")
    output = await cli(settings, "user", "login-link", bob["email"])
    url = output.splitlines()[0]
    assert url.startswith("http://127.0.0.1:3000/login-link/")
    token = url.rsplit("/", 1)[1]
    resp = await client.post(f"/api/login_links/{token}")
    assert resp.status == 200 and (await resp.json())["user"]["id"] == bob["id"]


async def test_cli_changes_to_people_and_rooms_reach_open_pages(client, api, settings):
    _alice, a = await api.user("Alice")
    bob, _b = await api.user("Bob")
    wa = await connect(client, a)
    await asyncio.sleep(0.4)  # a re-check pass has seen the directory as it is
    await cli(settings, "user", "add", "dan@example.com", "--name", "Dan", "--password", PASSWORD)
    assert (await recv_type(wa, "UserUpdated"))["user"]["name"] == "Dan"
    await cli(settings, "user", "admin", bob["email"])
    frame = await recv_type(wa, "UserUpdated")
    assert frame["user"]["id"] == bob["id"] and frame["user"]["is_admin"] is True
    await cli(settings, "user", "deactivate", bob["email"])
    frame = await recv_type(wa, "UserUpdated")
    assert frame["user"]["name"] == "Bob" and frame["user"]["is_active"] is False
    room_id = await cli(settings, "room", "add", "Town square", "--type", "open")
    frame = await recv_type(wa, "RoomUpdated")
    assert frame["room"]["id"] == room_id and frame["room"]["name"] == "Town square"
    await api.post(a, room_id, "hello square")
    assert (await recv_type(wa, "NewMessage"))["message"]["content"] == "hello square"
    await cli(settings, "room", "delete", room_id, "--yes")
    assert await recv_type(wa, "RoomRemoved") == {"type": "RoomRemoved", "room_id": room_id}
    await silent(wa, 0.5)  # each change announced once
