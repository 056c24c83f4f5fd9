"""The web client in headless Chromium against a real `campfire serve` (see conftest.py)."""

from __future__ import annotations

import re

import pytest
from conftest import PASSWORD
from pageutil import message, open_room, send, wait_until
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def chat_pair(server, pages, room_type="closed"):
    """Ann and Bob, each signed in on a page, both viewing one room."""
    ann, ann_token = server.user("Ann")
    bob, bob_token = server.user("Bob")
    room = server.room(ann_token, "general", room_type, members=[bob])
    a, b = pages.chat(ann_token), pages.chat(bob_token)
    open_room(a, room)
    open_room(b, room)
    return room, (ann, ann_token, a), (bob, bob_token, b)


def test_first_run_setup_creates_the_admin_then_shows_login(server, pages):
    page = pages.open()
    expect(page.get_by_role("heading", name="Create the administrator account")).to_be_visible()
    page.get_by_label("Your name").fill("Ada")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#me-name")).to_have_text("Ada")
    expect(page.locator("#conn-status")).to_have_attribute("data-state", "online")
    assert server.ok("GET", "/api/setup") == {"needs_setup": False}
    token = server.ok(
        "POST", "/api/auth/login", {"email": "ada@example.com", "password": PASSWORD}
    )["session_token"]
    assert server.ok("GET", "/api/users/me", token=token)["user"]["is_admin"] is True

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_label("Your name")).to_be_hidden()
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert").filter(has_text="Wrong email or password")).to_be_visible()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#me-name")).to_have_text("Ada")


def test_two_users_chat_live(server, pages):
    room, (_ann, ann_token, a), (_bob, _, b) = chat_pair(server, pages)
    send(a, "Hello Bob")
    expect(message(b, "Hello Bob")).to_have_count(1)
    expect(message(b, "Hello Bob").locator(".author")).to_have_text("Ann")
    expect(message(b, "Hello Bob").locator("time")).to_have_attribute("datetime", re.compile(r"Z$"))
    expect(message(a, "Hello Bob")).to_have_count(1)
    expect(message(a, "Hello Bob")).not_to_have_class(re.compile("pending"))

    box = a.get_by_label("Message", exact=True)
    box.fill("line one")
    box.press("Shift+Enter")
    box.press_sequentially("line two")
    expect(message(a, "line one\nline two")).to_have_count(0)  # Shift+Enter did not send
    box.press("Enter")
    expect(message(b, "line one\nline two")).to_have_count(1)

    send(b, "Hi Ann")
    expect(message(a, "Hi Ann")).to_have_count(1)
    expect(message(a, "Hi Ann").locator(".author")).to_have_text("Bob")
    stored = [m["content"] for m in server.messages(ann_token, room["id"])]
    assert stored == ["Hello Bob", "line one\nline two", "Hi Ann"]
    expect(a.locator("#messages li.message")).to_have_count(3)
    expect(b.locator("#messages li.message")).to_have_count(3)


def test_unread_marker_appears_and_clears(server, pages):
    _ann, ann_token = server.user("Ann")
    bob, bob_token = server.user("Bob")
    general = server.room(ann_token, "general", members=[bob])
    random = server.room(ann_token, "random", members=[bob])
    a = pages.chat(ann_token)
    open_room(a, general)
    random_item = a.locator("#room-list li").filter(
        has=a.locator(f'[data-room-id="{random["id"]}"]')
    )
    expect(random_item).not_to_have_class("unread")

    server.post(bob_token, random["id"], "psst, over here")
    expect(random_item).to_have_class("unread")
    expect(random_item).to_contain_text("1 unread message")  # for screen readers
    server.post(bob_token, general["id"], "in the open room")
    expect(message(a, "in the open room")).to_have_count(1)
    general_item = a.locator("#room-list li").filter(
        has=a.locator(f'[data-room-id="{general["id"]}"]')
    )
    expect(general_item).not_to_have_class("unread")

    open_room(a, random)
    expect(random_item).not_to_have_class("unread")
    expect(message(a, "psst, over here")).to_have_count(1)
    # The last-seen marks reached the server: after a reload neither room is unread.
    wait_until(
        lambda: all(
            r["last_seen_seq"] == r["last_message_seq"]
            for r in server.ok("GET", "/api/rooms", token=ann_token)["rooms"]
        )
    )
    a.reload()
    expect(a.locator("#room-title")).to_have_text("random")
    expect(a.locator("#room-list li.unread")).to_have_count(0)


def test_typing_indicator_shows_and_goes_away(server, pages):
    _, (_, _, a), (_, _, b) = chat_pair(server, pages)
    typing = a.locator("#typing")
    box = b.get_by_label("Message", exact=True)

    box.press_sequentially("hel")
    expect(typing).to_have_text("Bob is typing…")
    box.fill("")  # emptied: StopTyping
    expect(typing).to_have_text("")

    box.press_sequentially("hello")
    expect(typing).to_have_text("Bob is typing…")
    box.press("Enter")  # sent: the indicator ends
    expect(typing).to_have_text("")
    expect(message(a, "hello")).to_have_count(1)

    box.press_sequentially("thinking")
    expect(typing).to_have_text("Bob is typing…")
    # Bob goes quiet with text in the box: the server expires it (2 s in these tests).
    expect(typing).to_have_text("", timeout=6000)
    expect(b.locator("#typing")).to_have_text("")  # nobody sees their own indicator


