"""Signing in and out in a real browser; wrong passwords refused, then throttled; the security
headers of every answer."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from tests.producer.panel.conftest import Panel, Shots


def test_sign_in_shows_the_users_apps_and_sign_out_ends_the_session(
        panel: Panel, page: Page, panel_user: Any, shots: Shots) -> None:
    admin = panel_user("admin")
    page.goto(panel.url("/panel"))
    expect(page).to_have_url(panel.url("/panel/sign-in?next=%2Fpanel%2F"))
    shots.take(page, "sign-in")
    panel.sign_in(page, admin)
    expect(page.get_by_role("heading", name="Your apps")).to_be_visible()
    expect(page.get_by_role("cell", name=admin.app.app_key)).to_be_visible()
    shots.take(page, "apps")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(panel.url("/panel/sign-in"))
    page.goto(panel.url("/panel/"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
