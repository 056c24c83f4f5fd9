"""Attacks as the world will make them: outsiders, stolen or stale sessions, brute force, leaks."""

from __future__ import annotations

import asyncio
import logging
import re
import statistics
import time
import uuid
from pathlib import Path

import aiohttp
import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner
from helpers import make_client
from wsutil import closed_with, connect, create, join, recv_type, silent

from campfire import auth
from campfire.app import STATIC_DIR, create_app
from campfire.cli import main as cli_main
from campfire.keys import core_key
from campfire.ratelimit import FailureThrottle

PASSWORD = "correct horse"


@pytest.fixture
async def closed_world(api):
    """Alice and Bob share a closed room and a direct room with messages; Eve is an outsider."""
    alice, a = await api.user("Alice")
    bob, b = await api.user("Bob")
    eve, e = await api.user("Eve")
    closed = await api.room(a, "secret", members=[bob])
    resp = await api.client.post(
        "/api/rooms/direct", headers=api.auth(a), json={"user_ids": [bob["id"]]}
    )
    assert resp.status in (200, 201), await resp.text()
    direct = (await resp.json())["room"]
    messages = [
        await api.post(a, room["id"], f"private to {room['name']}") for room in (closed, direct)
    ]
    return {
        "alice": (alice, a),
        "bob": (bob, b),
        "eve": (eve, e),
        "rooms": [closed, direct],
        "messages": messages,
    }


def room_routes(app) -> set[tuple[str, str]]:
    """Every (method, path template) of the app whose path names a room."""
    found = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("formatter") or info.get("path") or ""
        # The bot API authenticates by the key in its path, not by a session: its outsiders
        # (a bot not in the room, a wrong key) are tried in tests/test_bots.py.
        if "{room_id}" in path and "{bot_key}" not in path and route.method != "HEAD":
            found.add((route.method, path))
    return found


def outsider_requests(
    room_id: str, user_id: str, message_id: str
) -> dict[tuple[str, str], tuple[str, dict | None]]:
    """What an outsider tries on each room route: (concrete path, JSON body)."""
    base = "/api/rooms/{room_id}"
    return {
        ("GET", base): (f"/api/rooms/{room_id}", None),
        ("PATCH", base): (f"/api/rooms/{room_id}", {"name": "pwned"}),
        ("DELETE", base): (f"/api/rooms/{room_id}", None),
        ("GET", base + "/members"): (f"/api/rooms/{room_id}/members", None),
        ("POST", base + "/members"): (f"/api/rooms/{room_id}/members", {"user_id": user_id}),
        ("DELETE", base + "/members/{user_id}"): (f"/api/rooms/{room_id}/members/{user_id}", None),
        ("PUT", base + "/involvement"): (
            f"/api/rooms/{room_id}/involvement",
            {"involvement": "nothing"},
        ),
        ("GET", base + "/messages"): (f"/api/rooms/{room_id}/messages?after=0", None),
        ("POST", base + "/messages"): (
            f"/api/rooms/{room_id}/messages",
            {"content": "let me in", "client_message_id": str(uuid.uuid4())},
        ),
        # Refused before its (multipart) body is even looked at.
        ("POST", base + "/attachments"): (f"/api/rooms/{room_id}/attachments", {"file": "x"}),
    }


async def snapshot(core) -> list:
    """Everything an outsider could change, as plain tuples."""
    out = []
    for table in ("rooms", "memberships", "messages"):
        rows = await core.db.fetchall(f"SELECT * FROM {table} ORDER BY 1, 2")
        out.append([tuple(r) for r in rows])
    return out


