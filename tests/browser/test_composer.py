"""The composer: characters counted as the server counts them, drafts kept per room across
reloads and the end of a session (issue 12, bugs 2 and 4), and the edit hook."""

from __future__ import annotations

import re

import pytest
from conftest import PASSWORD, unique
from pageutil import message, open_room
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_emoji_count_once_like_the_server_counts_them(shared_server, shared_pages):
    server = shared_server
    _, token = server.user("Ann")
    room = server.room(token, unique("emoji"))
    a = shared_pages.chat(token)
    open_room(a, room)
    box = a.get_by_label("Message", exact=True)
    box.fill("😀" * 10001)  # one code point too many
    box.press("Enter")
    expect(a.locator("#notice")).to_contain_text("at most 10000 characters")
    expect(a.locator("#messages li.message")).to_have_count(0)
    box.fill("😀" * 5001)  # 10,002 UTF-16 units, 5,001 characters: fine
    box.press("Enter")
    expect(message(a, "😀" * 5001)).not_to_have_class(re.compile("pending"))
    box.fill("😀" * 10000)  # exactly the limit
    box.press("Enter")
    expect(message(a, "😀" * 10000)).not_to_have_class(re.compile("pending"))
    assert [len(m["content"]) for m in server.messages(token, room["id"])] == [5001, 10000]


def test_drafts_are_kept_per_room_and_across_reloads(shared_server, shared_pages):
    server = shared_server
    _, token = server.user("Ann")
    first = server.room(token, unique("first"))
    second = server.room(token, unique("second"))
    a = shared_pages.chat(token)
    open_room(a, first)
    box = a.get_by_label("Message", exact=True)
    box.fill("half a thought")
    open_room(a, second)
    expect(box).to_have_value("")
    box.fill("for the second room")
    open_room(a, first)
    expect(box).to_have_value("half a thought")
    a.reload()
    expect(a.locator("#room-title")).to_have_text(first["name"])
    expect(box).to_have_value("half a thought")
    box.press("Enter")  # sent: the draft is gone
    expect(message(a, "half a thought")).to_have_count(1)
    open_room(a, second)
    expect(box).to_have_value("for the second room")
    open_room(a, first)
    expect(box).to_have_value("")


def test_a_session_that_ends_says_so_and_keeps_the_draft(shared_server, shared_pages):
    server = shared_server
    ann, token = server.user("Ann")
    room = server.room(token, unique("ending"))
    a = shared_pages.chat(token)
    open_room(a, room)
    a.get_by_label("Message", exact=True).fill("words I do not want to lose")
    server.ok("POST", "/api/auth/logout", token=token)  # the session is revoked elsewhere
    expect(a.get_by_role("heading", name="Sign in")).to_be_visible(timeout=10000)
    expect(a.locator("#auth-intro")).to_contain_text("Your session ended; sign in again")
    a.get_by_label("Email").fill(ann["email"])
    a.get_by_label("Password").fill(PASSWORD)
    a.get_by_role("button", name="Sign in").click()
    expect(a.locator("#room-title")).to_have_text(room["name"])
    expect(a.get_by_label("Message", exact=True)).to_have_value("words I do not want to lose")
    # An ordinary sign-in page (after logging out on purpose) just says welcome back.
    a.get_by_role("button", name="Log out").click()
    expect(a.locator("#auth-intro")).to_contain_text("Welcome back")


def test_up_arrow_in_an_empty_composer_is_offered_to_an_editing_module(shared_server, shared_pages):
    # The composer dispatches 'compose-up' (message-actions.js takes it to edit the newest own
    # message: see test_living_messages.py) only when the box is empty.
    server = shared_server
    _, token = server.user("Ann")
    room = server.room(token, unique("hook"))
    a = shared_pages.chat(token)
    open_room(a, room)
    a.evaluate(
        "async () => { const events = await import('/static/events.js');"
        " events.on('compose-up', (e) => { window.composeUp = e.roomId; }); }"
    )
    box = a.get_by_label("Message", exact=True)
    box.fill("not empty")
    box.press("ArrowUp")
    assert a.evaluate("window.composeUp") is None
    box.fill("")
    box.press("ArrowUp")
    assert a.evaluate("window.composeUp") == room["id"]
