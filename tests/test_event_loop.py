"""The event loop `campfire serve` runs on (setting event_loop): Python's own by default, uvloop
on request, and a clear error for anything else."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import uvloop

from campfire.app import new_event_loop
from tests.test_serve_console import free_port, get


def test_asyncio_is_the_default_and_uvloop_a_choice() -> None:
    from campfire.config import Settings

    assert Settings().event_loop == "asyncio"
    for choice, uv in (("uvloop", True), ("asyncio", False)):
        loop = new_event_loop(choice)
        try:
            assert isinstance(loop, uvloop.Loop) is uv, choice
            assert isinstance(loop, asyncio.AbstractEventLoop)
        finally:
            loop.close()


def test_an_unknown_loop_is_refused_before_anything_starts(tmp_path: Path) -> None:
    env = {**os.environ, "CAMPFIRE_DB": str(tmp_path / "c.db"), "CAMPFIRE_EVENT_LOOP": "trio"}
    result = subprocess.run(
        [sys.executable, "-m", "campfire", "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "event_loop must be asyncio or uvloop, not 'trio'" in result.stderr
    assert not (tmp_path / "c.db").exists()  # refused before the database was touched


@pytest.mark.parametrize("choice", ["asyncio", "uvloop"])
def test_serve_answers_on_either_loop(tmp_path: Path, choice: str) -> None:
    port = free_port()
    env = {**os.environ, "CAMPFIRE_DB": str(tmp_path / "c.db"), "CAMPFIRE_EVENT_LOOP": choice}
    proc = subprocess.Popen(
        [sys.executable, "-m", "campfire", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(200):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                assert get(f"http://127.0.0.1:{port}/health") == 200
                break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail("serve never answered")
    finally:
        proc.terminate()
        assert proc.wait(timeout=15) == 0
