"""``/v2.1/webhooks`` through the real app in-process (real PostgreSQL)."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY
from standardwebhooks.webhooks import Webhook

from shared.statuses import EVENT_TYPES
from tests.workers.dlr.helpers import seed_dispatches

pytestmark = pytest.mark.asyncio


async def test_configure_show_once_rotate_and_delete(api, make_app, db):
    app = make_app()
    h = app.headers()
    assert (await api.get("/v2.1/webhooks", headers=h)).status_code == 404
    r = await api.put("/v2.1/webhooks", headers=h, json={
        "primaryUrl": "https://8.8.8.8/hook", "secondaryUrl": "https://8.8.4.4:8443/hook",
        "eventTypes": ["push.failed", "token.invalidated", "push.failed"]})
    assert r.status_code == 201, r.text
    created = r.json()["data"][0]
    assert created["secret"].startswith("whsec_")
    Webhook(created["secret"])  # a Standard Webhooks library accepts it
    assert created["eventTypes"] == ["push.failed", "token.invalidated"]

    r = await api.put("/v2.1/webhooks", headers=h, json={"primaryUrl": "https://8.8.8.8/v2"})
    assert r.status_code == 200 and "secret" not in r.json()["data"][0]
    shown = (await api.get("/v2.1/webhooks", headers=h)).json()["data"][0]
    assert shown["primaryUrl"] == "https://8.8.8.8/v2" and shown["secondaryUrl"] is None
    assert shown["eventTypes"] == list(EVENT_TYPES) and "secret" not in shown
    assert shown["signingSecrets"] == 1

    r = await api.post("/v2.1/webhooks/secret/rotate", headers=h, json={"overlapHours": 2})
    assert r.status_code == 200, r.text
    rotated = r.json()["data"][0]
    assert rotated["secret"] != created["secret"] and rotated["previousSecretValidUntil"]
    assert (await api.get("/v2.1/webhooks", headers=h)).json()["data"][0]["signingSecrets"] == 2
    r = await api.post("/v2.1/webhooks/secret/rotate", headers=h, json={"overlapHours": 0})
    assert (await api.get("/v2.1/webhooks", headers=h)).json()["data"][0]["signingSecrets"] == 1

    assert (await api.delete("/v2.1/webhooks", headers=h)).status_code == 200
    assert (await api.get("/v2.1/webhooks", headers=h)).status_code == 404
    r = await api.post("/v2.1/webhooks/secret/rotate", headers=h)
    assert r.status_code == 404


@pytest.mark.parametrize(("body", "parameter"), [
    ({"primaryUrl": "http://8.8.8.8/hook"}, "primaryUrl"),
    ({"primaryUrl": "https://127.0.0.1/hook"}, "primaryUrl"),
    ({"primaryUrl": "https://localhost/hook"}, "primaryUrl"),
    ({"secondaryUrl": "https://169.254.169.254/latest"}, "secondaryUrl"),
    ({"secondaryUrl": "https://10.0.0.8/x"}, "secondaryUrl"),
    ({"primaryUrl": 42}, "primaryUrl"),
    ({"eventTypes": ["push.bounced"]}, "eventTypes"),
    ({"eventTypes": []}, "eventTypes"),
    ({"color": "red"}, "color"),
])
async def test_bad_configurations_are_422(api, make_app, body, parameter):
    r = await api.put("/v2.1/webhooks", headers=make_app().headers(), json=body)
    assert r.status_code == 422, r.text
    assert [e["meta"]["parameter"] for e in r.json()["errors"]] == [parameter]


async def test_scope_json_and_overlap_errors(api, make_app):
    sender = make_app(scopes=("push:send",))
    assert (await api.get("/v2.1/webhooks", headers=sender.headers())).status_code == 403
    assert (await api.get("/v2.1/webhooks")).status_code == 401
    h = make_app().headers()
    r = await api.put("/v2.1/webhooks", headers=h, content=b"{nope")
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "INVALID_JSON"
    r = await api.put("/v2.1/webhooks", headers=h, json=["x"])
    assert r.status_code == 422
    await api.put("/v2.1/webhooks", headers=h, json={})
    for overlap in (-1, "1", 10_000, True):
        r = await api.post("/v2.1/webhooks/secret/rotate", headers=h,
                           json={"overlapHours": overlap})
        assert r.status_code == 422, overlap


async def test_deliveries_list_filter_and_replay(api, make_app, db):
    app, other = make_app(), make_app("other")
    h = app.headers()
    await api.put("/v2.1/webhooks", headers=h, json={"primaryUrl": "https://8.8.8.8/hook"})
    d1, d2 = seed_dispatches(db, app.app_id, 2)
    for d, state in ((d1, "dead"), (d2, "delivered")):
        db.execute(
            "INSERT INTO webhook_events (id, app_id, type, dispatch_id, message_id, payload,"
            " state, dead_at) VALUES (gen_random_uuid(), %s, 'push.sent', %s, %s, '{}', %s,"
            " CASE WHEN %s = 'dead' THEN now() END)",
            (app.app_id, d["dispatchId"], d["messageId"], state, state))
    db.execute("INSERT INTO webhook_attempts (event_id, app_id, at, url, status_code,"
               " latency_ms, error) SELECT id, app_id, now(), 'https://8.8.8.8/hook', 500, 12.5,"
               " 'HTTP 500' FROM webhook_events WHERE dispatch_id = %s", (d1["dispatchId"],))

    rows = (await api.get("/v2.1/webhooks/deliveries", headers=h)).json()["data"]
    assert sorted(r["state"] for r in rows) == ["dead", "delivered"]
    dead = (await api.get("/v2.1/webhooks/deliveries?state=dead", headers=h)).json()["data"]
    assert [r["dispatchId"] for r in dead] == [d1["dispatchId"]]
    assert dead[0]["attemptLog"][0]["statusCode"] == 500
    assert dead[0]["attemptLog"][0]["error"] == "HTTP 500"
    page = (await api.get("/v2.1/webhooks/deliveries?limit=1&offset=1", headers=h)).json()
    assert len(page["data"]) == 1
    r = await api.get("/v2.1/webhooks/deliveries?state=lost&limit=0&dispatchId=x", headers=h)
    assert r.status_code == 422 and len(r.json()["errors"]) == 3
    assert (await api.get("/v2.1/webhooks/deliveries",
                          headers=other.headers())).json()["data"] == []

    # Another app cannot replay it; a delivered event is not a dead letter; then one, then all.
    event_id = dead[0]["id"]
    replays = REGISTRY.get_sample_value("pushflow_webhook_replays_total") or 0.0
    r = await api.post(f"/v2.1/webhooks/deliveries/{event_id}/replay", headers=other.headers())
    assert r.status_code == 404
    r = await api.post("/v2.1/webhooks/deliveries/not-a-uuid/replay", headers=h)
    assert r.status_code == 404
    r = await api.post(f"/v2.1/webhooks/deliveries/{event_id}/replay", headers=h)
    assert r.status_code == 200 and r.json()["data"] == [{"replayed": 1}]
    state = db.execute("SELECT state FROM webhook_events WHERE id = %s", (event_id,)).fetchone()
    assert state == ("pending",)
    db.execute("UPDATE webhook_events SET state = 'dead' WHERE app_id = %s", (app.app_id,))
    r = await api.post("/v2.1/webhooks/deliveries/replay", headers=h)
    assert r.json()["data"] == [{"replayed": 2}]
    assert REGISTRY.get_sample_value("pushflow_webhook_replays_total") == replays + 3
