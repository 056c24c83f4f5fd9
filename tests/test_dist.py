"""A release: its version (CLI and /health) and the single file `make dist` builds.

The .pyz test builds dist/campfire.pyz once per session with the real `make dist` (shiv; pip's
wheel cache makes it take seconds) and runs it from an empty directory with a bare interpreter.
"""

from __future__ import annotations

import configparser
import json
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.request
from importlib.metadata import version
from pathlib import Path

import pytest
from click.testing import CliRunner

from campfire import __version__
from campfire.cli import main
from campfire.db import migration_scripts

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts" / "faults"))

from harness import free_port  # noqa: E402 (scripts/faults is a folder, not a package)

NEWEST = migration_scripts()[-1][0]


def test_the_version_is_the_package_metadata_of_setup_cfg():
    """One source of truth: setup.cfg's version, as installed."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    assert __version__ == version("campfire") == config["metadata"]["version"]


def version_output(tmp_path: Path, db: Path) -> str:
    """What `campfire --version` prints for this database."""
    result = CliRunner().invoke(main, ["--version"], env={"CAMPFIRE_DB": str(db)})
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_version_reports_the_version_and_the_database_migration(tmp_path):
    """--version reads the database (never creates or migrates it) and says how it stands."""
    db = tmp_path / "campfire.db"
    out = version_output(tmp_path, db)
    assert out.startswith(f"campfire {__version__}\n")
    assert "does not exist yet" in out and not db.exists()

    with sqlite3.connect(db) as conn:  # a database from before any migration
        conn.execute("CREATE TABLE t (x)")
    assert f"migration 0 ({NEWEST} pending" in version_output(tmp_path, db)

    assert CliRunner().invoke(main, ["db", "migrate", "--db", str(db)]).exit_code == 0
    assert f"database {db}: migration {NEWEST} (up to date)" in version_output(tmp_path, db)

    with sqlite3.connect(db) as conn:  # written by a newer Campfire
        conn.execute(f"PRAGMA user_version = {NEWEST + 1}")
    assert f"migration {NEWEST + 1} (newer than this version" in version_output(tmp_path, db)


def test_cli_version_reads_the_database_named_by_the_config_file(tmp_path):
    """--config is honoured whichever side of --version it is given."""
    db = tmp_path / "configured.db"
    config = tmp_path / "campfire.toml"
    config.write_text(f'db = "{db}"\n')
    assert CliRunner().invoke(main, ["db", "migrate", "--db", str(db)]).exit_code == 0
    for args in (["--version", "--config", str(config)], ["--config", str(config), "--version"]):
        result = CliRunner().invoke(main, args, env={"CAMPFIRE_DB": ""})
        assert result.exit_code == 0, result.output
        assert f"database {db}: migration {NEWEST} (up to date)" in result.output


def test_cli_version_on_a_file_that_is_no_database_says_so(tmp_path):
    """A wrong path is reported, not a stack trace; the version line still comes first."""
    junk = tmp_path / "notes.txt"
    junk.write_text("not a database " * 100)
    out = version_output(tmp_path, junk)
    assert out.startswith(f"campfire {__version__}\n") and "cannot read it" in out


@pytest.mark.sqlite_only("reads PRAGMA user_version from the file (test_postgres checks PG's)")
async def test_health_reports_the_version_and_the_database_migration(client, settings):
    """GET /health: the running code's version and the schema its database is at."""
    resp = await client.get("/health")
    assert resp.status == 200
    body = await resp.json()
    with sqlite3.connect(settings.db) as conn:
        (on_disk,) = conn.execute("PRAGMA user_version").fetchone()
    assert body == {"status": "ok", "version": __version__, "migration": on_disk}
    assert on_disk == NEWEST


