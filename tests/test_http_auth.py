"""HTTP API: first-run setup, login, logout, the three token sources, Origin, health, headers,
request-body errors; and the helpers the other test_http_* files share."""

from __future__ import annotations

import pytest

from campfire import errors
from campfire.app import create_app
from campfire.keys import core_key
from campfire.ratelimit import FailureThrottle

ERROR_CODES = {
    value for name, value in vars(errors).items() if name.isupper() and isinstance(value, str)
}
TABLES = ("users", "sessions", "rooms", "memberships", "messages")
PASSWORD = "correct horse"


def bearer(token: str) -> dict:
    """The Authorization header for a token."""
    return {"Authorization": f"Bearer {token}"}


async def assert_error(resp, status: int, code: str) -> str:
    """The one error shape, with this status and code; returns the message."""
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/json"
    body = await resp.json()
    assert list(body) == ["error"]
    assert sorted(body["error"]) == ["code", "message"]
    assert body["error"]["code"] == code
    assert code in ERROR_CODES
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]["message"]


async def row_counts(client) -> dict[str, int]:
    """How many rows each table holds: a bad request must leave these unchanged."""
    db = client.app[core_key].db
    return {table: (await db.fetchone(f"SELECT COUNT(*) FROM {table}"))[0] for table in TABLES}


def anonymous(client) -> None:
    """Forget the cookies the client picked up from logins, so a request carries no session."""
    client.session.cookie_jar.clear()


@pytest.fixture
async def make_client(aiohttp_client, settings, tmp_path):
    """A client for a server with some settings changed (its own database file)."""

    async def make(**changes):
        changed = settings.replace(db=str(tmp_path / "changed.db"), **changes)
        return await aiohttp_client(create_app(changed))

    return make


# --- first-run setup ---------------------------------------------------------------------


async def test_setup_creates_the_first_admin_once(client):
    resp = await client.get("/api/setup")
    assert resp.status == 200 and await resp.json() == {"needs_setup": True}

    resp = await client.post(
        "/api/setup", json={"email": "Ann@Example.com", "name": " Ann ", "password": PASSWORD}
    )
    assert resp.status == 201
    body = await resp.json()
    assert sorted(body) == ["session_token", "user"]
    user = body["user"]
    assert sorted(user) == [
        "avatar_url",
        "created_at",
        "email",
        "id",
        "is_active",
        "is_admin",
        "name",
    ]
    assert user["is_admin"] is True and user["is_active"] is True
    assert user["name"] == "Ann" and user["email"] == "Ann@Example.com"
    assert user["created_at"].endswith("Z")
    cookie = resp.cookies["session_token"]
    assert cookie.value == body["session_token"]
    assert cookie["httponly"] is True and cookie["samesite"] == "Lax" and cookie["path"] == "/"

    anonymous(client)
    resp = await client.get("/api/users/me", headers=bearer(body["session_token"]))
    assert (await resp.json())["user"]["id"] == user["id"]
    resp = await client.get("/api/setup")
    assert await resp.json() == {"needs_setup": False}

    before = await row_counts(client)
    resp = await client.post(
        "/api/setup", json={"email": "eve@example.com", "name": "Eve", "password": PASSWORD}
    )
    await assert_error(resp, 409, errors.SETUP_ALREADY_DONE)
    assert await row_counts(client) == before


