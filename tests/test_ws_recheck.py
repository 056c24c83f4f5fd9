"""Changes made by the CLI (another process) reach open sockets through the periodic re-check."""

import asyncio

import aiohttp
import pytest
from click.testing import CliRunner
from wsutil import closed_with, connect, join, recv_type, silent

from campfire.cli import main


@pytest.fixture
def settings(settings):
    """Re-check open connections often, so the test need not wait 30 s."""
    return settings.replace(ws_recheck_interval=0.2)


async def cli(settings, *args: str) -> str:
    """Run the real CLI against the server's database file, in a thread (it runs its own loop)."""
    result = await asyncio.to_thread(CliRunner().invoke, main, [*args, "--db", settings.db])
    assert result.exit_code == 0, result.output
    return result.output.strip()


async def test_cli_membership_changes_reach_open_sockets(client, api, settings):
    _alice, a = await api.user("Alice")
    bob, b = await api.user("Bob")
    room = await api.room(a, "plans")
    wb = await connect(client, b)
    await cli(settings, "room", "member", "add", room["id"], bob["email"])
    assert (await recv_type(wb, "RoomUpdated"))["room"]["id"] == room["id"]
    await api.post(a, room["id"], "bob, you are in")
    assert (await recv_type(wb, "NewMessage"))["message"]["content"] == "bob, you are in"
    await join(wb, room["id"])
    await cli(settings, "room", "member", "remove", room["id"], bob["email"])
    assert await recv_type(wb, "RoomRemoved") == {"type": "RoomRemoved", "room_id": room["id"]}
    await api.post(a, room["id"], "bob is gone")
    await silent(wb, 0.3)


@pytest.mark.parametrize("args", [["user", "deactivate"], ["token", "revoke", "--all-for"]])
async def test_cli_deactivation_and_revocation_close_open_sockets(client, api, settings, args):
    bob, b = await api.user("Bob")
    wb = await connect(client, b)
    await cli(settings, *args, bob["email"])
    assert await closed_with(wb) == aiohttp.WSCloseCode.POLICY_VIOLATION
