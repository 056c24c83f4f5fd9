"""Running a team from the browser (issue 11): invite by join link, room settings, and the
directory changing live on the other person's page (rooms added, renamed, removed; people
deactivated), in headless Chromium against a real `campfire serve`."""

from __future__ import annotations

import pytest
from conftest import PASSWORD, unique
from pageutil import message, send
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def open_people_admin(page):
    """Open People & settings and wait for the people to load."""
    page.get_by_role("button", name="People & settings").click()
    expect(page.locator("#people-admin")).to_be_visible()
    expect(page.locator("#join-url")).not_to_have_value("")


def person_row(page, name):
    """The people screen's row of a person."""
    return page.locator("#people-table li.person-row").filter(
        has=page.locator(".person-name", has_text=name)
    )


def test_invite_by_join_link_then_a_closed_room_renamed_and_removed_live(server, pages):
    server.setup_admin("Ada Admin")
    admin = pages.chat(server.admin_token)
    open_people_admin(admin)
    join_url = admin.locator("#join-url").input_value()
    assert join_url.startswith(server.url + "/join/")
    admin.get_by_role("button", name="Copy", exact=True).click()
    expect(admin.locator("#join-status")).to_contain_text("join link")
    expect(person_row(admin, "Ada Admin").locator(".role-admin")).to_have_text("admin")

    # Zoe joins in another browser context with the link the admin copied.
    zoe = pages.open()
    zoe.goto(join_url)
    zoe.get_by_label("Your name").fill("Zoe Zed")
    zoe.get_by_label("Email").fill("zoe@example.com")
    zoe.get_by_label("Password").fill(PASSWORD)
    zoe.get_by_role("button", name="Join").click()
    expect(zoe.locator("#conn-status")).to_have_attribute("data-state", "online")
    # The new person shows at once on the admin's people screen and in the sidebar.
    expect(person_row(admin, "Zoe Zed").locator(".role-member")).to_have_text("member")
    expect(person_row(admin, "Zoe Zed").locator(".status-active")).to_have_text("active")
    admin.get_by_role("button", name="Close").first.click()
    expect(admin.get_by_role("button", name="Message Zoe Zed")).to_be_visible()

    # They chat in a direct conversation.
    admin.get_by_role("button", name="Message Zoe Zed").click()
    send(admin, "welcome aboard")
    expect(zoe.locator("#direct-list .room-name")).to_have_text(["Ada Admin"])
    zoe.locator("#direct-list button").click()
    expect(message(zoe, "welcome aboard")).to_be_visible()
    send(zoe, "glad to be here")
    expect(message(admin, "glad to be here")).to_be_visible()

    # The admin creates a closed room and adds Zoe from its settings: it appears on her page.
    name = unique("Plans")
    admin.get_by_label("New room").fill(name)
    admin.get_by_label("Room type").select_option("closed")
    admin.get_by_role("button", name="Create").click()
    expect(admin.locator("#room-title")).to_have_text(name)
    expect(zoe.locator("#room-list")).not_to_contain_text(name)
    admin.get_by_role("button", name="Room settings").click()
    admin.get_by_label("Add a person").fill("zo")
    admin.get_by_role("option", name="Zoe Zed").click()
    expect(admin.locator("#room-members")).to_contain_text("Zoe Zed")
    expect(admin.locator("#room-settings-status")).to_have_text("Zoe Zed was added.")
    expect(zoe.locator("#room-list")).to_contain_text(name)
    zoe.locator("#room-list button", has_text=name).click()
    send(zoe, "in the closed room")
    expect(message(admin, "in the closed room")).to_be_visible()

    # A rename shows live on Zoe's page (sidebar and title), with no reload.
    renamed = unique("Launch plans")
    admin.get_by_label("Room name").fill(renamed)
    admin.get_by_role("button", name="Save", exact=True).click()
    expect(admin.locator("#room-settings-status")).to_have_text("Saved.")
    expect(zoe.locator("#room-title")).to_have_text(renamed)
    expect(zoe.locator("#room-list")).to_contain_text(renamed)

    # Zoe's next message is on its way when she is removed: it shows as not sent, text kept.
    zoe.evaluate(
        """() => { const send = WebSocket.prototype.send;
        WebSocket.prototype.send = function (data) {
          if (!String(data).includes('CreateMessage')) send.call(this, data); }; }"""
    )  # a slow network: the frame never reaches the server
    send(zoe, "one more thought")
    expect(message(zoe, "one more thought")).to_have_class("message pending")
    admin.get_by_role("button", name="Remove Zoe Zed").click()
    expect(admin.locator("#room-settings-status")).to_have_text("Zoe Zed was removed.")
    expect(zoe.locator("#room-list")).not_to_contain_text(renamed)
    expect(zoe.locator("#empty-room")).to_contain_text("you were removed from it")
    expect(zoe.locator("#notice")).to_contain_text("you were removed from it")
    failed = message(zoe, "one more thought")
    expect(failed).to_have_class("message failed")
    expect(failed.locator(".state")).to_contain_text("Not sent")
    expect(zoe.get_by_label("Message", exact=True)).to_be_disabled()
    assert "Zoe" not in [
        r["name"] for r in server.ok("GET", "/api/rooms", token=server.admin_token)["rooms"]
    ]

    # The admin deletes the room, after confirming; it leaves the admin's own list too.
    admin.get_by_role("button", name="Delete room…").click()
    expect(admin.locator("#confirm-text")).to_contain_text("cannot be undone")
    admin.get_by_role("button", name="Delete for good").click()
    expect(admin.locator("#room-list")).not_to_contain_text(renamed)
    expect(admin.locator("#empty-room")).to_contain_text("was deleted")


