"""Attacks on the WebSocket side: a socket outliving its session, presence amplification, and
the frame size limit, each made against the real server with real sockets."""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import socket
import struct
import time
import uuid

import aiohttp
import pytest
from click.testing import CliRunner
from helpers import make_client
from wsutil import RawSocket, closed_with, connect, create, join, recv, recv_type, silent

from campfire import accounts, clock
from campfire.cli import main as cli_main
from campfire.keys import core_key
from campfire.realtime.connection import ABORT_GRACE

# --- a client that stops reading but keeps talking -------------------------------------------


class Abuser(RawSocket):
    """A raw WebSocket client that reads only when told to, and can ping and post meanwhile."""

    def frame(self, opcode: int, payload: bytes) -> None:
        """Send one masked frame (FIN set)."""
        mask = os.urandom(4)
        size = len(payload)
        if size < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
        else:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def post(self, room_id: str, content: str) -> None:
        """A CreateMessage frame, and a ping (which keeps the server's heartbeat content)."""
        self.frame(0x1, json.dumps(create(room_id, content)).encode())
        self.frame(0x9, b"still here")

    def keep_posting(self, room_id: str, seconds: float) -> int:
        """Post and ping for `seconds` without reading; how many posts went out before the
        server cut the connection."""
        sent, deadline = 0, time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                self.post(room_id, f"after the end {sent}")
            except OSError:  # reset by the server: it has let go of us
                return sent
            sent += 1
            time.sleep(0.05)
        return sent

    def read_until_closed(self, timeout: float) -> tuple[bool, int | None]:
        """Read everything until the connection ends: (ended, close code if a close frame came)."""
        self.sock.settimeout(timeout)
        data = b""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True, close_code(data)
                data += chunk
                code = close_code(data)
                if code is not None:
                    return True, code
        except (ConnectionResetError, BrokenPipeError):
            return True, close_code(data)
        except TimeoutError:
            return False, close_code(data)


def close_code(stream: bytes) -> int | None:
    """The code of the first close frame in a stream of server frames (unmasked), if any."""
    pos = 0
    while pos + 2 <= len(stream):
        opcode, size = stream[pos] & 0x0F, stream[pos + 1] & 0x7F
        pos += 2
        if size == 126:
            size = struct.unpack("!H", stream[pos : pos + 2])[0]
            pos += 2
        elif size == 127:
            size = struct.unpack("!Q", stream[pos : pos + 8])[0]
            pos += 8
        if pos + size > len(stream):
            return None
        if opcode == 0x8:
            return struct.unpack("!H", stream[pos : pos + 2])[0]
        pos += size
    return None


async def history(client, token: str, room_id: str) -> list[str]:
    """The contents of a room's stored messages, oldest first, read from the database itself
    (the reader's own session may have expired along with the abuser's)."""
    rows = await client.app[core_key].db.fetchall(
        "SELECT content FROM messages WHERE room_id = ? ORDER BY seq", (room_id,)
    )
    return [row["content"] for row in rows]


@pytest.fixture
async def stalled(aiohttp_client, settings, api):
    """Mallory, a member of Alice's room, on a socket she stopped reading: her outbound queue is
    non-empty and its writer is blocked, which is what kept such a socket alive before."""
    client = await make_client(
        aiohttp_client,
        settings,
        api,
        ws_queue_frames=1000,
        ws_messages_per_second=1000.0,
        ws_burst=1000,
        user_messages_per_second=1000.0,
        user_messages_burst=1000,
        ws_recheck_interval=0.2,
    )
    alice, a = await api.user("Alice")
    mallory, m = await api.user("Mallory")
    room = (await api.room(a, "general", members=[mallory]))["id"]
    hub = client.app[core_key].hub
    abuser = await asyncio.to_thread(Abuser, client.host, client.port, m, 4096)
    for _ in range(100):
        if mallory["id"] in hub.by_user:
            break
        await asyncio.sleep(0.02)
    conn = next(iter(hub.by_user[mallory["id"]]))
    conn._transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    big = "x" * 8000
    for n in range(200):
        await api.post(a, room, f"filler {n} {big}")
        if conn._queue:
            break
    assert conn._queue, "the socket never backed up"
    await asyncio.to_thread(abuser.post, room, "before the end")
    for _ in range(100):
        if "before the end" in await history(client, a, room):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("a stalled but live session could not post")
    yield client, api, (alice, a), (mallory, m), room, abuser, conn
    abuser.drop()


