"""/ws authentication: three token sources, 401 before the upgrade, the Origin check."""

import aiohttp
import pytest
from helpers import make_client
from wsutil import recv


async def upgrade_status(client, path="/ws", **kwargs) -> int:
    """Try the upgrade; the HTTP status if it was refused, 101 if it succeeded."""
    try:
        ws = await client.ws_connect(path, **kwargs)
    except aiohttp.WSServerHandshakeError as exc:
        return exc.status
    await ws.close()
    return 101


async def test_query_header_and_cookie_tokens_all_work(client, api):
    user, token = await api.user("Ann")
    origin = f"http://{client.host}:{client.port}"
    for kwargs in (
        {"path": f"/ws?token={token}"},
        {"headers": {"Authorization": f"Bearer {token}"}},
        {"headers": {"Cookie": f"session_token={token}", "Origin": origin}},
    ):
        path = kwargs.pop("path", "/ws")
        ws = await client.ws_connect(path, **kwargs)
        assert await recv(ws) == {"type": "Ready", "user_id": user["id"]}
        await ws.close()


async def test_query_token_wins_over_header(client, api):
    user, token = await api.user("Ann")
    ws = await client.ws_connect(f"/ws?token={token}", headers={"Authorization": "Bearer nonsense"})
    assert (await recv(ws))["user_id"] == user["id"]
    await ws.close()


async def test_missing_and_invalid_tokens_get_401_before_upgrade(client, api):
    await api.user("Ann")
    assert await upgrade_status(client) == 401
    assert await upgrade_status(client, "/ws?token=not-a-token") == 401
    assert await upgrade_status(client, headers={"Authorization": "Bearer " + "x" * 43}) == 401
    assert await upgrade_status(client, headers={"Authorization": "Basic abc"}) == 401


async def test_revoked_token_gets_401(client, api):
    _, token = await api.user("Ann")
    resp = await client.post("/api/auth/logout", headers=api.auth(token))
    assert resp.status == 204
    assert await upgrade_status(client, f"/ws?token={token}") == 401


async def test_deactivated_user_gets_401(client, api):
    user, token = await api.user("Ann")
    resp = await client.patch(
        f"/api/users/{user['id']}", headers=api.auth(api.admin_token), json={"is_active": False}
    )
    assert resp.status == 200
    assert await upgrade_status(client, f"/ws?token={token}") == 401


async def test_expired_token_gets_401(client, api, monkeypatch):
    from datetime import timedelta

    from campfire import clock

    _, token = await api.user("Ann")
    real_now = clock.now
    monkeypatch.setattr(clock, "now", lambda: real_now() + timedelta(days=31))
    assert await upgrade_status(client, f"/ws?token={token}") == 401


@pytest.mark.parametrize("origin", ["http://evil.example", None])
async def test_cookie_auth_needs_the_servers_own_origin(client, api, origin):
    _, token = await api.user("Ann")
    headers = {"Cookie": f"session_token={token}"}
    if origin:
        headers["Origin"] = origin
    assert await upgrade_status(client, headers=headers) == 403


async def test_cookie_auth_from_a_configured_origin(aiohttp_client, settings, api):
    client = await make_client(
        aiohttp_client, settings, api, allowed_origins=("https://chat.example.com",)
    )
    _, token = await api.user("Ann")
    headers = {"Cookie": f"session_token={token}", "Origin": "https://chat.example.com"}
    assert await upgrade_status(client, headers=headers) == 101


async def test_token_auth_needs_no_origin_check(client, api):
    _, token = await api.user("Ann")
    assert (
        await upgrade_status(
            client, f"/ws?token={token}", headers={"Origin": "http://evil.example"}
        )
        == 101
    )


async def test_401_body_has_the_error_shape_and_no_token(client, api):
    resp = await client.get(
        "/ws?token=secret-looking-token",
        headers={
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
    )
    assert resp.status == 401
    body = await resp.json()
    assert body["error"]["code"] == "UNAUTHORIZED"
    assert "secret-looking-token" not in await resp.text()


async def test_connection_limit_per_user(aiohttp_client, settings, api):
    client = await make_client(aiohttp_client, settings, api, ws_max_connections_per_user=2)
    _, token = await api.user("Ann")
    first = await client.ws_connect(f"/ws?token={token}")
    second = await client.ws_connect(f"/ws?token={token}")
    assert await upgrade_status(client, f"/ws?token={token}") == 429
    await first.close()
    await second.close()
