#!/usr/bin/env python3
"""Take docs/screenshot.png and docs/screenshot-phone.png: the web client in headless Chromium.

Starts `campfire serve` on a free 127.0.0.1 port with a temporary database, creates three
people, a few rooms and messages over the HTTP API (plus a little of yesterday's history written
straight into the database, so a date divider shows), signs two of them in (so presence and the
typing indicator show), and saves a desktop-size screenshot of Ann's window and a phone-size one.

    .venv/bin/python scripts/screenshot.py [--out docs/screenshot.png]
                                           [--phone docs/screenshot-phone.png]

Needs Debian's Chromium (/usr/bin/chromium, or CAMPFIRE_CHROMIUM) and Playwright (test extras).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CAMPFIRE_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "correct horse battery"

YESTERDAY = [
    ("chloe", "Design review tomorrow at ten, in here."),
    ("ann", "I'll bring the notes from the user tests."),
]
CONVERSATION = [
    ("bob", "Morning all! Is the campfire lit yet?"),
    ("chloe", "It is. I brought marshmallows and the new design notes."),
    ("chloe", "Draft is here: https://example.com/campfire/design-notes"),
    ("ann", "Lovely. I read them on the train; the sidebar idea is great."),
    ("bob", "One question: do direct messages get their own section?\nOr one list for all?"),
    ("chloe", "Their own, under the rooms. Unread counts on both."),
    ("chloe", "And Ctrl+K jumps anywhere."),
]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(
    base: str, method: str, path: str, body: dict | None = None, token: str | None = None
) -> dict:
    """One JSON call to the server's HTTP API."""
    request = urllib.request.Request(
        base + path, data=json.dumps(body).encode() if body is not None else None, method=method
    )
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read() or b"null")