async def end_session(how: str, client, api, mallory: dict, token: str, monkeypatch) -> None:
    """End Mallory's session the way `how` says."""
    core = client.app[core_key]
    if how == "deactivate":
        resp = await client.patch(
            f"/api/users/{mallory['id']}",
            headers=api.auth(api.admin_token),
            json={"is_active": False},
        )
        assert resp.status == 200, await resp.text()
    elif how == "logout":
        resp = await client.post("/api/auth/logout", headers=api.auth(token))
        assert resp.status == 204
    elif how == "revoke":
        assert await accounts.do_revoke_token(core, token)
    elif how == "password":
        await accounts.do_change_password(core, mallory["id"], "a new password")
    elif how == "cli-revoke":  # another process: found by the periodic re-check
        result = await asyncio.to_thread(
            CliRunner().invoke,
            cli_main,
            ["token", "revoke", "-", "--db", core.settings.db],
            input=token,
        )
        assert result.exit_code == 0, result.output
    elif how == "expiry":  # found by the periodic re-check
        later = clock.now() + datetime.timedelta(days=core.settings.session_days + 1)
        monkeypatch.setattr(clock, "now", lambda: later)
    else:
        raise AssertionError(how)


ENDINGS = ["deactivate", "logout", "revoke", "password", "cli-revoke", "expiry"]


@pytest.mark.parametrize("how", ENDINGS)
async def test_an_ended_session_that_never_reads_posts_nothing_and_is_cut_off(
    stalled, how, monkeypatch
):
    client, api, (_, a), (mallory, m), room, abuser, conn = stalled
    await end_session(how, client, api, mallory, m, monkeypatch)
    if how in ("cli-revoke", "expiry"):
        await asyncio.sleep(0.5)  # the re-check runs every 0.2 s
    ended = time.monotonic()
    # Mallory keeps posting and pinging, never reading, for longer than the grace period.
    sent = await asyncio.to_thread(abuser.keep_posting, room, ABORT_GRACE + 1.0)
    assert sent > 0
    stored = [c for c in await history(client, a, room) if c.startswith("after the end")]
    assert stored == [], "an ended session's frames were still served"
    # The server let go of the connection within the grace period, though she never read.
    assert conn.closed, "the server still holds the socket of an ended session"
    assert conn._transport is None or conn._transport.is_closing()
    gone, _ = await asyncio.to_thread(abuser.read_until_closed, 2.0)
    assert gone, "the socket is still open"
    assert time.monotonic() - ended < ABORT_GRACE + 3.0


@pytest.mark.parametrize("how", ["deactivate", "logout"])
async def test_an_ended_session_that_reads_again_soon_sees_1008_and_nothing_new(
    stalled, how, monkeypatch
):
    client, api, (_, a), (mallory, m), room, abuser, _conn = stalled
    await end_session(how, client, api, mallory, m, monkeypatch)
    for n in range(5):
        await asyncio.to_thread(abuser.post, room, f"after the end {n}")
    await api.post(a, room, "alice after the end")  # not for Mallory's eyes any more
    ended, code = await asyncio.to_thread(abuser.read_until_closed, ABORT_GRACE)
    assert ended and code == 1008
    assert [c for c in await history(client, a, room) if "after the end" in c] == [
        "alice after the end"
    ]


async def test_a_removed_member_posts_nothing_more_into_that_room(stalled):
    client, api, (_, a), (mallory, _m), room, abuser, conn = stalled
    resp = await client.delete(f"/api/rooms/{room}/members/{mallory['id']}", headers=api.auth(a))
    assert resp.status == 204
    await asyncio.to_thread(abuser.keep_posting, room, 0.5)
    assert [c for c in await history(client, a, room) if c.startswith("after the end")] == []
    assert not conn.closed  # her session did not end: only that room is closed to her


async def test_a_reading_socket_of_an_ended_session_is_closed_with_1008_at_once(client, api):
    """The ordinary case stays as it was: a client that reads gets 1008 promptly."""
    _, token = await api.user("Ann")
    ws = await connect(client, token)
    started = time.monotonic()
    resp = await client.post("/api/auth/logout", headers=api.auth(token))
    assert resp.status == 204
    assert await closed_with(ws) == aiohttp.WSCloseCode.POLICY_VIOLATION
    assert time.monotonic() - started < 1.0


# --- JoinRoom amplification ---------------------------------------------------------------


async def drain(ws, seconds: float) -> list[bytes]:
    """Every text frame that arrives within `seconds`, raw."""
    frames = []
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            return frames
        try:
            msg = await asyncio.wait_for(ws.receive(), left)
        except TimeoutError:
            return frames
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        frames.append(msg.data.encode())


