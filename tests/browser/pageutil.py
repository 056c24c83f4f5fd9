"""Small helpers the browser tests share: waiting, opening rooms, sending, finding messages."""

from __future__ import annotations

import re
import time

from playwright.sync_api import expect


def wait_until(condition, timeout=5.0):
    """Poll a condition until it holds, failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def open_room(page, room):
    """Click a room in the sidebar and wait until it is the open one."""
    page.locator(f'.room-list button[data-room-id="{room["id"]}"]').click()
    expect(page.locator("#room-title")).to_have_text(room["name"])
    expect(page.locator("#history-status")).not_to_have_text("Loading messages…")


def send(page, text):
    """Type a message in the composer and press Enter."""
    box = page.get_by_label("Message", exact=True)
    box.fill(text)
    box.press("Enter")


def message(page, text):
    """The message items whose content is exactly this text."""
    return page.locator("#messages li.message").filter(
        has=page.locator(".content", has_text=re.compile("^" + re.escape(text) + "$"))
    )


def room_item(page, room):
    """The sidebar's list item of a room."""
    return page.locator(".room-list li").filter(has=page.locator(f'[data-room-id="{room["id"]}"]'))
