"""A real ``pushflow api`` process: killed between commit and publish, the next process's
sweeper publishes the push exactly once; with PostgreSQL unreachable it answers 503."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import httpx
import psycopg
import pytest
import redis

from shared import queues
from tests.producer import crashing_api
from tests.producer.conftest import api_process, assert_envelope, drain, ios_token
from tests.services import free_port
from workers.delivery.testing import wait_for

FAST_SWEEP = {"PUSHFLOW_OUTBOX_SWEEP_AFTER_SECONDS": "0.5",
              "PUSHFLOW_OUTBOX_SWEEP_INTERVAL_SECONDS": "0.2"}


@pytest.mark.parametrize("idempotency_key", [None, "crash-1"])
def test_crash_between_commit_and_publish_is_recovered_once(
    make_app: Any, clean_queues: redis.Redis[bytes], db: psycopg.Connection[Any],
    idempotency_key: str | None,
) -> None:
    # Both ways a push is stored: the grouped writer, and the statement claiming the key.
    app = make_app()
    headers = app.headers() | ({"Idempotency-Key": idempotency_key} if idempotency_key else {})
    token = ios_token()
    with api_process(FAST_SWEEP, module=crashing_api.__name__) as (url, proc):
        # The process dies before answering: that is the point.
        with contextlib.suppress(httpx.TransportError):
            httpx.post(f"{url}/v2.1/push", headers=headers, timeout=10,
                       json={"device_tokens": [token], "content": "survives"})
        assert proc.wait(10) == crashing_api.CRASH_STATUS  # right after the commit
    row = db.execute("SELECT d.id::text FROM dispatches d WHERE d.device_token = %s",
                     (token,)).fetchone()
    assert row is not None, "the push was not committed before the crash"
    dispatch_id = row[0]
    assert clean_queues.llen(queues.APNS_TX) == 0  # never published
    assert db.execute("SELECT count(*) FROM outbox WHERE dispatch_id = %s",
                      (dispatch_id,)).fetchone() == (1,)

    with api_process(FAST_SWEEP):
        published = wait_for(lambda: drain(clean_queues, queues.APNS_TX), timeout=20,
                             what="the sweeper to publish")
        wait_for(lambda: db.execute("SELECT count(*) FROM outbox WHERE dispatch_id = %s",
                                    (dispatch_id,)).fetchone() == (0,),
                 timeout=15, what="outbox row gone")
        time.sleep(1.0)  # several more sweep intervals: nothing may be published again
        published += drain(clean_queues, queues.APNS_TX)
    assert [(task, args[0]["dispatchId"], args[0]["token"]) for task, args, _ in published] == [
        (queues.TASK_SEND_APNS, dispatch_id, token)]


def test_postgres_unreachable_is_503_with_retry_after(make_app: Any) -> None:
    app = make_app()
    dead = f"postgresql://127.0.0.1:{free_port()}/pushflow"
    with api_process({"PUSHFLOW_DATABASE_URL": dead}) as (url, _proc):
        for body in ({"device_tokens": [ios_token()], "content": "c"}, {"nonsense": True}):
            response = httpx.post(f"{url}/v2.1/push", headers=app.headers(), json=body,
                                  timeout=30)
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"].isdigit()
            assert [e["code"] for e in assert_envelope(response)["errors"]] == ["UNAVAILABLE"]
        search = httpx.get(f"{url}/v2.1/push", headers=app.headers(), timeout=30)
        assert search.status_code == 503
