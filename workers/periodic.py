"""Periodic jobs, scheduled by beat (``workers.celery_app`` holds the schedule) and executed by
the DLR worker (they write PostgreSQL, as the DLR worker does; the send workers never touch it).

- ``pushflow.periodic.expire_idempotency_keys`` (every 10 min): delete ``Idempotency-Key``
  records older than ``PUSHFLOW_IDEMPOTENCY_TTL_HOURS``, in bounded batches so a big backlog
  never holds a long lock.

``celery -A workers.periodic beat`` finds the project's one app here (as ``app``); workers load
the task through the app's ``include``.
"""

from __future__ import annotations

import logging

from shared.db.connect import connect
from shared.queues import TASK_EXPIRE_IDEMPOTENCY_KEYS
from shared.settings import get_settings
from workers import app

log = logging.getLogger(__name__)

BATCH = 5000

_EXPIRE_SQL = """
DELETE FROM idempotency_keys
 WHERE ctid IN (SELECT ctid FROM idempotency_keys
                 WHERE created_at < now() - make_interval(hours => %s)
                 LIMIT %s)
"""


def expire_idempotency_keys(database_url: str, ttl_hours: int, batch: int = BATCH) -> int:
    """Delete expired idempotency records; returns how many were deleted."""
    deleted = 0
    with connect(database_url, autocommit=True) as conn:
        while True:
            n = conn.execute(_EXPIRE_SQL, (ttl_hours, batch)).rowcount
            deleted += n
            if n < batch:
                return deleted


@app.task(name=TASK_EXPIRE_IDEMPOTENCY_KEYS, ignore_result=True, acks_late=False)  # type: ignore[untyped-decorator]
def expire_idempotency_keys_task() -> int:
    settings = get_settings()
    deleted = expire_idempotency_keys(settings.database_url, settings.idempotency_ttl_hours)
    log.info("expired %d idempotency key(s)", deleted)
    return deleted


__all__ = ["TASK_EXPIRE_IDEMPOTENCY_KEYS", "app", "expire_idempotency_keys",
           "expire_idempotency_keys_task"]
