"""deploy/: the systemd unit and the nginx site that docs/operations.md tells operators to use.

The unit is checked by `systemd-analyze`; the nginx site runs for real, in front of a real
`campfire serve`, with a throwaway certificate: TLS, the WebSocket upgrade, Secure cookies, the
Origin check and the client's address, all through the proxy. In CI (CI set) a missing tool
fails these tests; elsewhere they are skipped with the reason.
"""

from __future__ import annotations

import asyncio
import http.cookies
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import pytest

from campfire import __version__
from campfire.auth import COOKIE_NAME

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "deploy" / "campfire.service"
SITE = ROOT / "deploy" / "nginx.conf"
OPERATIONS = ROOT / "docs" / "operations.md"

sys.path.insert(0, str(ROOT / "scripts" / "faults"))

from harness import PASSWORD, Server, clone_world, free_port, make_world  # noqa: E402


def tool(name: str) -> str:
    """The path of a program the test needs: missing, it fails in CI and skips elsewhere."""
    found = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if found:
        return found
    message = f"{name} is not installed (Debian: see .ci/run)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def replace_once(text: str, old: str, new: str) -> str:
    """Replace one exact line fragment of the shipped file; fail if it is no longer there."""
    assert text.count(old) == 1, f"{old!r} should occur once in the shipped file"
    return text.replace(old, new)


# --- the documentation ships the files verbatim -------------------------------------------


@pytest.mark.parametrize("path,language", [(UNIT, "ini"), (SITE, "nginx")])
def test_operations_guide_includes_the_deploy_file_verbatim(path, language):
    """What an operator copies from the guide is what the tests below check."""
    assert f"```{language}\n{path.read_text()}```\n" in OPERATIONS.read_text()


# --- the systemd unit ---------------------------------------------------------------------


