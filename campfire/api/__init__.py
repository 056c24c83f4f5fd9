"""The HTTP API: thin handlers that parse, call a use case, and render JSON."""

from aiohttp import web

from campfire.api import auth_routes, openapi, rooms_routes, users_routes


def setup_routes(app: web.Application) -> None:
    """Add every /api route and /health."""
    for module in (auth_routes, users_routes, rooms_routes, openapi):
        app.router.add_routes(module.routes)
