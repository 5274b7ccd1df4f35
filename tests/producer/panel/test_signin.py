"""Signing in and out in a real browser; wrong passwords refused, then throttled; the security
headers of every answer."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import Page, expect
from starlette.routing import Route

from tests.producer.panel.conftest import Panel, Shots


def test_sign_in_shows_the_users_apps_and_sign_out_ends_the_session(
        panel: Panel, page: Page, panel_user: Any, shots: Shots) -> None:
    admin = panel_user("admin")
    page.goto(panel.url("/panel"))
    expect(page).to_have_url(panel.url("/panel/sign-in?next=%2Fpanel%2F"))
    shots.take(page, "sign-in")
    # By keyboard alone: the email field has the focus on load, Tab to the password, Enter.
    page.keyboard.type(admin.email)
    page.keyboard.press("Tab")
    page.keyboard.type(admin.password)
    page.keyboard.press("Enter")
    page.wait_for_url(panel.url("/panel/"))
    expect(page.get_by_role("heading", name="Your apps")).to_be_visible()
    expect(page.get_by_role("cell", name=admin.app.app_key)).to_be_visible()
    shots.take(page, "apps")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(panel.url("/panel/sign-in"))
    page.goto(panel.url("/panel/"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_a_wrong_password_is_refused_and_repeated_failures_are_throttled(
        panel: Panel, page: Page, panel_user: Any, shots: Shots) -> None:
    user = panel_user("support")
    page.goto(panel.url("/panel/sign-in"))
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    shots.take(page, "wrong-password")
    assert page.context.cookies() and not [c for c in page.context.cookies()
                                           if c["name"] == "pf_session"]
    limit = 5  # PUSHFLOW_PANEL_SIGNIN_EMAIL_LIMIT's default
    with httpx.Client(base_url=panel.base_url) as client:
        for _ in range(limit - 1):
            assert _attempt(client, user.email, "still wrong").status_code == 401
        # Past the limit even the right password is refused, without being checked.
        refused = _attempt(client, user.email, user.password)
        assert refused.status_code == 429, refused.text
        assert int(refused.headers["retry-after"]) > 0
        assert "Too many failed sign-ins" in refused.text
        assert "pf_session" not in refused.cookies


def _attempt(client: httpx.Client, email: str, password: str) -> httpx.Response:
    form = client.get("/panel/sign-in")
    token = re.search(r'name="signin_token" value="([^"]+)"', form.text)
    assert token is not None
    return client.post("/panel/sign-in", data={"email": email, "password": password,
                                               "signin_token": token.group(1)})


def test_the_sign_in_form_needs_its_own_token(panel: Panel, panel_user: Any) -> None:
    user = panel_user("admin")
    with httpx.Client(base_url=panel.base_url) as client:
        done = client.post("/panel/sign-in", data={"email": user.email,
                                                   "password": user.password})
    assert done.status_code == 403
    assert "pf_session" not in done.cookies


def test_every_answer_carries_a_strict_csp(panel: Panel, panel_user: Any) -> None:
    session = panel.session(panel_user("admin"))
    for path in ("/panel/sign-in", "/panel/", "/panel/static/panel.css", "/panel/nothing"):
        answer = session.get(path)
        csp = answer.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "unsafe-inline" not in csp, (path, csp)
        assert "frame-ancestors 'none'" in csp
        assert answer.headers["x-content-type-options"] == "nosniff"
    assert session.get("/panel/nothing").status_code == 404
    assert session.get("/panel/nothing").headers["content-type"].startswith("text/html")
    cookie = next(c for c in session.cookies.jar if c.name == "pf_session")
    assert cookie.has_nonstandard_attr("HttpOnly") and cookie.path == "/panel"


def test_every_post_without_the_csrf_token_is_403(panel: Panel, panel_user: Any) -> None:
    admin = panel_user("admin")
    session = panel.session(admin)
    posts = sorted({route.path for route in _panel_routes() if "POST" in (route.methods or ())}
                   - {"/sign-in"})
    assert len(posts) >= 10, posts
    for path in posts:
        url = "/panel" + path.replace("{app_key}", admin.app.app_key)
        missing = session.post(url, data={"email": admin.email, "prefix": "x"})
        assert missing.status_code == 403, (path, missing.text)
        wrong = session.post(url, data={"csrf_token": "forged", "email": admin.email})
        assert wrong.status_code == 403, (path, wrong.text)
    # With the token the same session is let through.
    signed_out = session.post("/panel/sign-out", data={"csrf_token": session.csrf})
    assert signed_out.status_code == 303


def _panel_routes() -> list[Route]:
    from producer.panel.mount import PAGE_MODULES

    return [r for m in PAGE_MODULES for r in m.routes if isinstance(r, Route)]
