"""Mentions: worked out by the server from the content, stored, listed; member autocomplete."""

import pytest
from test_http_auth import assert_error, bearer

from campfire import errors
from campfire.mentions import mentioned

ANN, ANN_LEE, BOB, ZOE = "ann", "ann-lee", "bob", "zoe"
MEMBERS = [(ANN, "Ann"), (ANN_LEE, "Ann Lee"), (BOB, "Bob"), (ZOE, "Zoë Ünal")]


@pytest.mark.parametrize(
    "content,expected",
    [
        ("no at sign", []),
        ("@Ann hi", [ANN]),
        ("@Ann Lee hi", [ANN_LEE]),  # the longest name first
        ("@ann lee, @BOB and @ann", [ANN_LEE, BOB, ANN]),  # case-insensitive, in order
        ("@Annabel", []),  # a name ends where a word ends
        ("@Ann's turn", [ANN]),
        ("mail ann@example.com", []),
        ("@bob @bob @bob", [BOB]),  # once each
        ("@zoë ünal!", [ZOE]),  # not only ASCII
        ("@", []),
        ("@Nobody here", []),
        ("end @Bob", [BOB]),
    ],
)
def test_who_a_message_mentions(content, expected):
    assert mentioned(content, MEMBERS) == expected


@pytest.fixture
def settings(settings):
    return settings.replace(user_messages_burst=1000)


@pytest.fixture
async def world(client, api):
    """Ann made a room with Ann Lee and Bob; Carl is not in it."""
    ann, a = await api.user("Ann")
    ann_lee, al = await api.user("Ann Lee")
    bob, b = await api.user("Bob")
    carl, c = await api.user("Carl")
    room = (await api.room(a, "team", members=[ann_lee, bob]))["id"]
    return locals()


async def mentions_page(client, token, **query) -> dict:
    resp = await client.get("/api/mentions", headers=bearer(token), params=query)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_mentions_are_stored_shown_and_listed(client, api, world):
    room, a = world["room"], world["a"]
    message = await api.post(a, room, "@Ann Lee and @bob, and @Carl who is not here")
    assert message["mentions"] == sorted([world["ann_lee"]["id"], world["bob"]["id"]])
    page = await client.get(f"/api/rooms/{room}/messages", headers=bearer(world["b"]))
    assert (await page.json())["messages"][0]["mentions"] == message["mentions"]
    listed = await mentions_page(client, world["b"])
    assert [m["id"] for m in listed["messages"]] == [message["id"]]
    assert listed["messages"][0]["boosts"] == [] and listed["has_more"] is False
    assert (await mentions_page(client, world["c"]))["messages"] == []  # not a member


async def test_an_edit_recomputes_mentions(client, api, world):
    room, a = world["room"], world["a"]
    message = await api.post(a, room, "ping @Bob")
    resp = await client.patch(
        f"/api/messages/{message['id']}", headers=bearer(a), json={"content": "ping @Ann Lee"}
    )
    assert (await resp.json())["message"]["mentions"] == [world["ann_lee"]["id"]]
    assert (await mentions_page(client, world["b"]))["messages"] == []
    assert len((await mentions_page(client, world["al"]))["messages"]) == 1


async def test_a_deleted_message_mentions_nobody_any_more(client, api, world):
    message = await api.post(world["a"], world["room"], "@Bob!")
    await client.delete(f"/api/messages/{message['id']}", headers=bearer(world["a"]))
    assert (await mentions_page(client, world["b"]))["messages"] == []


async def test_mentions_page_newest_first_across_rooms(client, api, world):
    other = (await api.room(world["a"], "other", members=[world["bob"]]))["id"]
    posted = [
        await api.post(world["a"], room, f"@Bob {i}")
        for i in range(5)
        for room in (world["room"], other)
    ]
    newest_first = [m["id"] for m in reversed(posted)]
    first = await mentions_page(client, world["b"], limit=4)
    assert [m["id"] for m in first["messages"]] == newest_first[:4] and first["has_more"]
    rest = await mentions_page(client, world["b"], before=first["messages"][-1]["seq"])
    assert [m["id"] for m in rest["messages"]] == newest_first[4:] and not rest["has_more"]
    for bad in ({"limit": 0}, {"limit": 201}, {"before": "x"}):
        resp = await client.get("/api/mentions", headers=bearer(world["b"]), params=bad)
        await assert_error(resp, 400, errors.VALIDATION_FAILED)


async def test_members_autocomplete(client, api, world):
    room = world["room"]

    async def names(query: str) -> list[str]:
        resp = await client.get(
            f"/api/rooms/{room}/members", headers=bearer(world["b"]), params={"query": query}
        )
        assert resp.status == 200, await resp.text()
        return [m["name"] for m in (await resp.json())["members"]]

    assert await names("an") == ["Ann", "Ann Lee"]
    assert await names("LE") == ["Ann Lee"]  # any word of the name
    assert await names("b") == ["Bob"]
    assert await names("carl") == []  # not a member
    assert await names("%") == [] and await names("_") == []  # no wildcards
    assert await names("") == ["Ann", "Ann Lee", "Bob"]
