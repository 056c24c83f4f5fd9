"""Web Push: subscriptions, a local push service that decrypts what it gets (RFC 8291),
who gets a push, 410 forgets a subscription, a slow push service delays nothing."""

import asyncio
import base64
import json
import os
import time

import http_ece
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from campfire.app import create_app
from campfire.keys import core_key
from campfire.push import PublicOnlyResolver
from tests.helpers import make_client, send
from tests.wsutil import connect, recv_type


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class PushService:
    """A push service stand-in: keeps what it receives, answers `status` after `delay`."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict, bytes]] = []
        self.status = 201
        self.delay = 0.0
        self.arrived = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((request.path, dict(request.headers), await request.read()))
        self.arrived.set()
        await asyncio.sleep(self.delay)
        return web.Response(status=self.status)

    async def next(self, seconds: float = 3.0):
        await asyncio.wait_for(self.arrived.wait(), seconds)
        self.arrived.clear()
        return self.received[-1]


class Browser:
    """A subscription's keys, made as a browser makes them; decrypts what it is sent."""

    def __init__(self, endpoint: str) -> None:
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)
        self.endpoint = endpoint
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.subscription = {
            "endpoint": endpoint,
            "keys": {"p256dh": b64(point), "auth": b64(self.auth)},
        }

    def decrypt(self, body: bytes) -> dict:
        plain = http_ece.decrypt(
            body, private_key=self.private_key, auth_secret=self.auth, version="aes128gcm"
        )
        return json.loads(plain)


@pytest.fixture
async def service(aiohttp_server):
    push = PushService()
    app = web.Application()
    app.router.add_post("/push/{name}", push.handle)
    server = await aiohttp_server(app)
    push.base = str(server.make_url("/push/"))
    return push


@pytest.fixture
async def pclient(aiohttp_client, settings, api):
    return await make_client(aiohttp_client, settings, api, push_allow_insecure_endpoints=True)


async def subscribe(client, token, browser, status=201):
    resp = await client.post(
        "/api/push_subscriptions",
        headers={"Authorization": f"Bearer {token}"},
        json=browser.subscription,
    )
    assert resp.status == status, await resp.text()
    return resp


async def direct_room(api, token, other):
    resp = await api.client.post(
        "/api/rooms/direct", headers=api.auth(token), json={"user_ids": [other["id"]]}
    )
    return (await resp.json())["room"]


async def test_a_push_arrives_encrypted_for_the_subscription_and_says_who_and_what(
    pclient, api, service
):
    _ann, ann_token = await api.user("Ann")
    bob, bob_token = await api.user("Bob")
    browser = Browser(service.base + "bob")
    await subscribe(pclient, bob_token, browser)
    room = await direct_room(api, ann_token, bob)
    await send(pclient, ann_token, room["id"], "Lunch at noon?")
    path, headers, body = await service.next()
    assert path == "/push/bob"
    assert headers["Content-Encoding"] == "aes128gcm"
    assert headers["Authorization"].startswith("vapid t=")
    # The VAPID key in the header is the one the API publishes.
    key = await (
        await pclient.get("/api/push/vapid_public_key", headers=api.auth(bob_token))
    ).json()
    assert f"k={key['vapid_public_key']}" in headers["Authorization"]
    data = browser.decrypt(body)
    assert data["title"] == "Ann" and data["body"] == "Lunch at noon?"
    assert data["room_id"] == room["id"] and room["id"] in data["path"]