def test_a_deactivated_authors_messages_keep_the_name(server, pages):
    server.setup_admin()
    bob, bob_token = server.user("Bob Builder")
    cat, cat_token = server.user("Cat")
    room = server.room(server.admin_token, unique("crew"), "closed", members=[bob, cat])
    server.post(bob_token, room["id"], "I built it")
    admin = pages.chat(server.admin_token)
    c = pages.chat(cat_token)
    c.locator("#room-list button", has_text=room["name"]).click()
    expect(message(c, "I built it").locator(".author")).to_have_text("Bob Builder")

    open_people_admin(admin)
    person_row(admin, "Bob Builder").get_by_role("button", name="Deactivate Bob Builder").click()
    admin.get_by_role("button", name="Deactivate", exact=True).click()
    expect(person_row(admin, "Bob Builder").locator(".status-off")).to_have_text("deactivated")
    expect(
        person_row(admin, "Bob Builder").get_by_role("button", name="Reactivate")
    ).to_be_visible()
    assert server.ok("GET", "/api/users/me", token=server.admin_token)  # the admin stays
    status, _ = server.call("GET", "/api/users/me", token=bob_token)
    assert status == 401  # signed out everywhere

    # Live on Cat's page: the name stays, marked inactive; Bob leaves the People list.
    item = message(c, "I built it")
    expect(item.locator(".author")).to_have_text("Bob Builder")
    expect(item.locator(".inactive-tag")).to_have_text("inactive")
    expect(c.get_by_role("button", name="Message Bob Builder")).to_have_count(0)
    # And after a reload, from history.
    c.reload()
    c.locator("#room-list button", has_text=room["name"]).click()
    expect(message(c, "I built it").locator(".inactive-tag")).to_have_text("inactive")
    expect(c.locator("#messages")).not_to_contain_text("Unknown user")

    # Reactivated, the mark goes away live.
    person_row(admin, "Bob Builder").get_by_role("button", name="Reactivate").click()
    expect(message(c, "I built it").locator(".inactive-tag")).to_have_count(0)


