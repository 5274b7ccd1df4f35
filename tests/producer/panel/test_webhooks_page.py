"""The Webhooks page in a real browser: a URL saved (the signing secret shown once), the secret
rotated (a new one shown once, both signing during the overlap), a dead letter replayed, then
all of them; the configuration deleted by a developer, never by support."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from tests.producer.panel.conftest import Panel, Shots


def _dead_letter(db: Any, app_id: int) -> str:
    row = db.execute(
        "INSERT INTO webhook_events (id, app_id, type, payload, state, dead_at, attempts,"
        " last_error) VALUES (gen_random_uuid(), %s, 'push.sent', '{}', 'dead', now(), 8,"
        " 'receiver answered 500') RETURNING id::text", (app_id,)).fetchone()
    return str(row[0])


def _state(db: Any, event_id: str) -> str:
    return str(db.execute("SELECT state FROM webhook_events WHERE id = %s",
                          (event_id,)).fetchone()[0])


def _configured(db: Any, app_id: int) -> tuple[int, int]:
    """(endpoint rows, secret rows) of the app."""
    row = db.execute("SELECT (SELECT count(*) FROM webhook_endpoints WHERE app_id = %s),"
                     " (SELECT count(*) FROM webhook_secrets WHERE app_id = %s)",
                     (app_id, app_id)).fetchone()
    return int(row[0]), int(row[1])


def test_webhooks_saved_rotated_and_dead_letters_replayed(
        panel: Panel, page: Page, panel_user: Any, shots: Shots, db: Any) -> None:
    dev = panel_user("developer")
    panel.sign_in(page, dev)
    page.goto(panel.url(f"/panel/apps/{dev.app.app_key}/webhooks"))
    page.get_by_label("Primary URL").fill("http://127.0.0.1/hook")
    page.get_by_role("button", name="Save webhooks").click()
    expect(page.get_by_role("alert")).to_contain_text("Not saved")
    page.get_by_label("Primary URL").fill("https://8.8.8.8/hook")
    page.get_by_label("push.failed").check()
    page.get_by_role("button", name="Save webhooks").click()
    first = page.get_by_label("Secret").input_value()
    assert first.startswith("whsec_")
    page.get_by_role("button", name="Rotate secret").click()
    second = page.get_by_label("Secret").input_value()
    assert second.startswith("whsec_") and second != first
    expect(page.get_by_text("Live signing secrets: 2")).to_be_visible()
    assert first not in page.content()

    one, other = _dead_letter(db, dev.app.app_id), _dead_letter(db, dev.app.app_id)
    page.reload()
    expect(page.get_by_role("button", name=f"Replay delivery {one}")).to_be_visible()
    shots.take(page, "webhooks")
    page.get_by_role("button", name=f"Replay delivery {one}").click()
    expect(page.get_by_role("status")).to_have_text("1 delivery(ies) queued again.")
    assert (_state(db, one), _state(db, other)) == ("pending", "dead")
    page.get_by_role("button", name="Replay all dead letters").click()
    expect(page.get_by_role("status")).to_have_text("1 delivery(ies) queued again.")
    assert _state(db, other) == "pending"

    # Support sees the configuration without the button, and its POST is refused.
    support = panel.session(panel_user("support", app=dev.app))
    url = f"/panel/apps/{dev.app.app_key}/webhooks"
    assert "https://8.8.8.8/hook" in support.get(url).text
    assert "Delete webhooks" not in support.get(url).text
    before = _configured(db, dev.app.app_id)
    assert before[0] == 1 and before[1] >= 2
    refused = support.post(url + "/delete", data={"csrf_token": support.csrf})
    assert refused.status_code == 403
    assert _configured(db, dev.app.app_id) == before

    page.get_by_role("button", name="Delete webhooks").click()
    expect(page.get_by_role("status")).to_have_text("Webhooks deleted.")
    expect(page.get_by_label("Primary URL")).to_have_value("")
    expect(page.get_by_role("button", name="Delete webhooks")).to_have_count(0)
    assert _configured(db, dev.app.app_id) == (0, 0)
    shots.take(page, "webhooks-deleted")
    mine = panel.session_of(page)
    assert mine.post(url + "/delete", data={"csrf_token": mine.csrf}).status_code == 404
