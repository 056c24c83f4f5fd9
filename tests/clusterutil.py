"""The WebSocket conformance and catch-up tests, run on one process and on 2 workers.

A module that imports `client_on_one_or_two_workers` (a fixture named `client`, which takes
the place of conftest's there) runs each of its tests that use `client` twice: against one
process (as before), and against two workers sharing the SQLite file and a private
redis-server, with each new WebSocket (and HTTP request) going to the other worker in turn,
so two clients of a test are always on different workers. The workers run in the test's
process (each its own app, hub, database connections and Redis connections, on its own
port), so a test reaches a given worker without retrying. A test that builds its own server
or reads one process's internals (it asks for `core`, `settings` or `aiohttp_client`
itself) runs on one process only.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from campfire.app import create_app
from campfire.keys import core_key
from scripts.faults.harness import PASSWORD, RedisServer, World, cli, free_port

ONE_PROCESS_ONLY = {"core", "settings", "aiohttp_client"}


def redis_binary() -> str:
    """redis-server's path: missing, the test fails in CI and is skipped elsewhere."""
    found = shutil.which("redis-server", path=os.environ.get("PATH", "") + ":/usr/bin:/usr/sbin")
    if found:
        return found
    message = "redis-server is not installed (Debian package redis-server; see .ci/run)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(name="redis")
def redis_server(tmp_path: Path):
    """A private redis-server for one test (the fixture `redis`: import redis_server)."""
    server = RedisServer(tmp_path, redis_binary())
    server.start()
    yield server
    server.stop()


class _Jars:
    """The cookie jars of both workers' clients, cleared together."""

    def __init__(self, clients: list[Any]) -> None:
        self.clients = clients

    def clear(self) -> None:
        """Clear both jars."""
        for client in self.clients:
            client.session.cookie_jar.clear()


class _Session:
    """What tests use of a test client's session: its cookie jar."""

    def __init__(self, clients: list[Any]) -> None:
        self.cookie_jar = _Jars(clients)


class TwoWorkers:
    """Looks like pytest-aiohttp's test client; each request goes to the next worker."""

    def __init__(self, clients: list[Any]) -> None:
        self.clients = clients
        self.app = clients[0].app  # worker 0's (its database is the shared one)
        self.session = _Session(clients)
        self._turn = 0

    def next(self) -> Any:
        """The client of the worker whose turn it is."""
        client = self.clients[self._turn % len(self.clients)]
        self._turn += 1
        return client

    def ws_connect(self, path: str, **kwargs: Any) -> Any:
        """A WebSocket to the next worker."""
        return self.next().ws_connect(path, **kwargs)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """A request to the next worker."""
        return self.next().request(method, path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        """GET from the next worker."""
        return self.next().get(path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        """POST to the next worker."""
        return self.next().post(path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        """PUT to the next worker."""
        return self.next().put(path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        """PATCH to the next worker."""
        return self.next().patch(path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        """DELETE to the next worker."""
        return self.next().delete(path, **kwargs)


async def settle(client: Any) -> None:
    """With workers: wait until what each worker published on Redis so far has reached the
    other (events between workers are asynchronous: a client acting at once on another
    worker may outrun them). Nothing to wait for in one process."""
    if not isinstance(client, TwoWorkers):
        return
    hubs = [c.app[core_key].hub for c in client.clients]
    for sender, receiver in ((hubs[0], hubs[1]), (hubs[1], hubs[0])):
        arrived = asyncio.Event()
        token = os.urandom(8).hex()
        receiver.wakers["settle"] = lambda _job, got, t=token, e=arrived: t == got and e.set()
        sender.wake_others("settle", token)  # behind everything it published before
        await asyncio.wait_for(arrived.wait(), 5)


async def two_workers(aiohttp_client: Any, settings: Any, tmp_path: Any) -> TwoWorkers:
    """Two workers on one database and a private redis-server, both subscribed."""
    redis = RedisServer(tmp_path, redis_binary())
    redis.start()
    clustered = settings.replace(
        redis_url=redis.url,
        workers=2,
        relay_check_interval=0.5,
        redis_probe_interval=0.5,
        worker_recheck_interval=0.5,
    )
    clients = [await aiohttp_client(create_app(clustered, worker_index=i)) for i in range(2)]
    hubs = [client.app[core_key].hub for client in clients]
    for _ in range(500):
        if all(hub.broker.connected and hub._presence_synced for hub in hubs):
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("the workers did not subscribe to Redis")
    two = TwoWorkers(clients)
    two.redis = redis  # type: ignore[attr-defined]  # stopped by the fixture
    return two


@pytest.fixture(name="client", params=["one process", "2 workers"])
async def client_on_one_or_two_workers(request, aiohttp_client, settings, tmp_path):
    """A test client of one process, or of two workers taking requests in turn."""
    if request.param == "one process":
        yield await aiohttp_client(create_app(settings))
        return
    asks = set(inspect.signature(request.function).parameters)
    if asks & ONE_PROCESS_ONLY:
        pytest.skip(
            f"one process only: the test asks for {', '.join(sorted(asks & ONE_PROCESS_ONLY))}"
        )
    two = await two_workers(aiohttp_client, settings, tmp_path)
    yield two
    for client in two.clients:
        await client.close()
    two.redis.stop()


def make_postgres_world(url: str, redis_url: str, files: Path, **settings: object) -> World:
    """Two users with a token each and an open room, made with the CLI in PostgreSQL, served
    by 2 workers (then `settings`, as CAMPFIRE_ variables)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPFIRE_")}
    env.update(
        CAMPFIRE_DB=url,
        CAMPFIRE_PORT=str(port),
        CAMPFIRE_FILES_DIR=str(files),
        CAMPFIRE_REDIS_URL=redis_url,
        CAMPFIRE_WORKERS="2",
        CAMPFIRE_USER_MESSAGES_PER_SECOND="1000",
        CAMPFIRE_USER_MESSAGES_BURST="1000",
    )
    env.update({"CAMPFIRE_" + name.upper(): str(value) for name, value in settings.items()})
    room_id = cli(env, "room", "add", "shared", "--type", "open")
    tokens = []
    for i in range(2):
        email = f"user{i}@example.com"
        cli(env, "user", "add", email, "--name", f"User {i}", "--password", PASSWORD)
        tokens.append(cli(env, "token", "issue", email))
    return World(env, port, tokens, room_id)
