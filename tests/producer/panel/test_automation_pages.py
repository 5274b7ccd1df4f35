"""The automation pages in a real browser: a rule made in the panel (a bad template refused with
its reason), its dry run over the events already stored, enabled after it; an event posted
through the API seen on the events page with the message it caused, followed to its dispatch;
the rule's pushes found in the logs by its id. A support user sees no buttons and their POSTs are
refused; another app's user gets 404."""

from __future__ import annotations

import re
import secrets
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.conftest import TestApp
from tests.producer.conftest import ios_token
from tests.producer.panel.conftest import Panel, Shots


def _api(panel: Panel, app: TestApp, path: str, body: Any) -> dict[str, Any]:
    r = httpx.post(panel.url(path), headers=app.headers(), json=body, timeout=10)
    assert r.status_code in (200, 201), r.text
    return r.json()["data"][0]  # type: ignore[no-any-return]


def _event(panel: Panel, app: TestApp, name: str, user: str, **properties: Any
           ) -> dict[str, Any]:
    return _api(panel, app, "/v2.1/events", {"eventId": secrets.token_hex(8), "name": name,
                                              "userId": user, "properties": properties})


def _dry_run_value(page: Page, label: str) -> str:
    return page.locator("#dry-run-result").get_by_role("row", name=label).locator(
        "td").inner_text()


def _create_rule(page: Page, panel: Panel, app: TestApp, event: str, shots: Shots) -> str:
    page.goto(panel.url(f"/panel/apps/{app.app_key}/automations"))
    page.get_by_role("link", name="New rule").click()
    page.get_by_label("Name", exact=True).fill("Shipped")
    page.get_by_label("Event name (the trigger)").fill(event)
    page.get_by_label("Condition 1 property").fill("orderId")
    page.get_by_label("Condition 1 operator").select_option("exists")
    page.get_by_label("Condition 1 value (JSON or text)").fill("true")
    page.get_by_label("Title 1").fill("Order {{ properties.orderId }}")
    page.get_by_label("Content 1").fill("Shipped by {{ properties.carrier")
    page.get_by_label("Collapse key (template: later statuses replace the push)").fill(
        "order-{{ properties.orderId }}")
    page.get_by_role("button", name="Save rule").click()
    # A template that does not parse is refused, with the field and the reason.
    expect(page.get_by_role("alert")).to_contain_text("templates.en.content")
    shots.take(page, "refused")
    page.get_by_label("Content 1").fill("Shipped by {{ properties.carrier }}")
    page.get_by_role("button", name="Save rule").click()
    # The worst case (32 four-byte characters an id) is longer than an iOS title can be.
    expect(page.get_by_role("alert")).to_contain_text("exceeds 35 characters for iOS")
    page.get_by_label("Longest placeholder values", exact=False).fill(
        "properties.orderId=10\nproperties.carrier=20")
    page.get_by_role("button", name="Save rule").click()
    page.wait_for_url(re.compile(r".*/automations/[0-9a-f-]{36}\?saved=1$"))
    return page.url.rsplit("/", 1)[1].split("?")[0]


