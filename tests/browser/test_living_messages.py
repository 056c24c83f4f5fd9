"""Messages that live, in the web client (issue 13): edit, delete, boosts and @mentions between
two people, Markdown that renders and hostile Markdown that stays inert, and changes made while
someone was offline reaching them when they reconnect."""

from __future__ import annotations

import re

import pytest
from conftest import unique
from pageutil import open_room, send, wait_until
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def item(page, text):
    """The message items whose content contains this text."""
    return page.locator("#messages li.message").filter(has_text=text)


def stored(page, text):
    """The one stored (echoed) message item containing this text, once it is there; the
    locator follows the message by id, so it still finds it after an edit."""
    li = page.locator("#messages li.message[data-id]").filter(has_text=text)
    expect(li).to_have_count(1)
    return by_id(page, li.get_attribute("data-id"))


def by_id(page, message_id):
    """The message item of this message id."""
    return page.locator(f'#messages li.message[data-id="{message_id}"]')


def two_people(server, prefix):
    """Ann (the room's creator, so its manager) and Bob in a closed room, each on a page."""
    ann, ann_token = server.user("Ann")
    bob, bob_token = server.user("Bob Stone")
    room = server.room(ann_token, unique(prefix), members=[bob])
    return ann, ann_token, bob, bob_token, room


def test_edit_and_delete_reach_the_other_person(shared_server, shared_pages):
    server = shared_server
    _ann, ann_token, _bob, bob_token, room = two_people(server, "edit")
    a = shared_pages.chat(ann_token)
    b = shared_pages.chat(bob_token)
    open_room(a, room)
    open_room(b, room)

    send(a, "helo wrold")
    li = stored(a, "helo wrold")
    expect(stored(b, "helo wrold")).to_be_visible()
    li.hover()
    li.get_by_role("button", name="Edit").click()
    box = li.get_by_label("Edit message")
    expect(box).to_be_focused()
    expect(box).to_have_value("helo wrold")
    box.fill("hello **world**")
    box.press("Enter")
    expect(li.locator(".content strong")).to_have_text("world")
    expect(li.locator(".edited")).to_have_text("(edited)")
    assert li.locator(".edited").get_attribute("title").startswith("Edited ")
    expect(a.get_by_label("Message", exact=True)).not_to_be_focused()  # focus back on the button

    seen = by_id(b, li.get_attribute("data-id"))
    expect(seen.locator(".content")).to_have_text(re.compile(r"^hello world\s*\(edited\)$"))
    expect(seen.locator(".content strong")).to_have_text("world")
    # Not Bob's message, and Bob does not manage the room: no edit, no delete for him.
    seen.hover()
    expect(seen.get_by_role("button", name="Boost")).to_be_visible()
    expect(seen.get_by_role("button", name="Edit")).to_have_count(0)
    expect(seen.get_by_role("button", name="Delete")).to_have_count(0)

    # Up arrow in the empty composer edits the newest own message; Esc leaves it as it was.
    composer = a.get_by_label("Message", exact=True)
    composer.click()
    composer.press("ArrowUp")
    box = li.get_by_label("Edit message")
    expect(box).to_be_focused()
    box.fill("this is thrown away")
    box.press("Escape")
    expect(box).to_have_count(0)
    expect(composer).to_be_focused()
    expect(li.locator(".content")).to_contain_text("hello world")
    composer.press("ArrowUp")
    li.get_by_label("Edit message").fill("hello world, again")
    li.get_by_role("button", name="Save").click()
    expect(seen.locator(".content")).to_contain_text("hello world, again")

    # Delete asks first; Cancel keeps the message.
    li.hover()
    li.get_by_role("button", name="Delete").click()
    dialog = a.get_by_role("dialog", name="Delete this message?")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()
    expect(li).to_be_visible()
    li.hover()
    li.get_by_role("button", name="Delete").click()
    a.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(item(a, "hello world, again")).to_have_count(0)
    expect(item(b, "hello world, again")).to_have_count(0)

    # Ann created the room, so she manages it: she may delete Bob's message (it names him).
    send(b, "spam from bob")
    theirs = stored(a, "spam from bob")
    theirs.hover()
    expect(theirs.get_by_role("button", name="Edit")).to_have_count(0)
    theirs.get_by_role("button", name="Delete").click()
    dialog = a.get_by_role("dialog", name="Delete this message by Bob Stone?")
    dialog.get_by_role("button", name="Delete").click()
    expect(item(b, "spam from bob")).to_have_count(0)
    expect(item(a, "spam from bob")).to_have_count(0)
    assert server.messages(ann_token, room["id"]) == []


