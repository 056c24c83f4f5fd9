"""The baseline: a bare aiohttp broadcast server (one room, no auth, no storage).

For each incoming text frame it awaits `ws.send_str(data)` to every connected socket, as the
aiohttp chat demo does. Campfire's figures are reported as ratios to this server's.

    python scripts/bench/baseline_server.py --port 8081
"""

from __future__ import annotations

import argparse
import gc

from aiohttp import WSMsgType, web

from campfire.app import GC_THRESHOLD, new_event_loop
from campfire.config import Settings

SOCKETS = web.AppKey("sockets", set)


async def websocket(request: web.Request) -> web.WebSocketResponse:
    """Relay every text frame to every connected socket, the sender included."""
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    sockets = request.app[SOCKETS]
    sockets.add(ws)
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                for other in list(sockets):
                    try:
                        await other.send_str(msg.data)
                    except ConnectionError:
                        pass  # a peer gone mid-broadcast; its own handler cleans up
    finally:
        sockets.discard(ws)
    return ws


def create_app() -> web.Application:
    """The one-room broadcast app."""
    app = web.Application()
    app[SOCKETS] = set()
    app.router.add_get("/ws", websocket)
    return app


def main() -> None:
    """Serve on 127.0.0.1 only."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args()
    # GC and event loop as `campfire serve` has them: the ratios compare code, not settings.
    gc.set_threshold(*GC_THRESHOLD)
    loop = new_event_loop(Settings().event_loop)
    web.run_app(
        create_app(), host="127.0.0.1", port=args.port, print=None, access_log=None, loop=loop
    )


if __name__ == "__main__":
    main()
