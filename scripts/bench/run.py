"""Run every benchmark against Campfire and the bare aiohttp baseline; print and record figures.

Server on core 0, load generator on core 1 (taskset). Each scenario runs against a fresh
server process, Campfire then baseline, repeated --reps times; the table shows medians.
The *_2w scenarios run against `campfire serve --workers 2` with a private redis-server,
all of it on core 0 too, but for ingest_2w, whose target is throughput: there worker i runs on
core i.
The results block of docs/performance.md is rewritten, and the raw runs go to
scripts/bench/results.json.

    python scripts/bench/run.py            # the full run (make bench)
    python scripts/bench/run.py --quick    # a small smoke run of every scenario
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import files_scenarios
import procs  # first: it puts the repository on sys.path for `scripts.faults`

from scripts.faults.harness import RedisServer

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the tests' private PostgreSQL server, for ingest_pg
from pgserver import PostgresServer  # noqa: E402

BIN = Path(sys.executable).parent
DOC = ROOT / "docs" / "performance.md"
RAW = HERE / "results.json"
START, END = "<!-- bench:results:start -->", "<!-- bench:results:end -->"
PASSWORD = "bench-password-1"
SERVER_CORE, LOAD_CORE = "0", "1"

# Scenario sizes: the full run, and a quick one that only proves the harness works.
FULL = {
    "fanout": {"clients": 500, "rate": 40, "seconds": 5, "pad": 100},
    "latency_1k": {"scenario": "latency", "clients": 1000, "count": 8, "pad": 100},
    "latency_5k": {"scenario": "latency", "clients": 5000, "count": 8, "pad": 100},
    "ingest": {"rate": 5000, "seconds": 5, "pad": 100},
    "ingest_max": {"scenario": "ingest", "rate": 9000, "seconds": 4, "pad": 100},
    "changes": {"rate": 5000, "seconds": 5, "pad": 100},
    "idle": {"clients": 10000},
    "reconnect": {"clients": 5000, "missed": 20, "live_rate": 10, "pad": 100},
    "slow": {"clients": 30, "sender_count": 5, "rate": 200, "pad": 6000, "phase_s": 6, "max_s": 20},
    "search": {
        "messages": 1_000_000,
        "rooms": 100,
        "member_rooms": 50,
        "vocabulary": 30_000,
        "queries": 300,
    },
    "upload": {"mb": 100},
    # Several workers (issue 17): the scenarios above against `serve --workers 2 --redis`.
    # 10 s (not fanout's 5): CPU is counted in 10 ms ticks over four processes, and the
    # ratio's target (1.15x) is near its run-to-run spread at 5 s (1.13-1.23x, 4 runs).
    "fanout_2w": {"scenario": "fanout", "clients": 500, "rate": 40, "seconds": 10, "pad": 100},
    "idle_2w": {"scenario": "idle", "clients": 10000},
    "ingest_2w": {"scenario": "ingest", "rate": 5000, "seconds": 5, "pad": 100},
    # PostgreSQL (issue 17): the ingest scenario against `serve --db postgresql://...`, a
    # private PostgreSQL in the workdir beside the server on core 0 (OnPostgres).
    "ingest_pg": {"scenario": "ingest", "rate": 3000, "seconds": 5, "pad": 100},
    # Chat beside 20 concurrent uploads (issue 14): a room of 200 at 20 msg/s, 6 s alone, then
    # 6 s while 20 clients upload 20 MB files back to back, each at 3 MB/s (a 25 Mbit/s
    # uplink: 60 MB/s in all); then the same with uploads as fast as loopback takes them.
    "uploads": {
        "clients": 200,
        "rate": 20,
        "phase_s": 6,
        "pad": 100,
        "uploaders": 20,
        "mb": 20,
        "mb_per_s": 3,
    },
    "uploads_max": {
        "scenario": "uploads",
        "clients": 200,
        "rate": 20,
        "phase_s": 6,
        "pad": 100,
        "uploaders": 20,
        "mb": 20,
        "mb_per_s": 0,
    },
}
QUICK = {
    "fanout": {"clients": 20, "rate": 20, "seconds": 1, "pad": 100},
    "latency_1k": {"scenario": "latency", "clients": 20, "count": 2, "pad": 100},
    "ingest": {"rate": 200, "seconds": 1, "pad": 100},
    "ingest_max": {"scenario": "ingest", "rate": 400, "seconds": 1, "pad": 100},
    "changes": {"rate": 200, "seconds": 1, "pad": 100},
    "idle": {"clients": 50},
    "reconnect": {"clients": 30, "missed": 5, "live_rate": 10, "pad": 100},
    "slow": {"clients": 5, "sender_count": 2, "rate": 300, "pad": 6000, "phase_s": 1, "max_s": 8},
    "search": {
        "messages": 20_000,
        "rooms": 100,
        "member_rooms": 50,
        "vocabulary": 5_000,
        "queries": 30,
    },
    "upload": {"mb": 5},
    "fanout_2w": {"scenario": "fanout", "clients": 20, "rate": 20, "seconds": 1, "pad": 100},
    "idle_2w": {"scenario": "idle", "clients": 50},
    "ingest_2w": {"scenario": "ingest", "rate": 200, "seconds": 1, "pad": 100},
    "ingest_pg": {"scenario": "ingest", "rate": 200, "seconds": 1, "pad": 100},
    "uploads": {
        "clients": 10,
        "rate": 20,
        "phase_s": 1,
        "pad": 100,
        "uploaders": 3,
        "mb": 2,
        "mb_per_s": 3,
    },
}
CAMPFIRE_ONLY = {"ingest", "ingest_max", "changes", "search", "upload", "uploads", "uploads_max"}
WORKERS = 2  # worker processes of the *_2w scenarios
# The servers a scenario runs against, in order (default: Campfire, then the baseline unless
# CAMPFIRE_ONLY). fanout_2w runs one process too, so its ratio comes from the same run.
SERVERS = {
    "fanout_2w": ("campfire", "workers"),
    "idle_2w": ("workers",),
    "ingest_2w": ("workers_spread",),
    "ingest_pg": ("postgres",),
}
FILES_SCENARIOS = {"search", "upload"}  # scripts/bench/files_scenarios.py (issue 14)
USERS = 100  # each with a closed room of their own: the ingest senders, and everyone's tokens

# What the benchmark changes in Campfire's settings (docs/performance.md says why).
CAMPFIRE_ENV = {
    "CAMPFIRE_WS_MAX_CONNECTIONS_PER_USER": "20000",  # 10,000 sockets over 20 users
    "CAMPFIRE_WS_MESSAGES_PER_SECOND": "100000",  # one sender drives a whole room
    "CAMPFIRE_WS_BURST": "100000",
    "CAMPFIRE_USER_MESSAGES_PER_SECOND": "100000",  # and one user posts for all of them
    "CAMPFIRE_USER_MESSAGES_BURST": "100000",
    "CAMPFIRE_LOGIN_ATTEMPTS_PER_MINUTE": "1000",  # setup logs 20 users in from one address
    "CAMPFIRE_LOG_LEVEL": "WARNING",  # no access-log line per connection
}


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (a fresh one per server, so no TIME_WAIT clashes)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    """Wait until the server accepts connections."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def stop(proc: subprocess.Popen) -> None:
    """Stop a server gracefully (SIGINT), then by force."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Campfire:
    """The real `campfire serve`, on a copy of a database prepared with the CLI and HTTP API."""

    kind = "campfire"

    def __init__(self, workdir: Path, users: int) -> None:
        self.workdir = workdir
        self.log = workdir / "server.log"
        self.users = users
        self.template = workdir / "template.db"
        self.env = {**os.environ, **CAMPFIRE_ENV, "CAMPFIRE_PASSWORD": PASSWORD}
        self.env.pop("CAMPFIRE_CONFIG", None)
        self.info: dict = {}
        self.search_db: dict = {}  # the search scenario's database, built once

    def cli(self, *args: str) -> str:
        """Run the campfire CLI on the template database; its stdout."""
        out = subprocess.run(
            [str(BIN / "campfire"), *args, "--db", str(self.template)],
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout.strip()

    def prepare(self) -> None:
        """Admin, token and open room by the CLI; the users, each with a closed room, over HTTP."""
        self.cli("user", "add", "admin@bench.example", "--name", "Admin", "--admin")
        admin = self.cli("token", "issue", "admin@bench.example")
        room = self.cli("room", "add", "Bench", "--type", "open")
        proc, port = self.start(self.template)
        try:
            senders = []
            for i in range(self.users):
                email = f"user{i}@bench.example"
                http(
                    port,
                    "POST",
                    "/api/users",
                    admin,
                    {"email": email, "name": f"User {i}", "password": PASSWORD},
                )
                token = http(
                    port, "POST", "/api/auth/login", None, {"email": email, "password": PASSWORD}
                )["session_token"]
                own = http(
                    port, "POST", "/api/rooms", token, {"name": f"Own {i}", "room_type": "closed"}
                )["room"]["id"]
                senders.append({"token": token, "room_id": own})
        finally:
            stop(proc)
        self.info = {
            "room_id": room,
            "sender_token": admin,
            "tokens": [s["token"] for s in senders],
            "senders": senders,
        }

    def fresh_db(self) -> Path:
        """A fresh copy of the template database (and no files left from an earlier run)."""
        db = self.workdir / "run.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        shutil.rmtree(f"{db}-files", ignore_errors=True)  # uploads of the scenario before
        shutil.copy(self.template, db)  # the template is not live: no server has it open
        return db

    def serve(self, db: Path, port: int, *flags: str) -> subprocess.Popen:
        """`campfire serve` on core 0 (its children inherit the core), its log in the workdir."""
        with open(self.log, "w") as log:  # the child keeps its own descriptor
            return subprocess.Popen(
                [
                    "taskset",
                    "-c",
                    SERVER_CORE,
                    str(BIN / "campfire"),
                    "serve",
                    "--port",
                    str(port),
                    "--db",
                    str(db),
                    *flags,
                ],
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def start(self, db: Path | None = None) -> tuple[subprocess.Popen, int]:
        """Start `campfire serve` on core 0 with a fresh copy of the template database."""
        port = free_port()
        proc = self.serve(db or self.fresh_db(), port)
        wait_listening(port, proc)
        return proc, port

    def processes(self, proc: subprocess.Popen) -> dict[str, int]:
        """The processes whose CPU and memory are the server's, by name."""
        return {"server": proc.pid}

    def finish(self, proc: subprocess.Popen) -> dict:
        """Stop the server; what its log says went wrong (WARNING and above are logged)."""
        stop(proc)
        text = self.log.read_text(errors="replace")
        return {
            "log_locked": text.count("database is locked"),
            "log_errors": sum(
                1 for line in text.splitlines() if "ERROR" in line or "Traceback" in line
            ),
        }


