"""Web Push over HTTP: the VAPID public key, subscriptions, the service worker and manifest."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from campfire.api.common import core_of, current_user, json_body, ok
from campfire.api.openapi import STRING, describe, media, obj

routes = web.RouteTableDef()

STATIC_DIR = Path(__file__).parent.parent / "static"
ENDPOINT = {"type": "string", "maxLength": 2000, "description": "a public https URL"}


@routes.get("/api/push/vapid_public_key")
@describe(
    "The VAPID public key (base64url), for PushManager.subscribe",
    responses={200: obj(vapid_public_key=STRING)},
)
async def vapid_public_key(request: web.Request) -> web.Response:
    """The server's VAPID public key, for PushManager.subscribe's applicationServerKey."""
    await current_user(request)
    return ok({"vapid_public_key": core_of(request).push.public_key})


@routes.post("/api/push_subscriptions")
@describe(
    "Store this browser's push subscription (PushSubscription.toJSON()) for the caller",
    body=obj(endpoint=ENDPOINT, keys=obj(p256dh=STRING, auth=STRING)),
    responses={201: obj(subscribed={"const": True})},
)
async def subscribe(request: web.Request) -> web.Response:
    """Store this browser's push subscription (PushSubscription.toJSON()) for the caller."""
    user = await current_user(request)
    body = await json_body(request)
    await core_of(request).push.subscribe(user.id, body.get("endpoint"), body.get("keys"))
    return ok({"subscribed": True}, status=201)


@routes.delete("/api/push_subscriptions")
@describe(
    "Forget one of the caller's push subscriptions, by its endpoint",
    body=obj(endpoint=ENDPOINT),
    responses={204: None},
)
async def unsubscribe(request: web.Request) -> web.Response:
    """Forget one of the caller's subscriptions, by its endpoint."""
    user = await current_user(request)
    body = await json_body(request)
    await core_of(request).push.unsubscribe(user.id, body.get("endpoint"))
    return web.Response(status=204)


@routes.get("/sw.js")
@describe(
    "The web client's service worker, served from / for its scope",
    auth="none",
    responses={200: "text/javascript", 304: None},
)
async def service_worker(request: web.Request) -> web.FileResponse:
    """The service worker, served from the root so that its scope is the whole client."""
    return web.FileResponse(
        STATIC_DIR / "sw.js",
        headers={"Content-Type": "text/javascript; charset=utf-8", "Cache-Control": "no-cache"},
    )


@routes.get("/manifest.webmanifest")
@describe(
    "The web app manifest",
    auth="none",
    responses={
        200: media(
            "application/manifest+json",
            schema={
                **obj(name=STRING, start_url=STRING, scope=STRING),
                "additionalProperties": True,
            },
        ),
        304: None,
    },
)
async def manifest(request: web.Request) -> web.FileResponse:
    """The web app manifest (lets the client be installed)."""
    return web.FileResponse(
        STATIC_DIR / "manifest.webmanifest",
        headers={"Content-Type": "application/manifest+json", "Cache-Control": "no-cache"},
    )
