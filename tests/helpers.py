"""Helpers several test modules share: a server with changed settings, a world per app."""

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