class Workers(Campfire):
    """`campfire serve --workers N --redis ...` with a private redis-server, all on core 0.

    The supervisor, the workers and Redis share core 0, as one process does in the other
    scenarios: the comparison is CPU per delivery, not throughput (docs/performance.md).
    """

    kind = "workers"

    def __init__(self, campfire: Campfire, count: int, spread: bool = False) -> None:
        self.__dict__.update(campfire.__dict__)  # the same template, environment and users
        self.count = count
        # With `spread`, worker i runs on core i (the load generator shares core 1): for a
        # throughput target, which is what more workers are for.
        self.spread = spread
        self.log = self.workdir / "workers.log"
        self.redis: RedisServer | None = None
        self.pids: dict[str, int] = {}

    def start(self, db: Path | None = None) -> tuple[subprocess.Popen, int]:
        """Start Redis, then the supervisor; return once every worker listens."""
        redis_dir = self.workdir / "redis"
        shutil.rmtree(redis_dir, ignore_errors=True)
        redis_dir.mkdir()
        self.redis = RedisServer(redis_dir, shutil.which("redis-server") or "redis-server")
        self.redis.start()
        assert self.redis.proc is not None
        subprocess.run(["taskset", "-p", "-c", SERVER_CORE, str(self.redis.proc.pid)], check=True,
                       capture_output=True)  # fmt: skip
        port = free_port()
        proc = self.serve(
            db or self.fresh_db(),
            port,
            "--workers",
            str(self.count),
            "--redis",
            self.redis.url,
        )
        try:
            workers = self.wait_workers(proc, port)
        except BaseException:
            stop(proc)
            self.redis.stop()
            raise
        if self.spread:
            cores = os.cpu_count() or 1
            for i, pid in enumerate(workers):
                subprocess.run(["taskset", "-a", "-p", "-c", str(i % cores), str(pid)],
                               check=True, capture_output=True)  # fmt: skip
        self.pids = {"supervisor": proc.pid, "redis": self.redis.proc.pid}
        # Numbered in pid order: worker 0 is started first (barring pid wrap-around).
        self.pids.update({f"worker {i}": pid for i, pid in enumerate(workers)})
        return proc, port

    def wait_workers(self, proc: subprocess.Popen, port: int) -> list[int]:
        """The workers' pids, once each of them holds a listening socket on the port."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"supervisor exited with {proc.returncode}: {self.log}")
            workers = procs.child_pids(proc.pid)
            if len(workers) == self.count == len(procs.listening_pids(workers, port)):
                return workers
            time.sleep(0.1)
        raise RuntimeError(f"the {self.count} workers did not all listen: {self.log}")

    def processes(self, proc: subprocess.Popen) -> dict[str, int]:
        """The supervisor, each worker and Redis: all of them are the server's cost."""
        return dict(self.pids)

    def finish(self, proc: subprocess.Popen) -> dict:
        """Stop the supervisor (it stops the workers), any worker left over, then Redis."""
        found = super().finish(proc)
        if proc.returncode == -signal.SIGKILL:  # the supervisor had to be killed: its workers too
            for name, pid in self.pids.items():
                if name.startswith("worker"):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        if self.redis is not None:
            self.redis.stop()
        return found


