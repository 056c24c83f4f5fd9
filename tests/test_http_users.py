"""HTTP API: who am I, the user list, and administrators creating and changing accounts."""

from __future__ import annotations

import uuid

import pytest
from test_http_auth import PASSWORD, anonymous, assert_error, bearer, row_counts

from campfire import errors

USER_FIELDS = ["avatar_url", "created_at", "email", "id", "is_active", "is_admin", "name"]


async def test_me(client, api):
    user, token = await api.user("Bob")
    resp = await client.get("/api/users/me", headers=bearer(token))
    assert resp.status == 200
    me = (await resp.json())["user"]
    assert me == user
    assert sorted(me) == USER_FIELDS
    assert me["is_admin"] is False and me["is_active"] is True


async def test_me_needs_a_session(client, api):
    await api.setup_admin()
    anonymous(client)
    await assert_error(await client.get("/api/users/me"), 401, errors.UNAUTHORIZED)
    await assert_error(await client.get("/api/users"), 401, errors.UNAUTHORIZED)


async def test_list_users_shows_active_people_by_name(client, api):
    await api.user("cat")
    _bob, bob_token = await api.user("Bob")
    resp = await client.get("/api/users", headers=bearer(bob_token))
    assert resp.status == 200
    users = (await resp.json())["users"]
    assert [u["name"] for u in users] == ["Admin", "Bob", "cat"]
    # A member sees only their own email (emails_visible_to_members is off by default).
    public = sorted(set(USER_FIELDS) - {"email"})
    assert [sorted(u) for u in users] == [public, USER_FIELDS, public]


async def test_everyone_sees_inactive_users_marked_so_history_keeps_their_names(client, api):
    gone, _ = await api.user("Gone")
    _, bob_token = await api.user("Bob")
    resp = await client.patch(
        f"/api/users/{gone['id']}", headers=bearer(api.admin_token), json={"is_active": False}
    )
    assert resp.status == 200

    async def listed(token):
        resp = await client.get("/api/users", headers=bearer(token))
        return {u["name"]: u for u in (await resp.json())["users"]}

    for token in (api.admin_token, bob_token):
        users = await listed(token)
        assert list(users) == ["Admin", "Bob", "Gone"]
        assert users["Gone"]["is_active"] is False and users["Bob"]["is_active"] is True
    # Only administrators see when each person was last active.
    assert all("last_active_at" in u for u in (await listed(api.admin_token)).values())
    assert (await listed(api.admin_token))["Bob"]["last_active_at"] is not None
    assert not any("last_active_at" in u for u in (await listed(bob_token)).values())


# --- creating users ----------------------------------------------------------------------


async def test_admin_creates_users(client, api):
    await api.setup_admin()
    resp = await client.post(
        "/api/users",
        headers=bearer(api.admin_token),
        json={"email": "dee@example.com", "name": "Dee", "password": PASSWORD, "is_admin": True},
    )
    assert resp.status == 201
    body = await resp.json()
    assert list(body) == ["user"]  # no session token: the new user logs in themselves
    assert body["user"]["is_admin"] is True and body["user"]["email"] == "dee@example.com"
    resp = await client.post(
        "/api/auth/login", json={"email": "dee@example.com", "password": PASSWORD}
    )
    assert resp.status == 200
    # is_admin defaults to false
    resp = await client.post(
        "/api/users",
        headers=bearer(api.admin_token),
        json={"email": "eve@example.com", "name": "Eve", "password": PASSWORD},
    )
    assert (await resp.json())["user"]["is_admin"] is False


async def test_non_admin_cannot_create_users(client, api):
    _, token = await api.user("Bob")
    before = await row_counts(client)
    resp = await client.post(
        "/api/users",
        headers=bearer(token),
        json={"email": "sneaky@example.com", "name": "Sneaky", "password": PASSWORD},
    )
    await assert_error(resp, 403, errors.FORBIDDEN)
    assert await row_counts(client) == before
    anonymous(client)
    resp = await client.post(
        "/api/users", json={"email": "sneaky@example.com", "name": "Sneaky", "password": PASSWORD}
    )
    await assert_error(resp, 401, errors.UNAUTHORIZED)


async def test_email_is_unique_ignoring_case(client, api):
    await api.setup_admin()
    before = await row_counts(client)
    resp = await client.post(
        "/api/users",
        headers=bearer(api.admin_token),
        json={"email": "ADMIN@example.com", "name": "Twin", "password": PASSWORD},
    )
    await assert_error(resp, 409, errors.EMAIL_TAKEN)
    assert await row_counts(client) == before


@pytest.mark.parametrize(
    "body",
    [
        {"email": "x@example.com", "name": "X", "password": PASSWORD, "is_admin": "yes"},
        {"email": "x@example.com", "name": "X", "password": PASSWORD, "is_admin": 1},
        {"email": "x@example", "name": "X", "password": PASSWORD},
        {"email": "x@example.com", "name": 5, "password": PASSWORD},
        {"email": "x@example.com", "name": "X", "password": "1234567"},
        {"email": "x@example.com", "name": "X", "password": "p" * 1025},
        {"email": "x@example.com", "name": "X", "password": "\udc00" * 8},  # no valid text
        {"name": "X", "password": PASSWORD},
        {},
    ],
)
async def test_create_user_rejects_bad_fields_and_changes_nothing(client, api, body):
    await api.setup_admin()
    before = await row_counts(client)
    resp = await client.post("/api/users", headers=bearer(api.admin_token), json=body)
    await assert_error(resp, 400, errors.VALIDATION_FAILED)
    assert await row_counts(client) == before


