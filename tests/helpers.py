"""Helpers several test modules share: a server with changed settings, a world per app,
posting a message over HTTP."""

import uuid

from campfire.app import create_app


async def make_client(aiohttp_client, settings, api, **changes):
    """A server with some settings changed; the api helper follows it."""
    client = await aiohttp_client(create_app(settings.replace(**changes)))
    api.client = client
    return client


async def world_for(client, api, world_class):
    """One `world_class` per app, started on first use: building the same users and rooms
    for every example would cost most of the run."""
    world = getattr(client, "_test_world", None)
    if world is None:
        world = world_class()
        await world.start(client, api)
        client._test_world = world
    return world


async def send(client, token, room_id, content, client_message_id=None):
    """POST a message; the raw response."""
    return await client.post(
        f"/api/rooms/{room_id}/messages",
        headers={"Authorization": f"Bearer {token}"},
        json={"content": content, "client_message_id": client_message_id or str(uuid.uuid4())},
    )
