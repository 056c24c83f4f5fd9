"""WCAG AA contrast of the client's main colour pairs, computed from the styles Chromium
actually applies: 4.5:1 for text, 3:1 for the edges of controls (issue 12)."""

from __future__ import annotations

import re

import pytest
from conftest import unique
from pageutil import open_room
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

TEXT, UI = 4.5, 3.0

# (what, selector, pseudo-element or None, which colour: "color" or a border/outline property)
CHAT_PAIRS = [
    ("message text", "#messages li.message .content", None, "color"),
    ("message time", "#messages li.message time", None, "color"),
    ("history status", "#history-status", None, "color"),
    ("typing line", "#typing", None, "color"),
    ("Send button", "#send", None, "color"),
    ("jump-to-latest bar", "#jump-latest", None, "color"),
    ("New messages divider", "#messages li.new-divider", None, "color"),
    ("date divider", "#messages li.day-divider", None, "color"),
    ("offline status", "#conn-status", None, "color"),
    ("Reconnect now", "#reconnect-now", None, "color"),
    ("composer placeholder", "#composer-input", "::placeholder", "color"),
    ("presence chip", "#presence .person", None, "color"),
    ("sidebar heading", "#rooms-heading", None, "color"),
    ("signed in as", ".signed-in", None, "color"),
    ("room name", ".room-list button:not([aria-current]) .room-name", None, "color"),
    ("open room name", '.room-list button[aria-current="page"] .room-name', None, "color"),
    ("unread count", ".unread-count", None, "color"),
    ("sidebar placeholder", "#new-room-name", "::placeholder", "color"),
    ("sidebar field text", "#new-room-type", None, "color"),
    ("Create button", "#new-room-form button", None, "color"),
    ("Log out", "#logout", None, "color"),
    ("phone menu marker", "#menu-unread", None, "color"),
    ("composer edge", "#composer-input", None, "border-top-color"),
    ("sidebar field edge", "#new-room-name", None, "border-top-color"),
    ("menu button edge", "#menu-toggle", None, "border-top-color"),
    # Notifications (notify-client): the sidebar's settings and the mentions badge.
    ("notifications summary", "#notify-settings summary", None, "color"),
    ("notifications state", "#notify-desktop-state", None, "color"),
    ("notifications button", "#notify-desktop", None, "color"),
    ("notifications button edge", "#notify-desktop", None, "border-top-color"),
    ("sound setting", ".notify-check", None, "color"),
    ("mentions badge", ".mention-count", None, "color"),
]
AUTH_PAIRS = [
    ("sign-in intro", "#auth-intro", None, "color"),
    ("field label", "label[for=auth-email]", None, "color"),
    ("sign-in error", "#auth-error", None, "color"),
    ("Sign in button", "#auth-submit", None, "color"),
    ("field edge", "#auth-email", None, "border-top-color"),
]

MEASURE = """([selector, pseudo, property]) => {
  const el = document.querySelector(selector);
  if (!el) return null;
  const fg = getComputedStyle(el, pseudo).getPropertyValue(property);
  // The colour behind: for text, the nearest painted background up the tree (the element's
  // own included); for an edge, the background around the element (its parent's).
  let node = property === 'color' ? el : el.parentElement;
  let bg = 'rgb(255, 255, 255)';
  for (; node; node = node.parentElement) {
    const c = getComputedStyle(node).backgroundColor;
    if (c && c !== 'transparent' && !/, 0\\)$/.test(c)) { bg = c; break; }
  }
  return [fg, bg];
}"""


def rgb(text: str) -> tuple[float, ...]:
    """'rgb(1, 2, 3)' or 'rgba(1, 2, 3, 0.5)' as numbers."""
    values = [float(v) for v in re.findall(r"[\d.]+", text)]
    return tuple(values[:3]) + ((values[3],) if len(values) > 3 else (1.0,))


