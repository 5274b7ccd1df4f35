"""Every attempt recorded as it happens, end to end: the API, the send worker against the
sandbox's APNs, the DLR recorder and the webhook sender, each a real process
(tests/chaos_system.py). ``GET /v2.1/push/{messageId}`` shows a retried gateway attempt with its
reason while the dispatch is still queued, then ``sent``; and a webhook that a receiver answered
500 then 200 with both attempts. The story of the panel's dispatch page rebuilds the very bytes
the sandbox received."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from domain.dispatches.story import dispatch_timeline
from tests.chaos_system import ChaosSystem
from tests.services import patched_env
from tests.workers.dlr.helpers import ios_token
from workers.delivery.testing import wait_for

# The first retry waits 3-6 s (shared.backoff): long enough to see the dispatch queued with its
# failed attempt even on a loaded machine, short enough for the suite.
RETRY_ENV = {"PUSHFLOW_RETRY_BASE_SECONDS": "6"}


@pytest.fixture(scope="module")
def system(pushflow_env: dict[str, str],
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaosSystem]:
    with patched_env(RETRY_ENV), ChaosSystem(Path(tmp_path_factory.mktemp("attempts"))) as up:
        yield up


def push(system: ChaosSystem, token: str, **content: Any) -> str:
    status, body = system.request("POST", "/v2.1/push", {"device_tokens": [token], **content})
    assert status == 202, body
    return str(body["data"][0]["messageId"])


def dispatch(system: ChaosSystem, message_id: str) -> dict[str, Any]:
    status, body = system.request("GET", f"/v2.1/push/{message_id}")
    assert status == 200, body
    [only] = body["data"][0]["dispatches"]
    return dict(only)


async def test_a_retried_attempt_shows_while_queued_then_sent(system: ChaosSystem) -> None:
    token = ios_token()
    system.sandbox.add_fault(gateway="apns", kind="unavailable", match=token, times=1)
    message_id = push(system, token, title="Your code", content="123456",
                      data={"z": "1", "a": "2"})

    waiting = wait_for(lambda: (d := dispatch(system, message_id))["attemptLog"] and d, 30,
                       "the first attempt")
    assert (waiting["status"], waiting["attempts"]) == ("queued", 1), waiting
    [first] = waiting["attemptLog"]
    assert (first["attempt"], first["outcome"], first["gatewayStatus"],
            first["gatewayReason"]) == (1, "retried", 503, "ServiceUnavailable"), first
    assert first["gatewayId"] == waiting["dispatchId"]  # the apns-id of every attempt
    assert first["worker"].startswith("apns-") and first["latencyMs"] > 0
    times = [datetime.fromisoformat(first[k])
             for k in ("takenAt", "startedAt", "answeredAt", "retryAt")]
    assert times == sorted(times) and times[2] < times[3], first

    sent = wait_for(lambda: (d := dispatch(system, message_id))["status"] == "sent" and d, 30,
                    "sent")
    assert [(a["attempt"], a["outcome"], a["gatewayStatus"]) for a in sent["attemptLog"]] == [
        (1, "retried", 503), (2, "sent", 200)]
    assert sent["attempts"] == 2
    assert [e["status"] for e in sent["history"]] == ["queued", "queued", "sent"]

    received = [r for r in system.sandbox.requests("apns", token=token)]
    assert [r["status"] for r in received] == [503, 200]
    async with await psycopg.AsyncConnection.connect(system.direct_db_url) as conn:
        app_id = (await (await conn.execute("SELECT app_id FROM messages WHERE id = %s",
                                            (message_id,))).fetchone() or [0])[0]
        story = await dispatch_timeline(conn, app_id, uuid.UUID(sent["dispatchId"]))
    assert story is not None
    assert story.payload.body == orjson.dumps(received[-1]["payload"])  # byte for byte
    kinds = [s.kind for s in story.stages]
    assert kinds[:8] == ["accepted", "queued", "taken", "attempt", "retry_wait", "taken",
                         "attempt", "sent"], kinds


def test_a_webhook_answered_500_then_200_shows_both_attempts(system: ChaosSystem) -> None:
    def settled() -> bool:  # no earlier test's webhook may take the 500
        with psycopg.connect(system.direct_db_url) as conn:
            row = conn.execute("SELECT count(*) FROM webhook_events WHERE state = 'pending'"
                               ).fetchone()
        return row is not None and row[0] == 0

    wait_for(settled, 30, "earlier webhooks delivered")
    answers = itertools.count(1)
    system.receiver.status = lambda n: 500 if next(answers) == 1 else 200
    try:
        message_id = push(system, ios_token(), title="Hello", content="there")
        done = wait_for(lambda: (d := dispatch(system, message_id))["webhooks"]
                        and d["webhooks"][0]["state"] == "delivered" and d, 30,
                        "the webhook delivered")
    finally:
        system.receiver.status = lambda n: 200
    [webhook] = done["webhooks"]
    assert webhook["type"] == "push.sent" and webhook["attempts"] == 2
    assert [(a["url"], a["statusCode"], a["error"]) for a in webhook["attemptLog"]] == [
        (system.receiver.url, 500, "HTTP 500"), (system.receiver.url, 200, None)]
    assert all(a["latencyMs"] >= 0 for a in webhook["attemptLog"])
