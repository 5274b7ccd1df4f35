"""A DLR worker whose database is unreachable keeps every result and records it once the database
is back: retries never run out (a dropped result would leave its dispatch "queued" and its
webhook unsent for good)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psycopg
import redis
from psycopg import sql

from domain.keys import store as apps
from shared.db.migrate import migrate
from shared.ids import new_id
from shared.queues import TASK_RECORD_RESULT
from shared.taskmessage import build_message
from tests.services import PG_SERVER_URL
from tests.workers.dlr.helpers import celery_worker_args, ios_token, result, running_alive
from workers.delivery.testing import wait_for
from workers.dlr.tasks import db_retry_countdown, record

QUEUE = "dlr.outage-test"


def test_backoff_is_capped_and_retries_never_run_out() -> None:
    assert record.max_retries is None
    for retries, low, high in ((0, 1.0, 2.0), (1, 2.0, 4.0), (2, 4.0, 8.0), (50, 30.0, 60.0)):
        assert all(low <= db_retry_countdown(retries) <= high for _ in range(50))


def test_results_wait_for_the_database(redis_client: redis.Redis, service_dir: Path) -> None:
    # The worker's database does not exist at first: every try fails as an outage would.
    name = f"pushflow_outage_{os.getpid()}_{int(time.time() * 1000) % 100000}"
    url = f"{PG_SERVER_URL.rsplit('/', 1)[0]}/{name}"
    staged = f"{name}_staged"
    staged_url = f"{PG_SERVER_URL.rsplit('/', 1)[0]}/{staged}"
    base = {"dispatchId": new_id(), "messageId": new_id(), "token": ios_token(),
            "platform": "ios", "requestId": "outage"}
    redis_client.delete(QUEUE)
    try:
        with running_alive(celery_worker_args(QUEUE), service_dir / "dlr-outage.log",
                           {"PUSHFLOW_DATABASE_URL": url}):
            migrate_later = time.monotonic() + 5
            batch = [result({**base, "appId": 1}, "sent", gatewayId="apns-1")]
            redis_client.lpush(QUEUE, build_message(TASK_RECORD_RESULT, QUEUE, [batch]))
            time.sleep(max(0.0, migrate_later - time.monotonic()))  # several failed tries
            # The database comes back whole: built under another name, then renamed, so no try
            # can see it half-made (a result recorded before its dispatch exists moves nothing).
            migrate(staged_url)
            with psycopg.connect(staged_url, autocommit=True) as db:
                app_id = apps.app_id_for(db, apps.create_app(db, "outage"))
                assert app_id == 1
                db.execute("INSERT INTO messages (id, app_id, content) VALUES (%s, %s, '{}')",
                           (base["messageId"], app_id))
                db.execute("INSERT INTO dispatches (id, message_id, app_id, device_token,"
                           " platform, status) VALUES (%s, %s, %s, %s, 'ios', 'queued')",
                           (base["dispatchId"], base["messageId"], app_id, base["token"]))
            with psycopg.connect(PG_SERVER_URL, autocommit=True) as conn:
                conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                    sql.Identifier(staged), sql.Identifier(name)))
            with psycopg.connect(url, autocommit=True) as db:
                wait_for(lambda: db.execute("SELECT status FROM dispatches WHERE id = %s",
                                            (base["dispatchId"],)).fetchone() == ("sent",),
                         45, what="the result recorded once the database is back")
    finally:
        redis_client.delete(QUEUE)
        with psycopg.connect(PG_SERVER_URL, autocommit=True) as conn:
            for db_name in (name, staged):
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(db_name)))