async def test_outsider_can_do_nothing_to_a_closed_or_direct_room_over_http(
    client, api, core, closed_world
):
    """Every route that names a room, tried by a non-member: 403 (or 404 for a guessed id)."""
    eve, e = closed_world["eve"]
    alice, _ = closed_world["alice"]
    routes = room_routes(client.app)
    before = await snapshot(core)
    for room in closed_world["rooms"]:
        tries = outsider_requests(room["id"], eve["id"], closed_world["messages"][0]["id"])
        assert set(tries) == routes, f"a room route is not covered: {routes ^ set(tries)}"
        for (method, _), (path, body) in tries.items():
            resp = await client.request(method, path, headers=api.auth(e), json=body)
            data = await resp.json()
            assert resp.status == 403, (method, path, resp.status, data)
            assert data["error"]["code"] in ("ROOM_ACCESS_DENIED", "FORBIDDEN"), data
            assert "private" not in await resp.text()
        # Adding someone else, or removing a member, is refused too.
        resp = await client.delete(
            f"/api/rooms/{room['id']}/members/{alice['id']}", headers=api.auth(e)
        )
        assert resp.status == 403
    for (method, _), (path, body) in outsider_requests(str(uuid.uuid4()), eve["id"], "x").items():
        resp = await client.request(method, path, headers=api.auth(e), json=body)
        assert resp.status == 404, (method, path)
        assert (await resp.json())["error"]["code"] == "ROOM_NOT_FOUND"
    resp = await client.get("/api/rooms", headers=api.auth(e))
    listed = {r["id"] for r in (await resp.json())["rooms"]}
    assert not listed & {r["id"] for r in closed_world["rooms"]}
    assert await snapshot(core) == before


async def test_outsider_can_do_nothing_to_a_closed_or_direct_room_over_websocket(
    client, api, core, closed_world
):
    """Every client frame type, aimed at rooms Eve is not in: an Error each, nothing broadcast."""
    _eve, e = closed_world["eve"]
    _, b = closed_world["bob"]
    watcher = await connect(client, b)
    for room in closed_world["rooms"]:
        await join(watcher, room["id"])
    we = await connect(client, e)
    before = await snapshot(core)
    for room, message in zip(closed_world["rooms"], closed_world["messages"], strict=True):
        frames = [
            {"type": "JoinRoom", "room_id": room["id"]},
            {"type": "LeaveRoom", "room_id": room["id"]},
            {"type": "StartTyping", "room_id": room["id"]},
            {"type": "StopTyping", "room_id": room["id"]},
            create(room["id"], "let me in"),
            {"type": "UpdateLastSeen", "message_id": message["id"]},
        ]
        for frame in frames:
            await we.send_json(frame)
            answer = await recv_type(we, "Error")
            assert answer["code"] == "ROOM_ACCESS_DENIED", (frame, answer)
    for kind in ("JoinRoom", "LeaveRoom", "StartTyping", "StopTyping"):
        await we.send_json({"type": kind, "room_id": str(uuid.uuid4())})
        assert (await recv_type(we, "Error"))["code"] == "ROOM_NOT_FOUND"
    await we.send_json(create(str(uuid.uuid4()), "guess"))
    assert (await recv_type(we, "Error"))["code"] == "ROOM_NOT_FOUND"
    await we.send_json({"type": "UpdateLastSeen", "message_id": str(uuid.uuid4())})
    assert (await recv_type(we, "Error"))["code"] == "MESSAGE_NOT_FOUND"
    await silent(watcher)
    # Eve hears nothing from those rooms either.
    await api.post(closed_world["alice"][1], closed_world["rooms"][0]["id"], "still private")
    await recv_type(watcher, "NewMessage")
    await silent(we)
    assert (await snapshot(core))[1:2] == before[1:2]  # memberships unchanged


# --- sessions ------------------------------------------------------------------------------


async def test_tokens_are_256_bit_random_and_stored_only_as_hashes(client, api, core):
    tokens = [(await api.user())[1] for _ in range(5)]
    assert len(set(tokens)) == len(tokens)
    for token in tokens:
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)  # 32 bytes, base64url
    dump = await _dump(core)
    for token in tokens:
        assert token not in dump
        assert auth.hash_token(token) in dump