class OnPostgres(Campfire):
    """`campfire serve --db postgresql://...`: one process on core 0, and beside it on core 0 a
    private PostgreSQL (tests/pgserver.py) with its data in the workdir, durable and tuned as
    docs/operations.md tells an operator. Each run gets a fresh database, a copy of the
    template's (`campfire db copy`), so the users and tokens are the same as everywhere."""

    kind = "postgres"
    # Durability as in production (fsync, synchronous_commit and full_page_writes on: the
    # figure is about acknowledged = on disk), memory for a small dedicated server.
    SETTINGS: ClassVar[dict[str, str]] = {
        "fsync": "on",
        "synchronous_commit": "on",
        "full_page_writes": "on",
        "shared_buffers": "256MB",
        "wal_buffers": "16MB",
        "max_wal_size": "2GB",
        "max_connections": "100",
    }

    def __init__(self, campfire: Campfire) -> None:
        self.__dict__.update(campfire.__dict__)  # the same template, environment and users
        self.log = self.workdir / "postgres-campfire.log"
        # No database file to put the uploads beside: not the working directory either.
        self.env = {**self.env, "CAMPFIRE_FILES_DIR": str(self.workdir / "pg-files")}
        self.postgres: PostgresServer | None = None
        self.url = ""

    def fresh_database(self) -> str:
        """A new database holding a copy of the template (PostgreSQL started on first use)."""
        if self.postgres is None:
            self.workdir.chmod(0o711)  # as root, postgres runs as its own user: let it in
            self.postgres = PostgresServer(self.SETTINGS, parent=self.workdir)
            self.postgres.start()
            assert self.postgres.process is not None
            postmaster = self.postgres.process.pid
            for pid in (postmaster, *procs.child_pids(postmaster)):  # backends inherit it
                subprocess.run(["taskset", "-a", "-p", "-c", SERVER_CORE, str(pid)],
                               check=True, capture_output=True)  # fmt: skip
        url = self.postgres.empty_database()
        subprocess.run([str(BIN / "campfire"), "db", "copy", str(self.template), url],
                       env=self.env, check=True, capture_output=True)  # fmt: skip
        return url

    def start(self, db: Path | None = None) -> tuple[subprocess.Popen, int]:
        """Start `campfire serve --db postgresql://...` on a fresh copy of the template."""
        port = free_port()
        self.url = self.fresh_database()
        proc = self.serve(self.url, port)  # type: ignore[arg-type]  # a URL where a file goes
        wait_listening(port, proc)
        return proc, port

    def finish(self, proc: subprocess.Popen) -> dict:
        """Stop the server and drop its database."""
        found = super().finish(proc)
        if self.postgres is not None and self.url:
            self.postgres.drop(self.url)
        return found

    def close(self) -> None:
        """Stop PostgreSQL (and remove its data directory)."""
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres = None


