"""DELETE /v2.1/push/{messageId}: scheduled dispatches are canceled and never published; queued
ones are left alone; a sweep in progress wins over a cancel (and is reported as such)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import redis

from domain.keys import store as apps
from producer.outbox import sweep_once
from producer.state import AppState
from shared import queues
from tests.producer.conftest import assert_envelope, error_codes, ios_token


def later(hours: float = 1.0) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).strftime("%Y-%m-%d %H:%M:%S")


async def schedule(api: httpx.AsyncClient, headers: dict[str, str], tokens: int = 2,
                   **extra: Any) -> dict[str, Any]:
    response = await api.post("/v2.1/push", headers=headers, json={
        "device_tokens": [ios_token() for _ in range(tokens)], "content": "later",
        "scheduleTime": later(), **extra})
    assert response.status_code == 202, response.text
    return dict(response.json()["data"][0])


async def test_scheduled_dispatches_are_canceled_and_never_sent(
    api: httpx.AsyncClient, make_app: Any, clean_queues: redis.Redis[bytes],
    db: psycopg.Connection[Any], state: AppState,
) -> None:
    app = make_app()
    message = await schedule(api, app.headers(), externalId="promo-1")
    ids = [d["dispatchId"] for d in message["dispatches"]]
    response = await api.delete(f"/v2.1/push/{message['messageId']}", headers=app.headers())
    assert response.status_code == 200, response.text
    (item,) = assert_envelope(response)["data"]
    assert item["canceled"] == 2 and item["externalId"] == "promo-1"
    assert {d["dispatchId"]: d["status"] for d in item["dispatches"]} == {
        i: "canceled" for i in ids}
    # Its time comes: nothing is left to publish.
    db.execute("UPDATE outbox SET publish_at = now() - interval '1 second'"
               " WHERE dispatch_id = ANY(%s::uuid[])", (ids,))
    await sweep_once(state)
    assert clean_queues.llen(queues.APNS_TX) == 0
    shown = (await api.get(f"/v2.1/push/{message['messageId']}", headers=app.headers())).json()
    assert [[h["status"] for h in d["history"]] for d in shown["data"][0]["dispatches"]] == [
        ["scheduled", "canceled"]] * 2
    # Again: the same answer, nothing newly canceled.
    again = await api.delete(f"/v2.1/push/{message['messageId']}", headers=app.headers())
    assert again.status_code == 200 and again.json()["data"][0]["canceled"] == 0


async def test_queued_dispatches_are_left_alone(
    api: httpx.AsyncClient, make_app: Any, clean_queues: redis.Redis[bytes]
) -> None:
    app = make_app()
    sent = await api.post("/v2.1/push", json={"device_tokens": [ios_token()], "content": "now"},
                          headers=app.headers())
    message_id = sent.json()["data"][0]["messageId"]
    response = await api.delete(f"/v2.1/push/{message_id}", headers=app.headers())
    assert response.status_code == 200
    (item,) = response.json()["data"]
    assert item["canceled"] == 0
    assert [d["status"] for d in item["dispatches"]] == ["queued"]
    assert clean_queues.llen(queues.APNS_TX) == 1


async def test_a_sweep_in_progress_wins(
    api: httpx.AsyncClient, make_app: Any, pushflow_env: dict[str, str]
) -> None:
    """The sweeper has locked the outbox rows and is moving them to queued: the cancel waits for
    it and reports the dispatches queued, not canceled."""
    app = make_app()
    message = await schedule(api, app.headers(), tokens=1)
    (dispatch_id,) = [d["dispatchId"] for d in message["dispatches"]]
    async with await psycopg.AsyncConnection.connect(pushflow_env["PUSHFLOW_DATABASE_URL"]
                                                     ) as sweeper:
        # What producer.outbox.sweep_once does, held open mid-transaction.
        await sweeper.execute("SELECT dispatch_id FROM outbox WHERE dispatch_id = %s"
                              " FOR UPDATE SKIP LOCKED", (dispatch_id,))
        await sweeper.execute("UPDATE dispatches SET status = 'queued' WHERE id = %s",
                              (dispatch_id,))
        await sweeper.execute("DELETE FROM outbox WHERE dispatch_id = %s", (dispatch_id,))
        cancel = asyncio.ensure_future(
            api.delete(f"/v2.1/push/{message['messageId']}", headers=app.headers()))
        await asyncio.sleep(0.5)
        assert not cancel.done()  # waiting for the sweeper's locks
        await sweeper.commit()
    response = await asyncio.wait_for(cancel, 10)
    (item,) = response.json()["data"]
    assert item["canceled"] == 0
    assert [d["status"] for d in item["dispatches"]] == ["queued"]


async def test_other_apps_unknown_ids_and_scopes(
    api: httpx.AsyncClient, make_app: Any, db: psycopg.Connection[Any]
) -> None:
    owner, other = make_app("owner"), make_app("other")
    message = await schedule(api, owner.headers(), tokens=1)
    path = f"/v2.1/push/{message['messageId']}"
    assert (await api.delete(path, headers=other.headers())).status_code == 404
    bad = await api.delete("/v2.1/push/not-a-uuid", headers=owner.headers())
    assert bad.status_code == 404
    assert error_codes(assert_envelope(bad)) == [("NOT_FOUND", "messageId")]
    reader = apps.create_key(db, owner.app_key, ["push:read"])
    forbidden = await api.delete(path, headers={"Authorization": reader.secret,
                                                "Application-Key": owner.app_key})
    assert forbidden.status_code == 403
    still = await api.get(path, headers=owner.headers())
    assert [d["status"] for d in still.json()["data"][0]["dispatches"]] == ["scheduled"]
