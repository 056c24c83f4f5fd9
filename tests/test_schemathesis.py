"""schemathesis, a property-based API tester written elsewhere, against the real server through
its own GET /api/openapi.json: every operation, valid and invalid input, as an administrator, a
plain member and nobody, with path ids of real rooms and users where it can. Every answer must
be a documented status code with a documented body and headers, and never a 5xx.

schemathesis is synchronous (requests): it runs in a worker thread while the server serves on
this test's event loop.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import secrets
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import aiohttp
import pytest
import schemathesis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from test_attachments import png

from campfire import accounts
from campfire.auth import hash_token
from campfire.keys import core_key

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_OPERATION = 30
# Deleting comes last, so the other operations still find the rooms and members it removes.
METHOD_ORDER = {"get": 0, "post": 1, "patch": 2, "delete": 3}
# Operations that cannot succeed here: setup is done, and /ws needs a WebSocket client.
NEVER_SUCCEED = {"POST /api/setup", "GET /ws"}
# Joining needs the real code and a whole valid new person in one example, which 30 seldom
# draw: tests/test_team.py joins for real; here it is checked for its refusals and their shapes.
SELDOM_SUCCEED = {"POST /api/join/{code}"}


@pytest.fixture(name="settings")
def lenient_settings(settings):
    """The run's one address may try join codes and login links more than a person would."""
    return dataclasses.replace(settings, login_attempts_per_minute=10_000)


@dataclass
class World:
    """What the run knows of the server: where it is, real ids, tokens, a password."""

    base_url: str
    ids: dict[str, list[str]]  # path parameter name -> ids of real objects
    tokens: dict[str, str | None]  # who -> session token (None: no authentication)
    credentials: dict[str, str]  # a real email and password, for logging in
    fresh_token: Callable[[], str]  # a new admin session, for logging out
    statuses: dict[str, set[int]] = field(default_factory=dict)  # operation -> statuses seen


async def test_schemathesis_finds_every_answer_documented(client, api):
    admin, admin_token = await api.setup_admin()
    member, member_token = await api.user("Member", password="member password")
    outsider, _ = await api.user("Outsider")
    general = await api.room(admin_token, "general", "open")
    closed = await api.room(admin_token, "closed", "closed", members=[member])
    private = await api.room(member_token, "private", "closed")  # admin is not a member
    for room in (general, closed):
        for n in range(3):
            await api.post(admin_token, room["id"], f"hello {n}")
    await api.post(member_token, private["id"], "members only")
    loop = asyncio.get_running_loop()
    core = client.app[core_key]
    people = (admin, member, outsider)
    extra = await additions_world(client, api, core, people, admin_token, member_token, general)

    def fresh_token() -> str:
        """A new session for the admin: logging out must not end the run's own session."""
        issued = asyncio.run_coroutine_threadsafe(
            accounts.do_issue_session(core, admin["id"]), loop
        )
        return issued.result(10)

    world = World(
        base_url=str(client.make_url("")).rstrip("/"),
        ids={
            "room_id": [general["id"], closed["id"], private["id"]],
            "user_id": [admin["id"], member["id"], outsider["id"]],
            **extra,
        },
        tokens={"admin": admin_token, "member": member_token, "nobody": None},
        credentials={"email": member["email"], "password": "member password"},
        fresh_token=fresh_token,
    )
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=1) as worker:
        failures = await asyncio.wrap_future(worker.submit(run_schemathesis, world))
    elapsed = time.monotonic() - started
    assert not failures, "\n\n".join(failures)
    # The run reached the real objects: every operation that can succeed did, at least once.
    unsuccessful = {op for op, seen in world.statuses.items() if not any(s < 300 for s in seen)}
    assert unsuccessful - SELDOM_SUCCEED == NEVER_SUCCEED, "never succeeded:\n" + "\n".join(
        f"{op}: {sorted(world.statuses[op])}"
        for op in sorted(unsuccessful - NEVER_SUCCEED - SELDOM_SUCCEED)
    )
    assert elapsed < 120, f"the run took {elapsed:.0f} s"


