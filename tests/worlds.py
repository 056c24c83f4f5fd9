"""Test worlds built once per app: hypothesis runs many examples against one server."""


async def world_for(client, api, world_class):
    """One `world_class` per app, started on first use: building the same users and rooms
    for every example would cost most of the run."""
    world = getattr(client, "_test_world", None)
    if world is None:
        world = world_class()
        await world.start(client, api)
        client._test_world = world
    return world