async def _dump(core) -> str:
    """Every value of every table as text."""
    catalog = (
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        if core.db.engine == "postgresql"
        else "SELECT name FROM sqlite_master WHERE type='table'"
    )
    tables = [r[0] for r in await core.db.fetchall(catalog)]
    parts = []
    for table in tables:
        for row in await core.db.fetchall(f"SELECT * FROM {table}"):
            parts.extend(str(v) for v in tuple(row))
    return "\n".join(parts)


async def test_logout_closes_open_sockets_of_that_session_only(client, api):
    _, token = await api.user("Ann")
    resp = await client.post(
        "/api/auth/login", json={"email": "ann.1@example.com", "password": PASSWORD}
    )
    other = (await resp.json())["session_token"]
    client.session.cookie_jar.clear()
    ws, ws_other = await connect(client, token), await connect(client, other)
    resp = await client.post("/api/auth/logout", headers=api.auth(token))
    assert resp.status == 204
    assert await closed_with(ws) == 1008
    await silent(ws_other)
    assert not ws_other.closed


def _run_cli(db: str, *args: str) -> None:
    """The real CLI in this process (another 'process' as far as the server knows)."""
    result = CliRunner().invoke(
        cli_main, [*args, "--db", db], env={"CAMPFIRE_PASSWORD": "new password 1"}
    )
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "command",
    [
        ("user", "passwd", "ann.1@example.com"),
        ("user", "deactivate", "ann.1@example.com"),
        ("token", "revoke", "--all-for", "ann.1@example.com"),
    ],
)
async def test_cli_session_changes_close_open_sockets(aiohttp_client, settings, api, command):
    """Password change, deactivation, revocation by CLI reach open sockets within the re-check."""
    client = await make_client(aiohttp_client, settings, api, ws_recheck_interval=0.1)
    _, token = await api.user("Ann")
    ws = await connect(client, token)
    await asyncio.to_thread(_run_cli, settings.db, *command)
    assert await closed_with(ws, timeout=3) == 1008
    resp = await client.get("/api/users/me", headers=api.auth(token))
    assert resp.status == 401


async def test_expired_session_closes_an_open_socket(aiohttp_client, settings, api, monkeypatch):
    from campfire import clock

    client = await make_client(aiohttp_client, settings, api, ws_recheck_interval=0.1)
    _, token = await api.user("Ann")
    ws = await connect(client, token)
    later = clock.now() + __import__("datetime").timedelta(days=settings.session_days + 1)
    monkeypatch.setattr(clock, "now", lambda: later)
    assert await closed_with(ws, timeout=3) == 1008


# --- brute force ---------------------------------------------------------------------------


async def test_login_throttle_per_address_and_per_account_lifts_when_the_window_passes(
    aiohttp_client, settings, api
):
    client = await make_client(
        aiohttp_client, settings, api, login_attempts_per_minute=3, trust_proxy=True
    )
    now = [5000.0]
    client.app[core_key].login_failures = FailureThrottle(3, window=60.0, clock=lambda: now[0])
    await api.user("Ann")  # ann.1@example.com

    async def login(email, password, address):
        resp = await client.post(
            "/api/auth/login",
            json={"email": email, "password": password},
            headers={"X-Forwarded-For": address},
        )
        return resp.status

    # One account attacked from many addresses: slowed per account.
    for i in range(3):
        assert await login("ann.1@example.com", "wrong guess", f"10.0.0.{i}") == 401
    assert await login("ann.1@example.com", PASSWORD, "10.0.9.9") == 429
    # One address spraying many accounts: slowed per address.
    for i in range(3):
        assert await login(f"nobody{i}@example.com", "wrong guess", "10.0.1.1") == 401
    assert await login("admin@example.com", "correct horse", "10.0.1.1") == 429
    # Just before the window passes it still waits; just after, the real user gets in.
    now[0] += 59.9
    assert await login("ann.1@example.com", PASSWORD, "10.0.9.9") == 429
    now[0] += 0.2
    assert await login("ann.1@example.com", PASSWORD, "10.0.9.9") == 200
    assert await login("admin@example.com", "correct horse", "10.0.1.1") == 200


