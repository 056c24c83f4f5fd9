"""Browser-test fixtures: a real `campfire serve` process and Debian's headless Chromium.

The server runs as a subprocess on a free 127.0.0.1 port with its own SQLite file, so a test
can stop and restart it on the same port and database. Chromium is driven by Playwright; it
must be Debian's /usr/bin/chromium (no browser downloads here). When it is missing the tests
fail with a message saying how to install it: they never skip.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CAMPFIRE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct horse battery"
# Console messages a page may log while the server is deliberately down.
OFFLINE_NOISE = ("ERR_CONNECTION_REFUSED", "WebSocket connection to", "Failed to load resource")
# Chromium logs every 401 (signed out, wrong password): expected answers, not page errors.
# A 409 (a room name taken) is an answer the page shows the person too.
EXPECTED_NOISE = ("status of 401 (Unauthorized)", "status of 409 (Conflict)")


def pytest_collection_modifyitems(items):
    """Every test in this folder is a browser test."""
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`campfire serve` in a subprocess, plus small HTTP helpers to set up people and rooms."""

    def __init__(self, tmp_path: Path, db: str | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db = db or tmp_path / "campfire.db"  # or a PostgreSQL URL
        self.files = tmp_path / "campfire-files"  # where uploads go when db is a URL
        self.log = tmp_path / "server.log"
        self.proc: subprocess.Popen | None = None
        self.admin_token: str | None = None
        self._count = 0

    def start(self) -> None:
        """Start the server and wait until /health answers."""
        env = {
            **os.environ,
            "CAMPFIRE_HOST": "127.0.0.1",
            "CAMPFIRE_PORT": str(self.port),
            "CAMPFIRE_DB": str(self.db),
            "CAMPFIRE_FILES_DIR": str(self.files) if "://" in str(self.db) else "",
            "CAMPFIRE_TYPING_TIMEOUT": "2",
            "CAMPFIRE_TYPING_SWEEP_INTERVAL": "0.5",
            "CAMPFIRE_SHUTDOWN_TIMEOUT": "2",
            "CAMPFIRE_LOG_LEVEL": "WARNING",
            # A revoked session's sockets close within a second (30 s by default).
            "CAMPFIRE_WS_RECHECK_INTERVAL": "1",
            # Tests set up history by posting a hundred messages at once.
            "CAMPFIRE_USER_MESSAGES_BURST": "1000",
        }
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "campfire", "serve"], env=env, stdout=log, stderr=log
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(
                    f"campfire serve exited with {self.proc.returncode}:\n{self.log.read_text()}"
                )
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        pytest.fail(f"campfire serve did not answer within 20 s:\n{self.log.read_text()}")

    def stop(self) -> None:
        """Stop the server gracefully (SIGTERM), killing it if it hangs."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def call(self, method: str, path: str, body: dict | None = None, token: str | None = None):
        """One HTTP call: (status, JSON body or None)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            return exc.code, json.loads(raw) if raw else None

    def ok(self, method: str, path: str, body: dict | None = None, token: str | None = None):
        """An HTTP call that must succeed; its JSON body."""
        status, data = self.call(method, path, body, token)
        assert 200 <= status < 300, (method, path, status, data)
        return data

    def setup_admin(self, name: str = "Admin") -> tuple[dict, str]:
        """The first administrator, through POST /api/setup."""
        data = self.ok(
            "POST", "/api/setup", {"email": "admin@example.com", "name": name, "password": PASSWORD}
        )
        self.admin_token = data["session_token"]
        return data["user"], data["session_token"]

    def user(self, name: str) -> tuple[dict, str]:
        """A new user (created by the admin) and a session token for them."""
        if self.admin_token is None:
            self.setup_admin()
        self._count += 1
        email = f"{name.lower().replace(' ', '.')}.{self._count}@example.com"
        user = self.ok(
            "POST",
            "/api/users",
            {"email": email, "name": name, "password": PASSWORD},
            self.admin_token,
        )["user"]
        token = self.ok("POST", "/api/auth/login", {"email": email, "password": PASSWORD})[
            "session_token"
        ]
        return user, token

    def room(self, token: str, name: str, room_type: str = "closed", members=()) -> dict:
        """A room created by the token's user, with these members added."""
        room = self.ok("POST", "/api/rooms", {"name": name, "room_type": room_type}, token)["room"]
        for member in members:
            self.ok("POST", f"/api/rooms/{room['id']}/members", {"user_id": member["id"]}, token)
        return room

    def post(self, token: str, room_id: str, content: str) -> dict:
        """A message posted over HTTP."""
        body = {"content": content, "client_message_id": str(uuid.uuid4())}
        return self.ok("POST", f"/api/rooms/{room_id}/messages", body, token)["message"]

    def messages(self, token: str, room_id: str) -> list[dict]:
        """The newest 200 messages of a room."""
        return self.ok("GET", f"/api/rooms/{room_id}/messages?limit=200", token=token)["messages"]