async def additions_world(client, api, core, people, admin_token, member_token, general) -> dict:
    """Real objects for the path parameters of the additions: messages and their boosts, an
    attachment, a bot and its key, spare sessions, the join code, unused login links."""

    async def call(method: str, path: str, token: str, **kwargs) -> dict:
        resp = await client.request(
            method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs
        )
        assert resp.status < 300, (method, path, resp.status, await resp.text())
        return await resp.json()

    room = general["id"]
    by_admin = await api.post(admin_token, room, "a message to change")
    by_member = await api.post(member_token, room, "another to change")
    boosts = [
        (await call("POST", f"/api/messages/{m['id']}/boosts", token, json={"content": "👍"}))[
            "boost"
        ]["id"]
        for m, token in ((by_admin, member_token), (by_member, admin_token))
    ]
    form = aiohttp.FormData()
    form.add_field("file", png(), filename="p.png", content_type="image/png")
    form.add_field("client_message_id", str(uuid.uuid4()))
    upload = await call("POST", f"/api/rooms/{room}/attachments", member_token, data=form)
    made = await call("POST", "/api/bots", admin_token, json={"name": "Robot"})
    # Another bot speaks the bot API: resetting the first one's key must not end the run's key.
    speaker = await call("POST", "/api/bots", admin_token, json={"name": "Speaker"})
    picture = aiohttp.FormData()
    picture.add_field("file", png(), filename="me.png", content_type="image/png")
    await call("PUT", "/api/users/me/avatar", member_token, data=picture)
    # Spare sessions to end: never the run's own (they stay valid to the end).
    spare = [await accounts.do_issue_session(core, who["id"]) for who in people]
    account = await call("GET", "/api/account", admin_token)
    links = [
        (await call("POST", f"/api/users/{people[2]['id']}/login_link", admin_token))["url"]
        for _ in range(3)
    ]
    return {
        "message_id": [by_admin["id"], by_member["id"]],
        "boost_id": boosts,
        "attachment_id": [upload["message"]["attachment"]["id"]],
        "bot_id": [made["bot"]["id"]],
        "bot_key": [speaker["bot_key"]],
        "session_id": [accounts.session_id(hash_token(token)) for token in spare],
        "code": [account["account"]["join_code"]],
        "token": [url.rsplit("/", 1)[1] for url in links],
    }


def push_subscription() -> dict:
    """A subscription as a browser makes one: a public https endpoint, a P-256 key."""
    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return {
        "endpoint": "https://push.example.com/send/" + secrets.token_hex(8),
        "keys": {"p256dh": b64(point), "auth": b64(secrets.token_bytes(16))},
    }


def run_schemathesis(world: World) -> list[str]:
    """Test every operation of the served document; the failures, one report each."""
    schema = schemathesis.openapi.from_url(f"{world.base_url}/api/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    # Deletes last, and a room's members before the room.
    operations.sort(
        key=lambda op: (
            METHOD_ORDER.get(op.method.lower(), 1),
            op.path == "/api/rooms/{room_id}",  # deleting a room deletes its messages: last
            -op.path.count("/"),
        )
    )
    assert len(operations) >= 20
    failures = []
    for operation in operations:
        try:
            check_operation(operation, world)
        except (Exception, BaseExceptionGroup) as exc:  # one report per operation, go on
            failures.append(f"{operation.method.upper()} {operation.path}:\n{exc}")
    return failures


def check_operation(operation: schemathesis.APIOperation, world: World) -> None:
    """Hypothesis examples of one operation, valid and invalid, each checked with CHECKS."""
    seen = world.statuses.setdefault(f"{operation.method.upper()} {operation.path}", set())
    cases = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @given(case=cases, data=st.data())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    def examples(case: schemathesis.Case, data: st.DataObject) -> None:
        for name, real in world.ids.items():
            if case.path_parameters and name in case.path_parameters:
                # Mostly real objects, so the operation does its work; sometimes made-up ones.
                choice = data.draw(st.sampled_from([*real, case.path_parameters[name]]))
                case.path_parameters[name] = choice
        if isinstance(case.body, dict):
            use_real_values(case.body, operation.path, world, data)
        token = world.tokens[data.draw(st.sampled_from(sorted(world.tokens)))]
        if operation.path == "/api/auth/logout" and token is not None:
            token = world.fresh_token()
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = case.call_and_validate(base_url=world.base_url, headers=headers, checks=CHECKS)
        seen.add(response.status_code)

    examples()


def use_real_values(body: dict, path: str, world: World, data: st.DataObject) -> None:
    """Sometimes put real users and real credentials into a generated body, so adding members,
    starting direct rooms and logging in can succeed too."""
    user_ids = world.ids["user_id"]
    # Adding a member succeeds only as a manager, with a real room and a real user: always real.
    if "user_id" in body and (path.endswith("/members") or data.draw(st.booleans())):
        body["user_id"] = data.draw(st.sampled_from(user_ids))
    if "user_ids" in body and data.draw(st.booleans()):
        body["user_ids"] = data.draw(st.lists(st.sampled_from(user_ids), min_size=1, max_size=3))
    if path == "/api/auth/login" and data.draw(st.booleans()):
        body.update(world.credentials)
    if path.startswith("/api/join/"):  # rarely reached otherwise: a real code is needed too
        body.update(email=f"{uuid.uuid4().hex}@example.com", name="Joiner", password="join me now")
    if path == "/api/users/me/password" and data.draw(st.booleans()):
        # The member's own password, set again: the run's member can still log in after.
        password = world.credentials["password"]
        body.update(current_password=password, password=password)
    if path == "/api/users/me/avatar" and data.draw(st.booleans()):
        body["file"] = png()  # a real picture, so that setting one can succeed
    if path == "/api/push_subscriptions" and data.draw(st.booleans()):
        body.update(push_subscription())