async def test_login_time_does_not_reveal_whether_an_email_exists(
    aiohttp_client, settings, api, monkeypatch
):
    """Unknown email and wrong password both pay one argon2 verification: medians alike."""
    # A real (if small) argon2 cost, so that skipping it would show.
    monkeypatch.setattr(
        auth,
        "PasswordHasher",
        lambda: PasswordHasher(time_cost=2, memory_cost=16384, parallelism=1),
    )
    client = await make_client(aiohttp_client, settings, api, login_attempts_per_minute=10_000)
    await api.user("Ann")

    async def timed(email):
        started = time.perf_counter()
        resp = await client.post(
            "/api/auth/login", json={"email": email, "password": "wrong guess"}
        )
        assert resp.status == 401
        return time.perf_counter() - started

    known, unknown = [], []
    for i in range(15):  # interleaved, so machine load hits both alike
        known.append(await timed("ann.1@example.com"))
        unknown.append(await timed(f"ghost{i}@example.com"))
    k, u = statistics.median(known), statistics.median(unknown)
    assert 0.5 < u / k < 2.0, (k, u)


# --- cookies and cross-site sockets ---------------------------------------------------------


@pytest.mark.parametrize(
    "changes,headers,secure",
    [
        ({}, {}, False),
        ({"secure_cookies": "always"}, {}, True),
        ({"trust_proxy": True}, {"X-Forwarded-Proto": "https"}, True),
        ({}, {"X-Forwarded-Proto": "https"}, False),  # an untrusted header changes nothing
    ],
)
async def test_session_cookie_flags(aiohttp_client, settings, api, changes, headers, secure):
    client = await make_client(aiohttp_client, settings, api, **changes)
    await api.setup_admin()
    resp = await client.post(
        "/api/auth/login",
        headers=headers,
        json={"email": "admin@example.com", "password": PASSWORD},
    )
    assert resp.status == 200
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert ("Secure" in cookie) == secure, cookie


async def test_cross_site_websocket_hijacking_is_refused_even_behind_a_proxy(
    aiohttp_client, settings, api
):
    client = await make_client(aiohttp_client, settings, api, trust_proxy=True)
    _, token = await api.user("Ann")
    cookie = {"Cookie": f"session_token={token}"}
    for origin in (
        "https://evil.example",
        "null",
        f"http://{client.host}:{client.port}.evil.example",
    ):
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await client.ws_connect("/ws", headers={**cookie, "Origin": origin})
        assert info.value.status == 403
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:  # no Origin at all
        await client.ws_connect("/ws", headers=cookie)
    assert info.value.status == 403


# --- headers --------------------------------------------------------------------------------


def _check_headers(resp) -> None:
    assert resp.headers.get("X-Content-Type-Options") == "nosniff", resp.url
    csp = resp.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, resp.url


async def test_security_headers_on_static_files_and_every_kind_of_error(
    aiohttp_client, settings, api
):
    client = await make_client(aiohttp_client, settings, api, max_body_bytes=100)
    static = [f"/static/{p.name}" for p in sorted(STATIC_DIR.iterdir()) if p.is_file()]
    for path in ["/", *static, "/static/missing.js", "/nothing", "/ws"]:
        _check_headers(await client.get(path))
    _check_headers(
        await client.post(
            "/api/auth/login", data="x" * 500, headers={"Content-Type": "application/json"}
        )
    )
    _check_headers(await client.put("/api/users/me"))
    _check_headers(
        await client.get("/api/rooms/not-a-uuid", headers={"Authorization": "Bearer nope"})
    )


def test_web_client_satisfies_its_csp():
    """No inline script or style, no event-handler attributes: script-src/style-src 'self' hold."""
    for page in STATIC_DIR.glob("*.html"):
        html = page.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), page
        assert not re.search(r"<style\b|\sstyle=|\son[a-z]+=", html), page
        assert "javascript:" not in html
    for script in STATIC_DIR.glob("*.js"):
        code = script.read_text()
        assert not re.search(r"\beval\(|new Function\(", code), script
        assert not re.search(r"setAttribute\(\s*['\"]on|\.innerHTML\s*=\s*[^'\"]*\+", code), script


