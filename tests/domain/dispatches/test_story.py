"""One dispatch's whole story (domain/dispatches/story.py): stages in time order with the time
spent in each, the payload rebuilt with the workers' encoders, the gateway's answers and the
webhook attempts. Real PostgreSQL; the end-to-end run against the sandbox is in
tests/producer/test_push_attempts.py."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import orjson
import psycopg
from psycopg.types.json import Jsonb

from domain.dispatches.story import dispatch_timeline, gateway_payload
from shared.gateway_payloads import apns_body, fcm_body
from shared.ids import new_id
from shared.jobs import MessageContent
from tests.workers.dlr.helpers import ios_token
from workers.dlr.recording import Recorder, record_results

CONTENT: MessageContent = {
    "title": "Your code", "content": "123456", "sound": "default", "badge": 1,
    "data": {"zz": "last", "orderId": "42", "a": "first"}}


def test_the_encoders_are_deterministic_whatever_the_key_order(
        db: psycopg.Connection[Any]) -> None:
    """The bytes depend on the content only: the same from the request's key order, from the
    reversed order, and from PostgreSQL's jsonb (which reorders keys), so the story rebuilds
    exactly what a worker sent on either path."""
    reversed_content: Any = {k: v for k, v in reversed(list(CONTENT.items()))}
    reversed_content["data"] = dict(reversed(list(CONTENT["data"].items())))
    [(stored,)] = db.execute("SELECT %s::jsonb", (Jsonb(CONTENT),)).fetchall()
    assert list(stored["data"]) != list(CONTENT["data"])  # jsonb did reorder them
    for variant in (reversed_content, stored):
        assert apns_body(variant) == apns_body(CONTENT)
        assert fcm_body(variant, "tok", 2_000_000_000, 1_900_000_000.0) == fcm_body(
            CONTENT, "tok", 2_000_000_000, 1_900_000_000.0)
    assert list(orjson.loads(apns_body(stored))) == ["a", "orderId", "zz", "aps"]


async def test_a_dispatch_story_in_stages(make_app: Any, db: psycopg.Connection[Any],
                                          aconn: psycopg.AsyncConnection[Any]) -> None:
    app, other = make_app(), make_app()
    message_id, dispatch_id, token = new_id(), new_id(), ios_token()
    [(t0,)] = db.execute("SELECT extract(epoch FROM now())::float8").fetchall()
    db.execute("INSERT INTO messages (id, app_id, external_id, content, created_at)"
               " VALUES (%s, %s, 'ext-9', %s, to_timestamp(%s))",
               (message_id, app.app_id, Jsonb(CONTENT), t0))
    db.execute("INSERT INTO dispatches (id, message_id, app_id, device_token, platform, status)"
               " VALUES (%s, %s, %s, %s, 'ios', 'queued')",
               (dispatch_id, message_id, app.app_id, token))
    db.execute("INSERT INTO dispatch_events (dispatch_id, status, at)"
               " VALUES (%s, 'queued', to_timestamp(%s))", (dispatch_id, t0 + 0.001))
    base = {"dispatchId": dispatch_id, "messageId": message_id, "appId": app.app_id,
            "token": token, "platform": "ios", "requestId": "r", "worker": "apns-h-1"}
    reports = [
        {**base, "status": "queued", "attempts": 1, "takenAt": t0 + 0.010, "at": t0 + 0.050,
         "latencyMs": 30.0, "retryAt": t0 + 2.0,
         "gatewayResponse": {"status": 503, "reason": "ServiceUnavailable"}},
        {**base, "status": "sent", "attempts": 2, "takenAt": t0 + 2.010, "at": t0 + 2.030,
         "latencyMs": 10.0, "gatewayId": dispatch_id, "gatewayResponse": {"status": 200}},
    ]
    recorder = Recorder()
    for report in reports:  # two DLR batches, as they would come
        record_results(recorder, [report])
    recorder.drop_connection()
    event_id = uuid.uuid4()
    db.execute("INSERT INTO webhook_events (id, app_id, type, dispatch_id, message_id, payload,"
               " state, attempts) VALUES (%s, %s, 'push.sent', %s, %s, '{}', 'delivered', 2)",
               (event_id, app.app_id, dispatch_id, message_id))
    for at, code, error in ((t0 + 2.5, 500, "HTTP 500"), (t0 + 4.5, 200, None)):
        db.execute("INSERT INTO webhook_attempts (event_id, app_id, at, url, status_code,"
                   " latency_ms, error) VALUES (%s, %s, to_timestamp(%s), 'https://r.example/h',"
                   " %s, 4.0, %s)", (event_id, app.app_id, at, code, error))

    story = await dispatch_timeline(aconn, app.app_id, uuid.UUID(dispatch_id))
    assert story is not None
    assert [s.kind for s in story.stages] == [
        "accepted", "queued", "taken", "attempt", "retry_wait", "taken", "attempt", "sent",
        "webhook", "webhook"]
    spent = [None if s.spent is None else round(s.spent / timedelta(milliseconds=1))
             for s in story.stages]
    assert spent == [1, 9, 10, 30, 1960, 10, 10, 470, 2000, None]
    retry_wait = story.stages[4]
    assert retry_wait.attempt is not None and retry_wait.attempt.gateway_reason == \
        "ServiceUnavailable"
    assert [w.webhook.status_code for w in story.stages[-2:] if w.webhook] == [500, 200]
    assert [(a.number, a.outcome, a.gateway_status) for a in story.dispatch.attempt_log] == [
        (1, "retried", 503), (2, "sent", 200)]
    [delivery] = story.dispatch.webhooks
    assert [a.status_code for a in delivery.attempt_log] == [500, 200]
    assert (story.external_id, story.content["data"]) == ("ext-9", CONTENT["data"])
    assert story.payload.gateway == "apns"
    assert story.payload.body == apns_body(CONTENT)
    assert story.payload.json["aps"] == {"alert": {"title": "Your code", "body": "123456"},
                                         "sound": "default", "badge": 1}
    assert await dispatch_timeline(aconn, other.app_id, uuid.UUID(dispatch_id)) is None
    assert await dispatch_timeline(aconn, app.app_id, uuid.uuid4()) is None


def test_the_fcm_payload_is_rebuilt_for_the_attempt_time() -> None:
    """FCM's ttl is relative: rebuilt as of the attempt's start, it is what the worker wrote
    then (workers/fcm/request.py calls the same fcm_body)."""
    from datetime import UTC, datetime

    sent_at = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)
    ttl = int(sent_at.timestamp()) + 3600
    payload = gateway_payload(CONTENT, "android", "fcm-token", ttl, sent_at)
    assert payload.gateway == "fcm" and payload.built_for == sent_at
    assert payload.json["message"]["android"]["ttl"] == "3600s"
    assert payload.json["message"]["token"] == "fcm-token"
    assert payload.body == fcm_body(CONTENT, "fcm-token", ttl, sent_at.timestamp())
