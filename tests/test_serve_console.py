"""What `campfire serve` says on its console: where to create the administrator on an empty
database, and an access log that is quiet about page assets and health checks at INFO."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str) -> int:
    """GET a URL; its status."""
    with urllib.request.urlopen(url, timeout=5) as resp:
        resp.read()
        return resp.status


class Serve:
    """`campfire serve` with its stderr in a file, started at a log level."""

    def __init__(self, tmp_path: Path, level: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / f"serve-{level}.log"
        env = {
            **os.environ,
            "CAMPFIRE_DB": str(tmp_path / "campfire.db"),
            "CAMPFIRE_PORT": str(self.port),
            "CAMPFIRE_LOG_LEVEL": level,
        }
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "campfire", "serve"], env=env, stdout=log, stderr=log
            )
        deadline = time.monotonic() + 20
        while True:
            assert self.proc.poll() is None, self.log()
            try:
                if get(self.base + "/health") == 200:
                    break
            except OSError:
                assert time.monotonic() < deadline, self.log()
                time.sleep(0.05)

    def log(self) -> str:
        """Everything the server wrote so far."""
        return self.log_path.read_text()

    def stop(self) -> str:
        """Stop the server; its whole console output."""
        self.proc.terminate()
        self.proc.wait(10)
        return self.log()


@pytest.fixture
def serve(tmp_path):
    """Start `campfire serve` at a log level; stopped after the test."""
    started: list[Serve] = []

    def start(level: str) -> Serve:
        started.append(Serve(tmp_path, level))
        return started[-1]

    yield start
    for server in started:
        if server.proc.poll() is None:
            server.stop()


def test_an_empty_database_says_where_to_create_the_administrator(serve):
    server = serve("INFO")
    for path in ("/", "/static/app.js", "/static/app.css", "/health", "/api/setup"):
        assert get(server.base + path) == 200
    log = server.stop()
    assert f"open http://127.0.0.1:{server.port}/ in a browser to create the administrator" in log
    assert "GET /api/setup 200" in log  # the API is logged...
    assert "/static/" not in log and "/health" not in log  # ...page assets and health checks not
    assert "Traceback" not in log


def test_debug_logs_assets_and_health_and_a_set_up_server_says_nothing_of_setup(serve):
    first = serve("INFO")
    body = b'{"email": "a@example.com", "name": "Ann", "password": "correct horse"}'
    request = urllib.request.Request(
        first.base + "/api/setup", data=body, headers={"Content-Type": "application/json"}
    )
    urllib.request.urlopen(request, timeout=5).close()
    first.stop()
    server = serve("DEBUG")
    assert get(server.base + "/static/app.js") == 200
    log = server.stop()
    assert "GET /static/app.js 200" in log and "GET /health 200" in log
    assert "create the administrator" not in log