async def test_setup_is_refused_once_any_user_exists(client, core):
    from campfire import accounts

    await accounts.do_create_user(core, "cli@example.com", "From the shell", PASSWORD)
    resp = await client.post(
        "/api/setup", json={"email": "eve@example.com", "name": "Eve", "password": PASSWORD}
    )
    await assert_error(resp, 409, errors.SETUP_ALREADY_DONE)


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "name": "Ann", "password": PASSWORD},
        {"email": "ann@example.com", "name": "", "password": PASSWORD},
        {"email": "ann@example.com", "name": "   ", "password": PASSWORD},
        {"email": "ann@example.com", "name": "Ann", "password": "short"},
        {"email": "ann@example.com", "name": "Ann"},
        {"email": 7, "name": "Ann", "password": PASSWORD},
        {"email": "ann@example.com", "name": ["Ann"], "password": PASSWORD},
        {"email": "ann@example.com", "name": "Ann", "password": 12345678},
        {"email": "ann@example.com", "name": "A" * 101, "password": PASSWORD},
        {"email": "ann@example.com", "name": "A\x00nn", "password": PASSWORD},
        {"email": "ann@example.com", "name": "Ann", "password": "lone \udc00 surrogate"},
    ],
)
async def test_setup_rejects_bad_fields_and_creates_nothing(client, body):
    resp = await client.post("/api/setup", json=body)
    await assert_error(resp, 400, errors.VALIDATION_FAILED)
    assert await row_counts(client) == dict.fromkeys(TABLES, 0)
    assert await (await client.get("/api/setup")).json() == {"needs_setup": True}


# --- login and logout --------------------------------------------------------------------


async def test_login_returns_user_token_and_cookie(client, api):
    await api.setup_admin()
    anonymous(client)
    resp = await client.post(
        "/api/auth/login", json={"email": " ADMIN@example.com ", "password": PASSWORD}
    )
    assert resp.status == 200
    body = await resp.json()
    assert sorted(body) == ["session_token", "user"]
    assert body["user"]["email"] == "admin@example.com"
    assert body["session_token"] != api.admin_token  # a new session each time
    cookie = resp.cookies["session_token"]
    assert cookie.value == body["session_token"]
    assert cookie["httponly"] is True and cookie["samesite"] == "Lax"
    assert cookie["secure"] == ""  # plain HTTP: the default "auto" leaves Secure off
    anonymous(client)
    resp = await client.get("/api/users/me", headers=bearer(body["session_token"]))
    assert resp.status == 200


async def test_wrong_password_and_unknown_email_answer_the_same(client, api):
    await api.setup_admin()
    before = await row_counts(client)
    wrong = await client.post(
        "/api/auth/login", json={"email": "admin@example.com", "password": "wrong pass"}
    )
    unknown = await client.post(
        "/api/auth/login", json={"email": "nobody@example.com", "password": PASSWORD}
    )
    message_wrong = await assert_error(wrong, 401, errors.INVALID_CREDENTIALS)
    message_unknown = await assert_error(unknown, 401, errors.INVALID_CREDENTIALS)
    assert message_wrong == message_unknown
    assert "set-cookie" not in wrong.headers and "set-cookie" not in unknown.headers
    assert await row_counts(client) == before  # no session was created


async def test_deactivated_user_cannot_log_in(client, api):
    user, _ = await api.user("Bob")
    resp = await client.patch(
        f"/api/users/{user['id']}", headers=bearer(api.admin_token), json={"is_active": False}
    )
    assert resp.status == 200
    resp = await client.post("/api/auth/login", json={"email": user["email"], "password": PASSWORD})
    await assert_error(resp, 401, errors.INVALID_CREDENTIALS)


@pytest.mark.parametrize(
    "body",
    [
        {"email": "admin@example.com"},
        {"password": PASSWORD},
        {"email": ["admin@example.com"], "password": PASSWORD},
        {"email": "admin@example.com", "password": None},
    ],
)
async def test_login_rejects_wrong_field_types(client, api, body):
    await api.setup_admin()
    before = await row_counts(client)
    resp = await client.post("/api/auth/login", json=body)
    await assert_error(resp, 400, errors.VALIDATION_FAILED)
    assert await row_counts(client) == before


