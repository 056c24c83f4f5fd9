"""Every HTTP answer the tests provoke must be a status that GET /api/openapi.json documents.

tests/conftest.py wraps the aiohttp_client fixture with `watch`, so each test's server records
answers its route's description does not list, and the test fails at its end. The tests reach
the 409s, 413s, 429s and 503s that a generated run rarely does (tests/test_schemathesis.py
checks bodies and headers too).
"""

from __future__ import annotations

from aiohttp import web

from campfire.api.openapi import build_document

# Per app: the document (built on the first answer, once the router is complete) and what
# was answered outside it. A dict set before the app starts, since a started app is frozen.
_state = web.AppKey("openapi_check", dict)


def watch(app: web.Application) -> None:
    """Record, on `app`, every answer whose status its route's description does not list."""
    app[_state] = {"document": None, "undocumented": []}
    app.on_response_prepare.append(_check)


async def _check(request: web.Request, response: web.StreamResponse) -> None:
    """One answer: the documented statuses of its route (method + path template)."""
    route = request.match_info.route
    if route.resource is None or request.match_info.http_exception is not None:
        return  # no such route or method (404/405 from the router): nothing to describe
    path = route.resource.canonical
    if path.startswith("/static"):
        return
    method = "get" if request.method == "HEAD" else request.method.lower()
    state = request.app[_state]
    if state["document"] is None:
        state["document"] = build_document(request.app)
    operation = state["document"]["paths"].get(path, {}).get(method)
    if operation is None or str(response.status) not in operation["responses"]:
        state["undocumented"].append(f"{request.method} {path} -> {response.status}")


def undocumented(app: web.Application) -> list[str]:
    """The answers `watch` recorded that the document does not list."""
    return app[_state]["undocumented"] if _state in app else []
