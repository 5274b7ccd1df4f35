"""``POST /v2.1/push/receipts`` through the real app in-process (real PostgreSQL)."""

from __future__ import annotations

import json

import pytest

from tests.workers.dlr.helpers import dispatch_row, history, seed_dispatches

pytestmark = pytest.mark.asyncio

URL = "/v2.1/push/receipts"


def _subscribe(db, app_id):
    db.execute("INSERT INTO webhook_endpoints (app_id, primary_url, event_types) VALUES"
               " (%s, 'https://8.8.8.8/hook', %s)", (app_id, ["push.delivered", "push.opened"]))


def _event_types(db, dispatch_id):
    rows = db.execute("SELECT type, payload FROM webhook_events WHERE dispatch_id = %s"
                      " ORDER BY type", (dispatch_id,)).fetchall()
    return [(t, p["data"]["status"]) for t, p in rows]


async def test_receipts_move_forward_fire_webhooks_and_replays_change_nothing(api, make_app, db):
    app = make_app(scopes=("receipts:write",))
    _subscribe(db, app.app_id)
    (d,) = seed_dispatches(db, app.app_id)
    db.execute("UPDATE dispatches SET status = 'sent' WHERE id = %s", (d["dispatchId"],))
    r = await api.post(URL, headers=app.headers(), json={
        "dispatchId": d["dispatchId"], "event": "opened", "at": "2026-11-27T07:00:00Z"})
    assert r.status_code == 200, r.text
    assert r.json()["data"] == [{"dispatchId": d["dispatchId"], "event": "opened",
                                 "status": "opened", "changed": True}]
    # A late "delivered" and the same "opened" again: nothing moves back, nothing repeats.
    r = await api.post(URL, headers=app.headers(), json=[
        {"dispatchId": d["dispatchId"], "event": "delivered"},
        {"dispatchId": d["dispatchId"], "event": "opened"}])
    assert r.status_code == 200
    assert [x["changed"] for x in r.json()["data"]] == [False, False]
    assert dispatch_row(db, d["dispatchId"])["status"] == "opened"
    assert history(db, d["dispatchId"]) == [("opened", None)]
    assert _event_types(db, d["dispatchId"]) == [("push.opened", "opened")]


async def test_a_list_records_both_steps(api, make_app, db):
    app = make_app(scopes=("receipts:write",))
    _subscribe(db, app.app_id)
    (d,) = seed_dispatches(db, app.app_id)
    r = await api.post(URL, headers=app.headers(), json=[
        {"dispatchId": d["dispatchId"], "event": "opened"},
        {"dispatchId": d["dispatchId"], "event": "delivered"}])
    assert r.status_code == 200
    assert history(db, d["dispatchId"]) == [("delivered", None), ("opened", None)]
    assert _event_types(db, d["dispatchId"]) == [("push.delivered", "delivered"),
                                                 ("push.opened", "opened")]


async def test_bad_and_foreign_items_get_per_item_errors(api, make_app, db):
    app, other = make_app(scopes=("receipts:write",)), make_app("other")
    (mine,) = seed_dispatches(db, app.app_id)
    (theirs,) = seed_dispatches(db, other.app_id)
    r = await api.post(URL, headers=app.headers(), json=[
        {"dispatchId": mine["dispatchId"], "event": "delivered"},
        {"dispatchId": theirs["dispatchId"], "event": "delivered"},
        {"dispatchId": "nope", "event": "clicked", "at": "yesterday"},
        {"event": "opened"}, "junk",
        {"dispatchId": mine["dispatchId"], "event": "opened", "at": 5}])
    assert r.status_code == 200, r.text
    body = r.json()
    assert [x["dispatchId"] for x in body["data"]] == [mine["dispatchId"]]
    got = sorted((e["meta"]["parameter"], e["code"]) for e in body["errors"])
    assert got == [("[1].dispatchId", "NOT_FOUND"), ("[2].at", "INVALID_FORMAT"),
                   ("[2].dispatchId", "INVALID_FORMAT"), ("[2].event", "INVALID_FORMAT"),
                   ("[3].dispatchId", "REQUIRED"), ("[4].", "INVALID_FORMAT"),
                   ("[5].at", "INVALID_FORMAT")]
    assert dispatch_row(db, theirs["dispatchId"])["status"] == "queued"


@pytest.mark.parametrize(("body", "status"), [
    ({"dispatchId": "00000000-0000-7000-8000-000000000000", "event": "opened"}, 404),
    ({"dispatchId": 1, "event": "opened"}, 422),
    ([], 422), ([{}] * 1001, 422), ("text", 422), (None, 422), ({}, 422),
])
async def test_nothing_recorded_is_4xx(api, make_app, body, status):
    r = await api.post(URL, headers=make_app(scopes=("receipts:write",)).headers(),
                       content=json.dumps(body))
    assert r.status_code == status, r.text
    assert r.json()["errors"]


async def test_receipts_need_their_scope_and_json(api, make_app):
    r = await api.post(URL, headers=make_app(scopes=("push:send",)).headers(), json={})
    assert r.status_code == 403
    r = await api.post(URL, headers=make_app().headers(), content=b"[{")
    assert r.status_code == 400
