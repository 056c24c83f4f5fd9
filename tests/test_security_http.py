"""Attacks on logins and HTTP (issue 10), each made against a real server on real sockets:
`campfire serve` as a process where memory, file descriptors or its log are the point, the
in-process server on a real port otherwise."""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import sys
import time
import tracemalloc
import uuid
from pathlib import Path

import aiohttp
import pytest
from argon2 import PasswordHasher
from helpers import make_client, send
from wsutil import connect, recv

from campfire import auth
from campfire.keys import core_key
from campfire.ratelimit import FailureThrottle

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts" / "faults"))
from harness import PASSWORD as WORLD_PASSWORD
from harness import Server, make_world

PASSWORD = "correct horse"


def rss_kib(pid: int) -> int:
    """A process's resident memory, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def session_from(address: str) -> aiohttp.ClientSession:
    """An HTTP client whose connections come from another loopback address (127.0.0.0/8)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(local_addr=(address, 0), limit=0, force_close=True)
    )


async def login_status(
    session: aiohttp.ClientSession, url: str, email: str, password: str, headers=None
) -> tuple[int, str | None]:
    """POST a login; (status, Retry-After)."""
    async with session.post(
        url, json={"email": email, "password": password}, headers=headers or {}
    ) as resp:
        await resp.read()
        return resp.status, resp.headers.get("Retry-After")


# --- 2. memory through the login throttle ----------------------------------------------------


async def test_thousands_of_junk_logins_leave_the_servers_memory_flat(tmp_path):
    """Distinct junk emails (300 of them 1 MB long) against `campfire serve`: RSS stays flat."""
    world = make_world(tmp_path, users=1, log_level="WARNING")
    server = Server(world, tmp_path / "server.log")
    await server.start()
    url = world.base + "/api/auth/login"
    big = "x" * 1_000_000
    try:
        async with aiohttp.ClientSession() as session:
            # Warm up: the parser's buffers and the allocator's arenas for 1 MB bodies.
            for i in range(20):
                await login_status(session, url, f"{i}{big}@example.com", "junk password")
            before = rss_kib(server.proc.pid)
            semaphore = asyncio.Semaphore(20)

            async def junk(i: int) -> int:
                email = f"junk{i}-{uuid.uuid4()}@example.com"
                if i % 10 == 0:
                    email = f"{i}{big}@example.com"
                async with semaphore:
                    return (await login_status(session, url, email, "junk password"))[0]

            statuses = await asyncio.gather(*(junk(i) for i in range(3000)))
            after = rss_kib(server.proc.pid)
            assert after - before < 40 * 1024, f"RSS grew from {before} to {after} KiB"
            assert set(statuses) <= {400, 401, 429}, set(statuses)
            assert statuses.count(400) >= 300  # the long emails are refused as input
            # A real user still gets in afterwards from another address.
            async with session_from("127.0.0.2") as other:
                status, _ = await login_status(other, url, "user0@example.com", WORLD_PASSWORD)
                assert status == 200
    finally:
        await server.stop()


@pytest.mark.parametrize(
    "body",
    [
        {"email": "a" * 250 + "@example.com", "password": "whatever password"},
        {"email": "ann.1@example.com", "password": "p" * 1025},
    ],
)
async def test_login_inputs_have_length_limits(client, api, body):
    await api.user("Ann")
    resp = await client.post("/api/auth/login", json=body)
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "VALIDATION_FAILED"
    assert "at most" in (await resp.json())["error"]["message"]
    # Refused input is not a failed guess: it leaves nothing in the throttle.
    assert len(client.app[core_key].login_failures) == 0


def test_the_throttle_keeps_only_failures_bounded_in_keys_and_bytes_and_forgets_old_ones():
    now = [1000.0]
    throttle = FailureThrottle(3, window=60.0, clock=lambda: now[0], max_keys=100)
    for i in range(1000):
        assert throttle.retry_after(f"email:never-failed-{i}") == 0
    assert len(throttle) == 0  # asking creates nothing
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(1000):
            throttle.failed(f"email:{i}" + "x" * 10_000)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(throttle) == 100  # the oldest gave way
    assert held < 100 * 300  # bytes: keys are kept as short digests, not as sent
    for _ in range(3):
        throttle.failed("addr:10.0.0.1")
    assert throttle.retry_after("addr:10.0.0.1") > 0
    now[0] += 61
    throttle.failed("addr:10.0.0.2")
    assert len(throttle) == 1  # expired entries went
    assert throttle.retry_after("addr:10.0.0.1") == 0


