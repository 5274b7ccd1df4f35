"""Idempotency-Key: replay of the first answer, 409 for another body, one message for two
identical concurrent requests."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx
import psycopg
import redis

from producer.state import AppState
from shared import queues
from tests.producer.conftest import assert_envelope, drain, error_codes, ios_token


def _count_messages(db: psycopg.Connection[Any], app_id: int) -> int:
    row = db.execute("SELECT count(*) FROM messages WHERE app_id = %s", (app_id,)).fetchone()
    assert row is not None
    return int(row[0])


async def test_same_key_same_body_replays_and_sends_nothing_again(
    api: httpx.AsyncClient, make_app: Any, clean_queues: redis.Redis[bytes],
    db: psycopg.Connection[Any],
) -> None:
    app = make_app()
    headers = {**app.headers(), "Idempotency-Key": "order-42-" + secrets.token_hex(4)}
    body = {"device_tokens": [ios_token(), "bad"], "content": "123456"}
    first = await api.post("/v2.1/push", json=body, headers=headers)
    assert first.status_code == 202, first.text
    assert len(drain(clean_queues, queues.APNS_TX)) == 1
    again = await api.post("/v2.1/push", json=dict(reversed(body.items())), headers=headers)
    assert again.status_code == 202
    assert again.json() == first.json()  # the first answer, ids and errors included
    assert again.headers["idempotent-replayed"] == "true"
    assert drain(clean_queues, queues.APNS_TX) == []
    assert _count_messages(db, app.app_id) == 1


async def test_same_key_other_body_is_409(
    api: httpx.AsyncClient, make_app: Any, clean_queues: redis.Redis[bytes],
    db: psycopg.Connection[Any],
) -> None:
    app = make_app()
    headers = {**app.headers(), "Idempotency-Key": "k1"}
    token = ios_token()
    first = await api.post("/v2.1/push", json={"device_tokens": [token], "content": "a"},
                           headers=headers)
    assert first.status_code == 202
    other = await api.post("/v2.1/push", json={"device_tokens": [token], "content": "b"},
                           headers=headers)
    assert other.status_code == 409
    assert error_codes(assert_envelope(other)) == [("IDEMPOTENCY_CONFLICT", "Idempotency-Key")]
    assert _count_messages(db, app.app_id) == 1


async def test_keys_are_per_app(api: httpx.AsyncClient, make_app: Any,
                                clean_queues: redis.Redis[bytes]) -> None:
    body = {"device_tokens": [ios_token()], "content": "a"}
    a = await api.post("/v2.1/push", json=body,
                       headers={**make_app().headers(), "Idempotency-Key": "shared"})
    b = await api.post("/v2.1/push", json=body,
                       headers={**make_app().headers(), "Idempotency-Key": "shared"})
    assert a.status_code == b.status_code == 202
    assert a.json()["data"][0]["messageId"] != b.json()["data"][0]["messageId"]


async def test_expired_key_is_a_new_request(
    api: httpx.AsyncClient, make_app: Any, clean_queues: redis.Redis[bytes],
    db: psycopg.Connection[Any],
) -> None:
    app = make_app()
    headers = {**app.headers(), "Idempotency-Key": "old"}
    body = {"device_tokens": [ios_token()], "content": "a"}
    first = await api.post("/v2.1/push", json=body, headers=headers)
    db.execute("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'"
               " WHERE app_id = %s", (app.app_id,))
    second = await api.post("/v2.1/push", json=body, headers=headers)
    assert second.status_code == 202
    assert second.json()["data"][0]["messageId"] != first.json()["data"][0]["messageId"]
    assert _count_messages(db, app.app_id) == 2


async def test_identical_concurrent_requests_make_one_message(
    api: httpx.AsyncClient, make_app: Any, clean_queues: redis.Redis[bytes],
    db: psycopg.Connection[Any],
) -> None:
    app = make_app()
    headers = {**app.headers(), "Idempotency-Key": "race"}
    body = {"device_tokens": [ios_token()], "content": "once"}
    answers = await asyncio.gather(*(api.post("/v2.1/push", json=body, headers=headers)
                                     for _ in range(8)))
    assert {a.status_code for a in answers} == {202}
    assert len({a.json()["data"][0]["messageId"] for a in answers}) == 1
    assert _count_messages(db, app.app_id) == 1
    assert len(drain(clean_queues, queues.APNS_TX)) == 1


async def test_replay_comes_before_validation(
    api: httpx.AsyncClient, make_app: Any, clean_queues: redis.Redis[bytes],
    db: psycopg.Connection[Any], state: AppState,
) -> None:
    # A repeat gets the first answer even when the same body would no longer pass (here the
    # app's limit was lowered in between; a ttl that has since passed is the common case).
    app = make_app()
    headers = {**app.headers(), "Idempotency-Key": "before-validation"}
    body = {"device_tokens": [ios_token(), ios_token()], "content": "c"}
    first = await api.post("/v2.1/push", json=body, headers=headers)
    assert first.status_code == 202
    db.execute("UPDATE apps SET limits = '{\"max_tokens_per_request\": 1}' WHERE id = %s",
               (app.app_id,))
    state.keys.expire_all()
    again = await api.post("/v2.1/push", json=body, headers=headers)
    assert again.status_code == 202 and again.json() == first.json()
    fresh = await api.post("/v2.1/push", json=body, headers=app.headers())
    assert fresh.status_code == 422  # the lowered limit does apply to new requests