# --- changing users ----------------------------------------------------------------------


async def test_deactivation_ends_sessions_at_once_and_reactivation_restores_login(client, api):
    bob, bob_token = await api.user("Bob")
    anonymous(client)
    assert (await client.get("/api/users/me", headers=bearer(bob_token))).status == 200
    resp = await client.patch(
        f"/api/users/{bob['id']}", headers=bearer(api.admin_token), json={"is_active": False}
    )
    assert resp.status == 200
    assert (await resp.json())["user"]["is_active"] is False
    for source in (
        {"headers": bearer(bob_token)},
        {"params": {"token": bob_token}},
        {"headers": {"Cookie": f"session_token={bob_token}"}},
    ):
        await assert_error(await client.get("/api/users/me", **source), 401, errors.UNAUTHORIZED)

    resp = await client.patch(
        f"/api/users/{bob['id']}", headers=bearer(api.admin_token), json={"is_active": True}
    )
    assert (await resp.json())["user"]["is_active"] is True
    # The old session stays dead; a new login works.
    await assert_error(
        await client.get("/api/users/me", headers=bearer(bob_token)), 401, errors.UNAUTHORIZED
    )
    resp = await client.post("/api/auth/login", json={"email": bob["email"], "password": PASSWORD})
    assert resp.status == 200


async def test_admin_grants_and_takes_admin_rights_and_renames(client, api):
    bob, bob_token = await api.user("Bob")
    resp = await client.patch(
        f"/api/users/{bob['id']}",
        headers=bearer(api.admin_token),
        json={"is_admin": True, "name": "  Robert "},
    )
    assert resp.status == 200
    user = (await resp.json())["user"]
    assert user["is_admin"] is True and user["name"] == "Robert"
    # Bob's existing session now has admin rights.
    resp = await client.post(
        "/api/users",
        headers=bearer(bob_token),
        json={"email": "new@example.com", "name": "New", "password": PASSWORD},
    )
    assert resp.status == 201
    resp = await client.patch(
        f"/api/users/{bob['id']}", headers=bearer(api.admin_token), json={"is_admin": False}
    )
    assert (await resp.json())["user"]["is_admin"] is False
    resp = await client.post(
        "/api/users",
        headers=bearer(bob_token),
        json={"email": "new2@example.com", "name": "New", "password": PASSWORD},
    )
    await assert_error(resp, 403, errors.FORBIDDEN)


async def test_admin_cannot_lock_themselves_out(client, api):
    admin, token = await api.setup_admin()
    for change in ({"is_active": False}, {"is_admin": False}):
        resp = await client.patch(f"/api/users/{admin['id']}", headers=bearer(token), json=change)
        await assert_error(resp, 403, errors.FORBIDDEN)
    resp = await client.patch(
        f"/api/users/{admin['id']}", headers=bearer(token), json={"name": "Boss"}
    )
    assert (await resp.json())["user"]["name"] == "Boss"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": "new@example.com"},
        {"password": "new password"},
        {"is_active": "false"},
        {"is_admin": 0},
        {"name": ""},
        {"name": None},
        {"is_admin": True, "name": "   "},  # one bad field: nothing at all changes
        {"is_active": False, "unknown": 1},
    ],
)
async def test_update_user_rejects_bad_fields_and_changes_nothing(client, api, body):
    bob, bob_token = await api.user("Bob")
    before = await row_counts(client)
    resp = await client.patch(f"/api/users/{bob['id']}", headers=bearer(api.admin_token), json=body)
    await assert_error(resp, 400, errors.VALIDATION_FAILED)
    assert await row_counts(client) == before
    resp = await client.get("/api/users/me", headers=bearer(bob_token))
    assert (await resp.json())["user"] == bob


async def test_update_user_errors(client, api):
    bob, bob_token = await api.user("Bob")
    admin = bearer(api.admin_token)
    for user_id in (str(uuid.uuid4()), "not-a-uuid", "1", bob["id"] + "0"):
        resp = await client.patch(f"/api/users/{user_id}", headers=admin, json={"name": "X"})
        await assert_error(resp, 404, errors.USER_NOT_FOUND)
    resp = await client.patch(
        f"/api/users/{bob['id']}", headers=bearer(bob_token), json={"is_admin": True}
    )
    await assert_error(resp, 403, errors.FORBIDDEN)
    anonymous(client)
    resp = await client.patch(f"/api/users/{bob['id']}", json={"is_admin": True})
    await assert_error(resp, 401, errors.UNAUTHORIZED)
    resp = await client.patch(
        f"/api/users/{bob['id']}", headers={**admin, "Content-Type": "text/plain"}, data="{}"
    )
    await assert_error(resp, 415, errors.UNSUPPORTED_MEDIA_TYPE)
    resp = await client.patch(
        f"/api/users/{bob['id']}", headers={**admin, "Content-Type": "application/json"}, data="{"
    )
    await assert_error(resp, 400, errors.INVALID_JSON)


async def test_uppercase_uuid_in_the_path_names_the_same_user(client, api):
    bob, _ = await api.user("Bob")
    resp = await client.patch(
        f"/api/users/{bob['id'].upper()}", headers=bearer(api.admin_token), json={"name": "Bobby"}
    )
    assert resp.status == 200
    assert (await resp.json())["user"]["id"] == bob["id"]