def test_people_screen_adds_a_person_makes_admin_and_a_login_link(server, pages):
    server.setup_admin()
    admin = pages.chat(server.admin_token)
    open_people_admin(admin)
    panel = admin.locator("#people-admin")
    admin.get_by_text("Add a person directly").click()
    panel.get_by_label("Name", exact=True).fill("Dan")
    panel.get_by_label("Email", exact=True).fill("dan@example.com")
    panel.get_by_label("Password (8+").fill(PASSWORD)
    admin.get_by_role("button", name="Add person").click()
    expect(admin.locator("#add-person-error")).to_contain_text("Dan was added")
    expect(person_row(admin, "Dan").locator(".role-member")).to_be_visible()
    # Same email again: said plainly, nothing added.
    panel.get_by_label("Name", exact=True).fill("Dan Two")
    panel.get_by_label("Email", exact=True).fill("DAN@example.com")
    panel.get_by_label("Password (8+").fill(PASSWORD)
    admin.get_by_role("button", name="Add person").click()
    expect(admin.locator("#add-person-error")).to_have_text("Someone already has this email.")
    pages.errors[:] = [e for e in pages.errors if "status of 409" not in e]

    person_row(admin, "Dan").get_by_role("button", name="Make administrator: Dan").click()
    expect(person_row(admin, "Dan").locator(".role-admin")).to_have_text("admin")
    dan = next(
        u
        for u in server.ok("GET", "/api/users", token=server.admin_token)["users"]
        if u["name"] == "Dan"
    )
    assert dan["is_admin"] is True

    person_row(admin, "Dan").get_by_role("button", name="Make a login link for Dan").click()
    link = admin.get_by_label("Login link for Dan", exact=True)
    expect(link).to_have_value(server.url + "/login-link/" + link.input_value().rsplit("/", 1)[1])
    expect(admin.locator("#people-out")).to_contain_text("It works until")
    d = pages.open()
    d.goto(link.input_value())
    expect(d.get_by_role("heading", name="Sign in as Dan")).to_be_visible()
    d.get_by_role("button", name="Sign in").click()
    expect(d.locator("#me-name")).to_have_text("Dan")
    # Dan is an administrator now: the people screen is his too.
    expect(d.get_by_role("button", name="People & settings")).to_be_visible()


def test_a_group_conversation_starts_at_once_and_its_title_follows_renames(server, pages):
    server.setup_admin()
    ann, ann_token = server.user("Ann")
    bob, bob_token = server.user("Bob, Jr.")
    server.user("Cat")
    a = pages.chat(ann_token)
    b = pages.chat(bob_token)
    a.get_by_role("button", name="New conversation with several people").click()
    a.get_by_label("Add people").fill("bo")
    a.get_by_label("Add people").press("Enter")
    a.get_by_label("Add people").fill("ca")
    a.get_by_role("option", name="Cat").click()
    expect(a.locator("#direct-chosen")).to_contain_text("Bob, Jr.")
    a.get_by_role("button", name="Start conversation").click()
    # Named from member_ids and current names, never by splitting "Bob, Jr., Cat".
    expect(a.locator("#room-title")).to_have_text("Bob, Jr., Cat")
    expect(b.locator("#direct-list .room-name")).to_have_text(["Ann, Cat"])
    send(a, "three of us")
    b.locator("#direct-list button").click()
    expect(message(b, "three of us")).to_be_visible()
    # Cat is renamed by the admin: both titles follow at once.
    cat = next(
        u for u in server.ok("GET", "/api/users", token=ann_token)["users"] if u["name"] == "Cat"
    )
    server.ok("PATCH", f"/api/users/{cat['id']}", {"name": "Catherine"}, server.admin_token)
    expect(a.locator("#room-title")).to_have_text("Bob, Jr., Catherine")
    expect(b.locator("#room-title")).to_have_text("Ann, Catherine")
    expect(b.locator("#direct-list .room-name")).to_have_text(["Ann, Catherine"])
    assert ann["id"] != bob["id"]
