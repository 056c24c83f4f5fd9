#!/usr/bin/env python3
"""A terminal chat client for Campfire: the WebSocket API from a shell, for demos and debugging.

    .venv/bin/python scripts/chat.py --token=TOKEN --room general

Lines you type are sent to the room; everything the room says is printed as it happens.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid

import aiohttp

from campfire.validate import escape_controls


async def find_room(session: aiohttp.ClientSession, base: str, ref: str) -> dict:
    """The room named (or with the id) `ref` among the caller's rooms."""
    async with session.get(f"{base}/api/rooms") as resp:
        resp.raise_for_status()
        rooms = (await resp.json())["rooms"]
    for room in rooms:
        if ref in (room["id"], room["name"]):
            return room
    names = ", ".join(safe(r["name"]) for r in rooms) or "none"
    sys.exit(f"no room {ref!r}; yours are: {names}")


async def read_lines(queue: asyncio.Queue) -> None:
    """Feed stdin lines into a queue without blocking the event loop."""
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        await queue.put(line)
        if not line:
            return


def safe(text: str) -> str:
    """User data as it may reach the terminal: control characters escaped."""
    return escape_controls(str(text))


def safe_content(content: str) -> str:
    """Content for the terminal: escaped, later lines indented so none passes for a message."""
    return escape_controls(content, keep="\n").replace("\n", "\n    ")


def show(event: dict, names: dict[str, str], room_id: str) -> None:
    """Print one server event as a line of text."""
    kind = event["type"]
    who = safe(names.get(event.get("user_id", ""), event.get("user_id", "")))
    if kind == "NewMessage" and event["message"]["room_id"] == room_id:
        message = event["message"]
        author = safe(names.get(message["creator_id"], message["creator_id"][:8]))
        print(f"[{message['created_at'][11:19]}] {author}: {safe_content(message['content'])}")
    elif kind == "UserJoined":
        print(f"* {who} is here")
    elif kind == "UserLeft":
        print(f"* {who} left")
    elif kind == "TypingStart":
        print(f"* {who} is typing...")
    elif kind == "PresenceUpdate":
        print("* here now: " + ", ".join(safe(names.get(u, u[:8])) for u in event["online_users"]))
    elif kind == "Error":
        print(f"! {safe(event['code'])}: {safe(event['message'])}")


async def chat(base: str, token: str, room_ref: str) -> None:
    """Join a room and relay between the terminal and the socket until EOF or Ctrl-C."""
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        room = await find_room(session, base, room_ref)
        async with session.get(f"{base}/api/users") as resp:
            names = {u["id"]: u["name"] for u in (await resp.json())["users"]}
        async with session.get(f"{base}/api/rooms/{room['id']}/messages?limit=20") as resp:
            for message in (await resp.json())["messages"]:
                show({"type": "NewMessage", "message": message}, names, room["id"])
        async with session.ws_connect(f"{base}/ws") as ws:
            await ws.send_json({"type": "JoinRoom", "room_id": room["id"]})
            lines: asyncio.Queue = asyncio.Queue()
            reader = asyncio.create_task(read_lines(lines))
            print(f"-- in #{safe(room['name'])}; type a line and press Enter, Ctrl-D to quit --")
            incoming = asyncio.create_task(ws.receive())
            outgoing = asyncio.create_task(lines.get())
            while True:
                done, _ = await asyncio.wait(
                    {incoming, outgoing}, return_when=asyncio.FIRST_COMPLETED
                )
                if incoming in done:
                    msg = incoming.result()
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        print(f"-- connection closed ({ws.close_code}) --")
                        break
                    show(json.loads(msg.data), names, room["id"])
                    incoming = asyncio.create_task(ws.receive())
                if outgoing in done:
                    line = outgoing.result()
                    if not line:
                        break
                    if line.strip():
                        await ws.send_json(
                            {
                                "type": "CreateMessage",
                                "room_id": room["id"],
                                "content": line.rstrip("\n"),
                                "client_message_id": str(uuid.uuid4()),
                            }
                        )
                    outgoing = asyncio.create_task(lines.get())
            incoming.cancel()
            outgoing.cancel()
            reader.cancel()


def main() -> None:
    """Parse arguments and run the client."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:3000", help="the server's base URL")
    parser.add_argument(
        "--token",
        required=True,
        help="a session token (campfire token issue EMAIL); as --token=TOKEN: it may start with -",
    )
    parser.add_argument("--room", required=True, help="room name or id")
    args = parser.parse_args()
    try:
        asyncio.run(chat(args.url.rstrip("/"), args.token, args.room))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
