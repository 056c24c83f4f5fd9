"""The benchmark harness still runs: every scenario, tiny sizes, once (slow: `make bench`)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pgserver
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_bench_quick_run_prints_every_row():
    for package in ("picows", "uvloop"):  # the `bench` extra: `make bench` installs it
        pytest.importorskip(package)
    pytest.importorskip("redis")  # the workers' scenarios: `serve --workers 2 --redis`
    if shutil.which("redis-server") is None:  # as tests/test_scale_workers.py: CI has it
        message = "redis-server is not installed (Debian package redis-server; see .ci/run)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    pgserver.postgres_bin()  # ingest_pg's private PostgreSQL: fails in CI, skips elsewhere
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "bench" / "run.py"),
            "--quick",
            "--reps",
            "1",
            "--no-doc",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    for scenario in (
        "fan-out",
        "1 broadcast/s",
        "ingest",
        "changes",
        "idle",
        "reconnect storm",
        "slow consumer",
        "fan-out on 2 workers",
        "idle, 50 connections on 2 workers",
        "ingest on 2 workers",
        "ingest on PostgreSQL",
        "chat beside 3 concurrent uploads",
    ):
        assert f"| {scenario}" in out.stdout
    # The catch-up after a reconnect is exact even at smoke sizes.
    assert "| 0 / 0 / 0 |" in out.stdout
