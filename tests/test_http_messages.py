"""HTTP API: posting messages (dedup, content rules) and paging a room's history by sequence."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from helpers import send
from test_http_auth import anonymous, assert_error, bearer, make_client, row_counts  # noqa: F401 (fixture)

from campfire import errors

MESSAGE_FIELDS = [
    "client_message_id",
    "content",
    "created_at",
    "creator_id",
    "edited_at",  # addition: null until edited
    "id",
    "mentions",  # addition: the user ids it mentions
    "room_id",
    "seq",
]


@pytest.fixture
def settings(settings):
    """These tests post dozens of messages at once to page through them."""
    return settings.replace(user_messages_burst=1000)


async def page(client, token, room_id, **query) -> dict:
    """GET a page of history."""
    resp = await client.get(f"/api/rooms/{room_id}/messages", headers=bearer(token), params=query)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert sorted(body) == ["has_more", "messages"]
    for message in body["messages"]:  # history adds each message's boosts (tested elsewhere)
        assert message.pop("boosts") == []
    return body


@pytest.fixture
async def chat(client, api):
    """Ann and Bob in a closed room."""
    ann, ann_token = await api.user("Ann")
    bob, bob_token = await api.user("Bob")
    room = await api.room(ann_token, "Chat", members=[bob])
    return ann, ann_token, bob, bob_token, room


# --- posting -----------------------------------------------------------------------------


async def test_post_message(client, chat):
    ann, ann_token, _, bob_token, room = chat
    cmid = str(uuid.uuid4())
    resp = await send(client, ann_token, room["id"], "hello", cmid)
    assert resp.status == 201
    body = await resp.json()
    assert list(body) == ["message"]
    message = body["message"]
    assert sorted(message) == MESSAGE_FIELDS
    assert message["room_id"] == room["id"] and message["creator_id"] == ann["id"]
    assert message["content"] == "hello" and message["client_message_id"] == cmid
    assert message["created_at"].endswith("Z") and isinstance(message["seq"], int)
    uuid.UUID(message["id"])
    assert (await page(client, bob_token, room["id"]))["messages"] == [message]


async def test_retry_with_the_same_client_message_id_returns_the_original(client, chat):
    _, ann_token, _, bob_token, room = chat
    cmid = str(uuid.uuid4())
    first = await send(client, ann_token, room["id"], "hello", cmid)
    assert first.status == 201
    original = (await first.json())["message"]
    before = await row_counts(client)
    for content, key in (("hello", cmid), ("edited on retry", cmid), ("upper", cmid.upper())):
        retry = await send(client, ann_token, room["id"], content, key)
        assert retry.status == 200
        assert (await retry.json())["message"] == original
    assert await row_counts(client) == before
    assert (await page(client, ann_token, room["id"]))["messages"] == [original]
    # The key is (room, creator, client_message_id): another person, or another room, is new.
    resp = await send(client, bob_token, room["id"], "me too", cmid)
    assert resp.status == 201
    from_bob = (await resp.json())["message"]
    assert from_bob["id"] != original["id"] and from_bob["client_message_id"] == cmid
    other_room = (
        await (
            await client.post(
                "/api/rooms",
                headers=bearer(ann_token),
                json={"name": "Other", "room_type": "closed"},
            )
        ).json()
    )["room"]
    resp = await send(client, ann_token, other_room["id"], "hello", cmid)
    assert resp.status == 201
    assert (await row_counts(client))["messages"] == before["messages"] + 2


async def test_content_is_stored_exactly_as_sent(client, chat):
    _, ann_token, _, _, room = chat
    samples = [
        "<script>alert('x')</script> & <b>bold</b> &amp;",
        "  padded, with trailing space and newline \n",
        "line one\nline two\ttabbed",
        "emoji 🔥 and accents é ü 中文",
        "x" * 10_000,
        "🔥" * 10_000,  # ten thousand characters (code points), not bytes
    ]
    sent = []
    for content in samples:
        resp = await send(client, ann_token, room["id"], content)
        assert resp.status == 201, content[:40]
        assert (await resp.json())["message"]["content"] == content
        sent.append(content)
    history = (await page(client, ann_token, room["id"]))["messages"]
    assert [m["content"] for m in history] == sent


@pytest.mark.parametrize(
    "content",
    [
        "",
        " ",
        "\n\t  \r\n",
        "x" * 10_001,
        "🔥" * 10_001,
        None,
        5,
        ["hi"],
        {"text": "hi"},
        "nul\x00byte",
    ],
)
async def test_bad_content_is_rejected_and_changes_nothing(client, chat, content):
    _, ann_token, _, _, room = chat
    before = await row_counts(client)
    resp = await send(client, ann_token, room["id"], content)
    await assert_error(resp, 400, errors.MESSAGE_CREATION_FAILED)
    assert await row_counts(client) == before


@pytest.mark.parametrize(
    "body",
    [
        {"content": "hi"},
        {"content": "hi", "client_message_id": "abc"},
        {"content": "hi", "client_message_id": 42},
        {"content": "hi", "client_message_id": None},
        {"content": "hi", "client_message_id": "{" + str(uuid.UUID(int=1)) + "}"},
    ],
)
async def test_client_message_id_must_be_a_uuid(client, chat, body):
    _, ann_token, _, _, room = chat
    before = await row_counts(client)
    resp = await client.post(
        f"/api/rooms/{room['id']}/messages", headers=bearer(ann_token), json=body
    )
    await assert_error(resp, 400, errors.MESSAGE_CREATION_FAILED)
    assert await row_counts(client) == before


async def test_post_body_errors(client, chat):
    _, ann_token, _, _, room = chat
    url = f"/api/rooms/{room['id']}/messages"
    before = await row_counts(client)
    resp = await client.post(
        url, headers={**bearer(ann_token), "Content-Type": "application/json"}, data="{oops"
    )
    await assert_error(resp, 400, errors.INVALID_JSON)
    resp = await client.post(url, headers=bearer(ann_token), data="hello")
    await assert_error(resp, 415, errors.UNSUPPORTED_MEDIA_TYPE)
    resp = await client.post(url, headers=bearer(ann_token), json=["hello"])
    await assert_error(resp, 400, errors.INVALID_JSON)
    anonymous(client)
    resp = await client.post(url, json={"content": "hi", "client_message_id": str(uuid.uuid4())})
    await assert_error(resp, 401, errors.UNAUTHORIZED)
    await assert_error(await client.get(url), 401, errors.UNAUTHORIZED)
    assert await row_counts(client) == before


async def test_oversize_message_body_is_413(make_client):  # noqa: F811 (the fixture imported above)
    client = await make_client(max_body_bytes=4096)
    resp = await client.post(
        "/api/setup", json={"email": "ann@example.com", "name": "Ann", "password": "correct horse"}
    )
    token = (await resp.json())["session_token"]
    resp = await client.post(
        "/api/rooms", headers=bearer(token), json={"name": "Chat", "room_type": "open"}
    )
    room = (await resp.json())["room"]
    before = await row_counts(client)
    resp = await send(client, token, room["id"], "x" * 5000)
    await assert_error(resp, 413, errors.PAYLOAD_TOO_LARGE)
    assert await row_counts(client) == before


# --- history -----------------------------------------------------------------------------


async def post_many(api, token, room_id, count) -> list[dict]:
    """Post `count` numbered messages; the created messages in order."""
    return [await api.post(token, room_id, f"message {n}") for n in range(count)]


async def test_sequence_numbers_increase_across_rooms(client, api, chat):
    _, ann_token, _, _, room = chat
    other = await api.room(ann_token, "Other")
    seqs = []
    for n in range(6):
        seqs.append((await api.post(ann_token, (room, other)[n % 2]["id"], f"m{n}"))["seq"])
    assert seqs == sorted(seqs) and len(set(seqs)) == 6
    history = (await page(client, ann_token, room["id"]))["messages"]
    assert [m["content"] for m in history] == ["m0", "m2", "m4"]


async def test_message_ids_are_uuid7_growing_with_time(api, chat):
    """Time-ordered ids keep the id index append-only (docs/performance.md)."""
    _, ann_token, _, _, room = chat
    ids = []
    for n in range(3):
        ids.append((await api.post(ann_token, room["id"], f"m{n}"))["id"])
        await asyncio.sleep(0.002)  # UUIDv7 orders by millisecond
    assert [uuid.UUID(i).version for i in ids] == [7, 7, 7]
    assert ids == sorted(ids) and all(i == str(uuid.UUID(i)) for i in ids)


async def test_history_pages_backwards_with_before(client, api, chat):
    _, ann_token, _, bob_token, room = chat
    sent = await post_many(api, ann_token, room["id"], 7)
    seq = [m["seq"] for m in sent]

    newest = await page(client, bob_token, room["id"], limit=3)
    assert newest == {"messages": sent[4:7], "has_more": True}  # oldest first within the page
    older = await page(client, bob_token, room["id"], limit=3, before=seq[4])
    assert older == {"messages": sent[1:4], "has_more": True}
    oldest = await page(client, bob_token, room["id"], limit=3, before=seq[1])
    assert oldest == {"messages": sent[0:1], "has_more": False}
    exact = await page(client, bob_token, room["id"], limit=3, before=seq[3])
    assert exact == {"messages": sent[0:3], "has_more": False}
    assert await page(client, bob_token, room["id"], before=seq[0]) == {
        "messages": [],
        "has_more": False,
    }
    assert await page(client, bob_token, room["id"]) == {"messages": sent, "has_more": False}


async def test_history_pages_forwards_with_after(client, api, chat):
    _, ann_token, _, bob_token, room = chat
    sent = await post_many(api, ann_token, room["id"], 7)
    seq = [m["seq"] for m in sent]
    assert await page(client, bob_token, room["id"], limit=3, after=0) == {
        "messages": sent[0:3],
        "has_more": True,
    }
    assert await page(client, bob_token, room["id"], limit=3, after=seq[2]) == {
        "messages": sent[3:6],
        "has_more": True,
    }
    assert await page(client, bob_token, room["id"], limit=3, after=seq[5]) == {
        "messages": sent[6:7],
        "has_more": False,
    }
    assert await page(client, bob_token, room["id"], limit=3, after=seq[3]) == {
        "messages": sent[4:7],
        "has_more": False,
    }
    assert await page(client, bob_token, room["id"], after=seq[6]) == {
        "messages": [],
        "has_more": False,
    }
    # Both: a window, read from its old end.
    window = await page(client, bob_token, room["id"], after=seq[1], before=seq[5], limit=2)
    assert window == {"messages": sent[2:4], "has_more": True}


async def test_walking_history_either_way_sees_every_message_once(client, api, chat):
    _, ann_token, _, bob_token, room = chat
    sent = await post_many(api, ann_token, room["id"], 11)
    backwards, cursor = [], {}
    while True:
        body = await page(client, bob_token, room["id"], limit=4, **cursor)
        backwards = body["messages"] + backwards
        if not body["has_more"]:
            break
        cursor = {"before": body["messages"][0]["seq"]}
    forwards, cursor = [], {"after": 0}
    while True:
        body = await page(client, bob_token, room["id"], limit=4, **cursor)
        forwards += body["messages"]
        if not body["has_more"]:
            break
        cursor = {"after": body["messages"][-1]["seq"]}
    assert backwards == forwards == sent


async def test_history_limits(client, api, chat):
    _, ann_token, _, _, room = chat
    sent = await post_many(api, ann_token, room["id"], 52)
    body = await page(client, ann_token, room["id"])  # the default page is 50
    assert body == {"messages": sent[2:], "has_more": True}
    body = await page(client, ann_token, room["id"], limit=200)
    assert body == {"messages": sent, "has_more": False}
    body = await page(client, ann_token, room["id"], limit=1)
    assert body == {"messages": sent[-1:], "has_more": True}


@pytest.mark.parametrize(
    "query",
    [
        {"limit": "0"},
        {"limit": "201"},
        {"limit": "-1"},
        {"limit": "ten"},
        {"limit": "2.5"},
        {"before": "abc"},
        {"before": "-1"},
        {"after": "1e3"},
        {"after": str(2**63)},
    ],
)
async def test_bad_history_parameters_are_400(client, chat, query):
    _, ann_token, _, _, room = chat
    resp = await client.get(
        f"/api/rooms/{room['id']}/messages", headers=bearer(ann_token), params=query
    )
    await assert_error(resp, 400, errors.VALIDATION_FAILED)


async def test_open_room_history_is_readable_by_every_active_user(client, api):
    _, ann_token = await api.user("Ann")
    lobby = await api.room(ann_token, "Lobby", "open")
    sent = await post_many(api, ann_token, lobby["id"], 2)
    _, newcomer_token = await api.user("Newcomer")
    assert (await page(client, newcomer_token, lobby["id"]))["messages"] == sent
