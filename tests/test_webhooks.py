"""Bot webhooks against a local receiver: signed payloads, replies posted, retries, and
at-least-once delivery across a receiver outage and a server restart."""

import asyncio
import hashlib
import hmac
import json

from aiohttp import web

from campfire.app import create_app
from campfire.keys import core_key
from tests.helpers import send
from tests.test_bots import make_bot


class Receiver:
    """A bot's webhook endpoint: checks signatures, keeps deliveries, answers as told."""

    def __init__(self) -> None:
        self.secret = ""
        self.deliveries: list[tuple[str, dict]] = []
        self.status = 200
        self.reply = ""
        self.arrived = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(request.headers["X-Campfire-Signature"], expected)
        self.deliveries.append((request.headers["X-Campfire-Delivery"], json.loads(body)))
        self.arrived.set()
        if self.status != 200 or not self.reply:
            return web.Response(status=self.status)
        return web.Response(text=self.reply, content_type="text/plain")

    async def wait_for(self, count: int, seconds: float = 5.0) -> None:
        async def enough() -> None:
            while len(self.deliveries) < count:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(enough(), seconds)


async def start_receiver(aiohttp_server, receiver, port=None):
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    return await aiohttp_server(app, port=port) if port else await aiohttp_server(app)


async def bot_with_webhook(api, url, receiver):
    bot, key = await make_bot(api, name="Helper", webhook_url=url)
    shown = await api.client.get(f"/api/bots/{bot['id']}", headers=api.auth(api.admin_token))
    receiver.secret = (await shown.json())["bot"]["webhook_secret"]
    return bot, key


async def test_a_mention_calls_the_webhook_and_its_text_answer_is_the_reply(
    client, api, aiohttp_server
):
    receiver = Receiver()
    server = await start_receiver(aiohttp_server, receiver)
    ann, ann_token = await api.user("Ann")
    bot, _ = await bot_with_webhook(api, str(server.make_url("/hook")), receiver)
    room = await api.room(ann_token, name="ops", members=[bot])
    receiver.reply = "Deploying now"
    await send(client, ann_token, room["id"], "no mention here")
    message = await (await send(client, ann_token, room["id"], "@Helper deploy please")).json()
    await receiver.wait_for(1)
    delivery_id, payload = receiver.deliveries[0]
    assert payload == {
        "user": {"id": ann["id"], "name": "Ann"},
        "room": {"id": room["id"], "name": "ops", "path": f"/#room={room['id']}"},
        "message": {
            "id": message["message"]["id"],
            "body": {"plain": "deploy please"},
            "path": f"/#room={room['id']}&message={message['message']['id']}",
        },
    }
    for _ in range(100):
        page = await (
            await client.get(f"/api/rooms/{room['id']}/messages", headers=api.auth(ann_token))
        ).json()
        if page["messages"][-1]["creator_id"] == bot["id"]:
            break
        await asyncio.sleep(0.02)
    reply = page["messages"][-1]
    assert reply["content"] == "Deploying now" and reply["client_message_id"] == delivery_id
    core = client.app[core_key]
    await core.webhooks.idle()
    assert len(receiver.deliveries) == 1  # the bot's own reply calls nobody
    assert await core.db.fetchall("SELECT * FROM webhook_deliveries") == []


async def test_every_message_in_a_direct_room_calls_the_bot(client, api, aiohttp_server):
    receiver = Receiver()
    server = await start_receiver(aiohttp_server, receiver)
    _ann, ann_token = await api.user("Ann")
    bot, _ = await bot_with_webhook(api, str(server.make_url("/hook")), receiver)
    resp = await client.post(
        "/api/rooms/direct", headers=api.auth(ann_token), json={"user_ids": [bot["id"]]}
    )
    room = (await resp.json())["room"]
    for text in ("one", "two"):
        await send(client, ann_token, room["id"], text)
    await receiver.wait_for(2)
    assert [p["message"]["body"]["plain"] for _, p in receiver.deliveries] == ["one", "two"]


async def test_failures_are_retried_then_given_up_and_shown_to_admins(
    aiohttp_client, settings, api, aiohttp_server
):
    settings = settings.replace(webhook_retry_seconds=0.02, webhook_max_attempts=3)
    client = await aiohttp_client(create_app(settings))
    api.client = client
    receiver = Receiver()
    receiver.status = 500
    server = await start_receiver(aiohttp_server, receiver)
    _, ann_token = await api.user("Ann")
    bot, _ = await bot_with_webhook(api, str(server.make_url("/hook")), receiver)
    room = await api.room(ann_token, members=[bot])
    await send(client, ann_token, room["id"], "@helper status?")
    await receiver.wait_for(3)
    ids = {delivery_id for delivery_id, _ in receiver.deliveries}
    assert len(ids) == 1  # one delivery, three attempts, the same id
    core = client.app[core_key]
    for _ in range(100):
        listed = await (await client.get("/api/bots", headers=api.auth(api.admin_token))).json()
        if (listed["bots"][0]["last_error"] or "").startswith("gave up"):
            break
        await asyncio.sleep(0.02)
    assert (
        listed["bots"][0]["last_error"] == "gave up after 3 attempts: the webhook answered HTTP 500"
    )
    assert await core.db.fetchall("SELECT * FROM webhook_deliveries") == []
    await asyncio.sleep(0.2)
    assert len(receiver.deliveries) == 3


async def test_receiver_down_server_restarted_every_delivery_arrives_with_its_id(
    aiohttp_client, settings, api, aiohttp_server
):
    settings = settings.replace(
        webhook_retry_seconds=0.05, webhook_max_attempts=10, webhook_poll_seconds=0.1
    )
    client = await aiohttp_client(create_app(settings))
    api.client = client
    receiver = Receiver()
    receiver.status = 503
    server = await start_receiver(aiohttp_server, receiver)
    port = server.port
    _, ann_token = await api.user("Ann")
    bot, _ = await bot_with_webhook(api, str(server.make_url("/hook")), receiver)
    room = await api.room(ann_token, members=[bot])
    for n in range(3):
        await send(client, ann_token, room["id"], f"@Helper job {n}")
    await receiver.wait_for(3)
    first = {p["message"]["id"]: d for d, p in receiver.deliveries}
    assert len(first) == 3
    await server.close()  # the receiver goes down
    await client.close()  # and the server stops
    receiver.deliveries.clear()
    receiver.status = 200
    client = await aiohttp_client(create_app(settings))  # the same database
    await asyncio.sleep(0.2)  # attempts meet a receiver that is down
    await start_receiver(aiohttp_server, receiver, port=port)
    await receiver.wait_for(3)
    core = client.app[core_key]
    for _ in range(100):
        if not await core.db.fetchall("SELECT * FROM webhook_deliveries"):
            break
        await asyncio.sleep(0.02)
    again = {p["message"]["id"]: d for d, p in receiver.deliveries}
    assert again == first  # every delivery, with the id it had before
