"""Rooms, people and the keyboard: duplicate names, the room list's order, direct rooms made
on the first message, the quick switcher, Alt+Up/Down, the skip link, friendly sign-in errors
and distinct avatar colours (issue 12)."""

from __future__ import annotations

import colorsys

import pytest
from conftest import unique
from pageutil import message, open_room, send
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_a_taken_room_name_asks_for_another(shared_server, shared_pages):
    server = shared_server
    _, token = server.user("Ann")
    taken = server.room(token, unique("plans"), "open")
    a = shared_pages.chat(token)
    a.get_by_label("New room").fill(taken["name"].upper())
    a.get_by_label("Room type").select_option("open")
    a.get_by_role("button", name="Create").click()
    error = a.locator("#new-room-error")
    expect(error).to_contain_text("already a room called")
    expect(error).to_contain_text("Please pick another name")
    expect(a.get_by_label("New room")).to_have_value(taken["name"].upper())  # kept to fix
    names = [r["name"].lower() for r in server.ok("GET", "/api/rooms", token=token)["rooms"]]
    assert names.count(taken["name"].lower()) == 1
    # The same name as a closed room is fine; afterwards the form is back to its defaults.
    a.get_by_label("Room type").select_option("closed")
    a.get_by_role("button", name="Create").click()
    expect(a.locator("#room-title")).to_have_text(taken["name"].upper())
    expect(error).to_be_empty()
    expect(a.get_by_label("New room")).to_have_value("")
    expect(a.get_by_label("Room type")).to_have_value("open")


def test_rooms_then_direct_messages_and_a_direct_room_made_by_its_first_message(
    shared_server, shared_pages
):
    server = shared_server
    ann, ann_token = server.user("Ann")
    bob, bob_token = server.user("Bob")
    cat, _ = server.user("Cat")
    zebra = server.room(ann_token, unique("zebra"), "closed")
    alpha = server.room(ann_token, unique("alpha"), "open")
    server.ok("POST", "/api/rooms/direct", {"user_ids": [cat["id"]]}, ann_token)
    a = shared_pages.chat(ann_token)
    rooms = a.locator("#room-list .room-name").all_text_contents()
    assert rooms.index(alpha["name"]) < rooms.index(zebra["name"])  # open and closed by name
    expect(a.locator("#direct-list .room-name")).to_have_text(["Cat"])
    expect(a.locator("#direct-list")).not_to_contain_text(alpha["name"])

    # Clicking a person opens the conversation; nothing exists until the first message.
    a.get_by_role("button", name="Message Bob").click()
    expect(a.locator("#room-title")).to_have_text("Bob")
    expect(a.locator("#empty-room")).to_contain_text("start of your conversation with Bob")
    directs = [
        r
        for r in server.ok("GET", "/api/rooms", token=bob_token)["rooms"]
        if r["room_type"] == "direct"
    ]
    assert directs == []
    send(a, "hi Bob, first words")
    expect(message(a, "hi Bob, first words")).not_to_have_class("pending")
    expect(a.locator("#direct-list .room-name")).to_have_text(["Bob", "Cat"])
    room = next(
        r
        for r in server.ok("GET", "/api/rooms", token=bob_token)["rooms"]
        if r["room_type"] == "direct"
    )
    assert [m["content"] for m in server.messages(bob_token, room["id"])] == ["hi Bob, first words"]
    # Clicking Bob again opens that same room: no second one.
    a.get_by_role("button", name="Message Cat").click()
    a.get_by_role("button", name="Message Bob").click()
    expect(message(a, "hi Bob, first words")).to_have_count(1)
    assert room["member_ids"] == sorted([ann["id"], bob["id"]])


