"""Messages typed offline survive room switches and reloads, and a lost connection comes
back as soon as the person asks or returns (issue 12, bugs 1 and 6)."""

from __future__ import annotations

import re

import pytest
from pageutil import message, open_room, send
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_the_outbox_survives_room_switches_and_reloads_and_sends_once(server, pages):
    pages.tolerate_offline = True
    _, ann_token = server.user("Ann")
    general = server.room(ann_token, "general")
    random = server.room(ann_token, "random")
    a = pages.chat(ann_token)
    open_room(a, general)

    server.stop()
    expect(a.locator("#conn-status")).to_have_attribute("data-state", "offline")
    send(a, "Queued message A")
    queued = message(a, "Queued message A")
    expect(queued).to_contain_text("Queued")

    # To another room and back: the queued message is still shown in its room.
    a.locator(f'.room-list button[data-room-id="{random["id"]}"]').click()
    expect(a.locator("#room-title")).to_have_text("random")
    expect(queued).to_have_count(0)
    a.locator(f'.room-list button[data-room-id="{general["id"]}"]').click()
    expect(a.locator("#room-title")).to_have_text("general")
    expect(queued).to_have_count(1)
    expect(queued).to_contain_text("Queued")
    expect(a.get_by_text("Could not load messages")).to_have_count(0)

    # Leaving now would lose nothing (the outbox is saved), but the page asks first.
    dialogs = []

    def answer(dialog):
        dialogs.append(dialog.type)
        dialog.accept()

    a.on("dialog", answer)
    # A reload while the server is away: the page cannot even load; the message waits.
    with pytest.raises(PlaywrightError):
        a.reload()
    assert dialogs == ["beforeunload"]
    server.start()
    a.goto("/")
    expect(a.locator("#conn-status")).to_have_attribute("data-state", "online")
    expect(queued).to_have_count(1)
    expect(queued).not_to_have_class(re.compile("pending"))
    contents = [m["content"] for m in server.messages(ann_token, general["id"])]
    assert contents == ["Queued message A"]  # sent exactly once
    a.reload()
    expect(a.locator("#conn-status")).to_have_attribute("data-state", "online")
    expect(queued).to_have_count(1)
    assert [m["content"] for m in server.messages(ann_token, general["id"])] == contents
    assert dialogs == ["beforeunload"]  # nothing unsent: that reload asked nothing


def test_the_outbox_belongs_to_its_user(server, pages):
    pages.tolerate_offline = True
    ann, ann_token = server.user("Ann")
    room = server.room(ann_token, "general")
    a = pages.chat(ann_token)
    open_room(a, room)
    server.stop()
    expect(a.locator("#conn-status")).to_have_attribute("data-state", "offline")
    send(a, "Ann's secret draft")
    expect(message(a, "Ann's secret draft")).to_contain_text("Queued")
    server.start()
    expect(a.locator("#conn-status")).to_have_attribute("data-state", "online", timeout=15000)
    expect(message(a, "Ann's secret draft")).not_to_have_class(re.compile("pending"))
    keys = a.evaluate("Object.keys(localStorage)")
    assert f"campfire.outbox.{ann['id']}" in keys
    assert a.evaluate(f"localStorage.getItem('campfire.outbox.{ann['id']}')") == "[]"


def offline_with_a_long_wait(server, page, at_least_ms=3000):
    """Stop the server and wait until the page's next retry is at least this far away."""
    server.stop()
    status = page.locator("#conn-status")
    expect(status).to_have_attribute("data-state", "offline")
    page.wait_for_function(
        "ms => Number(document.getElementById('conn-status').dataset.retryMs || 0) >= ms",
        arg=at_least_ms,
        timeout=20000,
    )


def test_reconnect_now_does_not_wait_for_the_backoff(server, pages):
    pages.tolerate_offline = True
    _, token = server.user("Ann")
    a = pages.chat(token)
    offline_with_a_long_wait(server, a)
    button = a.get_by_role("button", name="Reconnect now")
    expect(button).to_be_visible()
    server.start()
    button.click()
    expect(a.locator("#conn-status")).to_have_attribute("data-state", "online", timeout=2500)
    expect(button).to_be_hidden()


def test_returning_to_the_tab_reconnects_at_once(server, pages):
    pages.tolerate_offline = True
    _, token = server.user("Ann")
    a = pages.chat(token)
    offline_with_a_long_wait(server, a)
    server.start()
    a.evaluate("window.dispatchEvent(new Event('focus'))")
    expect(a.locator("#conn-status")).to_have_attribute("data-state", "online", timeout=2500)