def test_a_rule_made_in_the_panel_dry_run_enabled_and_its_event_followed(
        panel: Panel, page: Page, panel_user: Any, shots: Shots) -> None:
    dev = panel_user("developer")
    app = dev.app
    event, user = f"order.shipped.{secrets.token_hex(3)}", "u-" + secrets.token_hex(4)
    _api(panel, app, "/v2.1/devices", {"token": ios_token(), "platform": "ios",
                                        "userId": user, "language": "en"})
    # History for the dry run: one event the conditions accept, one they refuse.
    _event(panel, app, event, user, orderId="A0", carrier="DHL")
    _event(panel, app, event, user, carrier="DHL")
    panel.sign_in(page, dev)
    rule_id = _create_rule(page, panel, app, event, shots)
    expect(page.get_by_text("disabled", exact=True)).to_be_visible()
    # The carrier is not guaranteed by the conditions: saved, with a warning.
    expect(page.get_by_role("status").filter(has_text="properties.carrier")).to_be_visible()
    assert _dry_run_value(page, "Events replayed") == "2"
    assert _dry_run_value(page, "Conditions held") == "1"
    assert _dry_run_value(page, "Pushes it would send") == "1"
    assert _dry_run_value(page, "Users") == "1"
    shots.take(page, "dry-run")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    shots.take(page, "dry-run-phone")
    page.set_viewport_size({"width": 1280, "height": 860})
    page.get_by_role("button", name="Enable rule").click()
    expect(page.get_by_text("enabled", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Disable rule")).to_be_visible()

    answer = _event(panel, app, event, user, orderId="A1", carrier="DHL")
    (fired,) = answer["rules"]
    assert fired["fired"] is True
    message_id = fired["messages"][0]["messageId"]
    page.goto(panel.url(f"/panel/apps/{app.app_key}/automations"))
    row = page.get_by_role("row").filter(has_text="Shipped")
    expect(row).to_contain_text("all of: orderId exists true")
    expect(row).not_to_contain_text("never")  # last fired
    shots.take(page, "rules")

    page.get_by_role("link", name="Events", exact=True).click()
    page.get_by_label("Event id").fill(answer["eventId"])
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("cell", name=re.compile("Shipped: fired"))).to_contain_text(
        message_id)
    shots.take(page, "events")
    page.get_by_role("link", name=re.compile("^Open dispatch ")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Dispatch")
    expect(page.locator("main")).to_contain_text("Order A1")
    shots.take(page, "dispatch")

    page.go_back()
    page.get_by_role("link", name=message_id).click()  # the message's dispatches in the logs
    expect(page.get_by_role("link", name="Open")).to_have_count(1)
    page.goto(panel.url(f"/panel/apps/{app.app_key}/automations/{rule_id}"))
    page.get_by_role("link", name="Its pushes in the logs").click()
    expect(page.get_by_label("Rule or campaign id")).to_have_value(rule_id)
    expect(page.get_by_role("row").filter(has_text="automation")).to_have_count(1)


def test_support_reads_and_other_apps_get_404(
        panel: Panel, page: Page, panel_user: Any, shots: Shots) -> None:
    dev = panel_user("developer")
    app = dev.app
    rule = _api(panel, app, "/v2.1/automations", {
        "name": "Welcome", "event": "user.signed_up", "enabled": False,
        "templates": {"en": {"content": "Welcome"}}, "defaultLanguage": "en"})
    rule_id = rule["ruleId"]
    support = panel_user("support", app=app)
    panel.sign_in(page, support)
    base = f"/panel/apps/{app.app_key}/automations"
    page.goto(panel.url(f"{base}/{rule_id}"))
    expect(page.get_by_role("heading", name="Welcome")).to_be_visible()
    for name in ("Enable rule", "Delete rule"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    expect(page.get_by_role("link", name="Edit rule")).to_have_count(0)
    page.goto(panel.url(base))
    expect(page.get_by_role("link", name="New rule")).to_have_count(0)
    shots.take(page, "support")
    client = panel.session_of(page)
    for path in (f"{base}/{rule_id}/enable", f"{base}/{rule_id}/delete", f"{base}/new",
                 f"{base}/{rule_id}/edit"):
        refused = client.post(path, data={"csrf_token": client.csrf, "name": "x"})
        assert refused.status_code == 403, (path, refused.status_code)
    assert client.get(f"{base}/new").status_code == 403
    assert client.get(f"{base}/{rule_id}").status_code == 200

    # The developer edits it (the form filled from the stored rule), and a rule with more than
    # the form holds is not offered for editing there.
    developer = panel.session(dev)
    form = developer.get(f"{base}/{rule_id}/edit")
    assert form.status_code == 200 and 'value="user.signed_up"' in form.text
    saved = developer.post(f"{base}/{rule_id}/edit", data={
        "csrf_token": developer.csrf, "name": "Welcome aboard", "event": "user.signed_up",
        "match": "all", "default_language": "en", "t0_language": "en", "t0_content": "Hi"})
    assert saved.status_code == 303, saved.text
    assert "Welcome aboard" in developer.get(f"{base}/{rule_id}").text
    nested = _api(panel, app, "/v2.1/automations", {
        "name": "Nested", "event": "user.signed_up", "enabled": False,
        "conditions": {"any": [{"all": [{"property": "a", "op": "exists", "value": True}]}]},
        "templates": {"en": {"content": "Welcome"}}, "defaultLanguage": "en"})
    assert developer.get(f"{base}/{nested['ruleId']}/edit").status_code == 409
    assert developer.get(f"{base}/{nested['ruleId']}").status_code == 200

    stranger = panel.session(panel_user("admin"))
    other = stranger.get("/panel/").text
    assert app.app_key not in other
    own = panel_user("admin", app=None)
    mine = panel.session(own)
    # Another app's rule under one's own app: not found, as is the other app itself.
    assert mine.get(f"/panel/apps/{own.app.app_key}/automations/{rule_id}").status_code == 404
    assert mine.post(f"/panel/apps/{own.app.app_key}/automations/{rule_id}/enable",
                     data={"csrf_token": mine.csrf}).status_code == 404
    assert mine.get(f"{base}/{rule_id}").status_code == 404
    assert mine.get(f"/panel/apps/{own.app.app_key}/events?before_at=nope").status_code == 422


def test_the_events_page_pages_by_keyset_and_filters(panel: Panel, panel_user: Any) -> None:
    support = panel_user("support")
    app, name = support.app, f"cart.left.{secrets.token_hex(3)}"
    ids = [f"e{i:03d}-{secrets.token_hex(3)}" for i in range(51)]
    r = httpx.post(panel.url("/v2.1/events"), headers=app.headers(), timeout=10, json=[
        {"eventId": i, "name": name, "userId": "u1"} for i in ids])
    assert r.status_code == 200, r.text
    _event(panel, app, "other.event", "u2")
    client = panel.session(support)
    base = f"/panel/apps/{app.app_key}/events"
    first = client.get(base, params={"name": name})
    assert first.status_code == 200
    shown = re.findall(r"(e\d{3}-[0-9a-f]{6})", first.text)
    older = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert older is not None and len(set(shown)) == 50 and "other.event" not in first.text
    second = client.get(older.group(1).replace("&amp;", "&"))
    rest = set(re.findall(r"(e\d{3}-[0-9a-f]{6})", second.text))
    assert len(rest) == 1 and rest.isdisjoint(shown) and rest | set(shown) == set(ids)
    by_user = client.get(base, params={"user": "u2"}).text
    assert "other.event" in by_user and name not in by_user
