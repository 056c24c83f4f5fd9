"""Search in the web client (issue 14): the box ("/" focuses it), results with room, author,
time and the matched words marked, more results, this room or all, and opening a result deep
in old history: the page around it, highlighted, paging both ways, then live."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from conftest import unique
from pageutil import message, open_room, send
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

HISTORY = 2000


def insert_history(server, room_id: str, user_id: str, contents: list[str]) -> None:
    """Messages written straight into the server's SQLite file (the search index follows by
    its triggers), a minute apart, ending an hour ago."""
    start = datetime.now(UTC) - timedelta(minutes=len(contents) + 60)
    rows = [
        (
            str(uuid.uuid4()),
            room_id,
            user_id,
            content,
            str(uuid.uuid4()),
            (start + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        )
        for i, content in enumerate(contents)
    ]
    with sqlite3.connect(server.db, timeout=10) as db:
        db.executemany(
            "INSERT INTO messages (id, room_id, creator_id, content, client_message_id,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )


def shown_seqs(page) -> list[int]:
    """The seq of every stored message shown, top to bottom."""
    return page.locator("#messages li.message[data-seq]").evaluate_all(
        "items => items.map((li) => Number(li.dataset.seq))"
    )


def scroll(page, where: str) -> None:
    """Scroll the message list to its top or bottom."""
    page.locator("#scroller").evaluate(
        f"s => {{ s.scrollTop = {'0' if where == 'top' else 's.scrollHeight'}; }}"
    )


def test_search_opens_a_message_deep_in_old_history_and_pages_both_ways(
    shared_server, shared_pages
):
    server = shared_server
    ann, ann_token = server.user("Ann")
    bob, bob_token = server.user("Bob")
    room = server.room(ann_token, unique("archive"), members=[bob])
    contents = [f"routine note number {i}" for i in range(HISTORY)]
    contents[150] = "the zanzibar shipment left the port"
    insert_history(server, room["id"], ann["id"], contents)
    all_seqs = [m["seq"] for m in server.messages(ann_token, room["id"])]
    assert len(all_seqs) == 200  # the newest page; the old message is far beyond it

    b = shared_pages.chat(bob_token)
    open_room(b, room)
    b.locator("#scroller").focus()
    b.keyboard.press("/")  # not typing anywhere: "/" goes to the search box
    box = b.get_by_role("searchbox", name="Search messages")
    expect(box).to_be_focused()
    box.fill("Zanzibar")
    box.press("Enter")
    results = b.locator("#search-results li")
    expect(results).to_have_count(1)
    expect(results.locator(".search-room")).to_have_text(f"#{room['name']}")
    expect(results.locator(".search-author")).to_have_text("Ann")
    expect(results.locator("time")).not_to_have_text("")
    expect(results.locator("mark")).to_have_text(["zanzibar"])
    expect(results.locator(".search-snippet")).to_have_text("the zanzibar shipment left the port")

    results.get_by_role("button").click()
    expect(b.locator("#search-panel")).to_be_hidden()
    target = b.locator("#messages li.message.highlight")
    expect(target.locator(".content")).to_have_text("the zanzibar shipment left the port")
    expect(target).to_be_in_viewport()
    expect(target).to_be_focused()
    # Its neighbours are there, in order, with no gap.
    expect(message(b, "routine note number 149")).to_be_visible()
    expect(message(b, "routine note number 151")).to_be_visible()
    seqs = shown_seqs(b)
    assert seqs == sorted(seqs) and len(seqs) >= 40
    first = seqs[0]

    # Older pages load above, newer ones below, each continuing without gap or repeat.
    scroll(b, "top")
    expect(b.locator("#messages li.message[data-seq]").first).not_to_have_attribute(
        "data-seq", str(first)
    )
    scroll(b, "bottom")
    expect(message(b, "routine note number 200")).to_have_count(1)
    scroll(b, "bottom")
    expect(message(b, "routine note number 250")).to_have_count(1)
    seqs = shown_seqs(b)
    assert len(seqs) == len(set(seqs))
    with sqlite3.connect(server.db) as db:
        expected = [
            row[0]
            for row in db.execute(
                "SELECT seq FROM messages WHERE room_id = ? AND seq BETWEEN ? AND ? ORDER BY seq",
                (room["id"], seqs[0], seqs[-1]),
            )
        ]
    assert seqs == expected
    # Still old history: the newest messages are not shown, and the bar offers the way there.
    expect(message(b, f"routine note number {HISTORY - 1}")).to_have_count(0)
    expect(b.locator("#jump-latest")).to_be_visible()

    # A live message meanwhile waits (it is not shown after a gap) and is announced.
    server.post(ann_token, room["id"], "fresh news")
    expect(b.locator("#jump-latest")).to_have_text("1 new message - jump to latest")
    expect(message(b, "fresh news")).to_have_count(0)
    b.locator("#jump-latest").click()
    expect(message(b, "fresh news")).to_be_visible()
    expect(message(b, f"routine note number {HISTORY - 1}")).to_be_visible()
    expect(b.locator("#messages li.highlight")).to_have_count(0)


def test_near_the_end_paging_forward_reaches_the_newest_and_goes_live(shared_server, shared_pages):
    server = shared_server
    ann, ann_token = server.user("Ann")
    bob, bob_token = server.user("Bob")
    room = server.room(ann_token, unique("recent"), members=[bob])
    insert_history(server, room["id"], ann["id"], [f"line {i}" for i in range(120)])
    insert_history(server, room["id"], ann["id"], ["a quokka smiled"])
    insert_history(server, room["id"], ann["id"], [f"tail {i}" for i in range(40)])
    other = server.room(ann_token, unique("elsewhere"), members=[bob])

    b = shared_pages.chat(bob_token)
    open_room(b, other)
    box = b.get_by_role("searchbox", name="Search messages")
    box.fill("quokka")
    box.press("Enter")
    b.locator("#search-results li").get_by_role("button").click()
    expect(b.locator("#room-title")).to_have_text(room["name"])
    expect(b.locator("#messages li.highlight .content")).to_have_text("a quokka smiled")
    # 25 newer fit in the first page, 15 more come when scrolled to the end; then it is live.
    scroll(b, "bottom")
    expect(message(b, "tail 39")).to_be_visible()
    expect(b.locator("#jump-latest")).to_be_hidden()
    server.post(ann_token, room["id"], "live again")
    expect(message(b, "live again")).to_be_visible()
    send(b, "and my answer")
    expect(b.locator("#messages li.message:not(.pending)").last.locator(".content")).to_have_text(
        "and my answer"
    )


def test_more_results_and_this_room_only(shared_server, shared_pages):
    server = shared_server
    ann, ann_token = server.user("Ann")
    here = server.room(ann_token, unique("here"))
    there = server.room(ann_token, unique("there"))
    insert_history(server, here["id"], ann["id"], [f"kiwi {i} here" for i in range(25)])
    insert_history(server, there["id"], ann["id"], [f"kiwi {i} there" for i in range(5)])
    a = shared_pages.chat(ann_token)
    open_room(a, here)
    box = a.get_by_role("searchbox", name="Search messages")
    box.fill("kiwi")
    box.press("Enter")
    results = a.locator("#search-results li")
    expect(results).to_have_count(20)
    expect(a.locator("#search-status")).to_have_text("20+ messages in your rooms match “kiwi”.")
    a.get_by_role("button", name="More results").click()
    expect(results).to_have_count(30)
    expect(a.get_by_role("button", name="More results")).to_be_hidden()
    expect(results.locator(".search-room").filter(has_text=there["name"])).to_have_count(5)

    a.get_by_label("Where to search").select_option("room")
    expect(results).to_have_count(20)
    a.get_by_role("button", name="More results").click()
    expect(results).to_have_count(25)
    expect(results.locator(".search-room").filter(has_text=there["name"])).to_have_count(0)
    expect(a.locator("#search-status")).to_have_text("25 messages in this room match “kiwi”.")

    # Nothing found is said; Escape closes the panel and leaves the box focused.
    box.fill("xylophone")
    box.press("Enter")
    expect(a.locator("#search-status")).to_have_text("Nothing in this room matches “xylophone”.")
    box.press("Escape")
    expect(a.locator("#search-panel")).to_be_hidden()
    expect(box).to_be_focused()
    # Typing "/" in the composer types it; it does not jump to the search box.
    composer = a.get_by_label("Message", exact=True)
    composer.focus()
    a.keyboard.type("a/b")
    expect(composer).to_have_value("a/b")
