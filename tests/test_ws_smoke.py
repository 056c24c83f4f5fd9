"""A first end-to-end check: two users chat live over /ws."""

import uuid

from conftest import receive_json


async def test_two_users_chat_live(client, api):
    alice, alice_token = await api.user("Alice")
    bob, bob_token = await api.user("Bob")
    room = await api.room(alice_token, "general", members=[bob])
    ws_a = await client.ws_connect(f"/ws?token={alice_token}")
    ws_b = await client.ws_connect("/ws", headers={"Authorization": f"Bearer {bob_token}"})
    assert (await receive_json(ws_a))["type"] == "Ready"
    assert (await receive_json(ws_b))["type"] == "Ready"
    await ws_a.send_json({"type": "JoinRoom", "room_id": room["id"]})
    assert await receive_json(ws_a) == {"type": "UserJoined", "user_id": alice["id"], "room_id": room["id"]}
    assert await receive_json(ws_a) == {"type": "PresenceUpdate", "room_id": room["id"], "online_users": [alice["id"]]}
    cmid = str(uuid.uuid4())
    await ws_a.send_json({"type": "CreateMessage", "room_id": room["id"], "content": "hi", "client_message_id": cmid})
    for ws in (ws_a, ws_b):
        event = await receive_json(ws)
        assert event["type"] == "NewMessage"
        assert event["message"]["content"] == "hi"
        assert event["message"]["client_message_id"] == cmid
    await ws_a.close()
    await ws_b.close()
