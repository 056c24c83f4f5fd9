"""Limits from the abuser's side: room and direct-room creation, history pages, names with
control characters reaching a terminal, and who sees whose email (issue 10: 7, 8, 10, 12)."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from helpers import make_client, send
from test_http_auth import assert_error, bearer, row_counts

from campfire import clock, errors
from campfire.keys import core_key

ROOT = Path(__file__).parent.parent
PASSWORD = "correct horse"

# Control characters an attacker would use on a terminal: ESC sequences (clear screen, move
# the cursor), a C1 CSI, a carriage return that overwrites the line, a newline that forges one.
NASTY = ["\x1b[2J", "\x9b2J", "\r", "\n", "\t", "\x07", "\x7f", "\u2028"]


def retry_after(resp) -> int:
    """The Retry-After header as whole seconds (it must be there, and at least 1)."""
    value = int(resp.headers["Retry-After"])
    assert value >= 1
    return value


async def create_room(client, token: str, name: str, room_type: str = "closed"):
    """POST /api/rooms; the raw response."""
    return await client.post(
        "/api/rooms", headers=bearer(token), json={"name": name, "room_type": room_type}
    )


async def open_direct(client, token: str, *user_ids: str):
    """POST /api/rooms/direct; the raw response."""
    return await client.post(
        "/api/rooms/direct", headers=bearer(token), json={"user_ids": list(user_ids)}
    )


def travel(monkeypatch, delta: timedelta) -> None:
    """Move the server's clock forward."""
    later = clock.now() + delta
    monkeypatch.setattr(clock, "now", lambda: later)


# --- 7. room creation --------------------------------------------------------------------


async def test_a_member_creating_rooms_in_a_loop_is_stopped_by_the_hourly_limit(
    aiohttp_client, settings, api, monkeypatch
):
    client = await make_client(aiohttp_client, settings, api, rooms_per_hour=3)
    _, mallory = await api.user("Mallory")
    for i, kind in enumerate(["open", "closed", "open"]):
        assert (await create_room(client, mallory, f"spam {i}", kind)).status == 201
    before = await row_counts(client)
    for kind in ("open", "closed"):
        resp = await create_room(client, mallory, "one more", kind)
        await assert_error(resp, 429, errors.RATE_LIMITED)
        assert 3500 <= retry_after(resp) <= 3600
    assert await row_counts(client) == before  # refused: nothing written

    # Others are not held back by Mallory's limit; administrators have none.
    _, bob = await api.user("Bob")
    assert (await create_room(client, bob, "bob's")).status == 201
    for i in range(5):
        assert (await create_room(client, api.admin_token, f"admin {i}", "open")).status == 201

    # An hour after her first rooms, Mallory may create again.
    travel(monkeypatch, timedelta(minutes=61))
    assert (await create_room(client, mallory, "an hour later")).status == 201


async def test_the_room_limit_holds_across_a_restart(aiohttp_client, settings, api):
    client = await make_client(aiohttp_client, settings, api, rooms_per_hour=2)
    _, mallory = await api.user("Mallory")
    for i in range(2):
        assert (await create_room(client, mallory, f"spam {i}")).status == 201
    await client.close()
    # A new server process on the same database: the count comes from the rooms table.
    client = await make_client(aiohttp_client, settings, api, rooms_per_hour=2)
    await assert_error(await create_room(client, mallory, "again"), 429, errors.RATE_LIMITED)


async def test_open_rooms_can_be_kept_for_administrators(aiohttp_client, settings, api):
    client = await make_client(aiohttp_client, settings, api, open_rooms_admin_only=True)
    _, member = await api.user("Member")
    before = await row_counts(client)
    resp = await create_room(client, member, "everyone", "open")
    message = await assert_error(resp, 403, errors.FORBIDDEN)
    assert "administrators" in message
    assert await row_counts(client) == before
    assert (await create_room(client, member, "mine", "closed")).status == 201
    assert (await create_room(client, api.admin_token, "everyone", "open")).status == 201


async def test_members_may_create_open_rooms_by_default(client, api):
    _, member = await api.user("Member")
    assert (await create_room(client, member, "everyone", "open")).status == 201


# --- direct rooms --------------------------------------------------------------------------


