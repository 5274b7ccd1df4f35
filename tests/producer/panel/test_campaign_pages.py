"""The campaign pages in a real browser: a campaign created and given an audience file through
the API (with a bad and a duplicate line) is listed with its state, and its page shows the
ledger's counts and the exclusions; a support user sees the same pages with nothing to press;
another app's user gets 404 for its URL; the page is usable at a phone's width."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.producer.panel.conftest import Panel, Shots
from workers.delivery.testing import apns_token, fcm_token


def _campaign(panel: Panel, app: Any) -> str:
    with httpx.Client(base_url=panel.base_url, headers=app.headers(), timeout=10) as api:
        created = api.post("/v2.1/campaigns", json={
            "name": "spring-sale", "content": {"title": "Sale", "content": "50 % off"},
            "audience": {"kind": "upload"}, "perMinute": 600})
        assert created.status_code == 201, created.text
        campaign_id: str = created.json()["data"][0]["id"]
        ios = apns_token()
        lines = [ios, fcm_token(), ios, "not-a-token!", apns_token()]
        uploaded = api.post(f"/v2.1/campaigns/{campaign_id}/audience",
                            content="\n".join(lines).encode(),
                            headers={"Content-Type": "text/csv"})
        assert uploaded.status_code == 200, uploaded.text
    return campaign_id


def test_the_campaign_list_and_page_show_its_state_and_counts(
        panel: Panel, page: Page, panel_user: Any, shots: Shots) -> None:
    admin = panel_user("admin")
    campaign_id = _campaign(panel, admin.app)
    panel.sign_in(page, admin)
    base = f"/panel/apps/{admin.app.app_key}/"
    page.goto(panel.url(base + "dashboard"))
    page.get_by_role("link", name="Campaigns").first.click()
    row = page.get_by_role("row").filter(has_text="spring-sale")
    expect(row).to_contain_text("draft")
    expect(row).to_contain_text("0 of 3 final")
    shots.take(page, "campaigns")
    row.get_by_role("link", name="Open").click()
    page.wait_for_url(f"**/campaigns/{campaign_id}")
    main = page.get_by_role("main")
    expect(main.get_by_role("row", name="Total")).to_contain_text("3")
    expect(main.get_by_role("row", name="Pending")).to_contain_text("3")
    excluded = main.get_by_role("row", name="Excluded")
    expect(excluded).to_contain_text("invalid 1")
    expect(excluded).to_contain_text("duplicate 1")
    link = main.get_by_role("link", name="Campaign dispatches in the logs")
    assert link.get_attribute("href") == base + "logs?source=campaign"
    shots.take(page, "campaign")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(main.get_by_role("row", name="Total")).to_be_visible()
    shots.take(page, "campaign-phone")
    page.set_viewport_size({"width": 1280, "height": 860})

    # Support: the same pages, and nothing to press in them (the layout's own forms aside);
    # the actions' POSTs are refused even with the session's CSRF token.
    support = panel_user("support", app=admin.app)
    http = panel.session(support)
    answer = http.get(base + f"campaigns/{campaign_id}")
    assert answer.status_code == 200 and "spring-sale" in answer.text
    main_html = answer.text[answer.text.index("<main"):answer.text.index("</main>")]
    assert "<button" not in main_html and "<form" not in main_html
    for name in ("start", "pause", "cancel"):
        refused = http.post(base + f"campaigns/{campaign_id}/{name}",
                            data={"csrf_token": http.csrf})
        assert refused.status_code == 403, (name, refused.status_code)

    # The admin: the launch plan, then start, pause, resume and cancel through the buttons
    # (no pacer runs here: the campaign stays running with its recipients pending).
    plan = main.get_by_role("row", name="Audience after exclusions")
    expect(plan).to_contain_text("3 (ios 2, android 1)")
    for button, state in (("Start", "running"), ("Pause", "paused"), ("Resume", "running"),
                          ("Cancel", "canceled")):
        main.get_by_role("button", name=button, exact=True).click()
        expect(main.locator(".badge").first).to_have_text(state)
        if state == "paused":
            shots.take(page, "campaign-paused")
    expect(main.get_by_role("button")).to_have_count(0)  # nothing applies to a canceled one
    expect(main.get_by_role("row", name="Canceled")).to_contain_text("3")

    # Another app's user: 404 for this campaign's URL, and for an id that is no campaign.
    other = panel.session(panel_user("admin", name="other"))
    other_base = f"/panel/apps/{other_app_key(other)}/"
    assert other.get(other_base + f"campaigns/{campaign_id}").status_code == 404
    assert http.get(base + f"campaigns/{secrets.token_hex(4)}").status_code == 404
    assert other.get(base + f"campaigns/{campaign_id}").status_code == 404


def other_app_key(client: httpx.Client) -> str:
    """The app key the signed-in user's home page leads to."""
    home = client.get("/panel/")
    marker = "/panel/apps/"
    start = home.text.index(marker) + len(marker)
    return home.text[start:home.text.index("/", start)]
