"""My account, the involvement bell, bots and the account's settings in the browser (issues 11
and 15), in headless Chromium against a real `campfire serve`."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest
from conftest import PASSWORD, unique
from pageutil import message, open_room, room_item, send
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

NEW_PASSWORD = "a much better secret"


def forgive(pages, *statuses: int) -> None:
    """Drop the console lines Chromium logs for answers the test expects."""
    pages.errors[:] = [e for e in pages.errors if not any(f"status of {s}" in e for s in statuses)]


def test_my_account_changes_name_and_password_and_ends_sessions(shared_server, shared_pages):
    server = shared_server
    ann, ann_token = server.user("Ann")
    _, bob_token = server.user("Bob")
    room = server.room(ann_token, unique("chat"), "open")
    server.post(ann_token, room["id"], "hello from Ann")
    other_token = server.ok(
        "POST", "/api/auth/login", {"email": ann["email"], "password": PASSWORD}
    )["session_token"]
    a = shared_pages.chat(ann_token)
    elsewhere = shared_pages.chat(other_token)  # Ann on another device
    b = shared_pages.chat(bob_token)
    open_room(b, room)
    expect(message(b, "hello from Ann").locator(".author")).to_have_text("Ann")

    a.get_by_role("button", name="My account").click()
    panel = a.locator("#my-account")
    expect(panel.locator("#my-sessions li")).to_have_count(2)
    expect(panel.locator("#my-sessions li.current")).to_contain_text("this one")
    expect(panel.locator("#my-sessions li.current strong")).to_have_text("Python")  # urllib

    # A new name shows at once: her sidebar, and Bob's page (messages, with no reload).
    panel.get_by_label("Your name").fill("Ann Lee")
    panel.get_by_role("button", name="Save name").click()
    expect(panel.locator("#my-name-status")).to_have_text("Saved.")
    expect(a.locator("#me-name")).to_have_text("Ann Lee")
    expect(message(b, "hello from Ann").locator(".author")).to_have_text("Ann Lee")
    expect(b.get_by_role("button", name="Message Ann Lee")).to_be_visible()

    # The password: the current one is required, and the page says other sessions end.
    expect(panel).to_contain_text("signs you out everywhere else")
    panel.get_by_label("Current password").fill("not my password")
    panel.get_by_label("New password").fill(NEW_PASSWORD)
    panel.get_by_role("button", name="Change password").click()
    expect(panel.locator("#my-password-status")).to_have_text("Your current password is not right.")
    forgive(shared_pages, 403)
    panel.get_by_label("Current password").fill(PASSWORD)
    panel.get_by_label("New password").fill(NEW_PASSWORD)
    panel.get_by_role("button", name="Change password").click()
    expect(panel.locator("#my-password-status")).to_contain_text("Every other session has ended")
    expect(panel.locator("#my-sessions li")).to_have_count(1)
    expect(elsewhere.locator("#auth-view")).to_be_visible()  # the other device is signed out
    status, _ = server.call(
        "POST", "/api/auth/login", {"email": ann["email"], "password": NEW_PASSWORD}
    )
    assert status == 200

    # That login is a new session: it shows in the list, and "End" ends it.
    panel.get_by_role("button", name="Close").click()
    a.get_by_role("button", name="My account").click()
    expect(panel.locator("#my-sessions li")).to_have_count(2)
    panel.locator("#my-sessions li:not(.current)").get_by_role("button").click()
    expect(panel.locator("#my-sessions li")).to_have_count(1)
    assert len(server.ok("GET", "/api/users/me/sessions", token=ann_token)["sessions"]) == 1


def test_the_bell_sets_involvement_and_invisible_hides_the_room(shared_server, shared_pages):
    server = shared_server
    _, token = server.user("Cara")
    _, dan_token = server.user("Dan")
    hidden = server.room(token, unique("noise"), "open")
    other = server.room(token, unique("quiet"), "open")
    a = shared_pages.chat(token)
    open_room(a, hidden)
    bell = a.locator("#involvement-button")
    expect(bell).to_have_attribute("aria-label", "Notifications: Mentions")
    bell.click()
    a.get_by_role("radio", name="Everything").check()
    expect(bell).to_have_attribute("aria-label", "Notifications: Everything")
    a.keyboard.press("Escape")
    expect(a.locator("#involvement-menu")).to_be_hidden()
    rooms = {r["id"]: r for r in server.ok("GET", "/api/rooms", token=token)["rooms"]}
    assert rooms[hidden["id"]]["involvement"] == "everything"

    bell.click()
    a.get_by_role("radio", name="Hide this room").check()
    expect(room_item(a, hidden)).to_have_count(0)  # gone from the list, still open
    expect(a.locator("#room-title")).to_have_text(hidden["name"])
    open_room(a, other)
    # Messages still arrive; the room stays hidden; Ctrl+K reaches it.
    server.post(dan_token, hidden["id"], "still delivered")
    a.keyboard.press("Control+k")
    a.locator("#switcher-input").fill(hidden["name"])
    expect(a.locator("#switcher-list [role=option]").first).to_contain_text("Hidden room")
    a.keyboard.press("Enter")
    expect(a.locator("#room-title")).to_have_text(hidden["name"])
    expect(message(a, "still delivered")).to_be_visible()
    expect(room_item(a, hidden)).to_have_count(0)
    # A reload keeps it hidden (the server stores it); choosing Mentions brings it back.
    a.reload()
    expect(a.locator("#conn-status")).to_have_attribute("data-state", "online")
    expect(room_item(a, other)).to_have_count(1)
    expect(room_item(a, hidden)).to_have_count(0)
    a.keyboard.press("Control+k")
    a.locator("#switcher-input").fill(hidden["name"])
    a.keyboard.press("Enter")
    a.locator("#involvement-button").click()
    a.get_by_role("radio", name="Mentions").check()
    expect(room_item(a, hidden)).to_have_count(1)

    # A direct room offers everything / nothing / hide.
    a.get_by_role("button", name="Message Dan").click()
    send(a, "psst")
    expect(message(a, "psst")).not_to_have_class("message pending")
    a.locator("#involvement-button").click()
    names = a.locator("#involvement-options label strong").all_text_contents()
    assert names == ["Everything", "Nothing", "Hide this conversation"]


def test_bots_are_added_with_their_key_shown_once(shared_server, shared_pages):
    server = shared_server
    admin = shared_pages.chat(server.admin_token or server.setup_admin()[1])
    admin.get_by_role("button", name="People & settings").click()
    admin.get_by_role("tab", name="Bots").click()
    panel = admin.locator("#pane-bots")
    panel.get_by_label("Bot name").fill("Deploy Bot")
    panel.get_by_label("Webhook URL (optional)").fill("ftp://nope.example")
    panel.get_by_role("button", name="Add bot").click()
    expect(panel.locator("#add-bot-error")).to_contain_text("http or https")
    forgive(shared_pages, 400)
    panel.get_by_label("Webhook URL (optional)").fill("https://hooks.example.com/deploy")
    panel.get_by_role("button", name="Add bot").click()
    key_box = panel.get_by_label("Key of Deploy Bot", exact=True)
    key = key_box.input_value()
    expect(panel.locator("#bot-out")).to_contain_text("shown only this once")
    assert len(panel.get_by_label("Webhook secret of Deploy Bot", exact=True).input_value()) == 64
    row = panel.locator("#bot-list li", has_text="Deploy Bot")
    expect(row).to_contain_text("https://hooks.example.com/deploy")

    # The key works with once-campfire's bot API, in a room the bot is in (open rooms).
    room = server.room(server.admin_token, unique("builds"), "open")
    request = urllib.request.Request(
        f"{server.url}/rooms/{room['id']}/{key}/messages", data=b"Build passed", method="POST"
    )
    request.add_header("Content-Type", "text/plain")
    with urllib.request.urlopen(request, timeout=5) as resp:
        assert resp.status == 201
    # Reopened, the panel never shows that key again.
    admin.get_by_role("button", name="Close").first.click()
    admin.get_by_role("button", name="People & settings").click()
    admin.get_by_role("tab", name="Bots").click()
    expect(panel.locator("#bot-out")).to_be_hidden()
    expect(admin.locator("#people-admin")).not_to_contain_text(key)
    admin.get_by_role("tab", name="People").click()
    expect(
        admin.locator("#people-table li", has_text="Deploy Bot").locator(".role-bot")
    ).to_have_text("bot")

    # Reset the key: the new one is shown once and the old one stops.
    admin.get_by_role("tab", name="Bots").click()
    row.get_by_role("button", name="Reset the key of Deploy Bot").click()
    admin.get_by_role("button", name="Reset key", exact=True).click()
    new_key = panel.get_by_label("Key of Deploy Bot", exact=True)
    expect(new_key).not_to_have_value(key)
    status, _ = bot_post(server, room, key)
    assert status == 401 or status == 403 or status == 404
    assert bot_post(server, room, new_key.input_value())[0] == 201

    # Change the webhook, then remove the bot (after confirming).
    row.get_by_role("button", name="Change the webhook of Deploy Bot").click()
    row.get_by_label("Webhook URL of Deploy Bot").fill("https://hooks.example.com/v2")
    row.get_by_role("button", name="Save webhook").click()
    expect(row).to_contain_text("https://hooks.example.com/v2")
    row.get_by_role("button", name="Remove Deploy Bot").click()
    admin.get_by_role("button", name="Remove bot").click()
    expect(panel.locator("#bot-list")).not_to_contain_text("Deploy Bot")
    assert server.ok("GET", "/api/bots", token=server.admin_token)["bots"] == []


def bot_post(server, room, key):
    """Post as a bot: (status, body)."""
    request = urllib.request.Request(
        f"{server.url}/rooms/{room['id']}/{key}/messages", data=b"hi", method="POST"
    )
    request.add_header("Content-Type", "text/plain")
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_account_name_and_open_rooms_setting(shared_server, shared_pages):
    server = shared_server
    admin = shared_pages.chat(server.admin_token or server.setup_admin()[1])
    _, member_token = server.user("Mia")
    admin.get_by_role("button", name="People & settings").click()
    admin.get_by_role("tab", name="Settings").click()
    admin.get_by_label("Name (shown in the title").fill("Acme Chat")
    admin.get_by_label("Members may create open rooms").uncheck()
    admin.get_by_role("button", name="Save settings").click()
    expect(admin.locator("#account-status")).to_have_text("Saved.")
    expect(admin.locator(".brand-small .account-name")).to_have_text("Acme Chat")
    expect(admin).to_have_title(re.compile(r"· Acme Chat$"))
    # An administrator may still create open rooms; a member is offered closed ones only.
    expect(admin.locator('#new-room-type option[value="open"]')).to_be_enabled()
    m = shared_pages.chat(member_token)
    expect(m.locator('#new-room-type option[value="open"]')).to_be_disabled()
    expect(m.get_by_label("Room type")).to_have_value("closed")
    m.get_by_label("New room").fill(unique("members only"))
    m.get_by_role("button", name="Create").click()
    expect(m.get_by_label("Room type")).to_have_value("closed")  # reset to what is allowed
    # The sign-in page shows the name.
    out = shared_pages.open()
    expect(out.locator("#auth-view .account-name")).to_have_text("Acme Chat")
    expect(out).to_have_title("Acme Chat")
    server.ok(
        "PATCH",
        "/api/account",
        {"name": "Campfire", "members_can_create_open_rooms": True},
        server.admin_token,
    )
