"""The DLR worker (a real Celery subprocess) records results published onto ``dlr``."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest
import redis

from tests.workers.dlr.helpers import (
    dispatch_row,
    history,
    publish_results,
    result,
    seed_dispatches,
)
from workers.delivery.testing import wait_for

pytestmark = pytest.mark.usefixtures("dlr_worker")


def _subscribe(db: psycopg.Connection[Any], app_id: int) -> None:
    db.execute(
        "INSERT INTO webhook_endpoints (app_id, primary_url, event_types) VALUES"
        " (%s, 'https://hooks.example.invalid/x', %s)",
        (app_id, ["push.sent", "push.delivered", "push.opened", "push.failed",
                  "token.invalidated"]),
    )


def _events(db: psycopg.Connection[Any], dispatch_id: str) -> list[str]:
    rows = db.execute(
        "SELECT type FROM webhook_events WHERE dispatch_id = %s ORDER BY created_at, type",
        (dispatch_id,),
    ).fetchall()
    return [r[0] for r in rows]


def _settle(client: redis.Redis, db: psycopg.Connection[Any], marker: dict[str, Any]) -> None:
    """Publish a marker result last and wait for it: the single solo worker consumes in order,
    so everything published before has been processed when the marker is recorded."""
    publish_results(client, [result(marker, "sent")])
    wait_for(lambda: dispatch_row(db, marker["dispatchId"])["status"] == "sent",
             timeout=20, what="marker")


def test_statuses_move_forward_only_and_replays_change_nothing(db, redis_client, make_app):
    app = make_app()
    _subscribe(db, app.app_id)
    d, marker = seed_dispatches(db, app.app_id, 2)
    now = time.time()
    sent = result(d, "sent", now, gatewayId="apns-1", gatewayResponse={"status": 200})
    publish_results(redis_client, [sent])
    wait_for(lambda: dispatch_row(db, d["dispatchId"])["status"] == "sent", timeout=20, what="sent")

    # Out of order: opened arrives before delivered; then delivered, then the sent again.
    publish_results(redis_client, [result(d, "opened", now + 2)])
    publish_results(redis_client, [result(d, "delivered", now + 1)], [sent], [sent])
    _settle(redis_client, db, marker)

    row = dispatch_row(db, d["dispatchId"])
    assert row["status"] == "opened"
    assert row["gateway_id"] == "apns-1"
    assert history(db, d["dispatchId"]) == [("sent", None), ("opened", None)]
    assert _events(db, d["dispatchId"]) == ["push.sent", "push.opened"]


def test_one_batch_records_each_step_once_in_order(db, redis_client, make_app):
    app = make_app()
    d, marker = seed_dispatches(db, app.app_id, 2)
    now = time.time()
    batch = [result(d, "delivered", now), result(d, "sent", now), result(d, "delivered", now)]
    publish_results(redis_client, batch)
    _settle(redis_client, db, marker)
    assert history(db, d["dispatchId"]) == [("sent", None), ("delivered", None)]
    assert dispatch_row(db, d["dispatchId"])["status"] == "delivered"


def test_failed_is_final_for_the_send_side_but_a_receipt_still_moves_it(db, redis_client,
                                                                         make_app):
    app = make_app()
    d, marker = seed_dispatches(db, app.app_id, 2)
    now = time.time()
    publish_results(redis_client, [result(d, "failed", now, reason="retries_exhausted",
                                          attempts=8)])
    publish_results(redis_client, [result(d, "sent", now + 1)])
    _settle(redis_client, db, marker)
    row = dispatch_row(db, d["dispatchId"])
    assert (row["status"], row["reason"], row["attempts"]) == ("failed", "retries_exhausted", 8)

    publish_results(redis_client, [result(d, "delivered", now + 2)])
    wait_for(lambda: dispatch_row(db, d["dispatchId"])["status"] == "delivered",
             timeout=20, what="delivered")


def test_dead_token_invalidates_device_with_gateway_timestamp(db, redis_client, make_app):
    app = make_app()
    _subscribe(db, app.app_id)
    d_new, d_old, d_unknown, marker = seed_dispatches(db, app.app_id, 4)
    gateway_ts = time.time() - 3600
    # Registered AFTER the gateway's timestamp: must stay valid. Registered before: invalidated.
    db.execute("INSERT INTO devices (app_id, token, platform, registered_at) VALUES"
               " (%s, %s, 'ios', now()), (%s, %s, 'ios', now() - interval '2 hours')",
               (app.app_id, d_new["token"], app.app_id, d_old["token"]))
    batch = [result(x, "failed", reason="unregistered", invalidatedAt=gateway_ts,
                    gatewayResponse={"status": 410, "reason": "Unregistered"})
             for x in (d_new, d_old, d_unknown)]
    publish_results(redis_client, batch, batch)  # the replay must change nothing
    _settle(redis_client, db, marker)

    rows = dict(db.execute(
        "SELECT token, (invalidated_at IS NOT NULL AND invalidated_at > registered_at)"
        " FROM devices WHERE app_id = %s", (app.app_id,)).fetchall())
    assert rows == {d_new["token"]: False, d_old["token"]: True, d_unknown["token"]: True}
    inv = db.execute("SELECT extract(epoch FROM invalidated_at) FROM devices WHERE token = %s",
                     (d_old["token"],)).fetchone()
    assert inv is not None and abs(float(inv[0]) - gateway_ts) < 0.01
    assert _events(db, d_old["dispatchId"]) == ["push.failed", "token.invalidated"]
    assert _events(db, d_new["dispatchId"]) == ["push.failed"]


def test_auth_config_flags_the_app(db, redis_client, make_app):
    app = make_app()
    d, marker = seed_dispatches(db, app.app_id, 2)
    publish_results(redis_client, [result(d, "failed", reason="auth_config",
                                          gatewayResponse={"status": 403,
                                                           "reason": "InvalidProviderToken"})])
    _settle(redis_client, db, marker)
    row = db.execute("SELECT auth_error, auth_error_at FROM apps WHERE id = %s",
                     (app.app_id,)).fetchone()
    assert row is not None and row[0] == "InvalidProviderToken" and row[1] is not None


def test_bad_items_are_dropped_and_the_rest_recorded(db, redis_client, make_app):
    app = make_app()
    other = make_app("other")
    d, foreign, marker = seed_dispatches(db, app.app_id, 3)
    bad = [{"dispatchId": "not-a-uuid", "status": "sent", "appId": app.app_id, "at": 1},
           result(d, "failed", reason="no-such-reason"), "junk", None,
           {**result(foreign, "sent"), "appId": other.app_id}]  # another app's dispatch
    publish_results(redis_client, [*bad, result(d, "sent")])
    publish_results(redis_client, "not a list")  # type: ignore[arg-type]
    _settle(redis_client, db, marker)
    assert dispatch_row(db, d["dispatchId"])["status"] == "sent"
    assert dispatch_row(db, foreign["dispatchId"])["status"] == "queued"