@pytest.fixture
def server_db() -> str | None:
    """The `server` fixture's database: None for a SQLite file of its own (a module may
    override this with a PostgreSQL URL)."""
    return None


@pytest.fixture
def server(tmp_path, server_db):
    """A running `campfire serve` with an empty database of its own."""
    srv = Server(tmp_path, db=server_db)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory):
    """One `campfire serve` for a whole module, for tests that never stop it: each test makes
    its own people and uniquely named rooms (see `unique`), so they cannot see each other's."""
    srv = Server(tmp_path_factory.mktemp("shared"))
    srv.start()
    yield srv
    srv.stop()


_names = iter(range(1, 1_000_000))


def unique(name: str) -> str:
    """A room name no other test in the run uses (room names are unique per type)."""
    return f"{name} {next(_names)}"


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium, driven by Playwright, shared by one test module.

    Not session-wide: sync Playwright keeps an asyncio loop running in this thread while it is
    open, which would break asyncio.run() in the tests that come after.
    """
    if not os.path.exists(CHROMIUM):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: the browser tests need it. "
            "Install it with `apt-get install -y chromium` (.ci/run does), "
            "or point CAMPFIRE_CHROMIUM at a Chromium binary."
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is missing: `pip install -e '.[test]'` installs it.")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Pages:
    """Opens pages in fresh browser contexts (one per person) and checks they logged no errors."""

    def __init__(self, browser, server: Server) -> None:
        self.browser = browser
        self.server = server
        self.contexts = []
        self.errors: list[str] = []
        self.tolerate_offline = False

    def open(self, token: str | None = None, viewport=(1100, 760), **options):
        """A page at / in a new context, signed in with this session token when given;
        `options` go to the context (timezone_id, say)."""
        context = self.browser.new_context(
            base_url=self.server.url,
            viewport={"width": viewport[0], "height": viewport[1]},
            locale="en-US",
            **options,
        )
        context.set_default_timeout(8000)
        self.contexts.append(context)
        if token:
            context.add_cookies([{"name": "session_token", "value": token, "url": self.server.url}])
        page = context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on(
            "console",
            lambda msg: msg.type == "error" and self.errors.append(f"console: {msg.text}"),
        )
        page.goto("/")
        return page

    def chat(self, token: str, **kwargs):
        """A signed-in page whose socket is connected."""
        page = self.open(token, **kwargs)
        page.wait_for_selector('#conn-status[data-state="online"]')
        return page

    def close(self) -> None:
        """Close every context; fail on errors the pages logged (CSP violations included)."""
        for context in self.contexts:
            context.close()
        errors = [
            e
            for e in self.errors
            if not any(noise in e for noise in EXPECTED_NOISE)
            and not (self.tolerate_offline and any(noise in e for noise in OFFLINE_NOISE))
        ]
        assert not errors, "the pages logged errors:\n" + "\n".join(errors)


@pytest.fixture
def pages(browser, server):
    """Browser pages against the test server; each test's contexts close after it."""
    opened = Pages(browser, server)
    yield opened
    opened.close()


@pytest.fixture
def shared_pages(browser, shared_server):
    """Browser pages against the module's shared server; each test's contexts close after it."""
    opened = Pages(browser, shared_server)
    yield opened
    opened.close()
