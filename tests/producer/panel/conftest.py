"""The panel in a real browser: a real ``pushflow api`` server (the session's PostgreSQL and
Redis) and Debian's Chromium (``/usr/bin/chromium``) driven by Playwright's sync API. One
browser and one server for the whole ``tests/producer/panel`` package (a few seconds to
start); each test gets a fresh page with no cookies.

Fixtures, for any test module in this folder::

    def test_something(panel: Panel, page: Page, panel_user: Any, shots: Shots) -> None:
        admin = panel_user("admin")                 # a new app and its admin (PanelUser)
        support = panel_user("support", app=admin.app)   # another user of the same app
        panel.sign_in(page, admin)                  # through the sign-in form; lands on /panel/
        page.goto(panel.url(f"/panel/apps/{admin.app.app_key}/settings/keys"))
        shots.take(page, "keys")                    # <shots folder>/<test name>-keys.png
        http = panel.session_of(page)               # httpx on the page's session
        http.post("/panel/...", data={"csrf_token": http.csrf, ...})

- ``panel.base_url``: the server (``http://127.0.0.1:PORT``); ``panel.url(path)``.
- ``panel_user(role, app=None, name=...)``: a panel user with a role in ``app`` (a
  ``tests.conftest.TestApp``: its key has every scope) or in a new app with APNs and FCM
  credentials. ``PanelUser`` has ``email``, ``password``, ``app``, ``role``.
- ``panel.session(user)``: an ``httpx.Client`` signed in as ``user`` (the sign-in form posted
  over HTTP, no browser), with ``.csrf`` holding the session's token, read from a page;
  ``panel.session_of(page)``: the same on the browser page's own session (cheaper: no second
  sign-in).
- ``shots.take(page, name)``: a full-page screenshot; the folder is printed at the end of the
  run ("panel screenshots: ...").

Playwright's own browser download is never used (it cannot work here): ``executable_path``
points at Debian's package, which ``.ci/run`` installs.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from playwright.sync_api import BrowserContext, Page, sync_playwright

from domain.users import passwords
from domain.users import store as users
from tests.conftest import TestApp
from tests.producer.conftest import api_process
from tests.producer.test_schemathesis import keep_log

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_SIGNIN = re.compile(r'name="signin_token" value="([^"]+)"')


@dataclass(frozen=True)
class PanelUser:
    email: str
    password: str
    app: TestApp
    role: str


class SignedIn(httpx.Client):
    csrf: str = ""


@dataclass(frozen=True)
class Panel:
    base_url: str

    def url(self, path: str) -> str:
        return self.base_url + path

    def sign_in(self, page: Page, user: PanelUser) -> None:
        page.goto(self.url("/panel/sign-in"))
        page.get_by_label("Email").fill(user.email)
        page.get_by_label("Password").fill(user.password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(r".*/panel/(\?.*)?$|.*/panel/apps/.*"))

    def session_of(self, page: Page) -> SignedIn:
        """An ``httpx.Client`` on the browser's own session (no second sign-in: each costs an
        argon2 check), with its CSRF token read from the current page."""
        session = [c["value"] for c in page.context.cookies(self.base_url + "/panel/")
                   if c["name"] == "pf_session"]
        assert session, "the page is not signed in"
        client = SignedIn(base_url=self.base_url, follow_redirects=False, timeout=10,
                          headers={"Cookie": f"pf_session={session[0]}"})
        csrf = _CSRF.search(client.get("/panel/").text)
        assert csrf is not None, "the page is not signed in"
        client.csrf = csrf.group(1)
        return client

    def session(self, user: PanelUser) -> SignedIn:
        client = SignedIn(base_url=self.base_url, follow_redirects=False, timeout=10)
        form = client.get("/panel/sign-in")
        token = _SIGNIN.search(form.text)
        assert token is not None, form.text
        done = client.post("/panel/sign-in", data={
            "email": user.email, "password": user.password, "signin_token": token.group(1),
            "next": "/panel/"})
        assert done.status_code == 303, done.text
        home = client.get("/panel/")
        csrf = _CSRF.search(home.text)
        assert csrf is not None, home.text
        client.csrf = csrf.group(1)
        return client


class Shots:
    def __init__(self, folder: Path, test_name: str) -> None:
        self.folder, self.test_name = folder, re.sub(r"[^\w.-]+", "_", test_name)

    def take(self, page: Page, name: str) -> Path:
        path = self.folder / f"{self.test_name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture(scope="package")
def panel(pushflow_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[Panel]:
    log = tmp_path_factory.mktemp("panel-api") / "api.log"
    # A generous start: the whole package waits on this one server, and a loaded machine
    # can take well over the usual 20 s to import the API.
    with api_process(start_timeout=90) as (base_url, proc):
        keep_log(proc, log)
        yield Panel(base_url)


@pytest.fixture(scope="package")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
            viewport={"width": 1280, "height": 860})
        context.set_default_timeout(10_000)
        yield context
        context.close()


@pytest.fixture()
def page(browser: BrowserContext) -> Iterator[Page]:
    browser.clear_cookies()
    tab = browser.new_page()
    tab.on("dialog", lambda dialog: dialog.accept())  # data-confirm prompts (panel.js)
    yield tab
    tab.close()


@pytest.fixture(scope="package")
def shots_folder(tmp_path_factory: pytest.TempPathFactory,
                 request: pytest.FixtureRequest) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("panel-screenshots")
    yield folder
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    line = f"panel screenshots: {folder}"
    if reporter is not None:
        reporter.write_line(line)
    else:
        print(line)


@pytest.fixture()
def shots(shots_folder: Path, request: pytest.FixtureRequest) -> Shots:
    return Shots(shots_folder, request.node.name)


@pytest.fixture(scope="package")
def password_hash() -> str:
    # Hashed once: argon2 costs a second or more of CPU here, on purpose.
    return passwords.hash_password(PASSWORD)


async def add_panel_user(database_url: str, app_id: int, email: str, role: users.Role,
               hashed: str) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        user, _ = await users.create_user(conn, email, hashed)
        await users.set_role(conn, app_id, user.id, role)


@pytest.fixture()
def panel_user(make_app: Any, pushflow_env: dict[str, str], password_hash: str) -> Any:
    def factory(role: users.Role, app: TestApp | None = None, name: str = "panel"
                ) -> PanelUser:
        app = app or make_app(name)
        email = f"{role}-{secrets.token_hex(4)}@example.com"
        # In a thread of its own: Playwright's sync API keeps its event loop marked running in
        # this one, where asyncio.run refuses to start another.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, add_panel_user(
                pushflow_env["PUSHFLOW_DATABASE_URL"], app.app_id, email, role,
                password_hash)).result()
        return PanelUser(email, PASSWORD, app, role)

    return factory
