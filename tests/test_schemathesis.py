"""schemathesis, a property-based API tester written elsewhere, against the real server through
its own GET /api/openapi.json: every operation, valid and invalid input, as an administrator, a
plain member and nobody, with path ids of real rooms and users where it can. Every answer must
be a documented status code with a documented body and headers, and never a 5xx.

schemathesis is synchronous (requests): it runs in a worker thread while the server serves on
this test's event loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import schemathesis
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

from campfire import accounts
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
    assert unsuccessful == NEVER_SUCCEED, world.statuses
    assert elapsed < 120, f"the run took {elapsed:.0f} s"


def run_schemathesis(world: World) -> list[str]:
    """Test every operation of the served document; the failures, one report each."""
    schema = schemathesis.openapi.from_url(f"{world.base_url}/api/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    # Deletes last, and a room's members before the room.
    operations.sort(key=lambda op: (METHOD_ORDER.get(op.method.lower(), 1), -op.path.count("/")))
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
    if "user_id" in body and data.draw(st.booleans()):
        body["user_id"] = data.draw(st.sampled_from(user_ids))
    if "user_ids" in body and data.draw(st.booleans()):
        body["user_ids"] = data.draw(st.lists(st.sampled_from(user_ids), min_size=1, max_size=3))
    if path == "/api/auth/login" and data.draw(st.booleans()):
        body.update(world.credentials)
