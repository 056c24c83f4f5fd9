"""Search: only the caller's rooms, accents and word forms, phrases, no query syntax, edits."""

from __future__ import annotations

import logging
import sqlite3
import uuid
from importlib import resources

import pytest

from campfire import search_index
from campfire.config import Settings
from campfire.core import open_core
from campfire.search import match_expression

START, END = "\ue000", "\ue001"


async def find(client, token: str, q: str, **params) -> dict:
    """GET /api/search; the JSON answer (which must be 200)."""
    resp = await client.get(
        "/api/search", params={"q": q, **params}, headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status == 200, await resp.text()
    return await resp.json()


def contents(answer: dict) -> list[str]:
    return [r["message"]["content"] for r in answer["results"]]


@pytest.fixture
async def world(api):
    """Ann and Bob share an open room; Ann alone has a closed one; Eve is in neither closed."""
    ann, ann_token = await api.user("Ann")
    bob, bob_token = await api.user("Bob")
    _, eve_token = await api.user("Eve")
    open_room = await api.room(ann_token, "lobby", room_type="open")
    closed = await api.room(ann_token, "secret", members=[bob])
    return {
        "ann": ann_token,
        "bob": bob_token,
        "eve": eve_token,
        "bob_id": bob["id"],
        "ann_id": ann["id"],
        "open": open_room,
        "closed": closed,
    }


async def test_a_closed_rooms_words_are_never_found_by_a_non_member(client, api, world):
    await api.post(world["ann"], world["closed"]["id"], "the launch code is zebra")
    await api.post(world["ann"], world["open"]["id"], "zebras in the lobby")
    assert contents(await find(client, world["bob"], "zebra")) == [
        "zebras in the lobby",
        "the launch code is zebra",
    ]
    assert contents(await find(client, world["eve"], "zebra")) == ["zebras in the lobby"]
    assert contents(await find(client, world["eve"], "launch code")) == []
    resp = await client.get(
        "/api/search",
        params={"q": "zebra", "room_id": world["closed"]["id"]},
        headers={"Authorization": f"Bearer {world['eve']}"},
    )
    assert (resp.status, (await resp.json())["error"]["code"]) == (403, "ROOM_ACCESS_DENIED")
    # Removed from the room: its words go with it.
    resp = await client.delete(
        f"/api/rooms/{world['closed']['id']}/members/{world['bob_id']}",
        headers={"Authorization": f"Bearer {world['ann']}"},
    )
    assert resp.status == 204
    assert contents(await find(client, world["bob"], "launch")) == []
    assert (await client.get("/api/search", params={"q": "zebra"})).status == 401


async def test_accents_case_and_word_forms(client, api, world):
    room = world["open"]["id"]
    await api.post(world["ann"], room, "Rendez-vous au Café Noël à Zürich")
    await api.post(world["ann"], room, "We deployed the release yesterday")
    for query in ("cafe", "CAFÉ", "noel", "zurich", "Zürich", "rendez vous"):
        assert contents(await find(client, world["bob"], query)) == [
            "Rendez-vous au Café Noël à Zürich"
        ], query
    for query in ("deploy", "deploying", "deploys", "releases"):
        assert contents(await find(client, world["bob"], query)) == [
            "We deployed the release yesterday"
        ], query


async def test_phrases_prefixes_and_all_words(client, api, world):
    room = world["open"]["id"]
    await api.post(world["ann"], room, "a red apple pie")
    await api.post(world["ann"], room, "the apple is red")
    await api.post(world["ann"], room, "green apple")
    assert contents(await find(client, world["bob"], '"red apple"')) == ["a red apple pie"]
    assert contents(await find(client, world["bob"], "red apple")) == [
        "the apple is red",
        "a red apple pie",
    ]
    assert contents(await find(client, world["bob"], "gre*")) == ["green apple"]
    assert contents(await find(client, world["bob"], '"red apple')) == ["a red apple pie"]


async def test_query_syntax_is_never_interpreted(client, api, world):
    room = world["open"]["id"]
    await api.post(world["ann"], room, "apples OR pears NOT plums AND figs NEAR content")
    for query in (
        "?!...",
        "",
        "   ",
        "*",
        '"',
        '""',
        "-",
        "(",
        "^",
        "🔥🔥",
        ":",
        "{}",
    ):
        assert (await find(client, world["bob"], query))["results"] == [], query
    # FTS5 operators and column filters are just words.
    for query in (
        "apples OR",
        "figs:NEAR",
        "content:",
        "NEAR(content)",
        "apples AND",
        '"pears" -',
    ):
        answer = await find(client, world["bob"], query)
        assert contents(answer) == ["apples OR pears NOT plums AND figs NEAR content"], query
    assert contents(await find(client, world["bob"], "apples OR kiwis")) == []
    assert match_expression('say "hi" to x"y*') == '"say" "hi" "to" "x" "y*"'
    assert match_expression('ab* "c""d') == '"ab"* "c" "d"'
    resp = await client.get(
        "/api/search",
        params={"q": "x" * 501},
        headers={"Authorization": f"Bearer {world['bob']}"},
    )
    assert resp.status == 400


async def test_snippets_mark_the_words_without_markup(client, api, world):
    await api.post(world["ann"], world["open"]["id"], "<b>ship</b> it: shipping <script>")
    answer = await find(client, world["bob"], "ship")
    snippet = answer["results"][0]["snippet"]
    assert snippet == f"<b>{START}ship{END}</b> it: {START}shipping{END} <script>"


async def test_newest_first_with_paging_and_filters(client, api, world):
    room = world["open"]["id"]
    posted = []
    for i in range(7):
        token = world["ann"] if i % 2 else world["bob"]
        posted.append(await api.post(token, room, f"status report {i}"))
    answer = await find(client, world["bob"], "report", limit=3)
    assert contents(answer) == ["status report 6", "status report 5", "status report 4"]
    assert answer["has_more"] is True and answer["next_before"] == posted[4]["seq"]
    answer = await find(client, world["bob"], "report", limit=3, before=answer["next_before"])
    assert contents(answer) == ["status report 3", "status report 2", "status report 1"]
    answer = await find(client, world["bob"], "report", limit=3, before=answer["next_before"])
    assert contents(answer) == ["status report 0"]
    assert answer["has_more"] is False and answer["next_before"] is None
    by_ann = await find(client, world["bob"], "report", creator_id=world["ann_id"])
    assert contents(by_ann) == ["status report 5", "status report 3", "status report 1"]
    in_closed = await find(client, world["bob"], "report", room_id=world["closed"]["id"])
    assert in_closed["results"] == []
    result = (await find(client, world["bob"], "report", limit=1))["results"][0]
    assert result["message"] == posted[-1]
    for bad in ({"limit": "0"}, {"limit": "101"}, {"before": "x"}, {"creator_id": "nope"}):
        resp = await client.get(
            "/api/search",
            params={"q": "report", **bad},
            headers={"Authorization": f"Bearer {world['bob']}"},
        )
        assert resp.status == 400, bad


async def test_edits_and_deletes_are_reflected_at_once(client, core, api, world):
    """Edits are an UPDATE of messages.content, deletes a DELETE of the row (as in living
    messages); the index follows inside the same transaction."""
    message = await api.post(world["ann"], world["open"]["id"], "meet at the harbour")
    async with core.db.transaction() as conn:
        await conn.execute(
            "UPDATE messages SET content = ? WHERE id = ?", ("meet at the station", message["id"])
        )
    assert contents(await find(client, world["bob"], "harbour")) == []
    assert contents(await find(client, world["bob"], "station")) == ["meet at the station"]
    async with core.db.transaction() as conn:
        await conn.execute("DELETE FROM messages WHERE id = ?", (message["id"],))
    assert contents(await find(client, world["bob"], "station")) == []
    if core.db.engine == "postgresql":
        return  # an index on the messages themselves: nothing that could disagree
    async with core.db.transaction() as conn:  # raises if the index and the table disagree
        await conn.execute(
            "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)"
        )


async def test_results_carry_attachments_and_open_with_around(client, api, world):
    import aiohttp

    room = world["open"]["id"]
    for i in range(20):
        await api.post(world["ann"], room, f"filler {i}")
    body = aiohttp.FormData()
    body.add_field("client_message_id", str(uuid.uuid4()))
    body.add_field("caption", "quarterly figures attached")
    body.add_field("file", b"a,b\n1,2\n", filename="q3.csv")
    resp = await client.post(
        f"/api/rooms/{room}/attachments",
        headers={"Authorization": f"Bearer {world['ann']}"},
        data=body,
    )
    assert resp.status == 201
    for i in range(20, 40):
        await api.post(world["ann"], room, f"filler {i}")
    result = (await find(client, world["bob"], "quarterly"))["results"][0]
    assert result["message"]["attachment"]["filename"] == "q3.csv"
    seq = result["message"]["seq"]
    resp = await client.get(
        f"/api/rooms/{room}/messages",
        params={"around": str(seq), "limit": "10"},
        headers={"Authorization": f"Bearer {world['bob']}"},
    )
    page = await resp.json()
    assert [m["content"] for m in page["messages"]] == [
        *(f"filler {i}" for i in range(16, 20)),
        "quarterly figures attached",
        *(f"filler {i}" for i in range(20, 25)),
    ]
    assert page["messages"][4]["attachment"]["filename"] == "q3.csv"
    assert page["has_more"] is True and page["has_more_after"] is True
    first = page["messages"][0]["seq"]
    resp = await client.get(
        f"/api/rooms/{room}/messages",
        params={"around": str(first), "limit": "200"},
        headers={"Authorization": f"Bearer {world['bob']}"},
    )
    page = await resp.json()
    assert page["messages"][0]["content"] == "filler 0" and page["has_more"] is False
    resp = await client.get(
        f"/api/rooms/{room}/messages",
        params={"around": str(2**63 - 1), "limit": "3"},
        headers={"Authorization": f"Bearer {world['bob']}"},
    )
    assert [m["content"] for m in (await resp.json())["messages"]] == ["filler 38", "filler 39"]
    resp = await client.get(
        f"/api/rooms/{room}/messages",
        params={"around": "x"},
        headers={"Authorization": f"Bearer {world['bob']}"},
    )
    assert resp.status == 400
    resp = await client.get(
        f"/api/rooms/{world['closed']['id']}/messages",
        params={"around": "1"},
        headers={"Authorization": f"Bearer {world['eve']}"},
    )
    assert resp.status == 403


async def test_the_first_start_indexes_existing_messages_with_progress(
    tmp_path, monkeypatch, caplog
):
    """A database from before search (schema 1) gets its messages indexed, in batches."""
    db_path = tmp_path / "old.db"
    conn = sqlite3.connect(db_path)
    script = resources.files("campfire.migrations").joinpath("0001_initial.sql").read_text()
    conn.executescript(script + "\nPRAGMA user_version = 1;")
    conn.execute(
        "INSERT INTO users (id, name, email, password_hash, created_at)"
        " VALUES ('u', 'Ann', 'a@example.com', 'x', '2024-01-01T00:00:00Z')"
    )
    conn.execute(
        "INSERT INTO rooms (id, name, room_type, created_at)"
        " VALUES ('r', 'old', 'open', '2024-01-01T00:00:00Z')"
    )
    conn.executemany(
        "INSERT INTO messages (id, room_id, creator_id, content, client_message_id, created_at)"
        " VALUES (?, 'r', 'u', ?, ?, '2024-01-01T00:00:00Z')",
        [
            (f"m{i}", f"old message {i} {'kiwi' if i % 10 == 0 else 'plum'}", f"c{i}")
            for i in range(95)
        ],
    )
    conn.commit()
    conn.close()
    monkeypatch.setattr(search_index, "BACKFILL_BATCH", 40)
    caplog.set_level(logging.INFO, logger="campfire.search_index")
    async with open_core(Settings(db=str(db_path))) as core:
        rows = await core.db.fetchall(
            "SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'kiwi' ORDER BY rowid"
        )
        assert len(rows) == 10
        assert await core.db.fetchall("SELECT * FROM search_backfill") == []
        # Edits of old messages keep the index sound.
        async with core.db.transaction() as conn:
            await conn.execute("UPDATE messages SET content = 'fig' WHERE id = 'm0'")
    progress = [r.getMessage() for r in caplog.records if "indexed" in r.getMessage()]
    assert progress == [
        "search index: 40 messages indexed (42%)",
        "search index: 80 messages indexed (84%)",
        "search index: 95 messages indexed (100%)",
    ]
    async with open_core(Settings(db=str(db_path))) as core:  # nothing left to do
        rows = await core.db.fetchall(
            "SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'kiwi'"
        )
        assert len(rows) == 9
