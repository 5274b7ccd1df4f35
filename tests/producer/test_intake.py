"""POST /v2.1/push: stored before the 202, one Celery task per token on the right queue,
partial success, platform detection, invalidated tokens, scheduled sends."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import redis

from producer.outbox import sweep_once
from producer.state import AppState
from shared import queues
from tests.producer.conftest import (
    android_token,
    assert_envelope,
    drain,
    error_codes,
    ios_token,
)


async def test_accepted_push_is_stored_and_queued_per_token(
    api: httpx.AsyncClient, make_app: Any, clean_queues: redis.Redis[bytes],
    db: psycopg.Connection[Any],
) -> None:
    app = make_app()
    ios, android = ios_token(), android_token()
    ttl = int(time.time()) + 3600
    body = {"device_tokens": [ios, android], "title": "Code", "content": "123456 is your code",
            "data": {"orderId": "42"}, "priority": "normal", "ttl": ttl, "badge": 2,
            "collapseKey": "otp", "externalId": "order-42", "sound": "default",
            "webhookUrl": "https://hooks.example.com/dlr"}
    response = await api.post("/v2.1/push", json=body, headers=app.headers())
    assert response.status_code == 202, response.text
    answer = assert_envelope(response)
    assert answer["errors"] == []
    (item,) = answer["data"]
    assert item["externalId"] == "order-42"
    by_token = {d["deviceToken"]: d for d in item["dispatches"]}
    assert by_token[ios]["platform"] == "ios" and by_token[android]["platform"] == "android"
    assert {d["status"] for d in item["dispatches"]} == {"queued"}

    # Stored: message, dispatches, first status event.
    row = db.execute("SELECT app_id, external_id, webhook_url, extract(epoch FROM ttl)::bigint,"
                     " content FROM messages WHERE id = %s", (item["messageId"],)).fetchone()
    assert row is not None
    assert row[:4] == (app.app_id, "order-42", "https://hooks.example.com/dlr", ttl)
    assert row[4]["data"] == {"orderId": "42"} and row[4]["collapseKey"] == "otp"
    dispatches = db.execute(
        "SELECT id::text, device_token, platform, status, lane FROM dispatches"
        " WHERE message_id = %s", (item["messageId"],)).fetchall()
    assert {(r[0], r[1], r[2], r[3], r[4]) for r in dispatches} == {
        (d["dispatchId"], d["deviceToken"], d["platform"], "queued", "tx")
        for d in item["dispatches"]}
    events = db.execute("SELECT dispatch_id::text, status FROM dispatch_events"
                        " WHERE dispatch_id = ANY(%s::uuid[])",
                        ([d["dispatchId"] for d in item["dispatches"]],)).fetchall()
    assert sorted(events) == sorted((d["dispatchId"], "queued") for d in item["dispatches"])

    # Queued: one Celery task per token, on the platform's transactional queue.
    for platform, queue, task in (("ios", queues.APNS_TX, queues.TASK_SEND_APNS),
                                  ("android", queues.FCM_TX, queues.TASK_SEND_FCM)):
        (published,) = drain(clean_queues, queue)
        name, args, headers = published
        job = args[0]
        dispatch = by_token[ios if platform == "ios" else android]
        assert name == task
        assert headers["id"] == dispatch["dispatchId"]
        assert job["dispatchId"] == dispatch["dispatchId"]
        assert job["messageId"] == item["messageId"] and job["appId"] == app.app_id
        assert job["platform"] == platform and job["lane"] == "tx" and job["attempt"] == 1
        assert job["ttl"] == ttl
        assert job["message"]["content"] == "123456 is your code"
        assert job["requestId"] == answer["meta"]["uniqId"]


async def test_partial_success_lists_bad_tokens(
    api: httpx.AsyncClient, make_app: Any, clean_queues: redis.Redis[bytes]
) -> None:
    good = ios_token()
    body = {"device_tokens": ["nope", good, "also bad!"], "content": "hi"}
    response = await api.post("/v2.1/push", json=body, headers=make_app().headers())
    assert response.status_code == 202
    answer = assert_envelope(response)
    assert [d["deviceToken"] for d in answer["data"][0]["dispatches"]] == [good]
    assert error_codes(answer) == [("INVALID_DEVICE_TOKEN", "device_tokens[0]"),
                                   ("INVALID_DEVICE_TOKEN", "device_tokens[2]")]
    assert len(drain(clean_queues, queues.APNS_TX)) == 1


async def test_all_tokens_bad_is_422_and_nothing_stored(
    api: httpx.AsyncClient, make_app: Any, clean_queues: redis.Redis[bytes],
    db: psycopg.Connection[Any],
) -> None:
    app = make_app()
    response = await api.post("/v2.1/push", json={"device_tokens": ["x", "y"], "content": "c"},
                              headers=app.headers())
    assert response.status_code == 422
    assert [c for c, _ in error_codes(assert_envelope(response))] == ["INVALID_DEVICE_TOKEN"] * 2
    assert db.execute("SELECT count(*) FROM messages WHERE app_id = %s",
                      (app.app_id,)).fetchone() == (0,)


async def test_platform_hint_for_tokens_of_no_known_shape(
    api: httpx.AsyncClient, make_app: Any, clean_queues: redis.Redis[bytes]
) -> None:
    odd_android = "x" * 40  # not an FCM shape, acceptable once the platform is named
    ios = ios_token()
    response = await api.post("/v2.1/push", json={
        "device_tokens": [odd_android, ios], "content": "c", "platform": "android"},
        headers=make_app().headers())
    assert response.status_code == 202, response.text
    platforms = {d["deviceToken"]: d["platform"]
                 for d in response.json()["data"][0]["dispatches"]}
    # The hint only decides for tokens of no known shape: 64 hex stays iOS.
    assert platforms == {odd_android: "android", ios: "ios"}


async def test_registered_device_decides_the_platform(
    api: httpx.AsyncClient, make_app: Any, clean_queues: redis.Redis[bytes],
    db: psycopg.Connection[Any],
) -> None:
    app = make_app()
    hexlike = ios_token()  # looks like APNs, but the app registered it as an Android device
    custom = "device-" + "z" * 30  # no known shape, registered as iOS
    db.execute("INSERT INTO devices (app_id, token, platform) VALUES (%s, %s, 'android'),"
               " (%s, %s, 'ios')", (app.app_id, hexlike, app.app_id, custom))
    response = await api.post("/v2.1/push", json={"device_tokens": [hexlike, custom],
                                                  "content": "c"}, headers=app.headers())
    assert response.status_code == 202, response.text
    platforms = {d["deviceToken"]: d["platform"]
                 for d in response.json()["data"][0]["dispatches"]}
    assert platforms == {hexlike: "android", custom: "ios"}
    assert [j[1][0]["token"] for j in drain(clean_queues, queues.FCM_TX)] == [hexlike]
    stored = db.execute("SELECT platform FROM dispatches WHERE device_token = %s",
                        (hexlike,)).fetchall()
    assert stored == [("android",)]


async def test_token_invalidated_by_a_gateway_is_refused(
    api: httpx.AsyncClient, make_app: Any, clean_queues: redis.Redis[bytes],
    db: psycopg.Connection[Any],
) -> None:
    app = make_app()
    dead, reregistered, live = ios_token(), ios_token(), ios_token()
    now = datetime.now(UTC)
    db.execute(
        "INSERT INTO devices (app_id, token, platform, registered_at, invalidated_at) VALUES"
        " (%s, %s, 'ios', %s, %s), (%s, %s, 'ios', %s, %s)",
        (app.app_id, dead, now - timedelta(days=2), now - timedelta(days=1),
         app.app_id, reregistered, now, now - timedelta(days=1)))
    response = await api.post("/v2.1/push", json={
        "device_tokens": [dead, reregistered, live], "content": "c"}, headers=app.headers())
    assert response.status_code == 202, response.text
    answer = assert_envelope(response)
    assert error_codes(answer) == [("TOKEN_INVALIDATED", "device_tokens[0]")]
    assert {d["deviceToken"] for d in answer["data"][0]["dispatches"]} == {reregistered, live}
    only_dead = await api.post("/v2.1/push", json={"device_tokens": [dead], "content": "c"},
                               headers=app.headers())
    assert only_dead.status_code == 422
    assert error_codes(only_dead.json()) == [("TOKEN_INVALIDATED", "device_tokens[0]")]


async def test_a_platform_without_credentials_is_refused_per_token(
    api: httpx.AsyncClient, make_app: Any, clean_queues: redis.Redis[bytes],
    db: psycopg.Connection[Any],
) -> None:
    app = make_app(platforms=("ios",))  # APNs credentials only
    apple, google = ios_token(), android_token()
    response = await api.post("/v2.1/push", json={
        "device_tokens": [google, apple], "content": "c"}, headers=app.headers())
    assert response.status_code == 202, response.text
    answer = assert_envelope(response)
    assert error_codes(answer) == [("PLATFORM_NOT_CONFIGURED", "device_tokens[0]")]
    [error] = answer["errors"]
    assert error["title"] == "Platform not configured"
    assert "no FCM credentials" in error["message"] and "--fcm-service-account" in error["message"]
    assert error["meta"]["value"] == google
    assert [d["deviceToken"] for d in answer["data"][0]["dispatches"]] == [apple]
    assert len(drain(clean_queues, queues.APNS_TX)) == 1
    assert drain(clean_queues, queues.FCM_TX) == []
    # Nothing deliverable at all: 422, nothing stored.
    only_google = await api.post("/v2.1/push", json={"device_tokens": [google], "content": "c"},
                                 headers=app.headers())
    assert only_google.status_code == 422
    assert error_codes(assert_envelope(only_google)) == [
        ("PLATFORM_NOT_CONFIGURED", "device_tokens[0]")]
    assert db.execute("SELECT count(*) FROM dispatches WHERE app_id = %s AND platform = 'android'",
                      (app.app_id,)).fetchone() == (0,)


async def test_scheduled_push_waits_for_its_time(
    api: httpx.AsyncClient, make_app: Any, clean_queues: redis.Redis[bytes],
    db: psycopg.Connection[Any], state: AppState,
) -> None:
    app = make_app()
    when = datetime.now(UTC) + timedelta(hours=1)
    response = await api.post("/v2.1/push", json={
        "device_tokens": [ios_token()], "content": "later",
        "scheduleTime": when.strftime("%Y-%m-%d %H:%M:%S")}, headers=app.headers())
    assert response.status_code == 202, response.text
    (dispatch,) = response.json()["data"][0]["dispatches"]
    assert dispatch["status"] == "scheduled"
    await sweep_once(state)
    assert clean_queues.llen(queues.APNS_TX) == 0  # not due yet
    # Its time comes (moved, rather than waiting an hour).
    db.execute("UPDATE outbox SET publish_at = now() - interval '1 second'"
               " WHERE dispatch_id = %s", (dispatch["dispatchId"],))
    await sweep_once(state)
    published = drain(clean_queues, queues.APNS_TX)
    assert [p[1][0]["dispatchId"] for p in published] == [dispatch["dispatchId"]]
    status = db.execute("SELECT status FROM dispatches WHERE id = %s",
                        (dispatch["dispatchId"],)).fetchone()
    assert status == ("queued",)
    history = db.execute("SELECT status FROM dispatch_events WHERE dispatch_id = %s ORDER BY id",
                         (dispatch["dispatchId"],)).fetchall()
    assert history == [("scheduled",), ("queued",)]
    assert db.execute("SELECT count(*) FROM outbox WHERE dispatch_id = %s",
                      (dispatch["dispatchId"],)).fetchone() == (0,)


async def test_past_schedule_time_sends_now(
    api: httpx.AsyncClient, make_app: Any, clean_queues: redis.Redis[bytes]
) -> None:
    response = await api.post("/v2.1/push", json={
        "device_tokens": [ios_token()], "content": "now",
        "scheduleTime": "2020-01-01T00:00:00Z"}, headers=make_app().headers())
    assert response.status_code == 202
    assert response.json()["data"][0]["dispatches"][0]["status"] == "queued"
    assert len(drain(clean_queues, queues.APNS_TX)) == 1


async def test_confirmed_publishes_leave_the_outbox(
    api: httpx.AsyncClient, make_app: Any, clean_queues: redis.Redis[bytes],
    db: psycopg.Connection[Any], state: AppState,
) -> None:
    response = await api.post("/v2.1/push", json={"device_tokens": [ios_token()],
                                                  "content": "c"}, headers=make_app().headers())
    dispatch_id = response.json()["data"][0]["dispatches"][0]["dispatchId"]
    deadline = time.monotonic() + 10
    while db.execute("SELECT count(*) FROM outbox WHERE dispatch_id = %s",
                     (dispatch_id,)).fetchone() != (0,):
        assert time.monotonic() < deadline, "outbox row never acknowledged"
        await state.acks.flush(state)
    await sweep_once(state)
    assert len(drain(clean_queues, queues.APNS_TX)) == 1  # published once, never re-published
