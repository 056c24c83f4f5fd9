#!/usr/bin/env python3
"""Take docs/screenshot.png: a short conversation in the web client, in headless Chromium.

Starts `campfire serve` on a free 127.0.0.1 port with a temporary database, creates three
people, a few rooms and messages over the HTTP API, signs two of them in (so presence and the
typing indicator show), and saves a desktop-size screenshot of Ann's window.

    .venv/bin/python scripts/screenshot.py [--out docs/screenshot.png] [--phone phone.png]

Needs Debian's Chromium (/usr/bin/chromium, or CAMPFIRE_CHROMIUM) and Playwright (test extras).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CAMPFIRE_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "correct horse battery"

CONVERSATION = [
    ("bob", "Morning all! Is the campfire lit yet?"),
    ("chloe", "It is. I brought marshmallows and the new design notes."),
    ("chloe", "Draft is here: https://example.com/campfire/design-notes"),
    ("ann", "Lovely. I read them on the train; the sidebar idea is great."),
    ("bob", "One question: do we keep direct messages in the same list?\nOr a separate section?"),
    ("ann", "Same list, with an @ in front. Fewer places to look."),
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


def populate(base: str) -> tuple[dict, dict]:
    """Three people, some rooms, a conversation; returns (tokens by name, rooms by name)."""
    admin = call(
        base,
        "POST",
        "/api/setup",
        {"email": "ann@example.com", "name": "Ann Lee", "password": PASSWORD},
    )
    tokens = {"ann": admin["session_token"]}
    users = {}
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

    def post(who: str, room: str, text: str) -> None:
        call(
            base,
            "POST",
            f"/api/rooms/{rooms[room]['id']}/messages",
            {"content": text, "client_message_id": str(uuid.uuid4())},
            tokens[who],
        )

    for who, text in CONVERSATION:
        post(who, "general", text)
    post("bob", "random", "Anyone up for a walk at lunch?")
    post("chloe", "design", "Colour options are in the doc.")
    return tokens, rooms


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
    parser.add_argument("--phone", help="also save a phone-size screenshot here")
    args = parser.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp) / "campfire.db", port)
        try:
            tokens, rooms = populate(base)
            general = rooms["general"]["id"]
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
                ann = open_page(browser, base, tokens["ann"], general, 1280, 800)
                bob = open_page(browser, base, tokens["bob"], general, 1280, 800)
                ann.wait_for_selector("#presence .person >> nth=1")
                bob.get_by_label("Message", exact=True).press_sequentially("Sounds good to me")
                ann.wait_for_selector("#typing:has-text('typing')")
                ann.locator("#composer-input").blur()
                ann.screenshot(path=args.out)
                print(f"saved {args.out}")
                if args.phone:
                    phone = open_page(browser, base, tokens["ann"], general, 390, 844)
                    phone.screenshot(path=args.phone)
                    print(f"saved {args.phone}")
                browser.close()
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
