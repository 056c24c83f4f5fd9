"""Shared fixtures: a real app on a real SQLite file (tmp_path), real HTTP and WebSocket clients."""

from __future__ import annotations

import asyncio
import threading

import apicheck
import pgserver
import pytest
from aiohttp import web
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST

from campfire import auth
from campfire.app import create_app
from campfire.config import Settings
from campfire.keys import core_key


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch):
    """argon2's cheapest profile in tests: the same code path, a fraction of the CPU."""
    monkeypatch.setattr(auth, "PasswordHasher", lambda: PasswordHasher.from_parameters(CHEAPEST))


@pytest.fixture(autouse=True)
def no_leftover_threads():
    """Fail a test that leaves threads behind (an unclosed database or pool)."""
    before = set(threading.enumerate())
    yield
    for _ in range(50):
        extra = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not extra:
            return
        threading.Event().wait(0.02)
    pytest.fail(f"threads left running: {[t.name for t in extra]}")


@pytest.fixture(scope="session")
def postgres_server():
    """A private PostgreSQL server for the session (tests/pgserver.py), stopped at the end."""
    server = pgserver.PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server):
    """A fresh, migrated PostgreSQL database for one test; its URL. Dropped after the test
    (each holds megabytes: a suite's worth would fill the disk)."""
    url = postgres_server.fresh_database()
    yield url
    postgres_server.drop(url)


def pytest_collection_modifyitems(config, items):
    """On PostgreSQL (CAMPFIRE_TEST_DB=postgresql): run only the tests whose server uses the
    configured database (the test_db fixture, through settings, client, api...), since the
    others (their own SQLite files, subprocess worlds, PostgreSQL's own tests) ran in the
    SQLite run already; and skip the tests about SQLite itself, with their reason."""
    if pgserver.suite_engine() != "postgresql":
        return
    kept, left_out = [], []
    for item in items:
        (kept if "test_db" in getattr(item, "fixturenames", ()) else left_out).append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept
    for item in kept:
        marker = item.get_closest_marker("sqlite_only")
        if marker is not None:
            reason = marker.args[0] if marker.args else "about SQLite itself"
            item.add_marker(pytest.mark.skip(reason=f"SQLite only: {reason}"))


@pytest.fixture
def test_db(request, tmp_path) -> str:
    """The database setting of a test: a SQLite file in tmp_path, or with
    CAMPFIRE_TEST_DB=postgresql a fresh database on the session's private server."""
    if pgserver.suite_engine() == "postgresql":
        return request.getfixturevalue("postgres_url")
    return str(tmp_path / "campfire.db")


@pytest.fixture
def settings(tmp_path, test_db) -> Settings:
    """Settings for a test server: its own database, short timers."""
    return Settings(
        db=test_db,
        # With PostgreSQL there is no file to put the files beside: where SQLite's would be.
        files_dir=str(tmp_path / "campfire.db-files") if "://" in test_db else "",
        typing_timeout=0.4,
        typing_sweep_interval=0.1,
        ws_heartbeat=5.0,
        shutdown_timeout=2.0,
    )


@pytest.fixture
def aiohttp_client(aiohttp_client):
    """pytest-aiohttp's, plus: every answer of the app must be documented in its OpenAPI
    document (tests/apicheck.py); the test fails at its end otherwise."""
    apps = []

    async def start(app, *args, **kwargs):
        if isinstance(app, web.Application):
            apicheck.watch(app)
            apps.append(app)
        return await aiohttp_client(app, *args, **kwargs)

    yield start
    for app in apps:
        assert not apicheck.undocumented(app), (
            "answers that /api/openapi.json does not document (add them to the route's"
            f" @describe): {sorted(set(apicheck.undocumented(app)))}"
        )


@pytest.fixture
async def client(aiohttp_client, settings):
    """An HTTP/WebSocket client talking to a real server on a real socket."""
    return await aiohttp_client(create_app(settings))


@pytest.fixture
def core(client):
    """The running server's Core (database, hub, settings)."""
    return client.app[core_key]


class Api:
    """Small helpers to set up people and rooms through the real HTTP API."""

    def __init__(self, client):
        self.client = client
        self.admin_token: str | None = None
        self._count = 0

    @staticmethod
    def auth(token: str) -> dict:
        return {"Authorization": f"Bearer {token}"}

    async def setup_admin(self, email="admin@example.com", name="Admin", password="correct horse"):
        resp = await self.client.post(
            "/api/setup", json={"email": email, "name": name, "password": password}
        )
        assert resp.status == 201, await resp.text()
        data = await resp.json()
        self.client.session.cookie_jar.clear()  # helpers authenticate by token, never by cookie
        self.admin_token = data["session_token"]
        return data["user"], data["session_token"]

    async def user(self, name: str | None = None, admin: bool = False, password="correct horse"):
        """A new user and a session token for them."""
        if self.admin_token is None:
            await self.setup_admin()
        self._count += 1
        name = name or f"User {self._count}"
        email = f"{name.lower().replace(' ', '.')}.{self._count}@example.com"
        resp = await self.client.post(
            "/api/users",
            headers=self.auth(self.admin_token),
            json={"email": email, "name": name, "password": password, "is_admin": admin},
        )
        assert resp.status == 201, await resp.text()
        user = (await resp.json())["user"]
        resp = await self.client.post(
            "/api/auth/login", json={"email": email, "password": password}
        )
        assert resp.status == 200, await resp.text()
        self.client.session.cookie_jar.clear()
        return user, (await resp.json())["session_token"]

    async def room(self, token: str, name="general", room_type="closed", members=()):
        resp = await self.client.post(
            "/api/rooms", headers=self.auth(token), json={"name": name, "room_type": room_type}
        )
        assert resp.status == 201, await resp.text()
        room = (await resp.json())["room"]
        for member in members:
            resp = await self.client.post(
                f"/api/rooms/{room['id']}/members",
                headers=self.auth(token),
                json={"user_id": member["id"]},
            )
            assert resp.status in (200, 201), await resp.text()
        return room

    async def post(
        self, token: str, room_id: str, content: str, client_message_id: str | None = None
    ):
        import uuid

        resp = await self.client.post(
            f"/api/rooms/{room_id}/messages",
            headers=self.auth(token),
            json={"content": content, "client_message_id": client_message_id or str(uuid.uuid4())},
        )
        assert resp.status in (200, 201), await resp.text()
        return (await resp.json())["message"]


@pytest.fixture
def api(client) -> Api:
    """Helpers that create users, rooms and messages through the HTTP API."""
    return Api(client)


async def receive_json(ws, timeout: float = 3.0) -> dict:
    """The next JSON frame from a WebSocket, failing the test if none comes in time."""
    return await asyncio.wait_for(ws.receive_json(), timeout)