@pytest.mark.parametrize(
    "raw",
    [
        '{"email": "\\ud800@example.com", "password": "correct horse"}',
        '{"email": "admin@example.com", "password": "correct \\udfff horse"}',
    ],
)
async def test_login_with_a_lone_surrogate_is_400_not_a_crash(client, api, raw):
    await api.setup_admin()
    resp = await client.post(
        "/api/auth/login", data=raw, headers={"Content-Type": "application/json"}
    )
    await assert_error(resp, 400, errors.VALIDATION_FAILED)


async def test_repeated_failures_are_rate_limited_then_allowed_again(make_client):
    client = await make_client(login_attempts_per_minute=3)
    core = client.app[core_key]
    now = [1000.0]
    core.login_failures = FailureThrottle(3, window=60.0, clock=lambda: now[0])
    resp = await client.post(
        "/api/setup", json={"email": "ann@example.com", "name": "Ann", "password": PASSWORD}
    )
    assert resp.status == 201
    for _ in range(3):
        resp = await client.post(
            "/api/auth/login", json={"email": "ann@example.com", "password": "wrong pass"}
        )
        await assert_error(resp, 401, errors.INVALID_CREDENTIALS)
    # Now even the right password waits, and so does this address for another account.
    resp = await client.post(
        "/api/auth/login", json={"email": "ann@example.com", "password": PASSWORD}
    )
    message = await assert_error(resp, 429, errors.RATE_LIMITED)
    assert "try again" in message
    assert 1 <= int(resp.headers["Retry-After"]) <= 60  # the window is a minute
    resp = await client.post(
        "/api/auth/login", json={"email": "other@example.com", "password": PASSWORD}
    )
    await assert_error(resp, 429, errors.RATE_LIMITED)
    now[0] += 61
    resp = await client.post(
        "/api/auth/login", json={"email": "ann@example.com", "password": PASSWORD}
    )
    assert resp.status == 200


async def test_logout_revokes_the_session_at_once(client, api):
    _, token = await api.user("Bob")
    _, other_token = await api.user("Bob")  # same person's second session stays live
    anonymous(client)
    assert (await client.get("/api/users/me", headers=bearer(token))).status == 200
    resp = await client.post("/api/auth/logout", headers=bearer(token))
    assert resp.status == 204
    assert await resp.read() == b""
    assert resp.cookies["session_token"].value == ""  # the cookie is cleared
    anonymous(client)
    for source in (
        {"headers": bearer(token)},
        {"params": {"token": token}},
        {"headers": {"Cookie": f"session_token={token}"}},
    ):
        await assert_error(await client.get("/api/users/me", **source), 401, errors.UNAUTHORIZED)
    await assert_error(
        await client.post("/api/auth/logout", headers=bearer(token)), 401, errors.UNAUTHORIZED
    )
    assert (await client.get("/api/users/me", headers=bearer(other_token))).status == 200


async def test_logout_needs_a_session(client):
    await assert_error(await client.post("/api/auth/logout"), 401, errors.UNAUTHORIZED)


# --- where the token comes from ----------------------------------------------------------


async def test_token_from_header_cookie_or_query(client, api):
    user, token = await api.user("Bob")
    anonymous(client)
    for source in (
        {"headers": bearer(token)},
        {"params": {"token": token}},
        {"headers": {"Cookie": f"session_token={token}"}},
    ):
        resp = await client.get("/api/users/me", **source)
        assert resp.status == 200, source
        assert (await resp.json())["user"]["id"] == user["id"]


async def test_query_token_wins_over_header_and_header_over_cookie(client, api):
    bob, bob_token = await api.user("Bob")
    cat, cat_token = await api.user("Cat")
    anonymous(client)
    resp = await client.get("/api/users/me", params={"token": bob_token}, headers=bearer(cat_token))
    assert (await resp.json())["user"]["id"] == bob["id"]
    resp = await client.get(
        "/api/users/me", headers={**bearer(cat_token), "Cookie": f"session_token={bob_token}"}
    )
    assert (await resp.json())["user"]["id"] == cat["id"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-real-token"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer " + "x" * 500},
        {"Cookie": "session_token=forged"},
    ],
)
async def test_missing_or_bad_token_is_401(client, api, headers):
    await api.setup_admin()
    anonymous(client)
    resp = await client.get("/api/users/me", headers=headers)
    await assert_error(resp, 401, errors.UNAUTHORIZED)
    assert resp.headers["WWW-Authenticate"] == "Bearer"