# --- 3. concurrent guesses and the hash pool -------------------------------------------------


async def test_concurrent_guesses_for_one_account_verify_at_most_the_limit(
    aiohttp_client, settings, api
):
    client = await make_client(aiohttp_client, settings, api, login_attempts_per_minute=10)
    await api.user("Ann")
    url = str(client.make_url("/api/auth/login"))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        answers = await asyncio.gather(
            *(login_status(session, url, "ann.1@example.com", f"guess {i}") for i in range(100))
        )
    statuses = [status for status, _ in answers]
    assert statuses.count(401) <= 10, statuses  # each 401 is one verified guess
    assert statuses.count(401) + statuses.count(429) == 100
    assert all(retry for status, retry in answers if status == 429)


@pytest.fixture
def real_argon2_cost(monkeypatch):
    """A real argon2 cost (tens of ms per verification) so that queueing shows."""
    monkeypatch.setattr(
        auth,
        "PasswordHasher",
        lambda: PasswordHasher(time_cost=3, memory_cost=32768, parallelism=1),
    )


async def test_a_flood_from_one_address_does_not_delay_another_addresss_login(
    aiohttp_client, settings, api, real_argon2_cost
):
    client = await make_client(aiohttp_client, settings, api)
    await api.user("Ann")
    url = str(client.make_url("/api/auth/login"))

    async def timed_login() -> float:
        async with session_from("127.0.0.3") as session:
            started = time.perf_counter()
            status, _ = await login_status(session, url, "ann.1@example.com", PASSWORD)
            assert status == 200
            return time.perf_counter() - started

    baseline = max([await timed_login() for _ in range(3)])
    async with session_from("127.0.0.2") as attacker:
        flood = [
            asyncio.ensure_future(
                login_status(attacker, url, f"victim{i}@example.com", "wrong guess")
            )
            for i in range(300)
        ]
        await asyncio.sleep(0.3)  # the flood is in
        during = await timed_login()
        answers = await asyncio.gather(*flood)
    assert during < baseline + 1.5, (baseline, during)
    assert sum(1 for status, _ in answers if status == 401) <= 10


async def test_the_hash_pool_queue_is_bounded_and_excess_answers_429_at_once(
    aiohttp_client, settings, api, real_argon2_cost
):
    client = await make_client(aiohttp_client, settings, api, hash_queue=4)
    await api.user("Ann")
    url = str(client.make_url("/api/auth/login"))
    sessions = [session_from(f"127.0.1.{i}") for i in range(1, 61)]
    try:
        answers = await asyncio.gather(
            *(
                login_status(s, url, f"nobody{i}@example.com", "wrong guess")
                for i, s in enumerate(sessions)
            )
        )
    finally:
        for s in sessions:
            await s.close()
    statuses = [status for status, _ in answers]
    assert statuses.count(429) > 0, statuses
    assert statuses.count(401) + statuses.count(429) == 60
    assert all(retry for status, retry in answers if status == 429)
    assert len(client.app[core_key].login_failures) <= 2 * statuses.count(401)


# --- 4. X-Forwarded-For ------------------------------------------------------------------------


@pytest.mark.parametrize("hops", [1, 2])
async def test_spoofed_forwarded_for_neither_dodges_the_throttle_nor_locks_out_a_real_user(
    aiohttp_client, settings, api, hops
):
    client = await make_client(
        aiohttp_client,
        settings,
        api,
        trust_proxy=True,
        trusted_proxy_hops=hops,
        login_attempts_per_minute=3,
    )
    await api.user("Ann")
    inner = ", 10.9.9.9" if hops == 2 else ""  # what a second, trusted proxy appends

    async def login(email: str, password: str, spoofed: str, real: str) -> int:
        # What the client wrote, then what each trusted proxy appended.
        forwarded = f"{spoofed}, {real}{inner}" if spoofed else f"{real}{inner}"
        resp = await client.post(
            "/api/auth/login",
            json={"email": email, "password": password},
            headers={"X-Forwarded-For": forwarded},
        )
        return resp.status

    # The attacker at 10.0.0.66 changes its spoofed entry every time: still slowed.
    for i in range(3):
        assert await login(f"n{i}@example.com", "wrong", f"1.2.3.{i}", "10.0.0.66") == 401
    assert await login("n9@example.com", "wrong", "1.2.3.200", "10.0.0.66") == 429
    # Failures claimed in the name of the real user's address do not lock that address out.
    for i in range(5):
        await login(f"m{i}@example.com", "wrong", "10.0.0.7", f"10.0.1.{i}")
    assert await login("ann.1@example.com", PASSWORD, "", "10.0.0.7") == 200