# --- logs ----------------------------------------------------------------------------------


async def test_no_token_or_password_in_log_lines(
    aiohttp_server, aiohttp_client, settings, api, caplog
):
    """In-process, with the access logger `campfire serve` uses."""
    from campfire.app import AccessLogger

    server = await aiohttp_server(create_app(settings), access_log_class=AccessLogger)
    client = await aiohttp_client(server)
    api.client = client
    caplog.set_level(logging.DEBUG)
    _, token = await api.user("Ann")
    secret = "hunter2 never logged"
    await client.post("/api/auth/login", json={"email": "ann.1@example.com", "password": secret})
    await client.post("/api/auth/login", json={"email": "ghost@example.com", "password": secret})
    ws = await client.ws_connect(f"/ws?token={token}")
    await ws.send_str(f'{{"type":"CreateMessage","room_id":"{token}"}}')
    await ws.receive_json(timeout=3)
    await ws.send_bytes(token.encode())
    await ws.close()
    await client.get(f"/api/users/me?token={token}")
    await client.get("/api/users/me", headers={"Authorization": f"Bearer {token}x"})
    text = "\n".join(r.getMessage() + str(r.exc_text or "") for r in caplog.records)
    assert token not in text and secret not in text and PASSWORD not in text


async def test_no_token_or_password_in_the_servers_access_log(tmp_path):
    """The real `campfire serve`: its whole stderr after logins, ?token= sockets, failed logins."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts" / "faults"))
    from harness import PASSWORD as USER_PASSWORD
    from harness import Server, make_world

    world = make_world(tmp_path, users=1, log_level="DEBUG")
    server = Server(world, tmp_path / "server.log")
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            resp = await session.post(
                world.base + "/api/auth/login",
                json={"email": "user0@example.com", "password": USER_PASSWORD},
            )
            fresh = (await resp.json())["session_token"]
            await session.post(
                world.base + "/api/auth/login",
                json={"email": "user0@example.com", "password": "wrong secret 42"},
            )
            for token in (world.tokens[0], fresh):
                ws = await session.ws_connect(f"{world.base}/ws?token={token}")
                await ws.close()
            await session.get(f"{world.base}/api/users/me?token={fresh}")
            await session.get(f"{world.base}/ws?token=bogus-{fresh}")
            resp = await session.post(
                world.base + "/api/users",
                headers={"Authorization": f"Bearer {fresh}"},
                json={"email": "new@example.com", "name": "New", "password": "brand new pw"},
            )
            assert resp.status == 201, await resp.text()
    finally:
        await server.stop()
    log = server.log()
    assert "GET /ws" in log  # the access log is there...
    assert "$argon2" not in log  # not even a password hash, at DEBUG
    for secret in (world.tokens[0], fresh, USER_PASSWORD, "wrong secret 42", "brand new pw"):
        assert secret not in log  # ...without secrets


# --- limits --------------------------------------------------------------------------------


async def test_connection_limit_holds_against_simultaneous_upgrades(aiohttp_client, settings, api):
    """Many upgrades at the same moment cannot slip past ws_max_connections_per_user together."""
    client = await make_client(aiohttp_client, settings, api, ws_max_connections_per_user=3)
    _, token = await api.user("Ann")

    async def attempt():
        try:
            return await client.ws_connect("/ws", headers={"Authorization": f"Bearer {token}"})
        except aiohttp.WSServerHandshakeError as exc:
            assert exc.status == 429
            return None

    opened = [ws for ws in await asyncio.gather(*(attempt() for _ in range(30))) if ws is not None]
    assert len(opened) == 3
    await opened[0].close()
    await asyncio.sleep(0.1)
    again = await attempt()  # a closed socket frees its slot
    assert again is not None
    for ws in [*opened[1:], again]:
        await ws.close()