async def test_cookie_request_from_a_foreign_origin_cannot_change_anything(client, api):
    _, token = await api.user("Bob")
    anonymous(client)
    cookie = {"Cookie": f"session_token={token}"}
    before = await row_counts(client)
    resp = await client.post(
        "/api/rooms",
        headers={**cookie, "Origin": "https://evil.example"},
        json={"name": "phish", "room_type": "open"},
    )
    await assert_error(resp, 403, errors.FORBIDDEN)
    assert await row_counts(client) == before
    resp = await client.post(
        "/api/auth/logout", headers={**cookie, "Origin": "https://evil.example"}
    )
    await assert_error(resp, 403, errors.FORBIDDEN)
    # Reading is harmless (the browser keeps the answer from the foreign page) ...
    resp = await client.get("/api/users/me", headers={**cookie, "Origin": "https://evil.example"})
    assert resp.status == 200
    # ... and the same request from our own page, or without an Origin, goes through.
    own = str(client.make_url("")).rstrip("/")
    resp = await client.post(
        "/api/rooms",
        headers={**cookie, "Origin": own},
        json={"name": "ours", "room_type": "closed"},
    )
    assert resp.status == 201
    resp = await client.post(
        "/api/rooms", headers=cookie, json={"name": "cli", "room_type": "closed"}
    )
    assert resp.status == 201
    # A bearer token is never sent by a browser on its own, so Origin does not matter.
    resp = await client.post(
        "/api/rooms",
        headers={**bearer(token), "Origin": "https://evil.example"},
        json={"name": "app", "room_type": "closed"},
    )
    assert resp.status == 201


async def test_allowed_origins_setting_lets_a_listed_origin_in(make_client):
    client = await make_client(allowed_origins=("https://chat.example",))
    resp = await client.post(
        "/api/setup", json={"email": "ann@example.com", "name": "Ann", "password": PASSWORD}
    )
    token = (await resp.json())["session_token"]
    anonymous(client)
    cookie = {"Cookie": f"session_token={token}"}
    resp = await client.post(
        "/api/rooms",
        headers={**cookie, "Origin": "https://chat.example"},
        json={"name": "ok", "room_type": "open"},
    )
    assert resp.status == 201
    resp = await client.post(
        "/api/rooms",
        headers={**cookie, "Origin": "https://other.example"},
        json={"name": "no", "room_type": "open"},
    )
    await assert_error(resp, 403, errors.FORBIDDEN)


# --- health, headers, unknown routes -----------------------------------------------------


async def test_health(client):
    resp = await client.get("/health")
    assert resp.status == 200
    assert (await resp.json())["status"] == "ok"  # version and migration: tests/test_dist.py


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/api/setup"),
        ("GET", "/health"),
        ("GET", "/api/users/me"),  # an error answer gets them too
        ("GET", "/api/nothing-here"),
        ("GET", "/"),
    ],
)
async def test_security_headers_on_every_response(client, method, path):
    resp = await client.request(method, path)
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    if path.startswith("/api"):
        assert resp.headers["Cache-Control"] == "no-store"


async def test_unknown_api_route_and_wrong_method(client):
    await assert_error(await client.get("/api/nothing-here"), 404, errors.NOT_FOUND)
    resp = await client.put("/api/setup", json={})
    await assert_error(resp, 405, errors.METHOD_NOT_ALLOWED)
    assert "POST" in resp.headers["Allow"]