def luminance(colour: tuple[float, ...]) -> float:
    """WCAG relative luminance of an sRGB colour."""

    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in colour[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def ratio(fg: str, bg: str) -> float:
    """The contrast ratio of a foreground over a background (alpha blended over it)."""
    f, b = rgb(fg), rgb(bg)
    alpha = f[3]
    blended = tuple(f[i] * alpha + b[i] * (1 - alpha) for i in range(3))
    high, low = sorted((luminance(blended), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def check(page, pairs) -> list[str]:
    """The pairs below AA, described."""
    failures = []
    for what, selector, pseudo, prop in pairs:
        found = page.evaluate(MEASURE, [selector, pseudo, prop])
        assert found is not None, f"{what}: nothing matches {selector}"
        need = TEXT if prop == "color" else UI
        value = ratio(*found)
        if value < need:
            failures.append(f"{what}: {value:.2f}:1 < {need}:1 ({found[0]} on {found[1]})")
    return failures


def test_ratio_matches_known_values():
    assert ratio("rgb(0, 0, 0)", "rgb(255, 255, 255)") == pytest.approx(21)
    assert ratio("rgb(255, 255, 255)", "rgb(217, 72, 15)") == pytest.approx(4.3, abs=0.01)


def test_the_main_colour_pairs_meet_wcag_aa(shared_server, shared_pages):
    server = shared_server
    _, token = server.user("Ann")
    bob, bob_token = server.user("Bob")
    room = server.room(token, unique("contrast"), members=[bob])
    other = server.room(token, unique("contrast other"), members=[bob])
    server.post(bob_token, room["id"], "hello")
    a = shared_pages.chat(token, viewport=(390, 780))
    a.get_by_role("button", name="Show rooms").click()
    open_room(a, room)
    server.post(bob_token, other["id"], "unread elsewhere")
    server.post(bob_token, other["id"], "@Ann and a mention")
    a.locator("#notify-settings").evaluate("(d) => { d.open = true; }")
    expect(a.locator("#notify-desktop-state")).not_to_be_empty()
    expect(a.locator(".mention-count")).to_be_visible()
    expect(a.locator(".unread-count")).to_be_visible()
    b = shared_pages.chat(bob_token)
    open_room(b, room)
    expect(a.locator("#presence .person")).to_have_count(2)
    # Show every state whose colours are checked: offline, the divider, the bar.
    a.evaluate(
        """() => {
          document.getElementById('conn-status').dataset.state = 'offline';
          document.getElementById('reconnect-now').hidden = false;
          const list = document.getElementById('messages');
          for (const name of ['new-divider', 'day-divider']) {
            const li = document.createElement('li');
            li.className = `divider ${name}`;
            li.textContent = 'divider';
            list.append(li);
          }
        }"""
    )
    failures = check(a, CHAT_PAIRS)
    auth = shared_pages.open()
    expect(auth.locator("#auth-submit")).to_be_visible()
    failures += check(auth, AUTH_PAIRS)
    assert not failures, "below WCAG AA:\n" + "\n".join(failures)


# Messages that live (issue 13): Markdown, mentions, boosts, the toolbar and its dialogs.
LIVING_PAIRS = [
    ("mention", "#messages .mention:not(.mention-me)", None, "color"),
    ("mention of me", "#messages .mention-me", None, "color"),
    ("text of a message that mentions me", "#messages li.mentions-me .content", None, "color"),
    ("(edited)", "#messages .edited", None, "color"),
    ("inline code", "#messages .content p code", None, "color"),
    ("code block", "#messages .content pre code", None, "color"),
    ("quote", "#messages .content blockquote", None, "color"),
    ("link", "#messages .content a", None, "color"),
    ("boost count", '#messages .boost[aria-pressed="false"] .boost-count', None, "color"),
    ("my boost's count", '#messages .boost[aria-pressed="true"] .boost-count', None, "color"),
    ("boost edge", '#messages .boost[aria-pressed="false"]', None, "border-top-color"),
    ("my boost's edge", '#messages .boost[aria-pressed="true"]', None, "border-top-color"),
    ("toolbar edge", "#messages li.picking .actions", None, "border-top-color"),
    ("toolbar button", "#messages li.picking .action-boost", None, "color"),
    ("boost field edge", ".boost-picker input", None, "border-top-color"),
    ("boost field placeholder", ".boost-picker input", "::placeholder", "color"),
    ("edit hint", ".edit-hint", None, "color"),
    ("edit box edge", ".edit-box", None, "border-top-color"),
    ("mention option", ".mention-option:not([aria-selected=true])", None, "color"),
    ("chosen mention option", ".mention-option[aria-selected=true]", None, "color"),
]


def test_the_colours_of_living_messages_meet_wcag_aa(shared_server, shared_pages):
    server = shared_server
    _, token = server.user("Ann")
    bob, bob_token = server.user("Bob")
    cat, _ = server.user("Cat")
    room = server.room(token, unique("contrast living"), members=[bob, cat])
    content = "hi @Ann and @Bob, `code` and www.example.com\n> quoted\n```\nx\n```"
    message = server.post(bob_token, room["id"], content)
    path = f"/api/messages/{message['id']}"
    server.ok("PATCH", path, {"content": content + "\n\nedited"}, bob_token)
    for who, boost in [(token, "🎉"), (bob_token, "ok")]:
        server.ok("POST", f"{path}/boosts", {"content": boost}, who)
    server.post(token, room["id"], "mine")
    a = shared_pages.chat(token)
    open_room(a, room)
    a.locator("#messages li.message").filter(has_text="mine").hover()
    a.get_by_role("button", name="Edit").click()
    shown = a.locator(f'#messages li.message[data-id="{message["id"]}"]')
    shown.hover()
    shown.get_by_role("button", name="Boost", exact=True).click()
    failures = check(a, [pair for pair in LIVING_PAIRS if "mention option" not in pair[0]])
    a.keyboard.press("Escape")
    box = a.get_by_label("Message", exact=True)
    box.click()
    box.press_sequentially("@")
    expect(a.locator(".mention-option")).to_have_count(2)  # Bob and Cat: never oneself
    failures += check(a, [pair for pair in LIVING_PAIRS if "mention option" in pair[0]])
    assert not failures, "below WCAG AA:\n" + "\n".join(failures)


# Team screens (people & settings, room settings, my account, the bell): measured in place.
TEAM_PAIRS = [
    ("People & settings button", "#open-people-admin", None, "color"),
    ("new conversation edge", "#new-direct", None, "border-top-color"),
    ("bell text", "#involvement-label", None, "color"),
    ("bell edge", "#involvement-button", None, "border-top-color"),
    ("tab not chosen", '#people-admin [role="tab"][aria-selected="false"]', None, "color"),
    ("admin tag", "#people-table .role-admin", None, "color"),
    ("member tag", "#people-table .role-member", None, "color"),
    ("bot tag", "#people-table .role-bot", None, "color"),
    ("active tag", "#people-table .status-active", None, "color"),
    ("deactivated tag", "#people-table .status-off", None, "color"),
    ("last active", "#people-table .person-seen", None, "color"),
    ("danger button", "#people-table .danger-button", None, "color"),
    ("danger button edge", "#people-table .danger-button", None, "border-top-color"),
    ("small button edge", "#join-copy", None, "border-top-color"),
    ("copy field edge", "#join-url", None, "border-top-color"),
    ("join link status", "#join-status", None, "color"),
    ("saved (a form's good news)", "#add-person-error", None, "color"),
    ("add-person summary", "#add-person summary", None, "color"),
    ("inactive tag", "#messages .inactive-tag", None, "color"),
    ("not sent label", "#messages li.failed .state", None, "color"),
]


def test_the_team_screens_meet_wcag_aa(shared_server, shared_pages):
    server = shared_server
    carl, carl_token = server.user("Carl")
    server.user("Dora")
    server.ok("POST", "/api/bots", {"name": "Contrast Bot"}, server.admin_token)
    room = server.room(server.admin_token, unique("team contrast"), members=[carl])
    server.post(carl_token, room["id"], "before I left")
    server.ok("PATCH", f"/api/users/{carl['id']}", {"is_active": False}, server.admin_token)
    admin = shared_pages.chat(server.admin_token)
    open_room(admin, room)
    expect(admin.locator("#messages .inactive-tag")).to_be_visible()
    admin.evaluate(
        """() => {
          // A message on its way to a room that went away, as directory.js shows it.
          const li = document.querySelector('#messages li.message').cloneNode(true);
          li.classList.add('failed');
          li.removeAttribute('data-id');
          li.querySelector('.state').textContent = 'Not sent';
          document.getElementById('messages').append(li);
        }"""
    )
    admin.get_by_role("button", name="People & settings").click()
    expect(admin.locator("#people-table .role-bot")).to_be_visible()
    admin.locator("#join-status").evaluate("(el) => { el.textContent = 'Copied.'; }")
    admin.locator("#add-person-error").evaluate("(el) => { el.textContent = 'Added.'; }")
    admin.locator("#add-person-error").evaluate("(el) => el.classList.add('ok')")
    failures = check(admin, TEAM_PAIRS)
    assert not failures, "below WCAG AA:\n" + "\n".join(failures)


# Files, avatars and search (issue 14).
FILES_PAIRS = [
    ("file name", "#messages a.attachment-file .attachment-name", None, "color"),
    ("file kind and size", "#messages a.attachment-file .attachment-meta", None, "color"),
    ("file link edge", "#messages a.attachment-file", None, "border-top-color"),
    ("file icon", "#messages .attachment-icon", None, "color"),
    ("attach button edge", "#attach", None, "border-top-color"),
    ("search placeholder", "#search-input", "::placeholder", "color"),
    ("search box edge", "#search-input", None, "border-top-color"),
    ("search status", "#search-status", None, "color"),
    ("result room", "#search-results .search-room", None, "color"),
    ("result author and time", "#search-results .search-meta time", None, "color"),
    ("matched word", "#search-results mark", None, "color"),
    ("found message", "#messages li.highlight .content", None, "color"),
    ("picture menu button", "#avatar-change", None, "color"),
    ("lightbox caption", "#lightbox-name", None, "color"),
]


def test_the_files_and_search_colour_pairs_meet_wcag_aa(shared_server, shared_pages):
    server = shared_server
    _, token = server.user("Ann")
    room = server.room(token, unique("contrast files"))
    server.post(token, room["id"], "the contrast of a marked word")
    a = shared_pages.chat(token)
    open_room(a, room)
    a.locator("#attach-file").set_input_files(
        {"name": "notes.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n%%EOF\n"}
    )
    expect(a.locator("#messages li.message:not(.pending) a.attachment-file")).to_be_visible()
    box = a.get_by_role("searchbox", name="Search messages")
    box.fill("marked")
    box.press("Enter")
    expect(a.locator("#search-results mark")).to_have_text(["marked"])
    later = ("found message", "picture menu button", "lightbox caption")
    failures = check(a, [p for p in FILES_PAIRS if p[0] not in later])
    a.locator("#search-results button").first.click()
    expect(a.locator("#messages li.highlight")).to_be_visible()
    a.get_by_role("button", name="Your picture: change or remove it").click()
    a.evaluate(
        """() => {  // the lightbox's caption, as a picture would show it
          const box = document.createElement('dialog');
          box.className = 'lightbox';
          const figure = document.createElement('figure');
          const caption = document.createElement('figcaption');
          const name = document.createElement('span');
          name.id = 'lightbox-name';
          name.textContent = 'x.png';
          caption.append(name);
          figure.append(caption);
          box.append(figure);
          document.body.append(box);
          box.show();
        }"""
    )
    failures += check(a, [p for p in FILES_PAIRS if p[0] in later])
    assert not failures, "below WCAG AA:\n" + "\n".join(failures)