def test_boosts_grouped_with_who_gave_them(shared_server, shared_pages):
    server = shared_server
    _ann, ann_token, bob, bob_token, room = two_people(server, "boost")
    server.post(ann_token, room["id"], "ship it")
    a = shared_pages.chat(ann_token)
    b = shared_pages.chat(bob_token)
    open_room(a, room)
    open_room(b, room)
    on_b = stored(b, "ship it")
    on_a = stored(a, "ship it")

    # Bob boosts from the quick pick, then with a word; a 17-character word is refused.
    on_b.hover()
    on_b.get_by_role("button", name="Boost", exact=True).click()
    picker = b.get_by_role("dialog", name="Boost this message")
    picker.get_by_role("button", name="Boost with 🎉").click()
    expect(picker).to_have_count(0)
    party = on_a.locator(".boost").filter(has_text="🎉")
    expect(party).to_have_attribute("title", "🎉 from Bob Stone")
    expect(party.locator(".boost-count")).to_have_text("1")
    expect(party).to_have_attribute("aria-pressed", "false")

    on_b.hover()
    on_b.get_by_role("button", name="Boost", exact=True).click()
    word = picker.get_by_label("Boost with a word or emoji")
    word.fill("x" * 17)
    word.press("Enter")
    expect(picker.get_by_role("alert")).to_have_text("A boost is at most 16 characters.")
    word.fill("nice")
    word.press("Enter")
    expect(on_a.locator(".boost").filter(has_text="nice")).to_have_count(1)
    on_b.hover()
    on_b.get_by_role("button", name="Boost", exact=True).click()
    picker.press("Escape")
    expect(picker).to_have_count(0)

    # Ann clicks Bob's group: hers is added to it; clicking it again takes hers back.
    party.click()
    expect(party.locator(".boost-count")).to_have_text("2")
    expect(party).to_have_attribute("aria-pressed", "true")
    expect(party).to_have_attribute("title", "🎉 from Bob Stone and you")
    b_party = on_b.locator(".boost").filter(has_text="🎉")
    expect(b_party).to_have_attribute("title", "🎉 from you and Ann")
    expect(b_party.locator(".boost-count")).to_have_text("2")
    party.click()
    expect(b_party.locator(".boost-count")).to_have_text("1")
    # Bob takes his back: the group goes.
    b_party.click()
    expect(on_a.locator(".boost").filter(has_text="🎉")).to_have_count(0)
    history = server.messages(ann_token, room["id"])[0]["boosts"]
    assert [(x["content"], x["booster_id"]) for x in history] == [("nice", bob["id"])]

    # After a reload the boosts come from history.
    a.reload()
    a.wait_for_selector('#conn-status[data-state="online"]')
    expect(stored(a, "ship it").locator(".boost")).to_have_text(re.compile(r"nice\s*1"))


def test_mention_autocomplete_and_highlight(shared_server, shared_pages):
    server = shared_server
    _ann, ann_token, bob, bob_token, room = two_people(server, "mention")
    server.user("Bobby Outsider")  # not in the room: never offered
    a = shared_pages.chat(ann_token)
    b = shared_pages.chat(bob_token)
    open_room(a, room)
    open_room(b, room)

    box = a.get_by_label("Message", exact=True)
    box.click()
    box.press_sequentially("lunch? @bo")
    options = a.get_by_role("listbox", name="People to mention").get_by_role("option")
    expect(options).to_have_text(["Bob Stone"])
    box.press("Enter")  # picks, does not send
    expect(box).to_have_value("lunch? @Bob Stone ")
    box.press_sequentially("@st")  # a later word of the name matches too
    expect(options).to_have_text(["Bob Stone"])
    box.press("Escape")
    expect(options).to_have_count(0)
    box.press_sequentially("x")
    expect(box).to_have_value("lunch? @Bob Stone @stx")
    box.fill("lunch? @b")
    box.press("End")
    box.press_sequentially("o")
    expect(options).to_have_count(1)
    box.press("Tab")
    box.press_sequentially("at noon")
    box.press("Enter")

    on_b = stored(b, "at noon")
    expect(on_b).to_have_class(re.compile(r"\bmentions-me\b"))
    expect(on_b.locator(".mention.mention-me")).to_have_text("@Bob Stone")
    on_a = stored(a, "at noon")
    expect(on_a.locator(".mention")).to_have_text("@Bob Stone")
    expect(on_a).not_to_have_class(re.compile(r"\bmentions-me\b"))
    assert server.messages(ann_token, room["id"])[0]["mentions"] == [bob["id"]]


