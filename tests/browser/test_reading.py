"""Reading a room: unread counts, "New messages", the jump-to-latest bar, grouping, date
dividers, full times on hover, and long names that fit (issue 12)."""

from __future__ import annotations

import re
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from conftest import unique
from pageutil import message, open_room, room_item, send, wait_until
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_unread_counts_title_menu_marker_and_the_new_messages_divider(shared_server, shared_pages):
    server = shared_server
    _, ann_token = server.user("Ann")
    bob, bob_token = server.user("Bob")
    here = server.room(ann_token, unique("here"), members=[bob])
    busy = server.room(ann_token, unique("busy"), members=[bob])
    server.post(ann_token, busy["id"], "before I left")
    a = shared_pages.chat(ann_token)
    open_room(a, busy)
    wait_until(lambda: _seen(server, ann_token, busy["id"]))
    open_room(a, here)
    for i in range(3):
        server.post(bob_token, busy["id"], f"news {i}")
    expect(room_item(a, busy).locator(".unread-count")).to_have_text("3")
    expect(room_item(a, busy)).to_contain_text("3 unread messages")
    expect(a).to_have_title(f"(3) {here['name']} · Campfire")

    # After a reload the count comes from the server (GET /api/rooms unread_count).
    a.reload()
    expect(room_item(a, busy).locator(".unread-count")).to_have_text("3")
    expect(a).to_have_title(f"(3) {here['name']} · Campfire")

    # Opening the room: the divider sits where Ann left off; the count clears.
    open_room(a, busy)
    divider = a.locator("#messages li.new-divider")
    expect(divider).to_have_text("New messages")
    after = a.locator("#messages li.new-divider + li.message .content")
    expect(after).to_have_text("news 0")
    expect(room_item(a, busy).locator(".unread-count")).to_have_count(0)
    expect(a).to_have_title(f"{busy['name']} · Campfire")


def _seen(server, token, room_id):
    """Whether the room's last-seen mark has reached its newest message."""
    rooms = server.ok("GET", "/api/rooms", token=token)["rooms"]
    room = next(r for r in rooms if r["id"] == room_id)
    return room["last_seen_seq"] == room["last_message_seq"]


def test_the_phone_menu_button_shows_the_unread_total(shared_server, shared_pages):
    server = shared_server
    _, ann_token = server.user("Ann")
    bob, bob_token = server.user("Bob")
    here = server.room(ann_token, unique("phone here"), members=[bob])
    other = server.room(ann_token, unique("phone other"), members=[bob])
    a = shared_pages.chat(ann_token, viewport=(390, 780))
    a.get_by_role("button", name="Show rooms").click()
    open_room(a, here)
    marker = a.locator("#menu-unread")
    expect(marker).to_be_hidden()
    server.post(bob_token, other["id"], "psst")
    server.post(bob_token, other["id"], "psst again")
    expect(marker).to_be_visible()
    expect(marker).to_have_text("2")
    expect(a.get_by_role("button", name="Show rooms (2 unread)")).to_be_visible()


def test_scrolled_up_readers_get_a_jump_to_latest_bar(shared_server, shared_pages):
    server = shared_server
    _, ann_token = server.user("Ann")
    bob, bob_token = server.user("Bob")
    room = server.room(ann_token, unique("long"), members=[bob])
    for i in range(60):
        server.post(bob_token, room["id"], f"old {i}")
    a = shared_pages.chat(ann_token)
    open_room(a, room)
    expect(message(a, "old 59")).to_be_in_viewport()
    a.locator("#scroller").evaluate("el => { el.scrollTop = el.scrollHeight / 3; }")
    server.post(bob_token, room["id"], "new one")
    server.post(bob_token, room["id"], "new two")
    bar = a.get_by_role("button", name="2 new messages - jump to latest")
    expect(bar).to_be_visible()
    expect(message(a, "new two")).not_to_be_in_viewport()
    bar.click()
    expect(message(a, "new two")).to_be_in_viewport()
    expect(bar).to_be_hidden()
    # At the bottom, new messages just appear: no bar.
    server.post(bob_token, room["id"], "new three")
    expect(message(a, "new three")).to_be_in_viewport()
    expect(a.locator("#jump-latest")).to_be_hidden()


def _insert_history(server, room_id, user_id, rows):
    """Messages written straight into the server's SQLite file, with times in the past."""
    with sqlite3.connect(server.db, timeout=10) as db:
        for content, at in rows:
            db.execute(
                "INSERT INTO messages (id, room_id, creator_id, content, client_message_id,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    str(uuid.uuid4()),
                    room_id,
                    user_id,
                    content,
                    str(uuid.uuid4()),
                    at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                ),
            )


