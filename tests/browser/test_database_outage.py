"""The web client while the server's PostgreSQL restarts: a message it could not store stays
in the outbox and is sent again by itself, once, when the database is back (issue 17)."""

from __future__ import annotations

import re
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pgserver
import pytest
from pageutil import message, open_room, send, wait_until
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


@pytest.fixture
def postgres():
    """A private PostgreSQL of this test's own (it is restarted)."""
    server = pgserver.PostgresServer()
    try:
        with ThreadPoolExecutor(1) as thread:  # it migrates with asyncio.run: not in Playwright's
            thread.submit(server.start).result()
        yield server
    finally:
        server.stop()


@pytest.fixture
def server_db(postgres):
    """The `server` fixture serves a database on it."""
    return postgres.fresh_database()


def health(base_url: str) -> int:
    """/health's status: 503 while the database cannot be reached."""
    try:
        with urllib.request.urlopen(base_url + "/health", timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_message_not_stored_while_the_database_restarts_is_sent_again_once(
    server, pages, postgres
):
    pages.tolerate_offline = True  # the page's own requests may meet a 503 meanwhile
    _, token = server.user("Ann")
    general = server.room(token, "general")
    a = pages.chat(token)
    open_room(a, general)

    restart = threading.Thread(target=postgres.restart, args=("fast", 4.0))
    restart.start()
    wait_until(lambda: health(server.url) == 503, timeout=5)
    send(a, "Sent while the database was away")
    queued = message(a, "Sent while the database was away")
    expect(a.get_by_text("the server could not store it")).to_be_visible()
    expect(queued).to_have_class(re.compile("pending"))
    expect(a.locator("#conn-status")).to_have_attribute("data-state", "online")  # still open
    restart.join()
    # Resent by itself (no reconnect, no reload) once the database answers again.
    expect(queued).not_to_have_class(re.compile("pending"), timeout=15000)
    contents = [m["content"] for m in server.messages(token, general["id"])]
    assert contents == ["Sent while the database was away"]  # stored exactly once