def test_markdown_renders_and_hostile_markdown_stays_inert(shared_server, shared_pages):
    server = shared_server
    _ann, ann_token = server.user("Ann")
    room = server.room(ann_token, unique("markdown"))
    fences = "```"
    server.post(
        ann_token,
        room["id"],
        f"**bold** _italic_ `code`\n{fences}\nprint('<b>hi</b>')\n{fences}\n"
        "> quoted\n\n- one\n- two\n\nsee https://example.com/a. or www.example.org, not file.py",
    )
    hostile = [
        "[x](javascript:alert(1))",
        "<img src=x onerror=alert(1)>",
        "<script>window.pwned = 1</script>",
        '<a href="javascript:alert(2)">raw</a>',
        "[d](data:text/html;base64,PHNjcmlwdD5hbGVydCgzKTwvc2NyaXB0Pg==)",
        "![pic](https://example.com/x.png) [v](vbscript:msgbox)",
    ]
    for text in hostile:
        server.post(ann_token, room["id"], text)
    server.post(ann_token, room["id"], "🎉👍")
    a = shared_pages.chat(ann_token)
    dialogs = []
    a.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    open_room(a, room)

    md = item(a, "bold")
    expect(md.locator(".content strong")).to_have_text("bold")
    expect(md.locator(".content em")).to_have_text("italic")
    expect(md.locator(".content p > code")).to_have_text("code")
    expect(md.locator(".content pre code")).to_have_text("print('<b>hi</b>')")
    expect(md.locator(".content blockquote")).to_have_text("quoted")
    expect(md.locator(".content ul li")).to_have_text(["one", "two"])
    links = md.locator(".content a")
    expect(links).to_have_text(["https://example.com/a", "www.example.org"])
    assert links.nth(0).get_attribute("href") == "https://example.com/a"
    assert links.nth(1).get_attribute("href") == "http://www.example.org/"
    for i in range(2):
        assert links.nth(i).get_attribute("target") == "_blank"
        assert links.nth(i).get_attribute("rel") == "noopener noreferrer"
    expect(md.locator(".content pre b")).to_have_count(0)

    for marker in ["[x]", "onerror", "pwned", "raw", "[d]", "msgbox"]:
        expect(item(a, marker)).to_have_count(1)
    messages = a.locator("#messages")
    expect(messages.locator("img, script, iframe, object, embed")).to_have_count(0)
    hrefs = messages.locator("a").evaluate_all("links => links.map((a) => a.href)")
    assert hrefs and all(re.match(r"^(https?|mailto):", h) for h in hrefs), hrefs
    # A picture from elsewhere is not loaded: it is a link to the picture.
    expect(item(a, "msgbox").locator("a")).to_have_text("pic")
    expect(item(a, "onerror").locator(".content")).to_have_text("<img src=x onerror=alert(1)>")
    expect(item(a, "javascript:alert(1)").locator(".content")).to_have_text(
        "[x](javascript:alert(1))"
    )
    assert a.evaluate("window.pwned") is None
    assert dialogs == []
    expect(item(a, "🎉👍").locator(".content")).to_have_class(re.compile(r"\bemoji-only\b"))
    expect(md.locator(".content")).not_to_have_class(re.compile(r"\bemoji-only\b"))


