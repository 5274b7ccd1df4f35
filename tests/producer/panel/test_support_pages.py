"""The support side of the panel in a real browser, on the real delivery path: a push sent through
the API, a send worker talking to the sandbox's APNs over HTTP/2 (told to answer 503 once, so
the first attempt is retried), the DLR worker recording each attempt, the webhook sender
delivering to a receiver. Found by token, external id, status and a word of its content; its
timeline shows the retried attempt then ``sent``; its webhook replayed; app B's user gets 404
for app A's dispatch; the other pages render (screenshots of each)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
from playwright.sync_api import Page, expect

from domain.keys import store as apps
from sandbox.testing import SandboxProcess
from shared import credentials
from shared.queues import DLR, SEND_QUEUES
from shared.settings import get_settings
from tests import conftest as root
from tests.producer.panel.conftest import Panel, Shots
from tests.workers import conftest as workers
from tests.workers.dlr.helpers import celery_worker_args, running_alive, webhook_sender_args
from tests.workers.webhooks.conftest import SENDER_ENV, configure_webhooks
from tests.workers.webhooks.receiver import Receiver
from workers.delivery.testing import WorkerProcess, wait_for

sandbox = workers.sandbox  # the session's sandbox gateways (a fixture)


@dataclass(frozen=True)
class Stack:
    app: root.TestApp
    receiver: Receiver
    sandbox: SandboxProcess


@pytest.fixture(scope="module")
def stack(sandbox: SandboxProcess, pushflow_env: dict[str, str],
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """An app with the sandbox's credentials and a webhook to a receiver; a send worker, the
    DLR worker and the webhook sender, all real processes, for this module only."""
    logs = tmp_path_factory.mktemp("panel-stack")
    with psycopg.connect(pushflow_env["PUSHFLOW_DATABASE_URL"], autocommit=True) as db:
        app_key = apps.create_app(db, "support-pages")
        app_id = apps.app_id_for(db, app_key)
        fernet = get_settings().fernet_key()
        credentials.store(db, app_id, workers.apns_key_credential(sandbox), fernet)
        credentials.store(db, app_id, credentials.parse_fcm_service_account(
            sandbox.service_account_file.read_bytes()), fernet)
        secret = apps.create_key(db, app_key, list(apps.SCOPES)).secret
        receiver = Receiver().start()
        configure_webhooks(db, app_id, receiver.url)
    with WorkerProcess(list(SEND_QUEUES), env=workers.WORKER_ENV,
                       log_path=logs / "send.log"), \
            running_alive(celery_worker_args(DLR), logs / "dlr.log"), \
            running_alive(webhook_sender_args(), logs / "webhooks.log", SENDER_ENV):
        yield Stack(root.TestApp(app_key, app_id, secret), receiver, sandbox)
    receiver.stop()


def _send(panel: Panel, app: root.TestApp, token: str, **fields: Any) -> str:
    response = httpx.post(panel.url("/v2.1/push"), headers=app.headers(), timeout=10, json={
        "device_tokens": [token], **fields})
    assert response.status_code == 202, response.text
    return str(response.json()["data"][0]["dispatches"][0]["dispatchId"])


def _search(page: Page, panel: Panel, app: root.TestApp, **fields: str) -> None:
    page.goto(panel.url(f"/panel/apps/{app.app_key}/logs"))
    labels = {"q": "Words of title, content or external id", "token": "Device token",
              "external": "External id"}
    for name, value in fields.items():
        if name in labels:
            page.get_by_label(labels[name], exact=True).fill(value)
        else:
            page.locator(f"select[name={name}]").select_option(value)
    page.get_by_role("button", name="Search").click()


def test_a_support_agent_follows_a_push_from_search_to_webhook(
        panel: Panel, page: Page, panel_user: Any, shots: Shots, stack: Stack) -> None:
    app = stack.app
    token = secrets.token_hex(32)
    word, external = f"code{secrets.randbelow(10**6):06d}", f"ticket-{secrets.token_hex(4)}"
    stack.sandbox.add_fault(gateway="apns", kind="unavailable", match=token[:16], times=1)
    dispatch_id = _send(panel, app, token, title="Sign-in", content=f"Your code {word}",
                        externalId=external)
    support = panel_user("support", app=app)
    panel.sign_in(page, support)

    for fields in ({"token": token}, {"external": external}, {"q": word},
                   {"token": token[:12], "token_match": "prefix"}):
        _search(page, panel, app, **fields)
        expect(page.locator("table.results tbody tr")).to_have_count(1)
        expect(page.get_by_role("link", name="Open")).to_have_attribute(
            "href", re.compile(dispatch_id))
    shots.take(page, "logs")

    dispatch_url = panel.url(f"/panel/apps/{app.app_key}/dispatches/{dispatch_id}")
    page.goto(dispatch_url)
    timeline = page.locator("#timeline")
    # The page was opened early: its script fills the timeline in as the story is written.
    expect(timeline).to_contain_text("Waiting to retry", timeout=30_000)
    expect(timeline).to_contain_text("Sent (gateway accepted)", timeout=30_000)
    expect(page.locator("#status")).to_have_text("sent")
    expect(timeline).to_contain_text("HTTP 503")
    page.reload()
    expect(page.get_by_role("heading", name="Payload sent to APNS")).to_be_visible()
    expect(page.locator("pre.payload")).to_contain_text(word)
    expect(page.get_by_role("button", name="Replay webhook")).to_have_count(0)  # support
    _search(page, panel, app, status="sent", external=external)
    expect(page.locator("table.results tbody tr")).to_have_count(1)

    developer = panel_user("developer", app=app)
    page.context.clear_cookies()
    panel.sign_in(page, developer)
    page.goto(dispatch_url)
    expect(page.locator("#timeline")).to_contain_text("Webhook attempt", timeout=30_000)
    page.reload()
    delivered = len(stack.receiver.bodies())
    page.get_by_role("button", name="Replay webhook").first.click()
    expect(page.get_by_role("status").first).to_contain_text("queued to be sent again")
    wait_for(lambda: len(stack.receiver.bodies()) > delivered, 30, "the replayed webhook")
    shots.take(page, "dispatch")


def test_another_apps_user_gets_404_and_the_other_pages_render(
        panel: Panel, page: Page, panel_user: Any, shots: Shots, stack: Stack) -> None:
    app = stack.app
    token = secrets.token_hex(32)
    dispatch_id = _send(panel, app, token, content="For app A only")
    outsider = panel_user("admin")  # admin of another app
    client = panel.session(outsider)
    for path in (f"dispatches/{dispatch_id}", f"dispatches/{dispatch_id}/timeline.json",
                 "logs", f"device?token={token}", "dashboard", "unfinished"):
        assert client.get(f"/panel/apps/{app.app_key}/{path}").status_code == 404, path
    own = client.get(f"/panel/apps/{outsider.app.app_key}/dispatches/{dispatch_id}")
    assert own.status_code == 404  # A's dispatch under B's own app: not found either
    refused = client.post(f"/panel/apps/{app.app_key}/dispatches/{dispatch_id}/resend",
                          data={"csrf_token": client.csrf})
    assert refused.status_code == 404
    client.close()

    admin = panel_user("admin", app=app)
    panel.sign_in(page, admin)
    base = f"/panel/apps/{app.app_key}"
    wait_for(lambda: _status(panel, app, dispatch_id) == "sent", 30, "the push to be sent")
    for name, path, heading in (
            ("dashboard", "dashboard", "Dashboard"), ("unfinished", "unfinished", "Unfinished"),
            ("device", f"device?token={token}", "Device"),
            ("test-push", "test-push", "Send a test push")):
        page.goto(panel.url(f"{base}/{path}"))
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        shots.take(page, name)
    page.goto(panel.url(f"{base}/dashboard"))
    expect(page.locator("svg[role=img] rect").first).to_be_attached()
    page.goto(panel.url(f"{base}/device?token={token}"))
    expect(page.get_by_role("link", name="sent")).to_have_attribute("href",
                                                                    re.compile(dispatch_id))
    # A failed dispatch (the sandbox answers 503 to every attempt at this token) resent by the
    # admin: a new dispatch, each page naming the other.
    failing = "05030503" + secrets.token_hex(28)
    failed_id = _send(panel, app, failing, content="Always unavailable")
    page.goto(panel.url(f"{base}/dispatches/{failed_id}"))
    expect(page.locator("#status")).to_have_text("failed", timeout=30_000)
    page.reload()
    page.get_by_role("button", name="Resend as a new dispatch").click()
    expect(page.get_by_role("status").first).to_contain_text("Resent")
    expect(page.get_by_role("row", name=re.compile("Resend of"))).to_contain_text(failed_id)
    assert failed_id not in page.url
    # A test push from the panel: its dispatch page follows it live to sent.
    page.goto(panel.url(f"{base}/test-push?token={token}"))
    page.get_by_role("button", name="Send test push").click()
    expect(page.get_by_role("status").first).to_contain_text("Test push accepted")
    expect(page.locator("#status")).to_have_text("sent", timeout=30_000)
    shots.take(page, "test-push-sent")


def _status(panel: Panel, app: root.TestApp, dispatch_id: str) -> str:
    rows = httpx.get(panel.url("/v2.1/push"), headers=app.headers(), timeout=10,
                     params={"limit": 50}).json()["data"]
    return next((str(r["status"]) for r in rows if r["dispatchId"] == dispatch_id), "")

