"""Notifications in the page (issue 15): desktop notifications by involvement, the sound
setting, the unread count on the title and favicon, the mentions badge, links to a room and a
message, the service worker and the manifest."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest
from conftest import unique
from pageutil import message, open_room, room_item, wait_until
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

# Runs before the page's own code: records every desktop notification the page makes (and every
# sound it plays) while still making real ones.
RECORD = """
(() => {
  window.__notes = [];
  window.__sounds = [];
  window.__asked = 0;
  const Real = window.Notification;
  class Recorded extends Real {
    constructor(title, options = {}) {
      super(title, options);
      window.__notes.push({ title, body: options.body, tag: options.tag, note: this });
    }
  }
  Object.defineProperty(Recorded, 'permission', { get: () => Real.permission });
  Recorded.requestPermission = (...args) => {
    window.__asked += 1;
    return Real.requestPermission(...args);
  };
  window.Notification = Recorded;
  const play = HTMLMediaElement.prototype.play;
  HTMLMediaElement.prototype.play = function () {
    window.__sounds.push(this.src);
    return play.call(this);
  };
})();
"""

NOTES = "() => window.__notes.map(({ title, body, tag }) => ({ title, body, tag }))"


def watched(pages, token, grant=True, **kwargs):
    """A signed-in page whose notifications and sounds are recorded; permission granted."""
    page = pages.open(token, **kwargs)
    if grant:
        page.context.grant_permissions(["notifications"], origin=pages.server.url)
    page.context.add_init_script(RECORD)
    page.reload()
    page.wait_for_selector('#conn-status[data-state="online"]')
    return page


def notes(page):
    """The desktop notifications the page has shown so far."""
    return page.evaluate(NOTES)


def mention_and_direct_world(server):
    """Ann and Bob; a room Ann views, a quiet room (involvement `mentions`), their direct room."""
    ann, ann_token = server.user("Ann")
    bob, bob_token = server.user("Bob")
    here = server.room(ann_token, unique("here"), members=[bob])
    quiet = server.room(ann_token, unique("quiet"), members=[bob])
    # Ann wants everything from the room she views: still nothing while she views it.
    server.ok(
        "PUT", f"/api/rooms/{here['id']}/involvement", {"involvement": "everything"}, ann_token
    )
    return ann, ann_token, bob, bob_token, here, quiet


def test_desktop_notifications_follow_involvement_and_open_the_room(shared_server, shared_pages):
    server = shared_server
    ann, ann_token, _, bob_token, here, quiet = mention_and_direct_world(server)
    a = watched(shared_pages, ann_token)
    open_room(a, here)
    expect(a.locator("#notify-summary")).to_have_text("on")  # permission granted: on

    server.post(bob_token, here["id"], "in the room Ann is viewing")
    server.post(bob_token, quiet["id"], "plain words, no mention")
    server.post(bob_token, quiet["id"], "@Ann can you look at this?")
    wait_until(lambda: len(notes(a)) >= 1)
    expect(message(a, "in the room Ann is viewing")).to_be_visible()
    assert notes(a) == [
        {
            "title": quiet["name"],
            "body": "Bob: @Ann can you look at this?",
            "tag": f"room-{quiet['id']}",
        }
    ]

    # A direct room made after the page loaded: every message notifies (default `everything`).
    direct = server.ok("POST", "/api/rooms/direct", {"user_ids": [ann["id"]]}, bob_token)["room"]
    server.post(bob_token, direct["id"], "just between us")
    wait_until(lambda: len(notes(a)) >= 2)
    assert notes(a)[1] == {"title": "Bob", "body": "just between us", "tag": f"room-{direct['id']}"}

    # The counts: the title, the favicon and the mentions badge.
    expect(a).to_have_title(f"(3) {here['name']} · Campfire")
    icon = a.locator('link[rel="icon"]')
    expect(icon).to_have_attribute("data-count", "3")
    assert icon.get_attribute("href").startswith("data:image/png;base64,")
    badge = room_item(a, quiet).locator(".mention-count")
    expect(badge).to_have_text("@1")
    expect(room_item(a, quiet)).to_contain_text("1 mention of you")
    expect(room_item(a, direct).locator(".mention-count")).to_have_count(0)

    # Clicking the notification opens its room and shows the message.
    a.evaluate("() => window.__notes[0].note.dispatchEvent(new Event('click'))")
    expect(a.locator("#room-title")).to_have_text(quiet["name"])
    expect(message(a, "@Ann can you look at this?")).to_have_class(re.compile(r"\blinked\b"))
    expect(badge).to_have_count(0)
    expect(a).to_have_title(f"(1) {quiet['name']} · Campfire")
    expect(icon).to_have_attribute("data-count", "1")

    # Reading everything: the plain favicon again.
    open_room(a, {"id": direct["id"], "name": "Bob"})
    expect(a).to_have_title("Bob · Campfire")
    expect(icon).to_have_attribute("href", "/static/favicon.svg")
    expect(icon).not_to_have_attribute("data-count", "1")


def test_a_hidden_page_is_notified_for_the_room_it_shows(shared_server, shared_pages):
    server = shared_server
    _, ann_token, _, bob_token, here, _ = mention_and_direct_world(server)
    a = watched(shared_pages, ann_token)
    open_room(a, here)
    a.evaluate(
        """() => {
          Object.defineProperty(document, 'visibilityState', { get: () => 'hidden' });
          document.dispatchEvent(new Event('visibilitychange'));
        }"""
    )
    server.post(bob_token, here["id"], "while you were away")
    wait_until(lambda: len(notes(a)) == 1)
    assert notes(a)[0]["body"] == "Bob: while you were away"


def test_mentions_badge_comes_from_the_server_after_a_reload(shared_server, shared_pages):
    server = shared_server
    _, ann_token, _, bob_token, here, quiet = mention_and_direct_world(server)
    server.post(bob_token, quiet["id"], "@Ann one")
    server.post(bob_token, quiet["id"], "two, no mention")
    server.post(bob_token, quiet["id"], "@Ann three")
    a = shared_pages.chat(ann_token)
    open_room(a, here)
    expect(room_item(a, quiet).locator(".mention-count")).to_have_text("@2")
    expect(room_item(a, quiet).locator(".unread-count")).to_have_text("3")
    expect(a.locator('link[rel="icon"]')).to_have_attribute("data-count", "3")


def test_desktop_notifications_can_be_turned_off_in_the_page(shared_server, shared_pages):
    server = shared_server
    _, ann_token, _, bob_token, here, quiet = mention_and_direct_world(server)
    a = watched(shared_pages, ann_token)
    open_room(a, here)
    a.get_by_text("Notifications:").click()
    expect(a.locator("#notify-desktop-state")).to_have_text("Desktop notifications are on.")
    a.get_by_role("button", name="Turn off desktop notifications").click()
    expect(a.locator("#notify-desktop-state")).to_have_text("Desktop notifications are off.")
    expect(a.locator("#notify-summary")).to_have_text("off")
    server.post(bob_token, quiet["id"], "@Ann you will not hear of this")
    expect(room_item(a, quiet).locator(".mention-count")).to_have_text("@1")
    assert notes(a) == []
    # The choice is kept for this person.
    a.reload()
    a.get_by_text("Notifications:").click()
    expect(a.get_by_role("button", name="Turn on desktop notifications")).to_be_visible()


def test_permission_is_asked_on_a_click_never_on_load(shared_server, shared_pages):
    server = shared_server
    _, ann_token, _, bob_token, here, quiet = mention_and_direct_world(server)
    a = watched(shared_pages, ann_token, grant=False)
    open_room(a, here)
    a.get_by_text("Notifications:").click()
    expect(a.locator("#notify-desktop-state")).to_have_text("Desktop notifications are off.")
    a.evaluate("() => navigator.serviceWorker.ready")  # the page's start-up work is done
    assert a.evaluate("Notification.permission") == "default"
    assert a.evaluate("window.__asked") == 0  # the page never asked by itself
    server.post(bob_token, quiet["id"], "@Ann no permission, no notification")
    expect(room_item(a, quiet).locator(".mention-count")).to_have_text("@1")
    assert notes(a) == []
    a.get_by_role("button", name="Turn on desktop notifications").click()
    wait_until(lambda: a.evaluate("window.__asked") == 1)


def test_the_sound_is_off_by_default_and_stays_on_once_turned_on(shared_server, shared_pages):
    server = shared_server
    _, ann_token, _, bob_token, here, quiet = mention_and_direct_world(server)
    a = watched(shared_pages, ann_token)
    open_room(a, here)
    a.get_by_text("Notifications:").click()
    sound = a.get_by_label("Play a sound for new messages")
    expect(sound).not_to_be_checked()
    server.post(bob_token, quiet["id"], "@Ann silent")
    wait_until(lambda: len(notes(a)) == 1)
    assert a.evaluate("window.__sounds") == []

    sound.check()  # plays the chime once, so the person knows what it sounds like
    wait_until(lambda: len(a.evaluate("window.__sounds")) == 1)
    a.reload()
    a.wait_for_selector('#conn-status[data-state="online"]')
    a.get_by_text("Notifications:").click()
    expect(a.get_by_label("Play a sound for new messages")).to_be_checked()
    server.post(bob_token, quiet["id"], "@Ann now with a chime")
    wait_until(lambda: len(a.evaluate("window.__sounds")) == 1)
    assert a.evaluate("window.__sounds")[0].endswith("/static/chime.wav")
    # The chime is a real WAV file.
    with urllib.request.urlopen(server.url + "/static/chime.wav") as resp:
        head = resp.read(12)
    assert head[:4] == b"RIFF" and head[8:12] == b"WAVE"


def test_links_open_a_room_and_show_a_message(shared_server, shared_pages):
    server = shared_server
    _, ann_token, _, bob_token, here, quiet = mention_and_direct_world(server)
    wanted = server.post(bob_token, quiet["id"], "this one")
    for i in range(30):
        server.post(bob_token, quiet["id"], f"filler {i}")
    a = shared_pages.chat(ann_token)
    a.goto("about:blank")  # so the link is a fresh load of the page, not a hashchange
    a.goto(f"/#room={quiet['id']}&message={wanted['id']}")
    expect(a.locator("#room-title")).to_have_text(quiet["name"])
    linked = message(a, "this one")
    expect(linked).to_have_class(re.compile(r"\blinked\b"))
    expect(linked).to_be_in_viewport()
    assert a.evaluate("location.hash") == ""
    # A link followed while the page is open (hashchange): the other room.
    a.evaluate(f"() => {{ location.hash = '#room={here['id']}'; }}")
    expect(a.locator("#room-title")).to_have_text(here["name"])
    # A room that is not hers: a notice, and she stays where she is.
    a.evaluate("() => { location.hash = '#room=00000000-0000-0000-0000-000000000000'; }")
    expect(a.locator("#notice")).to_contain_text("not one of yours")
    expect(a.locator("#room-title")).to_have_text(here["name"])


def test_service_worker_manifest_and_the_push_button(shared_server, shared_pages):
    server = shared_server
    _, ann_token = server.user("Ann")
    a = shared_pages.chat(ann_token)
    scope = a.evaluate("() => navigator.serviceWorker.ready.then((r) => r.scope)")
    assert scope == server.url + "/"
    href = a.locator('link[rel="manifest"]').get_attribute("href")
    assert href == "/manifest.webmanifest"
    with urllib.request.urlopen(server.url + href) as resp:
        assert resp.headers["Content-Type"].startswith("application/manifest+json")
        assert json.load(resp)["start_url"] == "/"
    a.get_by_text("Notifications:").click()
    push = a.get_by_role("button", name="Notify me when this page is closed")
    expect(push).to_be_visible()
    expect(push).to_have_attribute("data-subscribed", "false")