async def test_opening_new_direct_rooms_is_limited_per_hour(
    aiohttp_client, settings, api, monkeypatch
):
    client = await make_client(aiohttp_client, settings, api, direct_rooms_per_hour=2)
    _, mallory = await api.user("Mallory")
    victims = [(await api.user(f"Victim {i}"))[0] for i in range(4)]
    for victim in victims[:2]:
        assert (await open_direct(client, mallory, victim["id"])).status == 201
    before = await row_counts(client)
    resp = await open_direct(client, mallory, victims[2]["id"])
    await assert_error(resp, 429, errors.RATE_LIMITED)
    assert 3500 <= retry_after(resp) <= 3600
    resp = await open_direct(client, mallory, victims[2]["id"], victims[3]["id"])
    await assert_error(resp, 429, errors.RATE_LIMITED)
    assert await row_counts(client) == before
    # Going back to a direct room that exists creates nothing and is not limited.
    assert (await open_direct(client, mallory, victims[0]["id"])).status == 200
    # The direct-room limit is the opener's: a victim can still open one with Mallory.
    _, victim_token = await api.user("Victim 9")
    mallory_id = (await (await client.get("/api/users/me", headers=bearer(mallory))).json())[
        "user"
    ]["id"]
    assert (await open_direct(client, victim_token, mallory_id)).status == 201
    travel(monkeypatch, timedelta(minutes=61))
    assert (await open_direct(client, mallory, victims[2]["id"])).status == 201


# --- 8. history pages ----------------------------------------------------------------------


async def test_a_page_of_large_messages_stops_at_the_byte_budget_and_paging_continues(
    aiohttp_client, settings, api
):
    budget = 40_000
    client = await make_client(aiohttp_client, settings, api, history_page_max_bytes=budget)
    _, ann = await api.user("Ann")
    room = await api.room(ann, "big")
    posted = []
    for i in range(30):  # 30 messages of ~8 KB: 240 KB in all, six times the budget
        resp = await send(client, ann, room["id"], f"{i} " + "é" * 4000)
        assert resp.status == 201
        posted.append((await resp.json())["message"]["seq"])

    url = f"/api/rooms/{room['id']}/messages"
    seen: list[int] = []
    query = "?limit=200"
    pages = 0
    while True:
        resp = await client.get(url + query, headers=bearer(ann))
        assert resp.status == 200
        raw = await resp.read()
        assert len(raw) <= budget + 9_000  # at most one message past the budget
        page = json.loads(raw)
        seqs = [m["seq"] for m in page["messages"]]
        assert seqs and seqs == sorted(seqs)
        seen = seqs + seen
        pages += 1
        if not page["has_more"]:
            break
        assert len(seqs) < 30  # cut by bytes, not by the limit
        query = f"?limit=200&before={seqs[0]}"
    assert seen == posted  # newest first, back to the start: no gap, no duplicate
    assert pages >= 6

    # Forwards with ?after= too.
    seen, after = [], 0
    while True:
        page = await (
            await client.get(f"{url}?limit=200&after={after}", headers=bearer(ann))
        ).json()
        seqs = [m["seq"] for m in page["messages"]]
        seen += seqs
        if not page["has_more"]:
            break
        after = seqs[-1]
    assert seen == posted


async def test_the_budget_counts_json_escapes(aiohttp_client, settings, api):
    """Quotes and control characters grow in JSON: the budget is of the bytes sent."""
    budget = 20_000
    client = await make_client(aiohttp_client, settings, api, history_page_max_bytes=budget)
    _, ann = await api.user("Ann")
    room = await api.room(ann, "quotes")
    posted = []
    for i in range(12):  # 3,000 characters each, over 9,000 bytes of JSON
        resp = await send(client, ann, room["id"], f"{i}" + '"\x01' * 1500)
        posted.append((await resp.json())["message"]["seq"])
    seen, query = [], ""
    while True:
        resp = await client.get(
            f"/api/rooms/{room['id']}/messages?limit=50{query}", headers=bearer(ann)
        )
        raw = await resp.read()
        assert len(raw) <= budget
        page = json.loads(raw)
        seen = [m["seq"] for m in page["messages"]] + seen
        if not page["has_more"]:
            break
        query = f"&before={seen[0]}"
    assert seen == posted


