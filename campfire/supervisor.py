"""`campfire serve --workers N --redis ...`: N worker processes on one port, kept running.

Each worker is `campfire serve --worker-index I` with the same settings (passed in its
environment), listening with SO_REUSEPORT so the kernel spreads connections between them.
Worker 0 starts first and alone (it applies the database's migrations and makes its keys),
then the others. A worker that exits is started again with the same index, so index 0 (the
one that runs the once-only jobs) is always taken by exactly one live worker. SIGTERM or
SIGINT stops every worker (each closes its sockets with 1001) and then the supervisor.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from typing import Any

from campfire.config import ENV_PREFIX, Settings

log = logging.getLogger(__name__)

RESTART_PAUSE = 1.0  # seconds at least between two starts of the same worker (a crash loop)
POLL = 0.1


def worker_env(settings: Settings, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of a worker: this one, with every setting as CAMPFIRE_* (flags too)."""
    env = dict(environ)
    for name, value in vars(settings).items():
        text = ",".join(value) if isinstance(value, tuple) else str(value)
        env[ENV_PREFIX + name.upper()] = text
    env.pop(ENV_PREFIX + "CONFIG", None)  # everything it said is in the variables above
    return env


class Supervisor:
    """Starts, watches and stops the worker processes."""

    def __init__(self, settings: Settings, environ: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.env = worker_env(settings, os.environ if environ is None else environ)
        self.workers: dict[int, subprocess.Popen] = {}
        self.started_at: dict[int, float] = {}
        self.stopping = False

    def start_worker(self, index: int) -> None:
        """Start worker `index`."""
        command = [sys.executable, "-m", "campfire", "serve", "--worker-index", str(index)]
        self.workers[index] = subprocess.Popen(command, env=self.env)
        self.started_at[index] = time.monotonic()
        log.info("worker %d started (pid %d)", index, self.workers[index].pid)

    def wait_healthy(self, index: int, timeout: float = 60.0) -> bool:
        """Wait until /health answers while only worker `index` listens (or it exits)."""
        host = (
            self.settings.host if self.settings.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        )
        url = f"http://{'[' + host + ']' if ':' in host else host}:{self.settings.port}/health"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stopping:
            if self.workers[index].poll() is not None:
                return False
            try:
                with urllib.request.urlopen(url, timeout=1) as resp:
                    if resp.status == 200:
                        return True
            except OSError:
                pass
            time.sleep(POLL)
        return False

    def run(self) -> int:
        """Run until SIGTERM/SIGINT; the exit code."""
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        self.start_worker(0)
        if not self.wait_healthy(0):
            if not self.stopping:
                log.error("worker 0 did not start; stopping")
                self.stop_all()
                return 1
        for index in range(1, self.settings.workers):
            if not self.stopping:
                self.start_worker(index)
        while not self.stopping:
            for index, proc in list(self.workers.items()):
                code = proc.poll()
                if code is None or self.stopping:
                    continue
                log.warning("worker %d (pid %d) exited with %s; restarting", index, proc.pid, code)
                pause = RESTART_PAUSE - (time.monotonic() - self.started_at[index])
                if pause > 0:
                    time.sleep(pause)
                if not self.stopping:
                    self.start_worker(index)
            time.sleep(POLL)
        self.stop_all()
        return 0

    def _stop(self, signum: int, frame: Any) -> None:
        """SIGTERM/SIGINT: leave the loop, which then stops the workers."""
        self.stopping = True

    def stop_all(self) -> None:
        """SIGTERM every worker, wait for them, SIGKILL any that lingers."""
        for proc in self.workers.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.settings.shutdown_timeout + 10
        for proc in self.workers.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker pid %d did not stop; killing it", proc.pid)
                proc.kill()
                proc.wait()
