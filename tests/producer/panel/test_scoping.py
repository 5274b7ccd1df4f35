"""Who may see and do what: a support user sees every settings page without a single button
that changes something, and each action refuses their POST (403) even with the session's valid
CSRF token; a user of app A gets 404 for every page of app B, typed into the address bar."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect
from starlette.routing import Route

from tests.producer.panel.conftest import Panel, Shots

# Every button an admin sees on these pages; none may be there for support.
CHANGES = {"settings/keys": ["Create key", "Revoke"],
           "settings/users": ["Add user", "Set role", "Remove"],
           "settings/credentials": ["Upload FCM service account", "Upload APNs key",
                                    "Upload APNs certificate"],
           "settings/limits": ["Save limits"],
           "webhooks": ["Save webhooks"]}


def _routes(method: str) -> list[str]:
    from producer.panel.mount import PAGE_MODULES

    return sorted({r.path for m in PAGE_MODULES for r in m.routes
                   if isinstance(r, Route) and method in (r.methods or ())
                   and "{app_key}" in r.path and r.path.count("{") == 1})


def test_support_sees_no_button_and_every_post_is_refused(
        panel: Panel, page: Page, panel_user: Any, shots: Shots, db: Any) -> None:
    admin = panel_user("admin")
    support = panel_user("support", app=admin.app)
    base = f"/panel/apps/{admin.app.app_key}/"
    panel.sign_in(page, admin)
    for path, buttons in CHANGES.items():
        page.goto(panel.url(base + path))
        expect(page.get_by_role("button", name=buttons[0]).first).to_be_visible()
    page.get_by_role("button", name="Sign out").click()

    panel.sign_in(page, support)
    for path, buttons in CHANGES.items():
        page.goto(panel.url(base + path))
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        for name in buttons:
            expect(page.get_by_role("button", name=name)).to_have_count(0)
        shots.take(page, "support-" + path.replace("/", "-"))

    before = db.execute("SELECT count(*) FROM api_keys WHERE app_id = %s",
                        (admin.app.app_id,)).fetchone()
    session = panel.session_of(page)
    posts = _routes("POST")
    assert len(posts) >= 9, posts
    for path in posts:
        answer = session.post("/panel" + path.replace("{app_key}", admin.app.app_key),
                              data={"csrf_token": session.csrf, "scope": "push:send",
                                    "email": support.email, "role": "admin",
                                    "prefix": admin.app.secret[:10], "kind": "fcm",
                                    "primary_url": "https://8.8.8.8/hook"})
        assert answer.status_code == 403, (path, answer.status_code)
    assert db.execute("SELECT count(*) FROM api_keys WHERE app_id = %s",
                      (admin.app.app_id,)).fetchone() == before
    role = db.execute("SELECT role FROM panel_memberships m JOIN panel_users u ON"
                      " u.id = m.user_id WHERE u.email = %s", (support.email,)).fetchone()
    assert role == ("support",)


def test_a_user_of_one_app_gets_404_for_another_apps_pages(
        panel: Panel, page: Page, panel_user: Any, shots: Shots) -> None:
    mine = panel_user("admin", name="mine")
    theirs = panel_user("admin", name="theirs")
    panel.sign_in(page, mine)
    page.goto(panel.url(f"/panel/apps/{theirs.app.app_key}/settings/keys"))
    expect(page.get_by_role("heading", name="404")).to_be_visible()
    shots.take(page, "other-app-404")
    session = panel.session_of(page)
    gets = _routes("GET")
    assert len(gets) >= 5, gets
    for path in gets:
        for key in (theirs.app.app_key, "app_doesnotexist"):
            answer = session.get("/panel" + path.replace("{app_key}", key))
            assert answer.status_code == 404, (path, answer.status_code)
        assert session.get("/panel" + path.replace("{app_key}", mine.app.app_key)
                           ).status_code == 200, path
    for path in _routes("POST"):
        answer = session.post("/panel" + path.replace("{app_key}", theirs.app.app_key),
                              data={"csrf_token": session.csrf})
        assert answer.status_code == 404, (path, answer.status_code)
    assert session.get("/panel/switch", params={"app": theirs.app.app_key}).status_code == 404
