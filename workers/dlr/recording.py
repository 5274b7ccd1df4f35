"""Recording a batch of send results in PostgreSQL: one transaction, retried at once on a
deadlock; the database-outage backoff. Shared by the Celery task (``workers.dlr.tasks``) and the
reliable DLR consumer (``workers.dlr.consumer``); imports no Celery app, so the app's own
bootsteps can use it."""

from __future__ import annotations

import logging
from typing import Any

import psycopg

from domain.dispatches.record import record_query, valid_outcomes
from domain.dispatches.retried import retried_query
from shared.backoff import backoff_seconds
from shared.settings import get_settings

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


class Recorder:
    """Holds one PostgreSQL connection, opened on first use and reopened after a failure; used
    once per process by the Celery task and once per recording thread by the DLR consumer
    (``workers.dlr.consumer``)."""

    _conn: psycopg.Connection[Any] | None = None

    def connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(get_settings().database_url, connect_timeout=5)
        return self._conn

    def drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None


def record_results(task: Recorder, results: list[Any]) -> int:
    """Record a batch in one transaction; returns how many dispatches moved forward. Final
    outcomes and attempts to be retried take a statement each (the second only when the batch
    holds some: most hold none)."""
    outcomes = valid_outcomes(results)
    finals = [o for o in outcomes if not o.retried]
    final = record_query(finals) if finals else None
    retried = retried_query(outcomes) if len(finals) < len(outcomes) else None
    if final is None and retried is None:
        return 0
    for attempt in range(1, _DEADLOCK_TRIES + 1):
        conn = task.connection()
        try:
            with conn.transaction():  # attempts first: they came before any final outcome
                if retried is not None:
                    conn.execute(*retried)
                return len(conn.execute(*final).fetchall()) if final is not None else 0
        except psycopg.errors.DeadlockDetected:
            if attempt == _DEADLOCK_TRIES:
                raise
            log.warning("dlr: deadlock, retrying batch of %d (try %d)", len(outcomes), attempt)
    return 0  # unreachable: the loop returns or raises
