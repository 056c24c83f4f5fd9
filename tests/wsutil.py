"""Helpers for WebSocket tests: connect until Ready, read frames, assert silence."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import aiohttp
from jsonschema import Draft202012Validator

# The machine-readable protocol (docs/websocket.md): every frame recv() receives, and the
# JoinRoom that join() sends, is checked against it, so an undocumented frame type or field
# fails the test. (create() is not checked: tests build invalid frames with it on purpose.)
WS_SCHEMA = json.loads(
    (Path(__file__).parent.parent / "campfire" / "static" / "websocket.schema.json").read_text()
)
_VALIDATORS = {
    side: Draft202012Validator(
        {**{k: v for k, v in WS_SCHEMA.items() if k != "anyOf"}, "$ref": f"#/$defs/{side}"}
    )
    for side in ("ServerFrame", "ClientFrame")
}


def check_frame(frame: object, side: str = "ServerFrame") -> None:
    """Fail unless `frame` fits campfire/static/websocket.schema.json (ServerFrame/ClientFrame)."""
    errors = sorted(_VALIDATORS[side].iter_errors(frame), key=lambda e: list(e.absolute_path))
    if errors:
        details = "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])
        raise AssertionError(f"{side} not in websocket.schema.json: {frame!r}: {details}")


async def connect(client, token: str, **kwargs) -> aiohttp.ClientWebSocketResponse:
    """Open /ws with a Bearer token and wait for the Ready frame that ends the catch-up."""
    ws = await client.ws_connect("/ws", headers={"Authorization": f"Bearer {token}"}, **kwargs)
    frame = await recv(ws)
    assert frame["type"] == "Ready", frame
    return ws


async def connect_and_catch_up(
    client, token: str
) -> tuple[aiohttp.ClientWebSocketResponse, list[dict]]:
    """Open /ws and return it with every frame received before Ready."""
    ws = await client.ws_connect("/ws", headers={"Authorization": f"Bearer {token}"})
    frames = []
    while True:
        frame = await recv(ws)
        if frame["type"] == "Ready":
            return ws, frames
        frames.append(frame)


async def recv(ws, timeout: float = 3.0) -> dict:
    """The next JSON frame; fails the test if none arrives in time or the socket closes."""
    msg = await asyncio.wait_for(ws.receive(), timeout)
    assert msg.type == aiohttp.WSMsgType.TEXT, (msg.type, msg.data, msg.extra)
    frame = msg.json()
    check_frame(frame)
    return frame


async def recv_type(ws, kind: str, timeout: float = 3.0) -> dict:
    """The next frame, which must be of type `kind`."""
    frame = await recv(ws, timeout)
    assert frame["type"] == kind, frame
    return frame


async def silent(ws, timeout: float = 0.2) -> None:
    """Assert that nothing arrives for a short while."""
    try:
        msg = await asyncio.wait_for(ws.receive(), timeout)
    except TimeoutError:
        return
    raise AssertionError(f"expected silence, got {msg.type} {msg.data!r}")


async def join(ws, room_id: str) -> None:
    """JoinRoom, then read frames up to and including our PresenceUpdate."""
    frame = {"type": "JoinRoom", "room_id": room_id}
    check_frame(frame, "ClientFrame")
    await ws.send_json(frame)
    while (await recv(ws))["type"] != "PresenceUpdate":
        pass


def create(room_id: str, content: str, client_message_id: str | None = None) -> dict:
    """A CreateMessage frame."""
    return {
        "type": "CreateMessage",
        "room_id": room_id,
        "content": content,
        "client_message_id": client_message_id or str(uuid.uuid4()),
    }


async def closed_with(ws, timeout: float = 5.0) -> int:
    """Read until the socket closes; the close code."""
    while True:
        msg = await asyncio.wait_for(ws.receive(), timeout)
        if msg.type == aiohttp.WSMsgType.CLOSE:
            return msg.data  # the code the server sent
        if msg.type in (
            aiohttp.WSMsgType.CLOSING,
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.ERROR,
        ):
            return ws.close_code


class RawSocket:
    """A blocking WebSocket client on a bare TCP socket (made in a thread): reads when told to."""

    def __init__(self, host: str, port: int, token: str, rcvbuf: int | None = None):
        import base64
        import os
        import socket

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect((host, port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET /ws?token={token} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        response = b""
        while b"\r\n\r\n" not in response:
            response += self.sock.recv(1)
        assert response.startswith(b"HTTP/1.1 101"), response

    def send_text(self, text: str) -> None:
        """Send one masked text frame."""
        import os
        import struct

        payload = text.encode()
        mask = os.urandom(4)
        size = len(payload)
        if size < 126:
            header = struct.pack("!BB", 0x81, 0x80 | size)
        elif size < 65536:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, size)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, size)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def drop(self) -> None:
        """Vanish without a WebSocket close handshake (a plain TCP close: what was sent arrives)."""
        self.sock.close()