def test_quick_switcher_and_alt_arrows(shared_server, shared_pages):
    server = shared_server
    _, token = server.user("Ann")
    server.user("Zed Quickfind")
    first = server.room(token, unique("aaa switch"))
    target = server.room(token, unique("kiwi switch"))
    a = shared_pages.chat(token)
    open_room(a, first)
    a.keyboard.press("Control+k")
    search = a.get_by_role("combobox", name="Go to a room or a person")
    expect(search).to_be_focused()
    search.fill("KIWI")
    expect(a.locator("#switcher-list [role=option]")).to_have_count(1)
    search.press("Enter")
    expect(a.locator("#room-title")).to_have_text(target["name"])
    expect(a.locator("#switcher")).to_be_hidden()

    a.keyboard.press("Control+k")
    search.fill("quickf")
    expect(a.locator("#switcher-list [role=option]")).to_have_text(["Zed QuickfindPerson"])
    search.press("Enter")
    expect(a.locator("#room-title")).to_have_text("Zed Quickfind")

    a.keyboard.press("Control+k")
    search.fill("switch")
    search.press("ArrowDown")  # the second match
    expect(a.locator("#switcher-list [aria-selected=true]")).to_contain_text(target["name"])
    search.press("Escape")
    expect(a.locator("#switcher")).to_be_hidden()

    # Alt+Down / Alt+Up walk the sidebar's rooms in order.
    open_room(a, first)
    order = a.locator(".room-list button[data-room-id]").evaluate_all(
        "buttons => buttons.map((b) => b.dataset.roomId)"
    )
    at = order.index(first["id"])
    a.keyboard.press("Alt+ArrowDown")
    expect(a.locator(f'.room-list button[data-room-id="{order[at + 1]}"]')).to_have_attribute(
        "aria-current", "page"
    )
    a.keyboard.press("Alt+ArrowUp")
    expect(a.locator(f'.room-list button[data-room-id="{first["id"]}"]')).to_have_attribute(
        "aria-current", "page"
    )


def test_the_skip_link_goes_to_the_composer_and_the_welcome_has_no_presence_strip(server, pages):
    _, token = server.user("Newcomer")
    a = pages.chat(token)
    expect(a.locator("#room-title")).to_have_text("Welcome to Campfire")
    expect(a.locator("#presence")).to_be_hidden()
    room = server.room(token, unique("skip"))
    a.reload()
    open_room(a, room)
    link = a.get_by_role("link", name="Skip to message box")
    first = a.evaluate(
        "() => document.querySelector('a[href], button:not([disabled]), input, textarea').id"
    )
    assert first == "skip-link"  # the first thing Tab reaches
    link.focus()
    expect(link).to_be_in_viewport()
    link.press("Enter")
    expect(a.get_by_label("Message", exact=True)).to_be_focused()


def test_sign_in_errors_read_like_a_person_wrote_them(shared_server, shared_pages):
    shared_server.user("Someone")  # past first-run setup: the sign-in page
    page = shared_pages.open()
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#auth-error")).to_have_text("Please enter your email and a password.")
    expect(page.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Email")).to_be_focused()
    page.get_by_label("Email").fill("ann")
    page.get_by_label("Password").fill("x")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#auth-error")).to_contain_text("Please enter a whole email address")


def test_first_run_names_every_empty_field(server, pages):
    page = pages.open()
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#auth-error")).to_have_text(
        "Please enter your name, your email and a password."
    )
    page.get_by_label("Your name").fill("Ada")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#auth-error")).to_have_text(
        "Please choose a password of at least 8 characters."
    )
    assert server.ok("GET", "/api/setup") == {"needs_setup": True}  # nothing was sent


def test_avatars_of_different_people_get_clearly_different_hues(shared_server, shared_pages):
    server = shared_server
    people = [server.user(f"Person{i}") for i in range(6)]
    room = server.room(people[0][1], unique("colours"), "open")
    for _, token in people:
        server.post(token, room["id"], f"hello from {token[:6]}")
    a = shared_pages.chat(people[0][1])
    open_room(a, room)
    expect(a.locator("#messages li.message")).to_have_count(6)
    rgbs = a.locator("#messages li.message .avatar").evaluate_all(
        """avatars => avatars.map((avatar) => {
             const c = document.createElement('canvas').getContext('2d');
             c.fillStyle = getComputedStyle(avatar).backgroundColor;
             c.fillRect(0, 0, 1, 1);
             return [...c.getImageData(0, 0, 1, 1).data.slice(0, 3)];
           })"""
    )
    hues = [colorsys.rgb_to_hls(*(v / 255 for v in rgb))[0] * 360 for rgb in rgbs]
    for i, one in enumerate(hues):
        for other in hues[i + 1 :]:
            gap = min(abs(one - other), 360 - abs(one - other))
            assert gap >= 20, hues
