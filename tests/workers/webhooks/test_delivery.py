"""End to end: results on ``dlr`` -> DLR worker -> webhook events -> sender subprocess -> a real
HTTP receiver, verified with the ``standardwebhooks`` package."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import psycopg
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from domain.webhooks import config as admin
from shared.settings import get_settings
from tests.workers.dlr.helpers import publish_results, result, seed_dispatches
from tests.workers.webhooks.conftest import configure_webhooks
from tests.workers.webhooks.receiver import Receiver
from workers.delivery.testing import wait_for

pytestmark = pytest.mark.usefixtures("dlr_worker", "webhook_sender")


def _state(db: psycopg.Connection[Any], app_id: int) -> dict[str, int]:
    rows = db.execute("SELECT state, count(*) FROM webhook_events WHERE app_id = %s"
                      " GROUP BY state", (app_id,)).fetchall()
    return {r[0]: int(r[1]) for r in rows}


def _attempts(db: psycopg.Connection[Any], app_id: int) -> list[tuple[str, int | None, str | None]]:
    rows = db.execute("SELECT url, status_code, error FROM webhook_attempts WHERE app_id = %s"
                      " ORDER BY id", (app_id,)).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def _run(coro: Any) -> Any:
    async def go() -> Any:
        async with await psycopg.AsyncConnection.connect(get_settings().database_url,
                                                         autocommit=True) as conn:
            return await coro(conn)
    return asyncio.run(go())


def test_every_event_type_arrives_signed_and_once(db, redis_client, make_app, receiver):
    app = make_app()
    secret = configure_webhooks(db, app.app_id, receiver.url)
    ok, dead = seed_dispatches(db, app.app_id, 2, external_id="order-42")
    now = time.time()
    batch = [result(ok, "sent", now, gatewayId="g-1", gatewayResponse={"status": 200}),
             result(ok, "delivered", now + 1), result(ok, "opened", now + 2),
             result(dead, "failed", now, reason="unregistered", invalidatedAt=now - 60,
                    gatewayResponse={"status": 410, "reason": "Unregistered"})]
    publish_results(redis_client, batch)
    publish_results(redis_client, batch)  # duplicates: nothing more may arrive
    wait_for(lambda: _state(db, app.app_id) == {"delivered": 5},
             timeout=20, what="5 delivered events",
             show=lambda: (_state(db, app.app_id), _attempts(db, app.app_id)))

    hook = Webhook(secret)
    bodies = []
    for r in receiver.received:
        bodies.append(hook.verify(r.body, r.headers))  # raises when the signature is wrong
    by_type = {b["type"]: b for b in bodies}
    assert sorted(by_type) == ["push.delivered", "push.failed", "push.opened", "push.sent",
                               "token.invalidated"]
    sent = by_type["push.sent"]["data"]
    assert sent == {"messageId": ok["messageId"], "dispatchId": ok["dispatchId"],
                    "externalId": "order-42", "deviceToken": ok["token"], "platform": "ios",
                    "status": "sent", "reason": None, "gatewayResponse": {"status": 200},
                    "attempts": 1, "source": "api", "sourceRef": None}
    assert by_type["push.failed"]["data"]["reason"] == "unregistered"
    assert by_type["token.invalidated"]["data"]["deviceToken"] == dead["token"]
    assert by_type["push.sent"]["timestamp"].endswith("Z")
    with pytest.raises(WebhookVerificationError):
        Webhook(configure_webhooks(db, make_app().app_id, None)).verify(
            receiver.received[0].body, receiver.received[0].headers)


def test_receiver_down_then_up_is_delivered_after_retries(db, redis_client, make_app):
    app = make_app()
    down = Receiver()  # not started: connections are refused
    configure_webhooks(db, app.app_id, down.url, events=("push.sent",))
    (d,) = seed_dispatches(db, app.app_id)
    publish_results(redis_client, [result(d, "sent")])
    wait_for(lambda: len(_attempts(db, app.app_id)) >= 2, timeout=20, what="failed attempts")
    down.status = lambda n: 503 if n == 1 else 200
    down.start()
    try:
        wait_for(lambda: _state(db, app.app_id) == {"delivered": 1}, timeout=20, what="delivery")
    finally:
        down.stop()
    log = _attempts(db, app.app_id)
    assert all((code, err) == (None, "connect_failed") for _, code, err in log[:-2])
    assert log[-2][1:] == (503, "HTTP 503") and log[-1][1:] == (200, None)


def test_primary_down_uses_secondary_and_message_url_overrides(db, redis_client, make_app,
                                                                receiver):
    app = make_app()
    other = Receiver().start()
    try:
        configure_webhooks(db, app.app_id, Receiver().url, receiver.url, events=("push.sent",))
        (d,) = seed_dispatches(db, app.app_id)
        (o,) = seed_dispatches(db, app.app_id, webhook_url=other.url)
        publish_results(redis_client, [result(d, "sent"), result(o, "sent")])
        wait_for(lambda: _state(db, app.app_id) == {"delivered": 2}, timeout=20, what="deliveries")
        assert [json.loads(b)["data"]["dispatchId"] for b in receiver.bodies()] == \
            [d["dispatchId"]]
        assert [json.loads(b)["data"]["dispatchId"] for b in other.bodies()] == [o["dispatchId"]]
        first, second = [a for a in _attempts(db, app.app_id) if a[0] != other.url]
        assert first[1] is None and first[2] and second == (receiver.url, 200, None)
    finally:
        other.stop()


def test_dead_letter_then_replay_one_and_all(db, redis_client, make_app):
    app = make_app()
    target = Receiver()
    configure_webhooks(db, app.app_id, target.url, events=("push.sent",))
    dispatches = seed_dispatches(db, app.app_id, 3)
    # The retry window started 30 hours ago: the next failure dead-letters.
    publish_results(redis_client, [result(x, "sent") for x in dispatches])
    wait_for(lambda: sum(_state(db, app.app_id).values()) == 3, timeout=20, what="events")
    db.execute("UPDATE webhook_events SET retry_from = now() - interval '30 hours'"
               " WHERE app_id = %s", (app.app_id,))
    wait_for(lambda: _state(db, app.app_id) == {"dead": 3}, timeout=20, what="dead letters")
    target.start()
    try:
        one = db.execute("SELECT id::text FROM webhook_events WHERE app_id = %s LIMIT 1",
                         (app.app_id,)).fetchone()
        assert one is not None
        assert _run(lambda c: admin.replay(c, app.app_id, one[0])) == 1
        wait_for(lambda: _state(db, app.app_id) == {"dead": 2, "delivered": 1},
                 timeout=20, what="one")
        assert _run(lambda c: admin.replay(c, make_app().app_id)) == 0  # other apps: nothing
        assert _run(lambda c: admin.replay(c, app.app_id)) == 2
        wait_for(lambda: _state(db, app.app_id) == {"delivered": 3},
                 timeout=20, what="all replayed")
        assert len(target.received) == 3
    finally:
        target.stop()


def test_rotation_signs_with_both_secrets_during_overlap(db, redis_client, make_app, receiver):
    app = make_app()
    old = configure_webhooks(db, app.app_id, receiver.url, events=("push.sent",))
    fernet = __import__("cryptography.fernet", fromlist=["Fernet"]).Fernet(
        get_settings().fernet_key())
    rotation = _run(lambda c: admin.rotate_secret(c, app.app_id, overlap_hours=1,
                                                  fernet=fernet))
    d1, d2 = seed_dispatches(db, app.app_id, 2)
    publish_results(redis_client, [result(d1, "sent")])
    wait_for(lambda: len(receiver.received) == 1, timeout=20, what="first webhook")
    first = receiver.received[0]
    assert len(first.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(first.body, first.headers)
    Webhook(rotation.secret).verify(first.body, first.headers)

    db.execute("UPDATE webhook_secrets SET expires_at = now() WHERE expires_at IS NOT NULL"
               " AND app_id = %s", (app.app_id,))  # the overlap ends
    publish_results(redis_client, [result(d2, "sent")])
    wait_for(lambda: len(receiver.received) == 2, timeout=20, what="second webhook")
    second = receiver.received[1]
    Webhook(rotation.secret).verify(second.body, second.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(second.body, second.headers)


def test_a_stuck_receiver_does_not_delay_another_app(db, redis_client, make_app, receiver):
    slow_app, fast_app = make_app("slow"), make_app("fast")
    gate = threading.Event()
    stuck = Receiver(gate=gate).start()
    try:
        configure_webhooks(db, slow_app.app_id, stuck.url, events=("push.sent",))
        configure_webhooks(db, fast_app.app_id, receiver.url, events=("push.sent",))
        slow = seed_dispatches(db, slow_app.app_id, 10)
        publish_results(redis_client, [result(x, "sent") for x in slow])
        wait_for(lambda: sum(_state(db, slow_app.app_id).values()) == 10,
                 timeout=20, what="slow events")
        (fast,) = seed_dispatches(db, fast_app.app_id)
        publish_results(redis_client, [result(fast, "sent")])
        wait_for(lambda: _state(db, fast_app.app_id) == {"delivered": 1},
                 timeout=20, what="fast app")
        assert _state(db, slow_app.app_id).get("delivered", 0) == 0  # still held at the gate
    finally:
        gate.set()
    wait_for(lambda: _state(db, slow_app.app_id) == {"delivered": 10},
             timeout=20, what="slow app drained")
    stuck.stop()
