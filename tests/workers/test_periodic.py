"""The periodic clean-up of expired idempotency keys, against the session's PostgreSQL."""

from __future__ import annotations

from typing import Any

import psycopg

from workers import app
from workers.periodic import TASK_EXPIRE_IDEMPOTENCY_KEYS, expire_idempotency_keys


def test_only_expired_keys_are_deleted_in_batches(
    db: psycopg.Connection[Any], make_app: Any, pushflow_env: dict[str, str],
) -> None:
    test_app = make_app("periodic")
    rows = [(test_app.app_id, f"old-{n}", b"h", "30 hours") for n in range(7)]
    rows += [(test_app.app_id, f"new-{n}", b"h", "1 hour") for n in range(3)]
    for app_id, key, digest, age in rows:
        db.execute("INSERT INTO idempotency_keys (app_id, key, request_hash, created_at)"
                   " VALUES (%s, %s, %s, now() - %s::interval)", (app_id, key, digest, age))
    deleted = expire_idempotency_keys(pushflow_env["PUSHFLOW_DATABASE_URL"], 24, batch=3)
    assert deleted == 7
    left = db.execute("SELECT key FROM idempotency_keys WHERE app_id = %s ORDER BY key",
                      (test_app.app_id,)).fetchall()
    assert [r[0] for r in left] == ["new-0", "new-1", "new-2"]


def test_beat_schedules_it_on_the_dlr_queue() -> None:
    schedule = app.conf.beat_schedule["expire-idempotency-keys"]
    assert schedule["task"] == TASK_EXPIRE_IDEMPOTENCY_KEYS
    assert schedule["options"]["queue"] == "dlr"
    assert TASK_EXPIRE_IDEMPOTENCY_KEYS in app.tasks