# --- 6. slow bodies, many connections, EMFILE --------------------------------------------------


async def raw_request(port: int, head: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a raw connection to the server and send bytes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head)
    await writer.drain()
    return reader, writer


def post_head(length: int, path: str = "/api/auth/login") -> bytes:
    """The head of a JSON POST whose body will come slowly."""
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


async def test_a_trickled_body_is_cut_off_after_the_deadline(aiohttp_client, settings, api):
    client = await make_client(aiohttp_client, settings, api, request_body_timeout=1.0)
    reader, writer = await raw_request(client.port, post_head(1000) + b'{"email":')
    started = time.monotonic()
    answer, answered, closed = b"", None, False
    try:
        while time.monotonic() - started < 6 and not closed:
            writer.write(b" ")  # one byte every 0.3 s: slow, but never silent
            await writer.drain()
            try:
                chunk = await asyncio.wait_for(reader.read(65536), 0.3)
            except TimeoutError:
                continue
            answered = answered or time.monotonic() - started
            answer += chunk
            closed = not chunk
    except ConnectionError:
        closed = True
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"REQUEST_TIMEOUT"' in answer
    assert 0.9 < answered < 3.0
    assert closed  # and the connection is gone, its descriptor free


async def test_trickling_connections_from_one_address_hit_the_cap(aiohttp_client, settings, api):
    client = await make_client(
        aiohttp_client, settings, api, pending_requests_per_address=5, request_body_timeout=30.0
    )
    held = [await raw_request(client.port, post_head(100) + b"{") for _ in range(5)]
    await asyncio.sleep(0.2)
    reader, writer = await raw_request(client.port, post_head(100) + b"{")
    answer = await asyncio.wait_for(reader.read(65536), 3)
    assert answer.startswith(b"HTTP/1.1 429"), answer[:200]
    assert b"Retry-After:" in answer
    # Another address is not affected.
    async with session_from("127.0.0.2") as other:
        status, _ = await login_status(
            other, str(client.make_url("/api/auth/login")), "n@example.com", "wrong guess"
        )
        assert status == 401
    for _, w in [*held, (reader, writer)]:
        w.close()


@contextlib.asynccontextmanager
async def out_of_descriptors(tmp_path: Path, event_loop: str):
    """`campfire serve` on `event_loop` with 64 file descriptors, and 120 idle connections to
    it (more than it can hold): yields the server and the connections; afterwards closes them
    and checks the server serves again."""
    world = make_world(tmp_path, users=1, log_level="INFO", event_loop=event_loop)
    server = Server(world, tmp_path / "server.log")

    def few_descriptors() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    await server.start(preexec_fn=few_descriptors)
    sockets = []
    try:
        for _ in range(120):  # more than the server can hold; they send nothing
            with contextlib.suppress(OSError):
                sockets.append(await asyncio.open_connection("127.0.0.1", world.port))
        yield server, sockets
    finally:
        for _, writer in sockets:
            writer.close()
        await asyncio.sleep(0.5)
        async with aiohttp.ClientSession() as session:
            async with session.get(world.base + "/health") as resp:
                assert resp.status == 200  # the server recovered
        await server.stop()
    assert "Traceback" not in server.log(), server.log()[-3000:]


async def test_accept_errors_are_logged_once_per_interval_when_file_descriptors_run_out(
    tmp_path,
):
    """On Python's own loop (the default), which reports each failed accept()."""
    async with out_of_descriptors(tmp_path, "asyncio") as (server, _sockets):
        await asyncio.sleep(4.5)  # asyncio retries accept() every second
    lines = [line for line in server.log().splitlines() if "accept connections" in line]
    assert len(lines) == 1, lines


async def test_out_of_file_descriptors_on_uvloop_closes_the_excess_and_recovers(tmp_path):
    """On uvloop (event_loop = uvloop), libuv keeps a spare descriptor: out of descriptors,
    it accepts the waiting connections and closes them at once (no error reaches the loop,
    so there is nothing to log), and the server serves again when descriptors are free."""
    async with out_of_descriptors(tmp_path, "uvloop") as (_server, sockets):
        await asyncio.sleep(1.0)
        closed = 0
        for reader, _ in sockets:
            with contextlib.suppress(TimeoutError, OSError):
                if await asyncio.wait_for(reader.read(1), 0.05) == b"":
                    closed += 1
        assert closed > 0  # the excess was closed, not left waiting in the backlog
        assert closed < len(sockets)  # those the server could hold are still open