async def test_who_gets_a_push_by_involvement_and_viewing(pclient, api, service):
    _ann, ann_token = await api.user("Ann")
    bob, bob_token = await api.user("Bob")
    browser = Browser(service.base + "bob")
    await subscribe(pclient, bob_token, browser)
    core = pclient.app[core_key]
    room = await api.room(ann_token, name="plans", members=[bob])  # closed: mentions
    await send(pclient, ann_token, room["id"], "nobody mentioned")
    await core.push.idle()
    assert service.received == []
    await send(pclient, ann_token, room["id"], "hey @bob, look")
    _, _, body = await service.next()
    assert browser.decrypt(body)["body"] == "Ann: hey @bob, look"
    # Viewing the room (JoinRoom): no push, even when mentioned.
    ws = await connect(pclient, bob_token)
    await ws.send_json({"type": "JoinRoom", "room_id": room["id"]})
    await recv_type(ws, "UserJoined")
    await send(pclient, ann_token, room["id"], "@Bob again")
    await core.push.idle()
    assert len(service.received) == 1
    # The author's own messages never push to them.
    await send(pclient, bob_token, room["id"], "@Bob talking to myself")
    await core.push.idle()
    assert len(service.received) == 1
    await ws.close()


async def test_a_410_from_the_push_service_deletes_the_subscription(pclient, api, service):
    _ann, ann_token = await api.user("Ann")
    bob, bob_token = await api.user("Bob")
    await subscribe(pclient, bob_token, Browser(service.base + "gone"))
    core = pclient.app[core_key]
    assert bob["id"] in core.push.subscribers
    service.status = 410
    room = await direct_room(api, ann_token, bob)
    await send(pclient, ann_token, room["id"], "are you there?")
    await service.next()
    await core.push.idle()
    assert bob["id"] not in core.push.subscribers
    rows = await core.db.fetchall("SELECT * FROM push_subscriptions")
    assert rows == []


async def test_a_slow_push_service_delays_no_message(aiohttp_client, settings, api, service):
    client = await make_client(
        aiohttp_client, settings, api, push_allow_insecure_endpoints=True, push_concurrency=2
    )
    _ann, ann_token = await api.user("Ann")
    bob, bob_token = await api.user("Bob")
    await subscribe(client, bob_token, Browser(service.base + "slow"))
    service.delay = 5.0
    room = await direct_room(api, ann_token, bob)
    started = time.monotonic()
    for n in range(20):
        resp = await send(client, ann_token, room["id"], f"message {n}")
        assert resp.status == 201
    assert time.monotonic() - started < 2.0
    service.delay = 0.0


async def test_no_subscription_means_no_query_and_no_queue(client, api):
    _ann, ann_token = await api.user("Ann")
    bob, _ = await api.user("Bob")
    core = client.app[core_key]
    room = await direct_room(api, ann_token, bob)
    assert core.push.subscribers == set()
    await send(client, ann_token, room["id"], "hi")
    assert core.push._queue.qsize() == 0


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://push.example.com/x",
        "https://127.0.0.1/x",
        "https://10.1.2.3/x",
        "https://[::1]/x",
        "https://169.254.169.254/latest",
        "https://localhost/x",
        "ftp://push.example.com/x",
        "https://user:pw@push.example.com/x",
        "not a url",
        "https://push.example.com/" + "x" * 3000,
    ],
)
async def test_unsafe_endpoints_are_refused(client, api, endpoint):
    _, token = await api.user("Ann")
    browser = Browser(endpoint)
    resp = await subscribe(client, token, browser, status=400)
    assert (await resp.json())["error"]["code"] == "VALIDATION_FAILED"
    assert await client.app[core_key].db.fetchall("SELECT * FROM push_subscriptions") == []


async def test_bad_keys_and_no_session_are_refused(client, api):
    _, token = await api.user("Ann")
    browser = Browser("https://push.example.com/x")
    browser.subscription["keys"]["p256dh"] = b64(b"\x04" + b"1" * 10)
    await subscribe(client, token, browser, status=400)
    resp = await client.post(
        "/api/push_subscriptions", json=Browser("https://push.example.com/y").subscription
    )
    assert resp.status == 401
    assert (await client.get("/api/push/vapid_public_key")).status == 401


async def test_subscriptions_per_user_are_capped_oldest_go(aiohttp_client, settings, api):
    client = await make_client(aiohttp_client, settings, api, push_subscriptions_per_user=3)
    _, token = await api.user("Ann")
    for n in range(6):
        await subscribe(client, token, Browser(f"https://push.example.com/{n}"))
    rows = await client.app[core_key].db.fetchall("SELECT endpoint FROM push_subscriptions")
    assert len(rows) == 3


