"""The DLR lists are consumed by the reliable consumer (``workers.dlr.consumer``): the beat jobs
that share the queue still run, and a batch left in flight by a DLR worker killed mid-record is
recorded by another within seconds (its liveness key expires), not after the broker's
visibility timeout."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from shared.queues import TASK_EXPIRE_IDEMPOTENCY_KEYS, TASK_RECORD_RESULT
from shared.taskmessage import build_message
from tests.workers.dlr.helpers import (
    TEST_DLR_QUEUE,
    celery_worker_args,
    dispatch_row,
    result,
    running_alive,
    seed_dispatches,
    subprocess_running,
)
from workers.delivery.reliable_queue import WORKERS, inflight_key
from workers.delivery.testing import wait_for


@pytest.mark.usefixtures("dlr_worker")
def test_a_beat_job_on_the_dlr_queue_runs(db: psycopg.Connection[Any], make_app: Any,
                                          redis_client: redis.Redis) -> None:
    app = make_app("beat-on-dlr")
    db.execute("INSERT INTO idempotency_keys (app_id, key, request_hash, created_at)"
               " VALUES (%s, 'old', 'h', now() - interval '30 days')", (app.app_id,))
    redis_client.lpush(TEST_DLR_QUEUE, build_message(TASK_EXPIRE_IDEMPOTENCY_KEYS,
                                                     TEST_DLR_QUEUE))
    wait_for(lambda: db.execute("SELECT count(*) FROM idempotency_keys WHERE app_id = %s",
                                (app.app_id,)).fetchone() == (0,), 20, what="the job run")


def test_a_killed_recorders_batch_is_recorded_by_another(
    db: psycopg.Connection[Any], make_app: Any, redis_client: redis.Redis, tmp_path: Path,
) -> None:
    queue = "dlr.kill-test"
    app = make_app("dlr-kill")
    dispatches = seed_dispatches(db, app.app_id, 3)
    # The database name is wrong for the first worker: it takes the batch and keeps it in
    # flight, retrying, until it is killed.
    with subprocess_running(celery_worker_args(queue), tmp_path / "dlr-1.log",
                            {"PUSHFLOW_DATABASE_URL": "postgresql://127.0.0.1:1/none"}) as doomed:
        redis_client.lpush(queue, build_message(TASK_RECORD_RESULT, queue,
                                                [[result(d, "sent") for d in dispatches]]))

        def holder() -> bool:
            return any(field.startswith(f"{queue}|".encode())
                       for raw in redis_client.smembers(WORKERS)
                       for field in redis_client.hkeys(inflight_key(raw.decode())))

        wait_for(holder, 30, what="the batch taken")
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(10)
    with running_alive(celery_worker_args(queue), tmp_path / "dlr-2.log"):
        wait_for(lambda: all(dispatch_row(db, d["dispatchId"])["status"] == "sent"
                             for d in dispatches), 45, what="the killed worker's batch")
