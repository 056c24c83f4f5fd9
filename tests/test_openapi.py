"""GET /api/openapi.json: every route of the router is in it, nothing else, in valid OpenAPI 3.1."""

from __future__ import annotations

import apicheck
import pytest
import schemathesis
from aiohttp import web
from jsonschema import Draft202012Validator

from campfire.api.openapi import UndescribedRoute, build_document, describe
from campfire.app import create_app


def router_operations(app: web.Application) -> set[tuple[str, str]]:
    """(METHOD, path) of every route the app serves, but the web client's static files and
    the HEAD that aiohttp adds beside each GET."""
    found = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        if "directory" in info:  # add_static: files, not API
            continue
        found.add((route.method, route.resource.canonical))
    gets = {path for method, path in found if method == "GET"}
    return {(m, p) for m, p in found if not (m == "HEAD" and p in gets)}


def document_operations(document: dict) -> set[tuple[str, str]]:
    """(METHOD, path) of every operation in an OpenAPI document."""
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "put", "post", "delete", "patch", "head", "options", "trace")
    }


async def test_the_served_document_lists_exactly_the_routes_of_the_router(client):
    resp = await client.get("/api/openapi.json")
    assert resp.status == 200
    assert resp.content_type == "application/json"
    document = await resp.json()
    assert document["openapi"].startswith("3.1")
    assert document_operations(document) == router_operations(client.app)


def test_the_document_is_valid_openapi_31(settings):
    document = build_document(create_app(settings))
    schemathesis.openapi.from_dict(document).validate()  # against the OpenAPI 3.1 meta-schema
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


def test_a_route_without_a_description_fails_the_build(settings):
    app = create_app(settings)

    async def secret_route(request: web.Request) -> web.Response:
        return web.Response()

    app.router.add_get("/api/undescribed", secret_route)
    with pytest.raises(UndescribedRoute, match="GET /api/undescribed"):
        build_document(app)


def test_a_described_route_appears_with_its_implied_errors(settings):
    app = create_app(settings)

    @describe("Something", body={"type": "object"}, responses={201: None}, errors=[429])
    async def something(request: web.Request) -> web.Response:
        return web.Response(status=201)

    app.router.add_post("/api/things/{room_id}", something)
    operation = build_document(app)["paths"]["/api/things/{room_id}"]["post"]
    # a JSON body can be malformed, too large, too slow or of another type; a session can be
    # missing, or a cookie can come from a foreign Origin; the database can be away
    implied = {"201", "400", "401", "403", "408", "413", "415", "429", "503"}
    assert set(operation["responses"]) == implied
    assert operation["parameters"][0]["name"] == "room_id"
    assert operation["parameters"][0]["schema"]["format"] == "uuid"


def test_every_error_is_the_one_error_shape_and_429_says_when(settings):
    document = build_document(create_app(settings))
    responses = document["components"]["responses"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert response == {"$ref": f"#/components/responses/Error{status}"}, (
                        method,
                        path,
                        status,
                    )
    for response in responses.values():
        assert response["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }
    assert "Retry-After" in responses["Error429"]["headers"]


def test_every_operation_has_a_summary_and_a_success(settings):
    document = build_document(create_app(settings))
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert operation["summary"], (method, path)
            assert any(int(status) < 400 for status in operation["responses"]), (method, path)


async def test_every_test_server_flags_an_answer_its_route_does_not_document(
    aiohttp_client, settings
):
    """The check tests/conftest.py puts on every test's server (tests/apicheck.py)."""
    app = create_app(settings)

    @describe("Tea", auth="none", responses={200: {"type": "object"}})
    async def teapot(request: web.Request) -> web.Response:
        return web.json_response({}, status=418 if "brew" in request.query else 200)

    app.router.add_get("/api/teapot", teapot)
    client = await aiohttp_client(app)
    assert (await client.get("/api/teapot")).status == 200
    assert (await client.get("/api/nowhere")).status == 404  # the router's own: not a route's
    assert apicheck.undocumented(app) == []
    assert (await client.get("/api/teapot?brew=1")).status == 418
    assert (await client.get("/api/rooms")).status == 401  # documented: fine
    assert apicheck.undocumented(app) == ["GET /api/teapot -> 418"]
    apicheck.undocumented(app).clear()  # seen; let the fixture's own check pass
