"""`campfire db copy SQLITE_FILE postgresql://...`: a Campfire with messages, edits, boosts,
deletions and attachments, copied by the real CLI, then served from PostgreSQL: the same
history and search, and new messages numbered after the copied ones."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from test_attachments import upload

from campfire.app import create_app
from campfire.config import Settings
from campfire.db_copy import COPY_ORDER
from campfire.db_postgres import PostgresDatabase

POSTGRES_ONLY = {"counters", "schema_version"}


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """`campfire ...` in a subprocess, as a person runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPFIRE_")}
    return subprocess.run(
        [sys.executable, "-m", "campfire", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def build_world(client, api) -> dict:
    """People, a room, messages with an edit, a boost, a deletion and an attachment."""
    api.client = client
    _ann, ann_token = await api.user("Ann")
    bob, bob_token = await api.user("Bob")
    room = await api.room(ann_token, "copied", members=[bob])
    first = await api.post(ann_token, room["id"], "the café deployment went well")
    second = await api.post(bob_token, room["id"], "hello @Ann, deploying again")
    gone = await api.post(bob_token, room["id"], "a message that will be deleted")
    resp = await client.patch(
        f"/api/messages/{first['id']}", headers=bearer(ann_token), json={"content": "edited café"}
    )
    assert resp.status == 200, await resp.text()
    resp = await client.post(
        f"/api/messages/{second['id']}/boosts", headers=bearer(ann_token), json={"content": "🎉"}
    )
    assert resp.status == 201, await resp.text()
    resp = await client.delete(f"/api/messages/{gone['id']}", headers=bearer(bob_token))
    assert resp.status in (200, 204), await resp.text()
    resp = await upload(client, ann_token, room["id"], b"report body", filename="report.txt")
    assert resp.status == 201, await resp.text()
    return {"ann": ann_token, "bob": bob_token, "room": room["id"]}


async def read_back(client, world: dict) -> dict:
    """What the people see: the room's history, a search, and a file's bytes."""
    resp = await client.get(f"/api/rooms/{world['room']}/messages", headers=bearer(world["bob"]))
    assert resp.status == 200, await resp.text()
    history = await resp.json()
    resp = await client.get("/api/search", params={"q": "cafe"}, headers=bearer(world["bob"]))
    assert resp.status == 200, await resp.text()
    found = [r["message"]["id"] for r in (await resp.json())["results"]]
    attachments = [m["attachment"] for m in history["messages"] if m.get("attachment")]
    assert len(attachments) == 1
    resp = await client.get(attachments[0]["url"], headers=bearer(world["bob"]))
    assert resp.status == 200
    return {"history": history, "search": found, "file": await resp.read()}


async def test_copy_then_serve_from_postgresql(aiohttp_client, api, tmp_path, postgres_server):
    """Everything copied reads back the same from PostgreSQL; the copy refuses to run twice."""
    sqlite_file = tmp_path / "old.db"
    old = Settings(db=str(sqlite_file))
    client = await aiohttp_client(create_app(old))
    world = await build_world(client, api)
    before = await read_back(client, world)
    assert before["search"]  # accents folded on SQLite: "cafe" finds "café"
    await client.close()

    url = postgres_server.empty_database()
    done = run_cli("db", "copy", str(sqlite_file), url)
    assert done.returncode == 0, done.stderr
    assert "Copied" in done.stderr and "files_dir" in done.stderr

    new = Settings(db=url, files_dir=str(old.files_path))
    client = await aiohttp_client(create_app(new))
    after = await read_back(client, world)
    assert after == before
    newest = max(m["seq"] for m in before["history"]["messages"])
    api.client = client
    message = await api.post(world["ann"], world["room"], "after the move")
    assert message["seq"] > newest

    again = run_cli("db", "copy", str(sqlite_file), url)
    assert again.returncode != 0 and "not empty" in again.stderr


async def test_copy_refuses_what_it_cannot_copy(tmp_path, postgres_server):
    """A missing file, a file that is no Campfire database, a target that is no URL."""
    url = postgres_server.empty_database()
    missing = run_cli("db", "copy", str(tmp_path / "none.db"), url)
    assert missing.returncode != 0 and "does not exist" in missing.stderr
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    refused = run_cli("db", "copy", str(junk), url)
    assert refused.returncode != 0 and "junk.db" in refused.stderr
    not_url = run_cli("db", "copy", str(junk), str(tmp_path / "other.db"))
    assert not_url.returncode != 0 and "postgresql://" in not_url.stderr


async def test_copy_order_names_every_table(postgres_url):
    """A new table must be added to COPY_ORDER (parents first), or it would not move."""
    db = PostgresDatabase(postgres_url)
    await db.open()
    try:
        rows = await db.fetchall(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
    finally:
        await db.close()
    assert sorted(COPY_ORDER) == sorted({row[0] for row in rows} - POSTGRES_ONLY)


@pytest.mark.parametrize("command", [["db", "backup", "x.db"]])
def test_backup_of_postgresql_points_to_pg_dump(command, postgres_url):
    """`campfire db backup` is SQLite's: on PostgreSQL it says to use pg_dump."""
    done = run_cli(*command, "--db", postgres_url)
    assert done.returncode != 0 and "pg_dump" in done.stderr