# --- dist/campfire.pyz ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def pyz(tmp_path_factory) -> Path:
    """dist/campfire.pyz, built once per session by `make dist` into a temporary directory."""
    if shutil.which("make") is None:
        pytest.fail("make is needed to build campfire.pyz")
    out = tmp_path_factory.mktemp("dist") / "campfire.pyz"
    started = time.monotonic()
    done = subprocess.run(
        ["make", "-s", "dist", f"PYZ={out}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    print(f"make dist took {time.monotonic() - started:.1f} s")
    return out


def bare_python() -> str:
    """The interpreter this venv was made from (same CPython as the zip's compiled parts)."""
    return str(Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}")


def bare_env(home: Path) -> dict[str, str]:
    """A minimal environment: no VIRTUAL_ENV, PYTHONPATH or CAMPFIRE_* settings."""
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}


def http_get(url: str) -> tuple[int, bytes]:
    """Status and body of a GET (no client library: keep it to the standard library)."""
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status, resp.read()


@pytest.mark.dist
def test_pyz_serves_and_administers_from_an_empty_directory_with_a_bare_python(pyz, tmp_path):
    """`python3 campfire.pyz serve` and `... user add` with nothing but the standard library.

    -I ignores PYTHON* variables and the user's site-packages; -S drops the interpreter's own
    site-packages too, so every package Campfire needs must come from the zip.
    """
    python = bare_python()
    work = tmp_path / "empty"
    work.mkdir()
    home = tmp_path / "home"  # shiv unpacks into ~/.shiv
    env = bare_env(home)
    run = [python, "-I", "-S", str(pyz)]

    proof = subprocess.run(
        [python, "-I", "-S", "-c", "import aiohttp"], env=env, cwd=work, capture_output=True
    )
    assert proof.returncode != 0, "the interpreter is not bare: it can import aiohttp"

    out = subprocess.run(
        [*run, "--version"], env=env, cwd=work, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"campfire {__version__}\ndatabase campfire.db: does not exist")
    assert (home / ".shiv").is_dir()

    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen([*run, "serve", "--port", str(port)], env=env, cwd=work, stderr=log)
    log.close()
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                status, body = http_get(base + "/health")
                break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                time.sleep(0.1)
        health = json.loads(body)
        assert (status, health["version"], health["migration"]) == (200, __version__, NEWEST)
        assert (work / "campfire.db").is_file()  # the default database, in the working directory

        status, page = http_get(base + "/")  # the web client, read from the unpacked zip
        assert status == 200 and b"<script" in page
        status, script = http_get(base + "/static/app.js")
        assert status == 200 and script == (ROOT / "campfire" / "static" / "app.js").read_bytes()

        added = subprocess.run(
            [*run, "user", "add", "ann@example.com", "--name", "Ann", "--admin"],
            env={**env, "CAMPFIRE_PASSWORD": "correct horse battery"},
            cwd=work,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert added.returncode == 0, added.stderr
        # The server sees the new administrator at once: the same ./campfire.db.
        request = urllib.request.Request(
            base + "/api/auth/login",
            data=json.dumps(
                {"email": "ann@example.com", "password": "correct horse battery"}
            ).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            user = json.loads(resp.read())["user"]
        assert (user["id"], user["is_admin"]) == (added.stdout.strip(), True)
    finally:
        server.terminate()
        assert server.wait(15) == 0, (tmp_path / "serve.log").read_text()


@pytest.mark.dist
def test_pyz_runs_as_the_systemd_unit_runs_it(pyz, tmp_path):
    """deploy/campfire.service's way: Debian's /usr/bin/python3 -I, unpacking into SHIV_ROOT."""
    system = Path("/usr/bin/python3")
    if not system.exists():
        pytest.skip("no /usr/bin/python3 here (the unit's interpreter)")
    minor = subprocess.run(
        [str(system), "-I", "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if minor != str(sys.version_info[:2]):
        pytest.skip(f"/usr/bin/python3 is {minor}: the .pyz holds {sys.version_info[:2]}'s parts")
    cache = tmp_path / "cache"
    env = {**bare_env(tmp_path / "no-home"), "SHIV_ROOT": str(cache), "CAMPFIRE_DB": "chat.db"}
    out = subprocess.run(
        [str(system), "-I", str(pyz), "--version"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == (
        f"campfire {__version__}\n"
        f"database chat.db: does not exist yet (this version creates migration {NEWEST})\n"
    )
    assert any(cache.iterdir()) and not (tmp_path / "no-home").exists()
