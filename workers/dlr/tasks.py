"""The DLR Celery task ``pushflow.dlr.record``: one message carries a LIST of send results and
becomes one batched PostgreSQL statement (``domain.dispatches.record``).

Run it with ``celery -A workers worker -Q dlr``. acks_late: the message is acknowledged only after
the transaction committed, so a crash redelivers it; replaying is harmless because recording is
idempotent (statuses only move forward).
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from celery import Task

from domain.dispatches.record import record_query, valid_outcomes
from shared.backoff import backoff_seconds
from shared.queues import TASK_RECORD_RESULT
from shared.settings import get_settings
from workers import app

log = logging.getLogger(__name__)

# A deadlock between two DLR processes updating overlapping dispatches is resolved by PostgreSQL
# aborting one; retrying at once is the normal answer. Unreachable database: back off
# (shared.backoff: 2 s doubling to a minute, jittered, each wait well under the broker
# visibility timeout), and never give up:
# a result dropped after N retries would leave its dispatch "queued" and its webhook unsent
# forever, however long the outage.
_DEADLOCK_TRIES = 5
_DB_RETRY_SECONDS = 2.0
_DB_RETRY_MAX_SECONDS = 60.0


def db_retry_countdown(retries: int) -> float:
    """Seconds before the next retry of a batch the database could not take, ``retries`` times
    retried already (Celery's ``request.retries``)."""
    return backoff_seconds(retries + 1, base=_DB_RETRY_SECONDS, cap=_DB_RETRY_MAX_SECONDS)


class RecordTask(Task):  # type: ignore[misc]
    """Holds one PostgreSQL connection per worker process (Celery instantiates a task class once
    per process), opened on first use and reopened after a failure."""

    _conn: psycopg.Connection[Any] | None = None

    def connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(get_settings().database_url, connect_timeout=5)
        return self._conn

    def drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None


def record_results(task: RecordTask, results: list[Any]) -> int:
    """Record a batch in one transaction; returns how many dispatches moved forward."""
    outcomes = valid_outcomes(results)
    if not outcomes:
        return 0
    query, params = record_query(outcomes)
    for attempt in range(1, _DEADLOCK_TRIES + 1):
        conn = task.connection()
        try:
            with conn.transaction():
                return len(conn.execute(query, params).fetchall())
        except psycopg.errors.DeadlockDetected:
            if attempt == _DEADLOCK_TRIES:
                raise
            log.warning("dlr: deadlock, retrying batch of %d (try %d)", len(outcomes), attempt)
    return 0  # unreachable: the loop returns or raises


@app.task(  # type: ignore[untyped-decorator]
    name=TASK_RECORD_RESULT,
    base=RecordTask,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    max_retries=None,  # until the database is back (see _DB_RETRY_MAX_SECONDS)
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
