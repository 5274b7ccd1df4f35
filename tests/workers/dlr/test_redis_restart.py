"""A Redis restart loses no result: the DLR worker (a real Celery subprocess) takes its batches
from the list into its in-flight hash in one step, so a batch whose take reply is lost to the
restart is still recorded. Real redis-server with AOF on, as in production; a proxy in front of
it swallows the reply that carries the batch (the moment Celery's BRPOP-then-record loses it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import redis

from shared.queues import TASK_RECORD_RESULT
from shared.taskmessage import build_message
from tests.services import RedisServer, ReplyDropper
from tests.workers.dlr.helpers import (
    celery_worker_args,
    dispatch_row,
    result,
    running_alive,
    seed_dispatches,
)
from workers.delivery.testing import wait_for

QUEUE = "dlr.restart-test"


def _publish(client: redis.Redis, batch: list[dict[str, Any]]) -> None:
    client.lpush(QUEUE, build_message(TASK_RECORD_RESULT, QUEUE, [batch]))


def _wait_sent(db: psycopg.Connection[Any], dispatches: list[dict[str, Any]], what: str
               ) -> None:
    wait_for(lambda: all(dispatch_row(db, d["dispatchId"])["status"] == "sent"
                         for d in dispatches), 30, what=what)


def test_a_redis_restart_mid_take_loses_no_result(
    db: psycopg.Connection[Any], make_app: Any, tmp_path: Path,
) -> None:
    app = make_app()
    first, lost, after = (seed_dispatches(db, app.app_id, 3) for _ in range(3))
    with RedisServer(tmp_path, appendonly=True) as server, \
            ReplyDropper(server.port) as proxy, \
            running_alive(celery_worker_args(QUEUE), tmp_path / "dlr.log",
                          {"PUSHFLOW_REDIS_URL": proxy.url}):
        client = redis.Redis.from_url(server.url)
        _publish(client, [result(d, "sent") for d in first])
        _wait_sent(db, first, "the worker recording")

        proxy.arm(TASK_RECORD_RESULT.encode())  # the next reply carrying a batch is lost
        _publish(client, [result(d, "sent") for d in lost])
        wait_for(proxy.dropped.is_set, 30, what="the batch's reply swallowed")
        client.close()
        server.restart()  # clean shutdown: the AOF holds what Redis did
        client = redis.Redis.from_url(server.url)
        _publish(client, [result(d, "sent") for d in after])
        _wait_sent(db, after, "recording after the restart")
        _wait_sent(db, lost, "the batch whose reply was lost")
        client.close()