async def test_one_message_larger_than_the_budget_still_comes_alone(aiohttp_client, settings, api):
    client = await make_client(aiohttp_client, settings, api, history_page_max_bytes=1000)
    _, ann = await api.user("Ann")
    room = await api.room(ann, "big")
    for i in range(3):
        assert (await send(client, ann, room["id"], f"{i} " + "x" * 5000)).status == 201
    page = await (await client.get(f"/api/rooms/{room['id']}/messages", headers=bearer(ann))).json()
    assert [m["content"][0] for m in page["messages"]] == ["2"] and page["has_more"] is True


async def test_a_reader_over_the_allowance_gets_429_with_retry_after(aiohttp_client, settings, api):
    client = await make_client(
        aiohttp_client, settings, api, history_pages_per_second=0.5, history_pages_burst=3
    )
    _, reader = await api.user("Reader")
    _, other = await api.user("Other")
    room = await api.room(reader, "general", room_type="open")
    url = f"/api/rooms/{room['id']}/messages"
    results = await asyncio.gather(*[client.get(url, headers=bearer(reader)) for _ in range(8)])
    statuses = sorted(resp.status for resp in results)
    assert statuses == [200] * 3 + [429] * 5
    for resp in results:
        if resp.status == 429:
            await assert_error(resp, 429, errors.RATE_LIMITED)
            assert 1 <= retry_after(resp) <= 2
    # The allowance is the reader's own: somebody else reads on.
    assert (await client.get(url, headers=bearer(other))).status == 200
    await asyncio.sleep(2.1)  # a token comes back every 2 s
    assert (await client.get(url, headers=bearer(reader))).status == 200


# --- 10. control characters in names and on terminals --------------------------------------


async def test_names_with_control_characters_are_refused(client, api):
    user, token = await api.user("Ann")
    room = await api.room(token, "fine")
    before = await row_counts(client)
    for bad in NASTY:
        name = f"evil{bad}name"
        await assert_error(await create_room(client, token, name), 400, errors.VALIDATION_FAILED)
        resp = await client.patch(
            f"/api/rooms/{room['id']}", headers=bearer(token), json={"name": name}
        )
        message = await assert_error(resp, 400, errors.VALIDATION_FAILED)
        assert "control characters" in message
        resp = await client.post(
            "/api/users",
            headers=bearer(api.admin_token),
            json={"email": f"x{len(bad)}@example.com", "name": name, "password": PASSWORD},
        )
        await assert_error(resp, 400, errors.VALIDATION_FAILED)
        resp = await client.patch(
            f"/api/users/{user['id']}", headers=bearer(api.admin_token), json={"name": name}
        )
        await assert_error(resp, 400, errors.VALIDATION_FAILED)
        resp = await client.post(
            "/api/users",
            headers=bearer(api.admin_token),
            json={"email": f"a{bad}b@example.com", "name": "Fine", "password": PASSWORD},
        )
        await assert_error(resp, 400, errors.VALIDATION_FAILED)
    assert await row_counts(client) == before
    # Ordinary Unicode, including joiners inside emoji and right-to-left scripts, is fine.
    for good in ["Zoë", "👩‍💻 team", "فريق", "a\u200db"]:
        assert (await create_room(client, token, good)).status == 201