class Baseline:
    """scripts/bench/baseline_server.py."""

    kind = "baseline"
    info: ClassVar[dict] = {}  # nothing to report about the baseline; never written

    def start(self) -> tuple[subprocess.Popen, int]:
        """Start the baseline on core 0."""
        port = free_port()
        proc = subprocess.Popen(
            [
                "taskset",
                "-c",
                SERVER_CORE,
                sys.executable,
                str(HERE / "baseline_server.py"),
                "--port",
                str(port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_listening(port, proc)
        return proc, port

    def processes(self, proc: subprocess.Popen) -> dict[str, int]:
        """One process."""
        return {"server": proc.pid}

    def finish(self, proc: subprocess.Popen) -> dict:
        """Stop it; it keeps no log."""
        stop(proc)
        return {}


def http(port: int, method: str, path: str, token: str | None, body: dict) -> dict:
    """One JSON request to the setup server."""
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        method=method,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def run_one(server, name: str, params: dict, profile: Path | None = None) -> dict:
    """One scenario against a fresh server process; the load generator's figures."""
    proc, port = server.start()
    spies = []
    if profile is not None:
        # Sample each Python process of the server (one, or each worker) from the load
        # generator's core, as collapsed stacks.
        for role, pid in server.processes(proc).items():
            if role in ("supervisor", "redis"):
                continue
            out = profile / f"{name}-{server.kind}-{role.replace(' ', '')}-{pid}.txt"
            spies.append(
                subprocess.Popen(
                    [
                        "taskset",
                        "-c",
                        LOAD_CORE,
                        str(BIN / "py-spy"),
                        "record",
                        "--pid",
                        str(pid),
                        "--rate",
                        "250",
                        "--format",
                        "raw",
                        "--output",
                        str(out),
                        "--nonblocking",
                        "--threads",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
    try:
        time.sleep(0.3)
        cfg = {
            "scenario": name,
            **params,
            "kind": server.kind,
            "pid": proc.pid,
            "processes": server.processes(proc),
            "url": f"ws://127.0.0.1:{port}/ws",
            **server.info,
        }
        out = subprocess.run(
            ["taskset", "-c", LOAD_CORE, sys.executable, str(HERE / "loadgen.py"), json.dumps(cfg)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if out.returncode != 0:
            raise RuntimeError(
                f"{name}/{server.kind}: load generator failed:\n{out.stderr[-3000:]}"
            )
        result = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        for spy in spies:
            stop(spy)
        found = server.finish(proc)
    return {**result, **found}


def run_files_scenario(server: Campfire, name: str, params: dict) -> dict:
    """search or upload: a fresh server, the client side of files_scenarios.py on core 1."""
    cfg: dict = {"scenario": name, **params}
    if name == "search":
        db = server.workdir / "search.db"
        if not db.exists():  # built once, reused by every repetition (searches only read)
            print(f"building the search database ({params['messages']:,} messages)...", flush=True)
            built = files_scenarios.build_search_db(db, str(BIN / "campfire"), server.env, params)
            server.search_db = built
        built = server.search_db
        proc, port = server.start(db)
        words = server.workdir / "search-words.json"  # too long for a command line
        words.write_text(json.dumps(built["words"]))
        cfg.update(token=built["token"], words_file=str(words))
    else:
        proc, port = server.start()
        cfg.update(token=server.info["sender_token"], room_id=server.info["room_id"])
    try:
        time.sleep(0.3)
        cfg.update(port=port, pid=proc.pid)
        out = subprocess.run(
            [
                "taskset",
                "-c",
                LOAD_CORE,
                sys.executable,
                str(HERE / "files_scenarios.py"),
                json.dumps(cfg),
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if out.returncode != 0:
            raise RuntimeError(f"{name}: client failed:\n{out.stderr[-3000:]}")
        result = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        result_log = server.finish(proc)
    result.update(result_log)
    if name == "search":
        result.update(build_s=built["build_s"], db_mb=built["db_mb"])
    return result


def median_of(runs: list[dict]) -> dict:
    """Median of every numeric field (nested dicts too) over the repetitions."""
    merged: dict = {}
    for key in runs[0]:
        values = [r.get(key) for r in runs]
        if isinstance(values[0], dict):
            merged[key] = median_of(values)
        elif all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values if v is not None
        ) and any(v is not None for v in values):
            merged[key] = statistics.median([v for v in values if v is not None])
        else:
            merged[key] = values
    return merged


# --- the report --------------------------------------------------------------------------


def fmt(value, digits: int = 1) -> str:
    """A number for the table."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float) and math.isinf(value):
        return "∞ (stalled)"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def ratio(a, b) -> str:
    """a / b as `1.23x`."""
    try:
        if math.isinf(a) or math.isinf(b) or not b:
            return "n/a"
        return f"{a / b:.2f}x"
    except TypeError:
        return "n/a"


def table(med: dict, sizes: dict, users: int) -> tuple[str, list[str]]:
    """The results table and a list of targets missed."""
    rows, missed = [], []

    def row(scenario, metric, c, b, target, ok, digits=1):
        verdict = "met" if ok else "**missed**"
        if not ok:
            missed.append(f"{scenario}: {metric}")
        rows.append(
            f"| {scenario} | {metric} | {fmt(c, digits)} | {fmt(b, digits)} | {ratio(c, b)} "
            f"| {target} | {verdict} |"
        )

    def get(name, kind):
        return med.get(name, {}).get(kind)

    if (c := get("fanout", "campfire")) and (b := get("fanout", "baseline")):
        s = sizes["fanout"]
        label = f"fan-out, {s['clients']} clients, {s['rate']} msg/s"
        row(
            label,
            "server CPU µs per delivery",
            c["cpu_us_per_delivery"],
            b["cpu_us_per_delivery"],
            "<= 1.25x baseline",
            c["cpu_us_per_delivery"] <= 1.25 * b["cpu_us_per_delivery"],
            2,
        )
        row(
            label,
            "server CPU utilisation",
            c["cpu_util"],
            b["cpu_util"],
            "(not saturated)",
            c["cpu_util"] < 0.9,
            2,
        )
        row(label, "p99 latency ms", c["p99_ms"], b["p99_ms"], "-", True)
    for name, limit in (("latency_1k", 25), ("latency_5k", 100)):
        if (c := get(name, "campfire")) and (b := get(name, "baseline")):
            label = f"1 broadcast/s, {sizes[name]['clients']:,} clients"
            row(label, "p50 latency ms", c["p50_ms"], b["p50_ms"], "-", True)
            row(
                label,
                "p99 latency ms",
                c["p99_ms"],
                b["p99_ms"],
                f"<= {limit} ms",
                c["p99_ms"] <= limit,
            )
    if c := get("ingest", "campfire"):
        label = (
            f"ingest, {users} senders in their own rooms, {sizes['ingest']['rate']:,} msg/s offered"
        )
        row(
            label,
            "messages committed /s",
            c["committed_per_s"],
            None,
            ">= 5,000/s sustained",
            c["committed_per_s"] >= 0.98 * sizes["ingest"]["rate"] >= 0.98 * 5000
            and c["errors"] == 0,
            0,
        )
        row(label, "p99 send-to-echo ms", c["p99_ms"], None, "<= 20 ms", c["p99_ms"] <= 20)
        row(label, "server CPU µs per message", c["cpu_us_per_message"], None, "-", True)
    if c := get("ingest_max", "campfire"):
        label = f"ingest capacity, {sizes['ingest_max']['rate']:,} msg/s offered (over capacity)"
        row(label, "messages committed /s", c["committed_per_s"], None, "(the ceiling)", True, 0)
        row(label, "p99 send-to-echo ms", c["p99_ms"], None, "(queueing)", True)
    if c := get("changes", "campfire"):
        rate = sizes["changes"]["rate"]
        label = (
            f"changes, {users} senders in their own rooms, {rate:,} ops/s offered"
            " (1/2 messages, 1/4 edits, 1/4 boosts)"
        )
        row(
            label,
            "ops committed /s",
            c["committed_per_s"],
            None,
            "all offered, no errors",
            c["committed_per_s"] >= 0.98 * rate and c["errors"] == 0,
            0,
        )
        row(label, "p99 send-to-echo ms", c["p99_ms"], None, "<= 20 ms", c["p99_ms"] <= 20)
        ingest = get("ingest", "campfire")
        per_message = ingest["cpu_us_per_message"] if ingest else None
        row(
            label,
            "server CPU µs per op (vs ingest's per message)",
            c["cpu_us_per_op"],
            per_message,
            "<= 1.10x a message" if per_message else "-",
            per_message is None or c["cpu_us_per_op"] <= 1.10 * per_message,
        )
    if (c := get("idle", "campfire")) and (b := get("idle", "baseline")):
        label = f"idle, {sizes['idle']['clients']:,} connections"
        row(
            label,
            "RSS KB per connection",
            c["kb_per_connection"],
            b["kb_per_connection"],
            "<= 20 KB",
            c["kb_per_connection"] <= 20,
        )
        row(
            label,
            "total RSS MB",
            c["rss_after_kb"] / 1024,
            b["rss_after_kb"] / 1024,
            "< 250 MB at 10,000",
            c["rss_after_kb"] / 1024 < 250,
        )
    if (c := get("reconnect", "campfire")) and (b := get("reconnect", "baseline")):
        label = f"reconnect storm, {sizes['reconnect']['clients']:,} clients"
        row(
            label,
            "seconds until all caught up",
            c["storm_s"],
            b["storm_s"],
            "<= 5 s",
            c["storm_s"] <= 5,
            2,
        )
        row(
            label,
            "gaps / duplicates / wrong clients",
            f"{c['gaps']} / {c['duplicates']} / {c['clients_wrong']}",
            None,
            "0 / 0 / 0",
            c["gaps"] == 0 and c["duplicates"] == 0 and c["clients_wrong"] == 0,
        )
    if (c := get("slow", "campfire")) and (b := get("slow", "baseline")):
        s = sizes["slow"]
        label = (
            f"slow consumer, {s['clients']} readers, {s['sender_count']} senders, "
            f"{s['rate']} msg/s of {s['pad'] / 1000:.0f} KB"
        )
        row(
            label, "others' p99 before, ms", c["before"]["p99_ms"], b["before"]["p99_ms"], "-", True
        )
        row(label, "others' p99 after, ms", c["after"]["p99_ms"], b["after"]["p99_ms"], "-", True)
        # Each run's after/before, then the median: runs differ from each other (the disk's
        # fsync time sets these few milliseconds) far more than the two windows of one run.
        row(
            label,
            "others' p99 after / before (median of runs)",
            c["p99_ratio"],
            b["p99_ratio"],
            "<= 1.10 (within 10%)",
            c["p99_ratio"] <= 1.10,
            2,
        )
        row(
            label,
            "slow client's server memory growth MB",
            c["rss_growth_kb"] / 1024,
            b["rss_growth_kb"] / 1024,
            "bounded",
            True,
        )
        discs = c["slow_disconnected"]
        row(
            label,
            "slow client disconnected (runs), after s",
            f"{sum(bool(d) for d in discs)}/{len(discs)}, {fmt(c['disconnected_after_s'])}",
            f"{sum(bool(d) for d in b['slow_disconnected'])}/{len(b['slow_disconnected'])}",
            "yes",
            all(discs),
        )
    if c := get("search", "campfire"):
        s = sizes["search"]
        label = (
            f"search, {s['messages']:,} messages in {s['rooms']} rooms, caller in "
            f"{s['member_rooms']}"
        )
        for kind, words in (("one_word", "one-word"), ("two_words", "two-word")):
            row(label, f"{words} p50 ms", c[kind]["p50_ms"], None, "-", True)
            row(
                label,
                f"{words} p99 ms",
                c[kind]["p99_ms"],
                None,
                "<= 50 ms",
                c[kind]["p99_ms"] <= 50,
            )
        row(
            label,
            "indexed while inserting, messages/s",
            s["messages"] / c["build_s"],
            None,
            "-",
            True,
            0,
        )
    if c := get("upload", "campfire"):
        label = f"upload of {sizes['upload']['mb']} MB"
        row(
            label,
            "server RSS growth MB (peak)",
            c["peak_growth_kb"] / 1024,
            None,
            "< 10 MB",
            c["peak_growth_kb"] < 10 * 1024,
        )
        row(label, "MB/s", c["mb"] / c["seconds"], None, "-", True)
    workers_rows(row, get, sizes)
    postgres_rows(row, get, sizes, users)
    for name in ("uploads", "uploads_max"):
        if c := get(name, "campfire"):
            uploads_rows(row, c, sizes[name], verdict=name == "uploads")
    header = (
        "| scenario | metric | Campfire | baseline | ratio | target | verdict |\n"
        "| --- | --- | ---: | ---: | ---: | --- | --- |"
    )
    return header + "\n" + "\n".join(rows), missed


def workers_rows(row: Callable, get: Callable, sizes: dict) -> None:
    """The rows of the scenarios against several workers (issue 17)."""
    if (c := get("fanout_2w", "workers")) and (b := get("fanout_2w", "campfire")):
        s = sizes["fanout_2w"]
        label = (
            f"fan-out on {WORKERS} workers + Redis (baseline column: 1 process, same run), "
            f"{s['clients']} clients, {s['rate']} msg/s, all on core 0"
        )
        row(
            label,
            "server CPU µs per delivery (supervisor + workers + Redis)",
            c["cpu_us_per_delivery"],
            b["cpu_us_per_delivery"],
            "<= 1.15x 1 process",
            c["cpu_us_per_delivery"] <= 1.15 * b["cpu_us_per_delivery"],
            2,
        )
        redis_us = c["cpu_s_by_process"]["redis"] / max(c["deliveries"], 1) * 1e6
        row(label, "of which Redis, µs per delivery", redis_us, None, "-", True, 2)
        row(
            label,
            "connections per worker (receivers and the sender)",
            spread_text(c),
            None,
            "both used",
            c["spread_ratio"] > 0,
        )
        row(label, "p99 latency ms", c["p99_ms"], b["p99_ms"], "-", True)
    if c := get("idle_2w", "workers"):
        label = f"idle, {sizes['idle_2w']['clients']:,} connections on {WORKERS} workers"
        row(label, "connections per worker", spread_text(c), None, "-", True)
        row(
            label,
            "largest / smallest worker's share",
            c["spread_ratio"],
            None,
            "<= 1.2x",
            c["spread_ratio"] <= 1.2,
            2,
        )
        row(label, "RSS KB per connection (all processes)", c["kb_per_connection"], None, "-", True)
    if c := get("ingest_2w", "workers"):
        rate = sizes["ingest_2w"]["rate"]
        label = f"ingest on {WORKERS} workers (SQLite), {rate:,} msg/s offered"
        row(
            label,
            "messages committed /s",
            c["committed_per_s"],
            None,
            ">= 4,500/s",
            c["committed_per_s"] >= 4500 and c["committed_per_s"] >= 0.9 * rate,
            0,
        )
        row(label, "p99 send-to-echo ms", c["p99_ms"], None, "<= 25 ms", c["p99_ms"] <= 25)
        row(
            label,
            '"database is locked" in logs / Error frames',
            f"{fmt(c['log_locked'], 0)} / {fmt(c['errors'], 0)}",
            None,
            "0 / 0",
            c["log_locked"] == 0 and c["errors"] == 0,
        )
        row(label, "server CPU µs per message (all processes)", c["cpu_us_per_message"], None, "-",
            True)  # fmt: skip


def postgres_rows(row: Callable, get: Callable, sizes: dict, users: int) -> None:
    """The rows of the ingest scenario on PostgreSQL (issue 17)."""
    if c := get("ingest_pg", "postgres"):
        rate = sizes["ingest_pg"]["rate"]
        label = (
            f"ingest on PostgreSQL (1 process, PostgreSQL beside it on core 0, durable),"
            f" {users} senders in their own rooms, {rate:,} msg/s offered"
        )
        row(
            label,
            "messages committed /s",
            c["committed_per_s"],
            None,
            ">= 3,000/s",
            c["committed_per_s"] >= 0.98 * rate >= 0.98 * 3000 and c["errors"] == 0,
            0,
        )
        row(label, "p99 send-to-echo ms", c["p99_ms"], None, "<= 30 ms", c["p99_ms"] <= 30)
        row(label, "Error frames", c["errors"], None, "0", c["errors"] == 0, 0)
        row(label, "Campfire's CPU µs per message (PostgreSQL's not counted)",
            c["cpu_us_per_message"], None, "-", True)  # fmt: skip


def uploads_rows(row: Callable, c: dict, s: dict, verdict: bool) -> None:
    """The rows of a chat beside concurrent uploads (issue 14); `verdict`: the target's run."""
    up = c["uploads"]
    pace = f"each at {s['mb_per_s']} MB/s" if s["mb_per_s"] else "unpaced (worst case)"
    label = (
        f"chat beside {s['uploaders']} concurrent uploads of {s['mb']} MB files {pace}, "
        f"{s['clients']} clients, {s['rate']} msg/s"
    )
    row(label, "chat p99 alone, ms", c["alone"]["p99_ms"], None, "-", True)
    row(label, "chat p99 beside the uploads, ms", c["beside"]["p99_ms"], None, "-", True)
    # Each run's own ratio, then the median (as the slow consumer: runs differ more than two
    # windows of one run).
    row(
        label,
        "chat p99 beside / alone (median of runs)",
        c["p99_ratio"],
        None,
        "<= 1.10 (within 10%)" if verdict else "-",
        c["p99_ratio"] <= 1.10 or not verdict,
        2,
    )
    row(
        label,
        "uploaded during the chat's window, MB/s (failed uploads)",
        f"{fmt(up['mb_per_s_in_window'], 0)} ({fmt(up['failed'], 0)})",
        None,
        "> 0 (0 failed)",
        up["mb_per_s_in_window"] > 0 and up["failed"] == 0,
    )
    row(
        label,
        "server CPU utilisation alone / beside",
        f"{fmt(c['alone']['server_cpu_util'], 2)} / {fmt(c['beside']['server_cpu_util'], 2)}",
        None,
        "-",
        True,
    )


def spread_text(result: dict) -> str:
    """The connections each worker held, `a / b`, by worker."""
    return " / ".join(fmt(round(v)) for _, v in sorted(result["per_worker"].items()))


def machine() -> str:
    """The machine, from /proc/cpuinfo, /proc/meminfo and uname."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    models = [
        line.split(":", 1)[1].strip()
        for line in cpuinfo.splitlines()
        if line.startswith("model name")
    ]
    mhz = [
        line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("cpu MHz")
    ]
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split(":")[1].strip()
    u = platform.uname()
    versions = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sqlite3; from importlib.metadata import version as v; "
            "print(', '.join(f'{p} {v(p)}' for p in ('aiohttp', 'aiosqlite', 'picows', 'uvloop'))"
            " + f', SQLite {sqlite3.sqlite_version}')",
        ],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return (
        f"- CPU: {len(models)} x {models[0] if models else '?'}"
        f"{f' ({mhz[0]} MHz)' if mhz else ''}; memory {mem}\n"
        f"- `uname -srm`: {u.system} {u.release} {u.machine}\n"
        f"- Python {platform.python_version()}; {versions}"
    )


def write_doc(block: str) -> None:
    """Replace the results block of docs/performance.md (or start the file)."""
    text = DOC.read_text() if DOC.exists() else f"# Performance\n\n{START}\n{END}\n"
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    DOC.write_text(f"{head}{START}\n{block}\n{END}{tail}")


def run_scenario(
    servers: dict, raw: dict, rep: int, name: str, params: dict, args: argparse.Namespace
) -> None:
    """One repetition of one scenario against each of its servers, into `raw`."""
    default = ("campfire",) if name in CAMPFIRE_ONLY else ("campfire", "baseline")
    for server in (servers[kind] for kind in SERVERS.get(name, default)):
        t0 = time.monotonic()
        if name in FILES_SCENARIOS:
            result = run_files_scenario(servers["campfire"], name, params)
        else:
            result = run_one(server, params["scenario"], params, args.profile)
        raw[name][server.kind].append(result)
        print(
            f"rep {rep + 1} {name:11s} {server.kind:8s} {time.monotonic() - t0:5.1f}s "
            f"{json.dumps(result, default=str)}",
            flush=True,
        )


def main() -> None:
    """Run the scenarios, print the table, update the doc."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=3, help="repetitions (median reported)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--only", nargs="*", help="run only these scenarios")
    parser.add_argument("--profile", type=Path, help="record py-spy profiles of the servers here")
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite docs/performance.md")
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # 10,000 sockets each side
    sizes = {
        k: v for k, v in (QUICK if args.quick else FULL).items() if not args.only or k in args.only
    }
    started = time.monotonic()
    raw: dict = {
        name: {"campfire": [], "baseline": [], "workers": [], "postgres": []} for name in sizes
    }
    with tempfile.TemporaryDirectory(prefix="campfire-bench-") as tmp:
        users = 5 if args.quick else USERS
        campfire = Campfire(Path(tmp), users)
        campfire.prepare()
        servers = {
            "campfire": campfire,
            "baseline": Baseline(),
            "workers": Workers(campfire, WORKERS),
            "workers_spread": Workers(campfire, WORKERS, spread=True),
            "postgres": OnPostgres(campfire),
        }
        try:
            for rep in range(args.reps):
                for name, params in sizes.items():
                    run_scenario(servers, raw, rep, name, {"scenario": name, **params}, args)
        finally:
            servers["postgres"].close()
    med = {
        name: {kind: median_of(runs) for kind, runs in kinds.items() if runs}
        for name, kinds in raw.items()
    }
    text, missed = table(med, sizes, users)
    elapsed = time.monotonic() - started
    block = (
        f"Last run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{args.reps} repetitions (medians shown), {elapsed / 60:.1f} minutes"
        f"{' (quick smoke sizes)' if args.quick else ''}.\n\n{machine()}\n\n{text}\n\n"
        + (f"Targets missed: {'; '.join(missed)}." if missed else "All targets met.")
    )
    print("\n" + block)
    if not args.quick:
        RAW.write_text(json.dumps({"sizes": sizes, "runs": raw}, indent=1, default=str) + "\n")
    if not args.no_doc and not args.quick:
        write_doc(block)


if __name__ == "__main__":
    main()
