"""Making a campaign in the panel, in a real browser: the form refused twice (a throughput out of
range, then a title the app's limits refuse), each error next to its field with the values
kept, then created; the campaign's page takes a CSV file with bad, duplicate and dead lines and
an NDJSON file, shows what each held and the launch plan; a support user sees neither the
link nor the upload form, and is refused both. A campaign of registered devices, made through
the form with its filters and a canary, takes the matching devices and offers no upload."""

from __future__ import annotations

import re
from typing import Any

import httpx
import orjson
import psycopg
from playwright.sync_api import Page, expect

from tests.producer.panel.conftest import Panel, Shots
from tests.producer.test_campaigns_api import mark_dead
from workers.delivery.testing import apns_token, fcm_token


def _count(page: Page, name: str) -> Any:
    """The upload report's row ``name`` (not the Excluded row, whose name holds the words)."""
    return page.get_by_role("main").get_by_role("row", name=re.compile(f"^{re.escape(name)} "))


def test_a_campaign_is_made_and_given_its_audience_in_the_panel(
        panel: Panel, page: Page, panel_user: Any, shots: Shots,
        db: psycopg.Connection[Any]) -> None:
    admin = panel_user("admin")
    base = f"/panel/apps/{admin.app.app_key}/"
    panel.sign_in(page, admin)
    page.goto(panel.url(base + "campaigns"))
    page.get_by_role("link", name="New campaign").click()
    page.wait_for_url("**/campaigns/new")
    page.get_by_label("Name").fill("winter-sale")
    page.get_by_label("Title").fill("Sale " * 20)
    page.get_by_label("Text", exact=True).fill("Everything -20 %")
    page.get_by_label("Sends per minute (per gateway)").fill("0")
    page.get_by_role("button", name="Create campaign").click()

    # The throughput first (the body's own rule), shown under its field; the values kept.
    expect(page.locator("#per_minute-error")).to_contain_text("'perMinute' must be greater")
    expect(page.get_by_label("Name")).to_have_value("winter-sale")
    expect(page.get_by_label("Text", exact=True)).to_have_value("Everything -20 %")
    page.get_by_label("Sends per minute (per gateway)").fill("600")
    page.get_by_role("button", name="Create campaign").click()
    # Then the title, which the app's limits refuse (the push's own check, as the API's).
    expect(page.locator("#title-error")).to_contain_text("'title' exceeds")
    expect(page.locator("#per_minute-error")).to_have_count(0)
    shots.take(page, "form-error")
    page.get_by_label("Title").fill("Sale")
    page.get_by_role("button", name="Create campaign").click()
    page.wait_for_url("**/campaigns/*?created=1")
    main = page.get_by_role("main")
    expect(main.get_by_role("status")).to_have_text("Campaign created as a draft.")
    expect(main.locator(".badge").first).to_have_text("draft")

    ios, dead = apns_token(), apns_token()
    mark_dead(db, admin.app.app_id, dead, "ios")
    lines = ["token,platform", ios, fcm_token(), ios, "not-a-token!", dead, apns_token()]
    page.get_by_label("Token file").set_input_files(files=[{
        "name": "tokens.csv", "mimeType": "text/csv", "buffer": "\n".join(lines).encode()}])
    page.get_by_role("button", name="Upload").click()
    expect(main.get_by_role("status")).to_have_text("tokens.csv: 3 recipients added.")
    expect(_count(page, "Accepted")).to_contain_text("3")
    expect(_count(page, "Invalid")).to_contain_text("1")
    expect(_count(page, "Duplicate")).to_contain_text("1")
    expect(_count(page, "Dead (a gateway reported them invalid)")).to_contain_text("1")
    expect(main.get_by_role("row", name="Audience after exclusions")).to_contain_text(
        "3 (ios 2, android 1)")
    shots.take(page, "uploaded")

    ndjson = orjson.dumps({"token": fcm_token(), "platform": "android", "language": "fr"})
    page.get_by_label("Token file").set_input_files(files=[{
        "name": "more.ndjson", "mimeType": "application/octet-stream", "buffer": ndjson}])
    page.get_by_role("button", name="Upload").click()
    expect(main.get_by_role("status")).to_have_text("more.ndjson: 1 recipients added.")
    expect(main.get_by_role("row", name="Audience after exclusions")).to_contain_text(
        "4 (ios 2, android 2)")
    campaign_path = page.url[len(panel.base_url):].split("/audience")[0]

    # Once started, no more files: the form is gone and a post is refused by the domain.
    main.get_by_role("button", name="Start", exact=True).click()
    expect(main.locator(".badge").first).to_have_text("running")
    expect(page.get_by_label("Token file")).to_have_count(0)
    http = panel.session_of(page)
    late = http.post(campaign_path + "/audience", data={"csrf_token": http.csrf},
                     files={"file": ("late.csv", apns_token().encode(), "text/csv")})
    assert late.status_code == 409, late.status_code

    support = panel.session(panel_user("support", app=admin.app))
    assert "New campaign" not in support.get(base + "campaigns").text
    assert support.get(base + "campaigns/new").status_code == 403
    refused = support.post(base + "campaigns/new", data={"csrf_token": support.csrf,
                                                          "name": "x"})
    assert refused.status_code == 403


def test_a_devices_campaign_takes_its_devices_and_no_file(
        panel: Panel, page: Page, panel_user: Any) -> None:
    admin = panel_user("developer")
    with httpx.Client(base_url=panel.base_url, headers=admin.app.headers(), timeout=10) as api:
        for tags, language in ((["vip"], "fr-CA"), (["vip"], "de"), (["other"], "fr")):
            answer = api.post("/v2.1/devices", json={
                "token": apns_token(), "platform": "ios", "tags": tags, "language": language})
            assert answer.status_code == 201, answer.text
    panel.sign_in(page, admin)
    page.goto(panel.url(f"/panel/apps/{admin.app.app_key}/campaigns/new"))
    page.get_by_label("Name").fill("vip-fr")
    page.get_by_label("Text", exact=True).fill("Bonjour")
    page.get_by_label("Other languages").fill('{"fr": {"content": "Bonjour"}, "de": "Hallo"}')
    page.get_by_label("Registered devices").check()
    page.get_by_label("Tags").fill("vip")
    page.get_by_label("Device languages").fill("fr")
    page.get_by_label("Canary percent of the audience").fill("5")
    page.get_by_label("Halt above this failure rate").fill("0.1")
    page.get_by_role("button", name="Create campaign").click()
    # A language's content that is no object: under the languages field, the rest kept.
    expect(page.locator("#languages-error")).to_contain_text("languages.de")
    expect(page.get_by_label("Registered devices")).to_be_checked()
    expect(page.get_by_label("Tags")).to_have_value("vip")
    page.get_by_label("Other languages").fill('{"fr": {"content": "Bonjour"}}')
    page.get_by_role("button", name="Create campaign").click()
    page.wait_for_url("**/campaigns/*?created=1")
    main = page.get_by_role("main")
    expect(main.get_by_role("row", name="Audience after exclusions")).to_contain_text(
        "1 (ios 1, android 0)")
    expect(page.get_by_label("Token file")).to_have_count(0)