def test_grouping_date_dividers_and_full_times_on_hover(shared_server, shared_pages):
    server = shared_server
    _, ann_token = server.user("Ann")
    bob, bob_token = server.user("Bob")
    room = server.room(ann_token, unique("history"), members=[bob])
    now = datetime.now(UTC)
    long_ago = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)  # a Monday
    yesterday = now - timedelta(days=1)
    _insert_history(
        server,
        room["id"],
        bob["id"],
        [
            ("long ago 1", long_ago),
            ("long ago 2", long_ago + timedelta(minutes=2)),
            ("long ago later", long_ago + timedelta(minutes=30)),
            ("yesterday", yesterday.replace(hour=12)),
        ],
    )
    server.post(bob_token, room["id"], "today 1")
    server.post(bob_token, room["id"], "today 2")
    server.post(ann_token, room["id"], "today from Ann")
    a = shared_pages.chat(ann_token, timezone_id="UTC")
    open_room(a, room)
    dividers = a.locator("#messages li.day-divider")
    expect(dividers).to_have_text(["Mon 5 Jan 2026", "Yesterday", "Today"])
    grouped = {
        text: "grouped" in (message(a, text).get_attribute("class") or "")
        for text in (
            "long ago 1",
            "long ago 2",
            "long ago later",
            "yesterday",
            "today 1",
            "today 2",
            "today from Ann",
        )
    }
    assert grouped == {
        "long ago 1": False,
        "long ago 2": True,  # Bob again, two minutes later
        "long ago later": False,  # half an hour later: a new header
        "yesterday": False,  # another day
        "today 1": False,
        "today 2": True,
        "today from Ann": False,  # somebody else
    }
    # Grouped messages show no name or avatar; every time has the full date on hover.
    expect(message(a, "today 2").locator(".author")).to_be_hidden()
    expect(message(a, "today 1").locator(".author")).to_be_visible()
    expect(message(a, "long ago 1").locator("time")).to_have_attribute(
        "title", "Monday, January 5, 2026 at 12:00 PM"
    )
    message(a, "today 2").hover()
    expect(message(a, "today 2").locator("time")).to_be_visible()
    # A live message from the same person joins the group.
    send(a, "and another")
    expect(message(a, "and another")).to_have_class("message grouped")


def test_a_grouped_message_shows_its_time_beside_the_text_on_a_phone(shared_server, shared_pages):
    """On hover the time sits in the avatar's column: on screen, and clear of the text; the
    room's name keeps its place in the phone's top bar."""
    server = shared_server
    _, token = server.user("Ann")
    room = server.room(token, unique("a room with a long name"))
    server.post(token, room["id"], "first")
    server.post(token, room["id"], "second, grouped with the first")
    page = shared_pages.chat(token, viewport=(390, 780), timezone_id="UTC")
    page.get_by_role("button", name="Show rooms").click()
    open_room(page, room)
    grouped = message(page, "second, grouped with the first")
    expect(grouped).to_have_class("message grouped")
    grouped.hover()
    time, text = grouped.locator("time"), grouped.locator(".content")
    expect(time).to_be_visible()
    expect(time).to_have_text(re.compile(r"^\d{1,2}:\d\d [AP]M$"))
    # Where the letters are (a box may be narrower than the text that overflows it).
    ink = "e => { const r = document.createRange(); r.selectNodeContents(e);"
    ink += " const b = r.getBoundingClientRect(); return [b.left, b.right]; }"
    (time_left, time_right), (text_left, _) = time.evaluate(ink), text.evaluate(ink)
    assert time_left >= 0, time_left  # not cut off at the screen's edge
    assert time_right <= text_left, (time_right, text_left)
    title = page.locator(".topbar h1")
    assert title.bounding_box()["width"] > 80, "the room's name is squeezed out of the top bar"


def test_long_names_truncate_with_the_full_name_on_hover(shared_server, shared_pages):
    server = shared_server
    long_name = "Bartholomew" + "x" * 39  # 50 letters, no break
    _, token = server.user(long_name)
    room = server.room(token, unique("names"))
    page = shared_pages.chat(token, viewport=(390, 780))
    page.get_by_role("button", name="Show rooms").click()
    open_room(page, room)
    send(page, "hello from a long name")
    item = message(page, "hello from a long name")
    expect(item).not_to_have_class("pending")
    author = item.locator(".author")
    expect(author).to_have_attribute("title", long_name)
    time = item.locator("time")
    expect(time).to_be_in_viewport()
    box = time.bounding_box()
    assert box["x"] + box["width"] <= 390, box
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # The sidebar's "Signed in as" line stays inside the sidebar.
    page.get_by_role("button", name="Show rooms").click()
    fits = page.evaluate(
        "() => { const s = document.getElementById('sidebar');"
        " return s.scrollWidth <= s.clientWidth; }"
    )
    assert fits
    expect(page.locator("#me-name")).to_have_attribute("title", long_name)