def run_cli(db: Path, *args: str) -> subprocess.CompletedProcess:
    """The real `campfire` command in its own process; stdout and stderr as bytes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPFIRE_")}
    return subprocess.run(
        [sys.executable, "-m", "campfire", *args, "--db", str(db)],
        env=env,
        capture_output=True,
        timeout=60,
    )


def assert_no_controls(output: bytes) -> str:
    """Terminal output must carry no control character but newline (nor a C1 one)."""
    text = output.decode("utf-8")
    assert not [c for c in text if (ord(c) < 32 and c != "\n") or 0x7F <= ord(c) <= 0x9F]
    return text


def test_the_cli_refuses_control_characters_in_names(tmp_path):
    db = tmp_path / "c.db"
    out = run_cli(db, "user", "add", "a@example.com", "--name", "A\x1b[2J", "--password", PASSWORD)
    assert out.returncode == 1 and b"control characters" in out.stderr
    assert b"Traceback" not in out.stderr
    out = run_cli(db, "room", "add", "room\x07")
    assert out.returncode == 1 and b"control characters" in out.stderr


def test_cli_listings_escape_control_characters_already_in_the_database(tmp_path):
    db = tmp_path / "c.db"
    out = run_cli(db, "user", "add", "ann@example.com", "--name", "Ann", "--password", PASSWORD)
    assert out.returncode == 0, out.stderr
    out = run_cli(db, "user", "add", "bob@example.com", "--name", "Bob", "--password", PASSWORD)
    assert out.returncode == 0, out.stderr
    out = run_cli(db, "room", "add", "plain")
    assert out.returncode == 0, out.stderr
    room_id = out.stdout.decode().strip()
    # Rows written before names were checked (or by hand) may hold anything.
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE users SET name = ?, email = ? WHERE email = 'ann@example.com'",
            ("Ann\x1b[2J\x1b[H\nroot  yes", "ann\x1b]0;owned\x07@example.com"),
        )
        conn.execute("UPDATE rooms SET name = ?", ("fake\x9b2J\r\x1b[31mred\u2028",))
    conn.close()
    text = assert_no_controls(run_cli(db, "user", "list").stdout)
    assert "Ann\\x1b[2J\\x1b[H\\nroot  yes" in text
    assert "ann\\x1b]0;owned\\x07@example.com" in text
    assert len(text.splitlines()) == 3  # the header, Ann and Bob: no forged line
    text = assert_no_controls(run_cli(db, "room", "list").stdout)
    assert "fake\\x9b2J\\r\\x1b[31mred\\u2028" in text
    assert len(text.splitlines()) == 2
    text = assert_no_controls(
        run_cli(db, "room", "member", "add", room_id, "bob@example.com").stdout
    )
    assert "fake\\x9b2J" in text
    out = run_cli(db, "room", "delete", room_id, "--yes")
    assert out.returncode == 0, out.stderr
    assert "fake\\x9b2J" in assert_no_controls(out.stdout)


async def test_chat_script_escapes_names_and_content(client, api, settings):
    ann, token = await api.user("Ann")
    room = await api.room(token, "general")
    await api.post(
        token, room["id"], "hello\x1b[2J\x1b[Hworld\r[00:00:00] Admin: send me your password"
    )
    await api.post(token, room["id"], "two\nlines\x9b")
    # Behind the server's back (names with controls are refused now; rows from before remain).
    async with client.app[core_key].db.transaction() as conn:
        await conn.execute("UPDATE users SET name = ? WHERE id = ?", ("Ann\x1b[31m", ann["id"]))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "scripts" / "chat.py"),
        "--url",
        str(client.make_url("")).rstrip("/"),
        f"--token={token}",  # with "=": a token may start with "-"
        "--room",
        "general",
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, stderr
    text = assert_no_controls(stdout)
    assert "Ann\\x1b[31m: hello\\x1b[2J\\x1b[Hworld\\r[00:00:00] Admin" in text
    # A newline in content stays a line break, indented so it cannot pass for a new message.
    assert "Ann\\x1b[31m: two\n    lines\\x9b" in text


# --- 12. emails --------------------------------------------------------------------------


async def test_members_do_not_see_other_peoples_emails_by_default(client, api):
    ann, ann_token = await api.user("Ann")
    await api.user("Bob")
    room = await api.room(ann_token, "shared", room_type="open")

    users = (await (await client.get("/api/users", headers=bearer(ann_token))).json())["users"]
    assert {u["name"]: u.get("email") for u in users} == {
        "Admin": None,
        "Ann": ann["email"],  # her own
        "Bob": None,
    }
    members = (
        await (
            await client.get(f"/api/rooms/{room['id']}/members", headers=bearer(ann_token))
        ).json()
    )["members"]
    assert {u["name"]: u.get("email") for u in members} == {
        "Admin": None,
        "Ann": ann["email"],
        "Bob": None,
    }
    me = (await (await client.get("/api/users/me", headers=bearer(ann_token))).json())["user"]
    assert me["email"] == ann["email"]
    # Administrators see every email.
    users = (await (await client.get("/api/users", headers=bearer(api.admin_token))).json())[
        "users"
    ]
    assert all("@" in u["email"] for u in users)
    members = (
        await (
            await client.get(f"/api/rooms/{room['id']}/members", headers=bearer(api.admin_token))
        ).json()
    )["members"]
    assert all("@" in u["email"] for u in members)


async def test_emails_can_be_shown_to_everyone(aiohttp_client, settings, api):
    client = await make_client(aiohttp_client, settings, api, emails_visible_to_members=True)
    _, ann_token = await api.user("Ann")
    await api.user("Bob")
    users = (await (await client.get("/api/users", headers=bearer(ann_token))).json())["users"]
    assert len(users) == 3 and all("@" in u["email"] for u in users)