# --- request bodies ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "data,content_type,status,code",
    [
        ("{not json", "application/json", 400, errors.INVALID_JSON),
        ("", "application/json", 400, errors.INVALID_JSON),
        ("[1, 2]", "application/json", 400, errors.INVALID_JSON),
        ('"a string"', "application/json", 400, errors.INVALID_JSON),
        ("null", "application/json", 400, errors.INVALID_JSON),
        (b"\xff\xfe{}", "application/json", 400, errors.INVALID_JSON),
        ("[" * 100_000, "application/json", 400, errors.INVALID_JSON),
        ('{"email": "a@b.co"}', "text/plain", 415, errors.UNSUPPORTED_MEDIA_TYPE),
        ("email=a@b.co", "application/x-www-form-urlencoded", 415, errors.UNSUPPORTED_MEDIA_TYPE),
    ],
)
async def test_bad_bodies_are_refused_and_change_nothing(client, data, content_type, status, code):
    resp = await client.post("/api/setup", data=data, headers={"Content-Type": content_type})
    await assert_error(resp, status, code)
    assert await row_counts(client) == dict.fromkeys(TABLES, 0)


async def test_body_without_content_type_is_415(client):
    resp = await client.post("/api/auth/login", data=b'{"email": "a@b.co", "password": "x"}')
    await assert_error(resp, 415, errors.UNSUPPORTED_MEDIA_TYPE)


async def test_oversize_body_is_413_and_changes_nothing(make_client):
    client = await make_client(max_body_bytes=200)
    ok = await client.post(
        "/api/setup", json={"email": "ann@example.com", "name": "Ann", "password": PASSWORD}
    )
    assert ok.status == 201
    token = (await ok.json())["session_token"]
    before = await row_counts(client)
    resp = await client.post(
        "/api/rooms", headers=bearer(token), json={"name": "x" * 300, "room_type": "open"}
    )
    await assert_error(resp, 413, errors.PAYLOAD_TOO_LARGE)
    resp = await client.post(
        "/api/auth/login", json={"email": "ann@example.com", "password": "p" * 1000}
    )
    await assert_error(resp, 413, errors.PAYLOAD_TOO_LARGE)
    assert await row_counts(client) == before


# --- every response: no secrets, one error shape -----------------------------------------


def record_responses(client) -> list[dict]:
    """From now on, keep every response this client gets (status, headers, body)."""
    seen: list[dict] = []
    real = client._request

    async def recording(method, path, **kwargs):
        resp = await real(method, path, **kwargs)
        body = await resp.read()  # cached: the test can still read it
        seen.append(
            {
                "request": f"{method} {path}",
                "status": resp.status,
                "headers": dict(resp.headers),
                "body": body.decode(),
            }
        )
        return resp

    client._request = recording
    return seen