def test_changes_made_while_offline_appear_after_reconnecting(shared_server, shared_pages):
    server = shared_server
    _ann, ann_token, _bob, bob_token, room = two_people(server, "offline")
    edited = server.post(ann_token, room["id"], "first draft")
    boosted = server.post(ann_token, room["id"], "rocket here")
    doomed = server.post(ann_token, room["id"], "delete me")
    unboosted = server.post(ann_token, room["id"], "eyes gone")
    old_boost = server.ok(
        "POST", f"/api/messages/{unboosted['id']}/boosts", {"content": "👀"}, ann_token
    )["boost"]
    b = shared_pages.chat(bob_token)
    shared_pages.tolerate_offline = True
    open_room(b, room)
    expect(stored(b, "eyes gone").locator(".boost")).to_have_count(1)

    def last_seen() -> int | None:
        rooms = server.ok("GET", "/api/rooms", token=bob_token)["rooms"]
        return next(r["last_seen_seq"] for r in rooms if r["id"] == room["id"])

    # The server catches up changes after the room's last-seen mark: Bob has read it all.
    wait_until(lambda: last_seen() == unboosted["seq"], timeout=10)

    # The page keeps its view across the reconnect (changes are applied to what is shown).
    b.evaluate("document.querySelector('#messages li.message').dataset.marker = 'kept'")
    # Bob's connection drops, and the server is unreachable for his page until he is back.
    b.route("**/api/users/me", lambda route: route.abort())
    b.evaluate("async () => (await import('/static/state.js')).state.socket.ws.close()")
    expect(b.locator("#conn-status")).to_have_attribute("data-state", "offline")

    base = "/api/messages/"
    server.ok("PATCH", base + edited["id"], {"content": "final _version_"}, ann_token)
    server.ok("POST", base + boosted["id"] + "/boosts", {"content": "🚀"}, ann_token)
    server.ok("DELETE", base + doomed["id"], token=ann_token)
    server.ok("DELETE", f"{base}{unboosted['id']}/boosts/{old_boost['id']}", token=ann_token)
    gone = server.post(ann_token, room["id"], "posted and deleted while away")
    server.ok("DELETE", base + gone["id"], token=ann_token)
    server.post(ann_token, room["id"], "new while away")
    expect(b.locator("#conn-status")).to_have_attribute("data-state", "offline")

    b.unroute("**/api/users/me")
    # What "Reconnect now" does; a click could race the page's own retry, which hides the button.
    b.evaluate("async () => (await import('/static/state.js')).state.socket.reconnectNow()")
    expect(b.locator("#conn-status")).to_have_attribute("data-state", "online")
    expect(stored(b, "final version").locator(".content em")).to_have_text("version")
    expect(stored(b, "final version").locator(".edited")).to_have_count(1)
    expect(stored(b, "rocket here").locator(".boost")).to_have_text(re.compile(r"🚀\s*1"))
    expect(item(b, "delete me")).to_have_count(0)
    expect(stored(b, "eyes gone").locator(".boost")).to_have_count(0)
    expect(stored(b, "new while away")).to_be_visible()
    expect(item(b, "posted and deleted while away")).to_have_count(0)
    expect(b.locator('#messages li.message[data-marker="kept"]')).to_have_count(1)
    # Each shown once, in order.
    texts = b.locator("#messages li.message .content").all_inner_texts()
    assert [t.split("\n")[0].replace("(edited)", "").strip() for t in texts] == [
        "final version",
        "rocket here",
        "eyes gone",
        "new while away",
    ]


def test_change_frames_applied_twice_or_out_of_place_are_harmless(shared_server, shared_pages):
    server = shared_server
    _ann, ann_token, _bob, bob_token, room = two_people(server, "twice")
    message = server.post(ann_token, room["id"], "original")
    b = shared_pages.chat(bob_token)
    open_room(b, room)
    li = stored(b, "original")
    edit = server.ok("PATCH", f"/api/messages/{message['id']}", {"content": "newer"}, ann_token)
    expect(li.locator(".content")).to_have_text(re.compile(r"^newer"))
    boost = server.ok("POST", f"/api/messages/{message['id']}/boosts", {"content": "🎉"}, ann_token)
    expect(li.locator(".boost-count")).to_have_text("1")
    # The same frames again, an older edit after the newer one, and changes to messages this
    # page does not show (one never loaded, one unknown): nothing changes, nothing breaks.
    older = {**edit["message"], "content": "older"}
    b.evaluate(
        """async ([edit, older, boost]) => {
          const { dispatch } = await import('/static/events.js');
          dispatch({ type: 'MessageUpdated', message: edit.message, change_seq: edit.change_seq });
          dispatch({ type: 'MessageUpdated', message: older, change_seq: edit.change_seq - 1 });
          dispatch({ type: 'BoostAdded', boost: boost.boost, change_seq: boost.change_seq });
          dispatch({ type: 'BoostAdded', boost: boost.boost, change_seq: boost.change_seq });
          const elsewhere = { ...edit.message, id: crypto.randomUUID(), content: 'ghost' };
          dispatch({ type: 'MessageUpdated', message: elsewhere, change_seq: 1e9 });
          dispatch({ type: 'MessageDeleted', message_id: elsewhere.id,
                     room_id: edit.message.room_id, change_seq: 1e9 });
          dispatch({ type: 'BoostRemoved', boost_id: crypto.randomUUID(),
                     message_id: edit.message.id, room_id: edit.message.room_id, change_seq: 1e9 });
        }""",
        [edit, older, boost],
    )
    expect(li.locator(".content")).to_have_text(re.compile(r"^newer\s*\(edited\)$"))
    expect(li.locator(".boost-count")).to_have_text("1")
    expect(b.locator("#messages li.message")).to_have_count(1)
    expect(item(b, "ghost")).to_have_count(0)
    # A deletion applied twice: gone once, and the page goes on (its last-seen mark too).
    server.ok("DELETE", f"/api/messages/{message['id']}", token=ann_token)
    expect(b.locator("#messages li.message")).to_have_count(0)
    b.evaluate(
        """async ([id, roomId]) => (await import('/static/events.js')).dispatch(
          { type: 'MessageDeleted', message_id: id, room_id: roomId, change_seq: 1 })""",
        [message["id"], room["id"]],
    )
    send(b, "still here")
    expect(stored(b, "still here")).to_be_visible()