def test_presence_shows_who_is_here(server, pages):
    _ann, ann_token = server.user("Ann")
    bob, bob_token = server.user("Bob")
    room = server.room(ann_token, "general", members=[bob])
    a = pages.chat(ann_token)
    open_room(a, room)
    people = a.locator("#presence .person")
    expect(people).to_have_text(["Ann"])

    b = pages.chat(bob_token)
    open_room(b, room)
    expect(people).to_have_text(["Ann", "Bob"])
    expect(b.locator("#presence .person")).to_have_text(["Ann", "Bob"])

    b.context.close()
    expect(people).to_have_text(["Ann"])


def test_html_in_messages_is_shown_as_text_and_runs_nothing(server, pages):
    _, (_, _, a), (_, _, b) = chat_pair(server, pages)
    payload = (
        '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2"> <b>bold</b> '
        "see https://example.com/a?b=1. and " + "w" * 400
    )
    send(a, payload)
    for page in (a, b):
        item = message(page, payload)
        expect(item).to_have_count(1)
        expect(item.locator("script, img, b")).to_have_count(0)
        link = item.locator("a")
        expect(link).to_have_text("https://example.com/a?b=1")
        expect(link).to_have_attribute("href", "https://example.com/a?b=1")
        expect(link).to_have_attribute("rel", "noopener noreferrer")
        assert page.evaluate("window.pwned") is None
        # The 400-character word wraps instead of widening the page.
        assert page.evaluate(
            "document.getElementById('scroller').scrollWidth"
            " <= document.getElementById('scroller').clientWidth"
        )


def test_history_loads_older_pages_on_scroll_up(server, pages):
    _ann, ann_token = server.user("Ann")
    room = server.room(ann_token, "general")
    for i in range(120):
        server.post(ann_token, room["id"], f"message {i:03}")
    a = pages.chat(ann_token)
    open_room(a, room)
    items = a.locator("#messages li.message")
    expect(items).to_have_count(50)
    expect(items.last.locator(".content")).to_have_text("message 119")
    for expected in (100, 120):
        a.locator("#scroller").evaluate("el => { el.scrollTop = 0; }")
        expect(items).to_have_count(expected)
    expect(a.locator("#history-status")).to_have_text("This is the beginning of the room.")
    texts = items.locator(".content").all_text_contents()
    assert texts == [f"message {i:03}" for i in range(120)]


def test_direct_conversation_and_new_room_from_the_sidebar(server, pages):
    _ann, ann_token = server.user("Ann")
    _bob, bob_token = server.user("Bob")
    a, b = pages.chat(ann_token), pages.chat(bob_token)

    a.get_by_role("button", name="Message Bob").click()
    expect(a.locator("#room-title")).to_have_text("Bob")  # named after the others in it
    send(a, "just between us")
    direct = b.locator("#direct-list li").filter(has_text="Ann")
    expect(direct).to_have_class("unread")  # a room Bob did not know about a moment ago
    direct.get_by_role("button").click()
    expect(message(b, "just between us")).to_have_count(1)
    expect(direct).not_to_have_class("unread")

    a.get_by_label("New room").fill("plans")
    a.get_by_label("Room type").select_option("open")
    a.get_by_role("button", name="Create").click()
    expect(a.locator("#room-title")).to_have_text("plans")
    expect(a.locator("#room-list")).to_contain_text("plans")


def test_phone_layout_collapses_the_sidebar(server, pages):
    _ann, ann_token = server.user("Ann")
    room = server.room(ann_token, "general")
    a = pages.chat(ann_token, viewport=(390, 780))
    menu = a.get_by_role("button", name="Show rooms")
    expect(menu).to_be_visible()
    expect(a.locator("#sidebar")).not_to_be_in_viewport()
    menu.click()
    expect(a.locator("#sidebar")).to_be_in_viewport()
    expect(a.get_by_role("button", name="Hide rooms")).to_have_attribute("aria-expanded", "true")
    a.locator(f'#room-list button[data-room-id="{room["id"]}"]').click()
    expect(a.locator("#sidebar")).not_to_be_in_viewport()
    send(a, "from my phone")
    expect(message(a, "from my phone")).not_to_have_class(re.compile("pending"))


def test_reconnects_after_a_restart_and_catches_up_exactly_once(server, pages):
    pages.tolerate_offline = True
    room, (_ann, ann_token, a), (_bob, bob_token, _) = chat_pair(server, pages)
    first = server.post(bob_token, room["id"], "before the restart")
    expect(message(a, "before the restart")).to_have_count(1)
    # Wait until Ann's last-seen mark is stored, so the server's catch-up path runs too.
    a.wait_for_function(
        "async (roomId) => (await (await fetch('/api/rooms')).json()).rooms"
        ".find((r) => r.id === roomId).last_seen_seq !== null",
        arg=room["id"],
    )

    server.stop()
    status = a.locator("#conn-status")
    expect(status).to_have_attribute("data-state", "offline")
    expect(status).to_contain_text("reconnecting")
    send(a, "typed while offline")
    queued = message(a, "typed while offline")
    expect(queued).to_have_class(re.compile("pending"))
    expect(queued).to_contain_text("Queued")

    server.start()
    missed = [server.post(bob_token, room["id"], f"missed {i}") for i in range(3)]
    expect(status).to_have_attribute("data-state", "online", timeout=15000)
    for m in missed:
        expect(message(a, m["content"])).to_have_count(1)
    expect(queued).to_have_count(1)
    expect(queued).not_to_have_class(re.compile("pending"))
    server.post(bob_token, room["id"], "after the restart")
    expect(message(a, "after the restart")).to_have_count(1)

    contents = [m["content"] for m in server.messages(ann_token, room["id"])]
    assert contents.count("typed while offline") == 1
    shown = a.locator("#messages li.message .content").all_text_contents()
    assert sorted(shown) == sorted(contents), (shown, contents)
    assert first["content"] in shown