def start_server(db: Path, port: int) -> subprocess.Popen:
    """`campfire serve` on 127.0.0.1:port, once /health answers."""
    env = {
        **os.environ,
        "CAMPFIRE_HOST": "127.0.0.1",
        "CAMPFIRE_PORT": str(port),
        "CAMPFIRE_DB": str(db),
        "CAMPFIRE_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen([sys.executable, "-m", "campfire", "serve"], env=env)
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.terminate()
    raise SystemExit("campfire serve did not start")


def write_history(db: Path, room_id: str, users: dict, lines: list[tuple[str, str]]) -> None:
    """Messages from yesterday, written straight into the database (the API stamps 'now')."""
    at = datetime.now(UTC).replace(hour=16, minute=5) - timedelta(days=1)
    with sqlite3.connect(db, timeout=10) as conn:
        for i, (who, text) in enumerate(lines):
            conn.execute(
                "INSERT INTO messages (id, room_id, creator_id, content, client_message_id,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    str(uuid.uuid4()),
                    room_id,
                    users[who]["id"],
                    text,
                    str(uuid.uuid4()),
                    (at + timedelta(minutes=3 * i)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                ),
            )


def mark_seen(db: Path, room_id: str, user_id: str, seq: int) -> None:
    """Where Ann left off, so the page shows its "New messages" divider there."""
    with sqlite3.connect(db, timeout=10) as conn:
        conn.execute(
            "UPDATE memberships SET last_seen_seq = ? WHERE room_id = ? AND user_id = ?",
            (seq, room_id, user_id),
        )


def populate(base: str, db: Path) -> tuple[dict, dict, int]:
    """Three people, some rooms, a conversation; returns (tokens by name, rooms by name, the
    seq of the last message Ann has read in general)."""
    admin = call(
        base,
        "POST",
        "/api/setup",
        {"email": "ann@example.com", "name": "Ann Lee", "password": PASSWORD},
    )
    tokens = {"ann": admin["session_token"]}
    users = {"ann": admin["user"]}
    for key, name in (("bob", "Bob Okafor"), ("chloe", "Chloé Martin")):
        email = f"{key}@example.com"
        users[key] = call(
            base,
            "POST",
            "/api/users",
            {"email": email, "name": name, "password": PASSWORD},
            tokens["ann"],
        )["user"]
        tokens[key] = call(base, "POST", "/api/auth/login", {"email": email, "password": PASSWORD})[
            "session_token"
        ]
    rooms = {}
    for name, room_type in (("general", "open"), ("random", "open"), ("design", "closed")):
        rooms[name] = call(
            base, "POST", "/api/rooms", {"name": name, "room_type": room_type}, tokens["ann"]
        )["room"]
    call(
        base,
        "POST",
        f"/api/rooms/{rooms['design']['id']}/members",
        {"user_id": users["chloe"]["id"]},
        tokens["ann"],
    )
    rooms["direct"] = call(
        base, "POST", "/api/rooms/direct", {"user_ids": [users["bob"]["id"]]}, tokens["ann"]
    )["room"]

    def post(who: str, room: str, text: str) -> dict:
        return call(
            base,
            "POST",
            f"/api/rooms/{rooms[room]['id']}/messages",
            {"content": text, "client_message_id": str(uuid.uuid4())},
            tokens[who],
        )["message"]

    write_history(db, rooms["general"]["id"], users, YESTERDAY)
    posted = [post(who, "general", text) for who, text in CONVERSATION]
    rooms["general"]["ann_id"] = users["ann"]["id"]
    post("bob", "random", "Anyone up for a walk at lunch?")
    post("bob", "random", "Twelve o'clock by the door.")
    post("chloe", "design", "Colour options are in the doc.")
    post("bob", "direct", "Got a minute after lunch?")
    return tokens, rooms, posted[3]["seq"]


def open_page(browser, base: str, token: str, room_id: str, width: int, height: int):
    """A signed-in page showing a room, with its socket connected."""
    context = browser.new_context(
        viewport={"width": width, "height": height}, device_scale_factor=1
    )
    context.add_cookies([{"name": "session_token", "value": token, "url": base}])
    context.add_init_script(f"localStorage.setItem('campfire.room', {json.dumps(room_id)})")
    page = context.new_page()
    page.goto(base + "/")
    page.wait_for_selector('#conn-status[data-state="online"]')
    page.wait_for_selector("#messages li.message")
    return page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", default=str(ROOT / "docs" / "screenshot.png"), help="desktop screenshot path"
    )
    parser.add_argument(
        "--phone",
        default=str(ROOT / "docs" / "screenshot-phone.png"),
        help="phone screenshot path",
    )
    args = parser.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "campfire.db"
        server = start_server(db, port)
        try:
            tokens, rooms, read_up_to = populate(base, db)
            general = rooms["general"]["id"]
            mark_seen(db, general, rooms["general"]["ann_id"], read_up_to)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=CHROMIUM,
                    args=[
                        "--no-sandbox",
                        "--disable-gpu",
                        "--disable-background-networking",
                        "--disable-component-update",
                        "--disable-sync",
                        "--no-first-run",
                    ],
                )
                # The phone first: Ann's desktop page would mark the room read.
                phone = open_page(browser, base, tokens["ann"], general, 390, 844)
                phone.wait_for_selector("#messages li.new-divider")
                phone.screenshot(path=args.phone)
                print(f"saved {args.phone}")
                phone.context.close()
                mark_seen(db, general, rooms["general"]["ann_id"], read_up_to)  # unread again
                ann = open_page(browser, base, tokens["ann"], general, 1280, 800)
                ann.wait_for_selector("#messages li.new-divider")
                bob = open_page(browser, base, tokens["bob"], general, 1280, 800)
                ann.wait_for_selector("#presence .person >> nth=1")
                bob.get_by_label("Message", exact=True).press_sequentially("Sounds good to me")
                ann.wait_for_selector("#typing:has-text('typing')")
                ann.locator("#composer-input").blur()
                ann.screenshot(path=args.out)
                print(f"saved {args.out}")
                browser.close()
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