async def test_join_room_flood_costs_each_viewer_a_bounded_number_of_bytes(
    aiohttp_client, settings, api
):
    client = await make_client(
        aiohttp_client, settings, api, ws_messages_per_second=10_000.0, ws_burst=10_000
    )
    interval = settings.presence_coalesce_seconds
    alice, a = await api.user("Alice")
    people = [await api.user(f"Viewer {n}") for n in range(6)]
    room = (await api.room(a, "town square", members=[p for p, _ in people]))["id"]
    viewers = []
    for _, token in people:
        ws = await connect(client, token)
        await join(ws, room)
        viewers.append(ws)
    tab1, tab2 = await connect(client, a), await connect(client, a)
    await join(tab1, room)
    await asyncio.sleep(interval * 2)  # the room is quiet again
    for ws in viewers:
        await drain(ws, 0.05)

    started = asyncio.get_running_loop().time()
    rounds = 100
    for _ in range(rounds):
        await tab1.send_json({"type": "JoinRoom", "room_id": room})  # already viewing
        await tab2.send_json({"type": "JoinRoom", "room_id": room})  # a second tab comes...
        await tab2.send_json({"type": "LeaveRoom", "room_id": room})  # ...and goes
    # The repeated joins are each answered, to the joiner alone.
    answers = [json.loads(f) for f in await drain(tab1, 1.0)]
    assert len([f for f in answers if f["type"] == "PresenceUpdate"]) >= rounds
    received = [await drain(ws, interval * 2) for ws in viewers]
    elapsed = asyncio.get_running_loop().time() - started

    everyone = sorted([alice["id"], *(p["id"] for p, _ in people)])
    one_update = len(
        json.dumps({"type": "PresenceUpdate", "room_id": room, "online_users": everyone})
    )
    budget = elapsed / interval + 2  # at most one PresenceUpdate per room per interval
    for frames in received:
        events = [json.loads(f) for f in frames]
        assert {e["type"] for e in events} <= {"PresenceUpdate"}, events  # Alice never left
        assert len(events) <= budget, f"{len(events)} updates for {3 * rounds} frames"
        assert sum(map(len, frames)) <= budget * (one_update + 8)
        assert events and events[-1]["online_users"] == everyone  # the last word is right


async def test_coalesced_presence_keeps_user_joined_before_the_update_that_lists_them(client, api):
    watcher, w = await api.user("Watcher")
    others = [await api.user(f"Joiner {n}") for n in range(4)]
    room = (await api.room(w, "lobby", members=[p for p, _ in others]))["id"]
    ws = await connect(client, w)
    await join(ws, room)
    sockets = [await connect(client, token) for _, token in others]
    await asyncio.gather(*(s.send_json({"type": "JoinRoom", "room_id": room}) for s in sockets))
    announced, updates = {watcher["id"]}, 0
    everyone = sorted([watcher["id"], *(p["id"] for p, _ in others)])
    while True:
        frame = await recv(ws)
        if frame["type"] == "UserJoined":
            announced.add(frame["user_id"])
            continue
        assert frame["type"] == "PresenceUpdate"
        updates += 1
        assert set(frame["online_users"]) <= announced, "listed before UserJoined"
        if frame["online_users"] == everyone:
            break
    assert updates <= 3
    for s in sockets:  # every joiner got a PresenceUpdate that includes themselves
        seen = [await recv(s)]
        while seen[-1]["type"] != "PresenceUpdate":
            seen.append(await recv(s))
        assert seen[0]["type"] == "UserJoined"
    await silent(ws, 0.3)


async def test_a_repeated_join_is_answered_to_the_joiner_alone(client, api):
    alice, a = await api.user("Alice")
    bob, b = await api.user("Bob")
    room = (await api.room(a, "general", members=[bob]))["id"]
    wa, wb = await connect(client, a), await connect(client, b)
    await join(wb, room)
    await join(wa, room)
    await recv_type(wb, "UserJoined")
    await recv_type(wb, "PresenceUpdate")
    await wa.send_json({"type": "JoinRoom", "room_id": room})
    assert await recv(wa, timeout=0.1) == {
        "type": "PresenceUpdate",
        "room_id": room,
        "online_users": sorted([alice["id"], bob["id"]]),
    }
    await silent(wb, 0.5)


# --- the frame size limit -------------------------------------------------------------------


def frame_of(size: int, room_id: str) -> str:
    """A CreateMessage frame of exactly `size` bytes."""
    frame = create(room_id, "", str(uuid.uuid4()))
    bare = len(json.dumps(frame).encode())
    frame["content"] = "y" * (size - bare)
    text = json.dumps(frame)
    assert len(text.encode()) == size
    return text


@pytest.mark.parametrize("compress", [False, True])
async def test_a_frame_of_exactly_the_limit_is_accepted_and_one_byte_more_is_refused(
    aiohttp_client, settings, api, compress
):
    client = await make_client(
        aiohttp_client, settings, api, ws_max_frame_bytes=1024, ws_compress=compress
    )
    _, token = await api.user("Ann")
    room = (await api.room(token, "sizes"))["id"]
    ws = await connect(client, token, compress=15 if compress else 0)
    assert ws.compress == (15 if compress else 0)
    await ws.send_str(frame_of(1024, room))
    assert len((await recv_type(ws, "NewMessage"))["message"]["content"]) > 800
    await ws.send_str(frame_of(1025, room))
    assert await closed_with(ws) == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
    assert len(await history(client, token, room)) == 1
