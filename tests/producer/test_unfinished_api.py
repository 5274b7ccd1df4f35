"""GET /v2.1/unfinished: queued dispatches past the threshold, due scheduled ones, dead and
failing webhook events; nothing final, nothing recent, nothing of another app."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg

from tests.producer.conftest import assert_envelope, error_codes, ios_token


async def _send(api: httpx.AsyncClient, app: Any, **fields: Any) -> str:
    response = await api.post("/v2.1/push", headers=app.headers(),
                              json={"device_tokens": [ios_token()], "content": "c", **fields})
    assert response.status_code == 202, response.text
    return str(response.json()["data"][0]["dispatches"][0]["dispatchId"])


def _age(db: psycopg.Connection[Any], dispatch_id: str, minutes: int) -> None:
    db.execute("UPDATE dispatches SET created_at = now() - make_interval(mins => %s)"
               " WHERE id = %s", (minutes, dispatch_id))


def _event(db: psycopg.Connection[Any], app_id: int, state: str, attempts: int,
           minutes: int) -> str:
    row = db.execute(
        "INSERT INTO webhook_events (id, app_id, type, payload, state, attempts, last_error,"
        " created_at, dead_at) VALUES (gen_random_uuid(), %s, 'push.sent', '{}', %s, %s,"
        " 'HTTP 500', now() - make_interval(mins => %s),"
        " CASE WHEN %s = 'dead' THEN now() END) RETURNING id::text",
        (app_id, state, attempts, minutes, state)).fetchone()
    assert row is not None
    return str(row[0])


async def test_the_report_lists_what_is_stuck(api: httpx.AsyncClient, make_app: Any,
                                              db: psycopg.Connection[Any]) -> None:
    app, other = make_app(platforms=("ios",)), make_app(platforms=("ios",))
    stuck, recent, done = await _send(api, app), await _send(api, app), await _send(api, app)
    for dispatch_id in (stuck, done):
        _age(db, dispatch_id, 30)
    db.execute("UPDATE dispatches SET status = 'sent' WHERE id = %s", (done,))
    _age(db, await _send(api, other), 30)  # another app's
    dead = _event(db, app.app_id, "dead", 9, 60)
    failing = _event(db, app.app_id, "pending", 2, 20)
    _event(db, app.app_id, "pending", 0, 20)  # never tried yet: not the receiver's fault
    _event(db, app.app_id, "delivered", 1, 20)

    response = await api.get("/v2.1/unfinished", params={"olderThan": 600},
                             headers=app.headers())
    assert response.status_code == 200, response.text
    (report,) = assert_envelope(response)["data"]
    assert report["olderThan"] == 600
    assert [d["dispatchId"] for d in report["dispatches"]] == [stuck]
    assert report["dispatches"][0]["status"] == "queued"
    assert [(w["eventId"], w["state"]) for w in report["webhooks"]] == [
        (dead, "dead"), (failing, "pending")]
    everything = (await api.get("/v2.1/unfinished", params={"olderThan": 0},
                                headers=app.headers())).json()["data"][0]
    assert {d["dispatchId"] for d in everything["dispatches"]} == {stuck, recent}


async def test_bad_parameters_are_refused(api: httpx.AsyncClient, make_app: Any) -> None:
    for params, name in (({"olderThan": "-1"}, "olderThan"), ({"limit": "0"}, "limit"),
                         ({"olderThan": str(10**9)}, "olderThan")):
        response = await api.get("/v2.1/unfinished", params=params,
                                 headers=make_app().headers())
        assert response.status_code == 422
        assert error_codes(assert_envelope(response)) == [("INVALID_FORMAT", name)]