# --- 9. Retry-After on every 429 ---------------------------------------------------------------


async def test_every_429_carries_retry_after(aiohttp_client, settings, api):
    client = await make_client(
        aiohttp_client,
        settings,
        api,
        login_attempts_per_minute=2,
        user_messages_per_second=0.5,
        user_messages_burst=1,
        ws_max_connections_per_user=1,
    )
    _, token = await api.user("Ann")
    room = await api.room(token)
    # The login throttle.
    for _ in range(2):
        resp = await client.post(
            "/api/auth/login", json={"email": "ann.1@example.com", "password": "wrong guess"}
        )
        assert resp.status == 401
    resp = await client.post(
        "/api/auth/login", json={"email": "ann.1@example.com", "password": PASSWORD}
    )
    assert resp.status == 429 and 1 <= int(resp.headers["Retry-After"]) <= 60
    # The message allowance.
    assert (await send(client, token, room["id"], "one")).status == 201
    resp = await send(client, token, room["id"], "two")
    assert resp.status == 429 and 1 <= int(resp.headers["Retry-After"]) <= 2
    # The WebSocket upgrade over the connection limit.
    ws = await connect(client, token)
    resp = await client.get("/ws", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1
    await ws.close()


# --- 11. logs ------------------------------------------------------------------------------------


async def test_malformed_requests_log_one_line_without_the_token_and_a_dropped_client_is_no_error(
    tmp_path,
):
    world = make_world(tmp_path, users=1, log_level="DEBUG")
    server = Server(world, tmp_path / "server.log")
    await server.start()
    secret = world.tokens[0]
    malformed = [
        f"GET /ws?token={secret} x HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
        f"GET /api/users/me?token={secret}\x01 HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
        f"GET /?token={secret} HTTP/9\r\n\r\n".encode(),
    ]
    try:
        for request in malformed:
            reader, writer = await raw_request(world.port, request)
            answer = await asyncio.wait_for(reader.read(65536), 5)
            assert answer.startswith(b"HTTP/1.") and b" 400 " in answer[:20], answer[:200]
            writer.close()
        # A client that drops in the middle of its body.
        reader, writer = await raw_request(world.port, post_head(1000) + b'{"email":"a')
        await asyncio.sleep(0.2)
        writer.close()
        await asyncio.sleep(0.5)
    finally:
        await server.stop()
    log = server.log()
    assert secret not in log
    assert "Traceback" not in log
    assert "unhandled error" not in log and " 500 " not in log
    assert "ERROR" not in log
    bad = [line for line in log.splitlines() if "bad request" in line.lower()]
    assert len(bad) == len(malformed), log[-3000:]
    assert "UNKNOWN" not in log  # and no second (access) line for them


# --- 12. small contract gaps -----------------------------------------------------------------


async def test_a_uuid_with_a_trailing_newline_is_refused_over_http_and_websocket(client, api):
    _, token = await api.user("Ann")
    room = await api.room(token)
    cmid = str(uuid.uuid4())
    resp = await send(client, token, room["id"], "hello", cmid + "\n")
    assert resp.status == 400
    assert (await client.get(f"/api/rooms/{room['id']}%0A", headers=api.auth(token))).status == 404
    ws = await connect(client, token)
    await ws.send_json(
        {
            "type": "CreateMessage",
            "room_id": room["id"],
            "content": "hi",
            "client_message_id": cmid + "\n",
        }
    )
    frame = await recv(ws)
    assert frame["type"] == "Error" and frame["code"] == "MESSAGE_CREATION_FAILED", frame
    await ws.close()
    resp = await client.get(f"/api/rooms/{room['id']}/messages", headers=api.auth(token))
    assert (await resp.json())["messages"] == []


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
async def test_json_bodies_not_in_utf8_are_refused(client, api, encoding):
    await api.setup_admin()
    body = json.dumps({"email": "admin@example.com", "password": "correct horse"})
    resp = await client.post(
        "/api/auth/login",
        data=body.encode(encoding),
        headers={"Content-Type": "application/json"},
    )
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["code"] == "INVALID_JSON" and "UTF-8" in error["message"]
    resp = await client.post(
        "/api/auth/login",
        data=body.encode(),
        headers={"Content-Type": f"application/json; charset={encoding}"},
    )
    assert resp.status == 415
