"""The join page and the login-link page in headless Chromium against a real `campfire serve`."""

from __future__ import annotations

import urllib.request

import pytest
from conftest import PASSWORD
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

NEW_PASSWORD = "a brand new secret"


def forgive(pages, *statuses: int) -> None:
    """Drop the console lines Chromium logs for answers the test expects (a 404 page, say)."""
    pages.errors[:] = [e for e in pages.errors if not any(f"status of {s}" in e for s in statuses)]


def test_a_person_joins_by_link_and_lands_signed_in(server, pages):
    server.setup_admin()
    server.ok("PATCH", "/api/account", {"name": "Acme Chat"}, server.admin_token)
    join_url = server.ok("GET", "/api/account", token=server.admin_token)["account"]["join_url"]
    page = pages.open()
    page.goto(join_url)
    expect(page.locator("#account-name")).to_have_text("Acme Chat")
    page.get_by_label("Your name").fill("Zoe")
    page.get_by_label("Email").fill("zoe@example.com")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Join").click()
    expect(page.get_by_role("alert").filter(has_text="at least 8")).to_be_visible()
    forgive(pages, 400)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Join").click()
    expect(page.locator("#me-name")).to_have_text("Zoe")
    expect(page.locator("#conn-status")).to_have_attribute("data-state", "online")
    token = server.ok(
        "POST", "/api/auth/login", {"email": "zoe@example.com", "password": PASSWORD}
    )["session_token"]
    assert server.ok("GET", "/api/users/me", token=token)["user"]["is_admin"] is False


def test_a_wrong_join_link_shows_a_clear_page(server, pages):
    server.setup_admin()
    page = pages.open()
    page.goto("/join/not-the-code")
    expect(page.get_by_role("heading", name="This join link does not work")).to_be_visible()
    expect(page.locator("#join-problem-text")).to_contain_text("not valid")
    expect(page.locator("#join-form")).to_be_hidden()
    forgive(pages, 404)


def test_a_login_link_signs_in_and_sets_a_password_once(server, pages):
    bob, _ = server.user("Bob")
    link = server.ok("POST", f"/api/users/{bob['id']}/login_link", token=server.admin_token)
    page = pages.open()
    page.goto(link["url"])
    expect(page.get_by_role("heading", name="Sign in as Bob")).to_be_visible()
    page.get_by_label("New password (optional)").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#me-name")).to_have_text("Bob")
    expect(page.locator("#conn-status")).to_have_attribute("data-state", "online")
    status, _ = server.call(
        "POST", "/api/auth/login", {"email": bob["email"], "password": NEW_PASSWORD}
    )
    assert status == 200
    # The link worked once: opened again, it says so.
    again = pages.open()
    again.goto(link["url"])
    expect(again.get_by_role("heading", name="This login link does not work")).to_be_visible()
    expect(again.locator("#link-problem-text")).to_contain_text("already used")
    forgive(pages, 410)
    with urllib.request.urlopen(server.url + "/login-link/whatever", timeout=5) as resp:
        assert resp.status == 200 and b"login-link.js" in resp.read()  # the API says 404