async def test_no_response_leaks_secrets_and_every_error_has_one_shape(client, api):
    import json
    import uuid

    seen = record_responses(client)
    ann, ann_token = await api.user("Ann")
    bob, bob_token = await api.user("Bob", admin=True)
    room = await api.room(ann_token, "Team", members=[bob])
    lobby = await api.room(bob_token, "Lobby", "open")
    message = await api.post(ann_token, room["id"], "hello")
    await api.post(ann_token, room["id"], "hello", message["client_message_id"])
    missing, auth = str(uuid.uuid4()), bearer(ann_token)
    calls = [
        ("GET", "/api/setup", {}),
        ("GET", "/health", {}),
        (
            "POST",
            "/api/setup",
            {"json": {"email": "x@example.com", "name": "X", "password": PASSWORD}},
        ),
        ("POST", "/api/auth/login", {"json": {"email": ann["email"], "password": "wrong pass"}}),
        ("POST", "/api/auth/login", {"json": {"email": 1}}),
        ("GET", "/api/users/me", {"headers": auth}),
        ("GET", "/api/users/me", {}),
        (
            "GET",
            "/api/users",
            {"headers": bearer(api.admin_token), "params": {"include_inactive": "1"}},
        ),
        (
            "POST",
            "/api/users",
            {
                "headers": auth,
                "json": {"email": "y@example.com", "name": "Y", "password": PASSWORD},
            },
        ),
        (
            "POST",
            "/api/users",
            {
                "headers": bearer(bob_token),
                "json": {"email": ann["email"], "name": "Y", "password": PASSWORD},
            },
        ),
        (
            "PATCH",
            f"/api/users/{ann['id']}",
            {"headers": bearer(bob_token), "json": {"name": "Annie"}},
        ),
        ("PATCH", f"/api/users/{missing}", {"headers": bearer(bob_token), "json": {"name": "Z"}}),
        ("PATCH", "/api/users/nope", {"headers": bearer(bob_token), "json": {"name": "Z"}}),
        ("GET", "/api/rooms", {"headers": auth}),
        ("POST", "/api/rooms", {"headers": auth, "json": {"name": "", "room_type": "open"}}),
        (
            "POST",
            "/api/rooms",
            {"headers": auth, "data": "{", "skip_auto_headers": ["Content-Type"]},
        ),
        ("GET", f"/api/rooms/{room['id']}", {"headers": auth}),
        ("GET", f"/api/rooms/{missing}", {"headers": auth}),
        (
            "PATCH",
            f"/api/rooms/{room['id']}",
            {"headers": bearer(bob_token), "json": {"name": "Mine"}},
        ),
        ("PATCH", f"/api/rooms/{lobby['id']}", {"headers": auth, "json": {"name": "Mine"}}),
        ("GET", f"/api/rooms/{room['id']}/members", {"headers": auth}),
        (
            "POST",
            f"/api/rooms/{room['id']}/members",
            {"headers": auth, "json": {"user_id": missing}},
        ),
        ("POST", "/api/rooms/direct", {"headers": auth, "json": {"user_ids": [bob["id"]]}}),
        ("POST", "/api/rooms/direct", {"headers": auth, "json": {"user_ids": [bob["id"]]}}),
        ("POST", "/api/rooms/direct", {"headers": auth, "json": {"user_ids": "all"}}),
        ("GET", f"/api/rooms/{room['id']}/messages", {"headers": auth, "params": {"limit": "1"}}),
        ("GET", f"/api/rooms/{room['id']}/messages", {"headers": auth, "params": {"limit": "x"}}),
        (
            "POST",
            f"/api/rooms/{room['id']}/messages",
            {"headers": auth, "json": {"content": " ", "client_message_id": missing}},
        ),
        ("DELETE", f"/api/rooms/{room['id']}/members/{missing}", {"headers": auth}),
        ("DELETE", f"/api/rooms/{room['id']}/members/{bob['id']}", {"headers": auth}),
        ("DELETE", f"/api/rooms/{lobby['id']}", {"headers": auth}),
        ("DELETE", f"/api/rooms/{room['id']}", {"headers": auth}),
        ("PUT", "/api/rooms", {"headers": auth}),
        ("GET", "/api/unknown", {"headers": auth}),
        ("POST", "/api/auth/logout", {"headers": bearer(bob_token)}),
        ("GET", "/api/rooms", {"headers": bearer(bob_token)}),
    ]
    for method, path, kwargs in calls:
        anonymous(client)
        await client.request(method, path, **kwargs)
    assert len(seen) > len(calls)

    database = client.app[core_key].db
    secrets = [row[0] for row in await database.fetchall("SELECT password_hash FROM users")]
    secrets += [row[0] for row in await database.fetchall("SELECT token_hash FROM sessions")]
    tokens = {
        json.loads(r["body"])["session_token"] for r in seen if '"session_token"' in r["body"]
    }
    assert len(tokens) == 3  # setup, Ann's and Bob's logins: nothing else hands one out
    statuses = set()
    for response in seen:
        body, status = response["body"], response["status"]
        statuses.add(status)
        own = json.loads(body).get("session_token") if '"session_token"' in body else None
        everything = body + json.dumps(response["headers"])
        assert "password_hash" not in everything and "$argon2" not in everything, response[
            "request"
        ]
        assert not any(secret in everything for secret in secrets), response["request"]
        assert not any(token in everything for token in tokens - {own}), response["request"]
        if status >= 400:
            data = json.loads(body)
            assert list(data) == ["error"] and sorted(data["error"]) == ["code", "message"], (
                response
            )
            assert data["error"]["code"] in ERROR_CODES, response
            assert response["headers"]["Content-Type"].startswith("application/json"), response
    assert {200, 201, 204, 400, 401, 403, 404, 405, 409} <= statuses