async def test_unsubscribe_deletes_only_the_callers_subscription(client, api):
    _, ann_token = await api.user("Ann")
    _, bob_token = await api.user("Bob")
    browser = Browser("https://push.example.com/ann")
    await subscribe(client, ann_token, browser)
    resp = await client.delete(
        "/api/push_subscriptions", headers=api.auth(bob_token), json={"endpoint": browser.endpoint}
    )
    assert resp.status == 204
    assert len(await client.app[core_key].db.fetchall("SELECT * FROM push_subscriptions")) == 1
    await client.delete(
        "/api/push_subscriptions", headers=api.auth(ann_token), json={"endpoint": browser.endpoint}
    )
    assert await client.app[core_key].db.fetchall("SELECT * FROM push_subscriptions") == []
    assert client.app[core_key].push.subscribers == set()


async def test_the_resolver_refuses_names_of_private_addresses():
    resolver = PublicOnlyResolver()
    try:
        with pytest.raises(OSError):
            await resolver.resolve("localhost", 443)
    finally:
        await resolver.close()


async def test_the_vapid_key_is_made_once_and_kept(aiohttp_client, settings, api):
    client = await make_client(aiohttp_client, settings, api)
    _, token = await api.user("Ann")
    first = await (await client.get("/api/push/vapid_public_key", headers=api.auth(token))).json()
    await client.close()
    client = await make_client(aiohttp_client, settings, api)
    again = await (await client.get("/api/push/vapid_public_key", headers=api.auth(token))).json()
    assert first == again and len(first["vapid_public_key"]) == 87


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/sw.js", "text/javascript"),
        ("/manifest.webmanifest", "application/manifest+json"),
        ("/static/push.js", "application/javascript"),  # a JavaScript type either way
    ],
)
async def test_service_worker_manifest_and_module_are_served_with_their_types(
    client, path, content_type
):
    resp = await client.get(path)
    assert resp.status == 200
    assert resp.content_type == content_type
    if path.endswith("webmanifest"):
        manifest = json.loads(await resp.text())
        assert manifest["start_url"] == "/" and manifest["icons"]


async def test_a_subscription_changed_behind_a_workers_back_is_used_within_a_period(
    aiohttp_client, settings, api, service
):
    """Two servers on one database with no Redis between them (as two workers whose wake-up
    Redis lost): Bob subscribes through the first; the second pushes to him within one
    push_refresh_seconds, and stops once he has unsubscribed through the first."""
    period = 0.4
    settings = settings.replace(
        push_allow_insecure_endpoints=True, push_refresh_seconds=period, workers=2
    )
    first = await make_client(aiohttp_client, settings, api)
    _ann, ann_token = await api.user("Ann")
    bob, bob_token = await api.user("Bob")
    room = await direct_room(api, ann_token, bob)
    second = await aiohttp_client(create_app(settings, worker_index=1))
    browser = Browser(service.base + "bob")
    await subscribe(first, bob_token, browser)
    subscribed_at = time.monotonic()
    while time.monotonic() - subscribed_at < 4 * period and not service.received:
        await send(second, ann_token, room["id"], "Still there?")
        await asyncio.sleep(0.05)
    assert service.received, "the second server never learnt of the subscription"
    await service.next()
    # One period, and slack for a busy machine (no re-read at all: no push, ever).
    assert time.monotonic() - subscribed_at < 2 * period
    assert browser.decrypt(service.received[-1][2])["body"] == "Still there?"

    resp = await first.delete(
        "/api/push_subscriptions",
        headers=api.auth(bob_token),
        json={"endpoint": browser.endpoint},
    )
    assert resp.status == 204, await resp.text()
    await asyncio.sleep(period + 0.1)
    count = len(service.received)
    await send(second, ann_token, room["id"], "Gone?")
    await second.app[core_key].push.idle()
    assert len(service.received) == count
    assert bob["id"] not in second.app[core_key].push.subscribers
