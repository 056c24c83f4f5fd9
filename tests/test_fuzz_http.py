"""Property-based attacks on every HTTP route: malformed bodies, wrong content types, oversize
bodies, odd query strings, path parameters that are not UUIDs. Never a 500; every error has
the one shape {"error": {"code", "message"}}; the server keeps serving.

The routes come from the app's own router, so a new route is fuzzed without editing this file.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import pytest
from helpers import world_for
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from yarl import URL

from campfire.keys import core_key

EXAMPLES = hsettings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    database=None,
)
FIELDS = [
    "email",
    "name",
    "password",
    "room_type",
    "user_id",
    "user_ids",
    "content",
    "client_message_id",
    "is_admin",
    "is_active",
]


@pytest.fixture
def settings(settings):
    """A small body limit, so 'oversize' is cheap to send."""
    return settings.replace(max_body_bytes=16 * 1024, login_attempts_per_minute=100_000)


def app_routes(app) -> list[tuple[str, str]]:
    """Every (method, path template) the app serves, static files aside."""
    found = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("formatter") or info.get("path")
        if path and route.method not in ("HEAD", "*") and not path.startswith("/static"):
            found.append((route.method, path))
    return sorted(set(found))


JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.sampled_from(["", "x" * 10_001, "a\x00b", "\u202e", "👩‍👩‍👧", "e\u0301"]),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def bodies(draw, ids: list[str]) -> tuple[bytes | None, str | None]:
    """A request body and its Content-Type."""
    content_type = draw(
        st.sampled_from(
            [
                "application/json",
                "application/json",
                "application/json; charset=latin-1",
                "text/plain",
                "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=x",
                None,
            ]
        )
    )
    kind = draw(
        st.sampled_from(["object", "object", "json", "bytes", "deep", "huge", "surrogate", "none"])
    )
    if kind == "object":
        data = {
            name: draw(
                JSON_VALUES | st.sampled_from(ids) | st.lists(st.sampled_from(ids), max_size=3)
            )
            for name in draw(st.sets(st.sampled_from(FIELDS), max_size=5))
        }
        body = json.dumps(data, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    elif kind == "json":
        body = json.dumps(draw(JSON_VALUES)).encode()
    elif kind == "bytes":
        body = draw(st.binary(max_size=300))
    elif kind == "deep":
        body = b"[" * draw(st.integers(1000, 15_000))
    elif kind == "huge":
        body = json.dumps({"content": "z" * draw(st.integers(17_000, 40_000))}).encode()
    elif kind == "surrogate":
        body = f'{{"{draw(st.sampled_from(FIELDS))}": "\\ud800x"}}'.encode()
    else:
        body = None
    return body, content_type


def path_params(ids: list[str]):
    """What may stand in a path segment: real ids, random UUIDs, and anything else."""
    return st.one_of(
        st.sampled_from(ids),
        st.uuids().map(str),
        st.uuids().map(lambda u: str(u).upper()),
        st.integers().map(str),
        st.text(min_size=1, max_size=40).map(lambda t: quote(t, safe="")),
        st.sampled_from(
            ["..", "%00", "%ff%fe", "%2e%2e", "null", "-1", "x" * 3000, "%F0%9F%94%A5"]
        ),
    )


class World:
    """An admin (whose token reaches the deepest code), a member, rooms, a message."""

    async def start(self, client, api) -> None:
        self.admin, self.token = await api.setup_admin()
        bob, self.bob_token = await api.user("Bob")
        room = await api.room(self.token, "fuzz", members=[bob])
        message = await api.post(self.token, room["id"], "hello")
        self.ids = [self.admin["id"], bob["id"], room["id"], message["id"]]


@EXAMPLES
@given(data=st.data())
async def test_every_route_answers_bad_input_with_a_4xx_in_the_one_shape(client, api, data):
    world = await world_for(client, api, World)
    method, template = data.draw(st.sampled_from(app_routes(client.app)))
    path = re.sub(r"\{[^}]+\}", lambda _: data.draw(path_params(world.ids)), template)
    query = data.draw(
        st.dictionaries(
            st.sampled_from(["before", "after", "limit", "token", "x"]),
            st.text(max_size=20) | st.integers().map(str),
            max_size=3,
        )
    )
    body, content_type = data.draw(bodies(world.ids))
    auth = data.draw(st.sampled_from(["admin", "admin", "member", "none", "garbage"]))
    headers = {}
    if content_type:
        headers["Content-Type"] = content_type
    if auth in ("admin", "member"):
        token = world.token if auth == "admin" else world.bob_token
        if template == "/api/auth/logout":  # never end the session the fuzzer needs
            token = await fresh_token(client)
        headers["Authorization"] = f"Bearer {token}"
    elif auth == "garbage":
        headers["Authorization"] = data.draw(
            st.sampled_from(
                ["Bearer", "Bearer %00", "Bearer caf\u00e9", "Basic Zm9v", "Bearer " + "a" * 500]
            )
        )
    url = URL(
        path
        + ("?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in query.items()) if query else ""),
        encoded=True,
    )
    resp = await client.request(method, url, data=body, headers=headers)
    text = await resp.text(errors="replace")
    event(f"{method} {template} -> {resp.status}")
    assert resp.status < 500, (method, path, resp.status, text[:300])
    if resp.status >= 400 and (template.startswith("/api") or template == "/health"):
        data_ = json.loads(text)
        assert set(data_) == {"error"} and set(data_["error"]) == {"code", "message"}, data_
        assert re.fullmatch(r"[A-Z_]+", data_["error"]["code"])
    assert resp.headers.get("X-Content-Type-Options") == "nosniff"


async def fresh_token(client) -> str:
    """A new admin session for the logout route."""
    resp = await client.post(
        "/api/auth/login", json={"email": "admin@example.com", "password": "correct horse"}
    )
    token = (await resp.json())["session_token"]
    client.session.cookie_jar.clear()
    return token


async def test_server_still_serves_after_fuzzing(client, api):
    """Sanity after a storm of bad requests: health, login and history still work."""
    world = await world_for(client, api, World)
    for _ in range(50):
        await client.post(
            "/api/rooms", data=b"\xff" * 100, headers={"Content-Type": "application/json"}
        )
    assert (await client.get("/health")).status == 200
    resp = await client.get(f"/api/rooms/{world.ids[2]}/messages", headers=api.auth(world.token))
    assert resp.status == 200
    assert client.app[core_key].db is not None