ODD_VALUES = [
    None,
    0,
    -1,
    2**70,
    1.5,
    True,
    [],
    {},
    ["x"],
    {"a": 1},
    "",
    " ",
    "\ud800",
    "x" * 20_000,
    "not-a-uuid",
]


async def test_no_field_value_crashes_the_server(client, api):
    """Each field of each body, set to each odd value: always a 4xx (or a success), never a 500."""
    import json

    _, token = await api.user("Ann")
    bob, _ = await api.user("Bob")
    room = await api.room(token, "Team")
    admin, ann = bearer(api.admin_token), bearer(token)
    routes = [
        ("POST", "/api/setup", ["email", "name", "password"], {}),
        ("POST", "/api/auth/login", ["email", "password"], {}),
        ("POST", "/api/users", ["email", "name", "password", "is_admin"], admin),
        ("PATCH", f"/api/users/{bob['id']}", ["is_active", "is_admin", "name"], admin),
        ("POST", "/api/rooms", ["name", "room_type"], ann),
        ("POST", "/api/rooms/direct", ["user_ids"], ann),
        ("PATCH", f"/api/rooms/{room['id']}", ["name"], ann),
        ("POST", f"/api/rooms/{room['id']}/members", ["user_id"], ann),
        ("POST", f"/api/rooms/{room['id']}/messages", ["content", "client_message_id"], ann),
    ]
    crashes = []
    for method, path, fields, headers in routes:
        for field in fields:
            for value in ODD_VALUES:
                body = dict.fromkeys(fields, "x") | {field: value}
                anonymous(client)
                resp = await client.request(
                    method,
                    path,
                    data=json.dumps(body),
                    headers={**headers, "Content-Type": "application/json"},
                )
                if resp.status >= 500:
                    crashes.append((method, path, field, repr(value)[:20], resp.status))
    for name in ("limit", "before", "after"):
        for value in ("", "x", "-5", str(2**70), "1e9", "\x00", "1.0"):
            resp = await client.get(
                f"/api/rooms/{room['id']}/messages", params={name: value}, headers=ann
            )
            if resp.status >= 500:
                crashes.append(("GET messages", name, value, resp.status))
    assert crashes == []


def test_docs_list_every_route_and_every_error_code():
    """docs/http-api.md names each route (method and path; all but the web client's static
    files) and each code in errors.py."""
    import re
    from pathlib import Path

    from campfire.config import Settings

    doc = (Path(__file__).parent.parent / "docs" / "http-api.md").read_text(encoding="utf-8")
    table = set(re.findall(r"^\| (GET|POST|PUT|PATCH|DELETE) \| `([^`]+)` \|", doc, re.MULTILINE))
    routes = set()
    for route in create_app(Settings()).router.routes():
        path = route.resource.canonical if route.resource else ""
        if path and not path.startswith("/static") and route.method != "HEAD":
            routes.add((route.method, path))
    assert routes == table
    for method, path in routes:
        assert f"#### `{method} {path}`" in doc, (method, path)
    codes_in_doc = set(re.findall(r"^\| `([A-Z_]+)` \|", doc, re.MULTILINE))
    assert codes_in_doc == ERROR_CODES