def test_systemd_unit_verifies_cleanly_and_is_hardened(tmp_path):
    """`systemd-analyze verify` finds nothing (not even a warning), and the exposure is low.

    verify also checks that ExecStart's program exists: /usr/bin/python3, Debian's interpreter,
    which the unit runs campfire.pyz with (nothing is faked for it).
    """
    analyze = tool("systemd-analyze")
    unit = tmp_path / "campfire.service"  # verify wants the unit's own name; not installed
    unit.write_text(UNIT.read_text())
    done = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout + done.stderr) == (0, "")
    text = UNIT.read_text()
    for setting in (
        "DynamicUser=yes",
        "StateDirectory=campfire",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "Environment=CAMPFIRE_TRUST_PROXY=true",
        "Environment=CAMPFIRE_HOST=127.0.0.1",
    ):
        assert f"\n{setting}\n" in text, setting
    # Exposure on systemd's 0-100 scale; below 20 is what it rates "OK".
    done = subprocess.run(
        [analyze, "security", "--offline=true", "--threshold=20", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr


def unit_environment() -> dict[str, str]:
    """The CAMPFIRE_* settings the unit gives the server."""
    env = {}
    for line in UNIT.read_text().splitlines():
        if line.startswith("Environment=CAMPFIRE_"):
            name, _, value = line.removeprefix("Environment=").partition("=")
            env[name] = value
    return env


# --- nginx in front of campfire serve -----------------------------------------------------


def throwaway_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, valid for a day (openssl CLI)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    args = "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
    subject = ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
    subprocess.run(
        [tool("openssl"), *args.split(), *subject, "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def site_for_test(directory: Path, cert: Path, key: Path, ports: dict[str, int]) -> str:
    """deploy/nginx.conf with only its addresses, ports and certificate paths changed."""
    site = SITE.read_text()
    site = replace_once(site, "listen 80;", f"listen 127.0.0.1:{ports['http']};")
    site = replace_once(site, "listen 443 ssl;", f"listen 127.0.0.1:{ports['https']} ssl;")
    site = replace_once(site, "    listen [::]:80;\n", "")  # CI containers may lack IPv6
    site = replace_once(site, "    listen [::]:443 ssl;\n", "")
    site = replace_once(site, "/etc/letsencrypt/live/chat.example.com/fullchain.pem", str(cert))
    site = replace_once(site, "/etc/letsencrypt/live/chat.example.com/privkey.pem", str(key))
    return replace_once(site, "server 127.0.0.1:3000;", f"server 127.0.0.1:{ports['campfire']};")


def main_config(directory: Path, site: Path) -> str:
    """A minimal nginx.conf (what Debian's /etc/nginx/nginx.conf does) keeping all in tmp_path."""
    temp = "\n".join(
        f"    {kind}_temp_path {directory / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # As root, workers would drop to nobody, who cannot enter pytest's private tmp_path.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (
        f"{user}pid {directory / 'nginx.pid'};\n"
        f"events {{ worker_connections 256; }}\n"
        f"http {{\n    access_log {directory / 'access.log'};\n{temp}\n    include {site};\n}}\n"
    )


class Nginx:
    """nginx in the foreground (daemon off) with its prefix and configuration in a directory."""

    def __init__(self, directory: Path, site_text: str) -> None:
        self.directory = directory
        site = directory / "campfire.conf"
        site.write_text(site_text)
        self.conf = directory / "nginx.conf"
        self.conf.write_text(main_config(directory, site))
        self.error_log = directory / "error.log"
        self.args = [
            tool("nginx"),
            "-p", f"{directory}/", "-c", str(self.conf), "-e", str(self.error_log),
            "-g", "daemon off;",
        ]  # fmt: skip
        self.proc: subprocess.Popen | None = None

    def start(self, port: int) -> None:
        """Check the configuration (`nginx -t`), start, and wait until `port` accepts."""
        test = subprocess.run([*self.args, "-t"], capture_output=True, text=True, timeout=30)
        assert test.returncode == 0, test.stderr
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.proc.stderr.read().decode()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("nginx did not start listening: " + self.log())

    def stop(self) -> None:
        """Graceful quit (SIGQUIT), then kill if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGQUIT)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def log(self) -> str:
        """nginx's error log so far."""
        return self.error_log.read_text() if self.error_log.exists() else ""


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """An administrator (user0, with a token) and an open room, made once with the real CLI."""
    return make_world(tmp_path_factory.mktemp("template"), users=1)


@pytest.fixture
async def behind_nginx(tmp_path, template):
    """`campfire serve` with the unit's settings, and nginx with the shipped site in front."""
    for name in ("nginx", "openssl"):
        tool(name)
    ports = {"http": free_port(), "https": free_port()}
    settings = {
        name.removeprefix("CAMPFIRE_").lower(): value
        for name, value in unit_environment().items()
        if name not in ("CAMPFIRE_DB", "CAMPFIRE_PORT")  # those two point into tmp_path
    }
    world = clone_world(template, tmp_path, login_attempts_per_minute=3, **settings)
    ports["campfire"] = world.port
    server = Server(world, tmp_path / "campfire.log")
    await server.start()
    cert, key = throwaway_certificate(tmp_path)
    nginx = Nginx(tmp_path, site_for_test(tmp_path, cert, key, ports))
    try:
        nginx.start(ports["https"])
        tls = ssl.create_default_context(cafile=str(cert))
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=tls), cookie_jar=aiohttp.DummyCookieJar()
        ) as session:
            yield session, f"https://127.0.0.1:{ports['https']}", ports, world, server
    finally:
        nginx.stop()
        await server.stop()


async def test_nginx_serves_campfire_over_tls_with_upgrade_secure_cookies_and_origin(behind_nginx):
    """Everything an operator needs from the site, end to end through a real nginx."""
    session, base, ports, world, server = behind_nginx

    async with session.get(f"http://127.0.0.1:{ports['http']}/", allow_redirects=False) as resp:
        assert resp.status == 301
        assert resp.headers["Location"].startswith("https://127.0.0.1")
    async with session.get(base + "/health") as resp:
        assert resp.status == 200
        assert (await resp.json())["version"] == __version__
        assert resp.headers["Strict-Transport-Security"].startswith("max-age=")
        assert resp.headers["X-Content-Type-Options"] == "nosniff"  # Campfire's, passed on

    # Login over https: the cookie is Secure because trust_proxy believes X-Forwarded-Proto.
    login = {"email": "user0@example.com", "password": PASSWORD}
    async with session.post(base + "/api/auth/login", json=login) as resp:
        assert resp.status == 200, await resp.text()
        cookie = http.cookies.SimpleCookie(resp.headers["Set-Cookie"])[COOKIE_NAME]
    assert cookie["secure"] and cookie["httponly"]
    cookies = {"Cookie": f"{COOKIE_NAME}={cookie.value}"}

    # The WebSocket upgrade through nginx, authenticated by that cookie from our own origin;
    # a message posted over HTTP (with a token) arrives on it.
    async with session.ws_connect(
        base.replace("https", "wss") + "/ws", headers=cookies, origin=base
    ) as ws:
        assert (await asyncio.wait_for(ws.receive_json(), 5))["type"] == "Ready"
        await ws.send_json({"type": "JoinRoom", "room_id": world.room_id})
        content = f"through nginx {uuid.uuid4()}"
        async with session.post(
            f"{base}/api/rooms/{world.room_id}/messages",
            headers={"Authorization": f"Bearer {world.tokens[0]}"},
            json={"content": content, "client_message_id": str(uuid.uuid4())},
        ) as resp:
            assert resp.status == 201, await resp.text()
        while (frame := await asyncio.wait_for(ws.receive_json(), 5))["type"] != "NewMessage":
            pass
        assert frame["message"]["content"] == content

    # The Origin check still works behind the proxy: another site's page cannot use the cookie.
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await session.ws_connect(
            base.replace("https", "wss") + "/ws", headers=cookies, origin="https://evil.example"
        )
    assert refused.value.status == 403

    # The unit's MemoryDenyWriteExecute=yes refuses memory mapped both writable and executable
    # (the JIT-like pattern of libffi closures): after a login (argon2), HTTP and a WebSocket,
    # the server holds no such mapping.
    maps = (await asyncio.to_thread(Path(f"/proc/{server.proc.pid}/maps").read_text)).splitlines()
    assert [line for line in maps if line.split()[1].startswith("rwx")] == []


async def test_nginx_passes_big_bodies_and_the_real_client_address(behind_nginx):
    """A body above nginx's default 1 MB reaches Campfire; a forged X-Forwarded-For is ignored."""
    session, base, _ports, world, _server = behind_nginx

    # 5 MB: nginx lets it through (client_max_body_size 100m), Campfire answers with its own
    # JSON 413 (max_body_bytes), not nginx's HTML one.
    async with session.post(
        f"{base}/api/rooms/{world.room_id}/messages",
        headers={"Authorization": f"Bearer {world.tokens[0]}", "Content-Type": "application/json"},
        data=b"x" * (5 * 1024 * 1024),
    ) as resp:
        assert resp.status == 413
        assert (await resp.json())["error"]["code"] == "PAYLOAD_TOO_LARGE"

    # Failed logins, each for another account and with another forged X-Forwarded-For: nginx
    # replaces the header with the address it saw, so Campfire counts them all against that
    # one address and throttles it (login_attempts_per_minute = 3 here).
    statuses = []
    for i in range(5):
        async with session.post(
            base + "/api/auth/login",
            headers={"X-Forwarded-For": f"203.0.113.{i}"},
            json={"email": f"nobody{i}@example.com", "password": "wrong password"},
        ) as resp:
            statuses.append(resp.status)
    assert statuses[:3] == [401, 401, 401] and statuses[3:] == [429, 429], statuses
