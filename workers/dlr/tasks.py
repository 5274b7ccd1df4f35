"""The DLR Celery task ``pushflow.dlr.record``: one message carries a LIST of send results (final
outcomes, and the attempts the send workers re-queued, so each attempt is on record as it
happens) and becomes one batched PostgreSQL statement (``domain.dispatches.record``).

Run it with ``celery -A workers worker -Q dlr``. There the ``dlr`` list is consumed by
``workers.dlr.consumer`` (a reliable take: a Redis restart cannot drop a batch), which records
with the same ``record_results``; this task is what a plain Celery worker runs
(``PUSHFLOW_DELIVERY_BATCH_CONSUMER=false``). acks_late: the message is acknowledged only after
the transaction committed, so a crash redelivers it; replaying is harmless because recording is
idempotent (statuses only move forward).
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from celery import Task

from shared.queues import TASK_RECORD_RESULT
from workers import app
from workers.dlr.recording import Recorder, db_retry_countdown, record_results

log = logging.getLogger(__name__)


class RecordTask(Task, Recorder):  # type: ignore[misc]
    """Celery instantiates a task class once per process: one connection per worker process."""


@app.task(  # type: ignore[untyped-decorator]
    name=TASK_RECORD_RESULT,
    base=RecordTask,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    max_retries=None,  # until the database is back (workers.dlr.recording backs off)
)
def record(self: RecordTask, results: list[Any]) -> int:
    if not isinstance(results, list):
        log.error("dlr: dropping a message whose argument is a %s, not a list",
                  type(results).__name__)
        return 0
    try:
        return record_results(self, results)
    except (psycopg.OperationalError, psycopg.errors.DeadlockDetected) as exc:
        self.drop_connection()
        log.warning("dlr: database unavailable (%s); retrying", type(exc).__name__)
        raise self.retry(countdown=db_retry_countdown(self.request.retries)) from None
