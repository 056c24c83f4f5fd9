"""The HTTP API: thin handlers that parse, call a use case, and render JSON."""

from aiohttp import web

from campfire.api import (
    account_routes,
    auth_routes,
    bots_routes,
    files_routes,
    messages_routes,
    openapi,
    push_routes,
    rooms_routes,
    users_routes,
)

ROUTE_MODULES = (
    auth_routes,
    users_routes,
    rooms_routes,
    account_routes,
    messages_routes,
    bots_routes,
    files_routes,
    push_routes,
    openapi,
)


def setup_routes(app: web.Application) -> None:
    """Add every /api route and /health."""
    for module in ROUTE_MODULES:
        app.router.add_routes(module.routes)
