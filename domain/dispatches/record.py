"""Record many dispatch outcomes in ONE statement: status, history, dead tokens, auth flags and
the webhook events they cause, all in the same transaction.

Used by the DLR Celery task (send outcomes, ``record_query`` in its own transaction) and by the
receipts API (device receipts, ``record_receipts``).

Why one CTE: at >= 5,000 results/s a round trip per result would cost more than the work itself.
``unnest`` turns the batch into a relation; the UPDATE applies only forward moves
(``shared.statuses``), and everything downstream (history row, webhook event) is fed from the
rows the UPDATE actually changed, so a replayed or out-of-order report writes nothing at all.
Concurrent writers are safe: PostgreSQL re-checks the rank condition on the locked row version.

The attempt ending a dispatch fills the attempt columns of its final status's row (no extra row);
attempts to be retried (``queued``, ``retryAt``) have a statement of their own: ``retried``.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from psycopg import AsyncConnection, sql

from shared import statuses
from shared.tokens import mask

log = logging.getLogger(__name__)

_RFC3339 = "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'"


@dataclass(frozen=True, slots=True)
class Outcome:
    """One validated status report for one dispatch."""

    dispatch_id: str
    app_id: int
    status: str
    at: float  # unix seconds
    reason: str | None = None
    attempts: int | None = None
    gateway_id: str | None = None
    gateway_response: str | None = None  # JSON text
    invalidated_at: float | None = None  # unix seconds
    worker: str | None = None  # the send worker that made the attempt
    taken_at: float | None = None  # unix seconds it took the job up to send it
    latency_ms: float | None = None  # the gateway request; None: no request was made
    retry_at: float | None = None  # a retried attempt (status queued): the next one is due

    @property
    def retried(self) -> bool:
        """An attempt the send worker re-queued (``domain.dispatches.retried`` records it)."""
        return self.retry_at is not None


class BadOutcome(ValueError):
    """A report that cannot be recorded (logged and skipped, never retried)."""


def outcome_from_result(result: Mapping[str, Any]) -> Outcome:
    """Validate one ``shared.jobs.SendResult`` from a send worker."""
    try:
        dispatch_id = str(uuid.UUID(str(result["dispatchId"])))
        app_id = int(result["appId"])
        status = str(result["status"])
        at = float(result["at"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BadOutcome(f"malformed result: {exc!r}") from None
    if status not in statuses.RANK or not math.isfinite(at):
        raise BadOutcome(f"unknown status {status!r} or bad time")
    reason = result.get("reason")
    if status == "failed" and reason not in statuses.FAILURE_REASONS:
        raise BadOutcome(f"failed without a known reason: {reason!r}")
    retry_at = _seconds(result.get("retryAt"))
    if status == "queued" and (retry_at is None or not isinstance(result.get("attempts"), int)):
        raise BadOutcome("a retried attempt (queued) without its retryAt or attempt number")
    gateway = result.get("gatewayResponse")
    invalidated = result.get("invalidatedAt")
    attempts = result.get("attempts")
    return Outcome(
        dispatch_id=dispatch_id,
        app_id=app_id,
        status=status,
        at=at,
        reason=str(reason) if reason else None,
        attempts=int(attempts) if isinstance(attempts, int) else None,
        gateway_id=str(result["gatewayId"]) if result.get("gatewayId") else None,
        gateway_response=orjson.dumps(gateway).decode() if isinstance(gateway, dict) else None,
        invalidated_at=float(invalidated) if isinstance(invalidated, int | float) else None,
        worker=str(result["worker"])[:200] if result.get("worker") else None,
        taken_at=_seconds(result.get("takenAt")),
        latency_ms=_seconds(result.get("latencyMs")),
        retry_at=retry_at,
    )


def _seconds(value: Any) -> float | None:
    """A finite number (a time or a duration) from a report, else None."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def valid_outcomes(results: Iterable[Any]) -> list[Outcome]:
    """The recordable outcomes of a task's payload; bad items are logged and dropped (a retry
    would fail the same way and block the good ones)."""
    good = []
    for item in results:
        try:
            if not isinstance(item, Mapping):
                raise BadOutcome(f"result is a {type(item).__name__}, not an object")
            good.append(outcome_from_result(item))
        except BadOutcome as exc:
            token = item.get("token") if isinstance(item, Mapping) else None
            log.error("dlr: dropping result: %s (token %s)", exc, mask(str(token or "")))
    return good


# The arrays go in binary (``%(x)b``): psycopg writes 500 floats or JSON texts as text several
# times slower, and PostgreSQL parses them again (together ~10 % of a batch's time).
_RECORD = sql.SQL("""
WITH input AS (
    SELECT * FROM unnest(
        %(ids)b::uuid[], %(apps)b::bigint[], %(statuses)b::text[], %(reasons)b::text[],
        %(attempts)b::int[], %(gateway_ids)b::text[], %(responses)b::jsonb[],
        %(ats)b::float8[], %(invalidated)b::float8[], %(workers)b::text[],
        %(taken)b::float8[], %(latency)b::float8[]
    ) AS t(dispatch_id, app_id, status, reason, attempts, gateway_id, gateway_response,
           at, invalidated_at, worker, taken_at, latency_ms)
),
ranked AS (  -- one report per dispatch and rank (the earliest; sent/failed share a rank)
    SELECT DISTINCT ON (dispatch_id, rank) * FROM (
        SELECT *, {input_rank} AS rank FROM input) r
    ORDER BY dispatch_id, rank, at
),
best AS (  -- the most advanced report per dispatch: the status it ends in
    SELECT DISTINCT ON (dispatch_id) * FROM ranked ORDER BY dispatch_id, rank DESC
),
locked AS (
    -- Lock in id order (no deadlocks between DLR processes) and read the status as it is once
    -- locked: PostgreSQL re-checks the condition on a row a concurrent writer just changed.
    -- It carries what the UPDATE writes, so the UPDATE joins nothing but the row it changes: a
    -- generic plan (psycopg prepares a statement run 5 times) guesses a few rows for unnest(),
    -- and joined locked to best by nested loop, 500 x 500 comparisons (2.5x the batch's time).
    SELECT d.id, {stored_rank} AS old_rank, b.status, b.reason, b.attempts, b.gateway_id,
           b.gateway_response FROM dispatches d
    JOIN best b ON d.id = b.dispatch_id AND d.app_id = b.app_id
    WHERE {stored_rank} < b.rank
    ORDER BY d.id FOR UPDATE OF d
),
updated AS (
    UPDATE dispatches d SET
        status = l.status,
        reason = l.reason,
        attempts = greatest(d.attempts, coalesce(l.attempts, d.attempts)),
        gateway_id = coalesce(l.gateway_id, d.gateway_id),
        gateway_response = coalesce(l.gateway_response, d.gateway_response),
        updated_at = now()
    FROM locked l
    WHERE d.id = l.id
    RETURNING d.id, d.message_id, d.app_id, d.device_token, d.platform, d.attempts,
              d.gateway_response, d.external_id, l.old_rank, d.status AS new_status
),
steps AS (  -- every status passed through (queued -> delivered records sent AND delivered)
    SELECT u.*, r.status, r.reason, r.at, r.attempts AS attempt, r.worker, r.taken_at,
           r.latency_ms, coalesce(r.gateway_response, u.gateway_response) AS step_response
    FROM updated u JOIN ranked r ON r.dispatch_id = u.id AND r.rank > u.old_rank
),
history AS (  -- a step that came from a gateway request records that attempt too
    INSERT INTO dispatch_events (dispatch_id, status, reason, detail, at, attempt, worker,
                                 taken_at, latency_ms)
    SELECT id, status, reason, step_response, to_timestamp(at),
           CASE WHEN latency_ms IS NOT NULL THEN attempt END, worker, to_timestamp(taken_at),
           latency_ms
    FROM steps ORDER BY id, at
),
dead AS (  -- tokens a gateway reported dead, with the gateway's timestamp
    SELECT DISTINCT ON (d.app_id, d.device_token)
        d.app_id, d.device_token, d.platform, d.id AS dispatch_id, d.message_id, d.external_id,
        i.reason, i.gateway_response, i.attempts,
        to_timestamp(coalesce(i.invalidated_at, i.at)) AS invalidated_at
    FROM input i JOIN dispatches d ON d.id = i.dispatch_id AND d.app_id = i.app_id
    WHERE i.status = 'failed' AND i.reason = ANY(%(dead_reasons)b::text[])
    ORDER BY d.app_id, d.device_token, coalesce(i.invalidated_at, i.at)
),
invalidated AS (
    -- A token never registered through the API gets registered_at = epoch ("unknown"), so the
    -- rule "invalid iff invalidated_at > registered_at" holds for it too. A device registered
    -- again after the gateway's timestamp is left alone; an already-invalid one keeps its first
    -- timestamp (and no second token.invalidated event goes out).
    INSERT INTO devices AS dv (app_id, token, platform, registered_at, invalidated_at,
                               invalid_reason)
    SELECT app_id, device_token, platform, 'epoch', invalidated_at, reason FROM dead
    ON CONFLICT (app_id, token) DO UPDATE
        SET invalidated_at = excluded.invalidated_at, invalid_reason = excluded.invalid_reason
        WHERE dv.registered_at < excluded.invalidated_at
          AND (dv.invalidated_at IS NULL OR dv.invalidated_at <= dv.registered_at)
    RETURNING dv.app_id, dv.token
),
auth AS (  -- the app's credentials were refused: flag the app for the panel and the API
    UPDATE apps a SET auth_error = x.detail, auth_error_at = x.at
    FROM (
        SELECT DISTINCT ON (app_id) app_id, to_timestamp(at) AS at,
               coalesce(gateway_response->>'reason', gateway_response->>'detail',
                        'auth_config') AS detail
        FROM input WHERE status = 'failed' AND reason = 'auth_config'
        ORDER BY app_id, at DESC
    ) x
    WHERE a.id = x.app_id AND (a.auth_error_at IS NULL OR a.auth_error_at < x.at)
),
push_events AS (
    INSERT INTO webhook_events (id, app_id, type, dispatch_id, message_id, payload, override_url)
    SELECT gen_random_uuid(), u.app_id, et.type, u.id, u.message_id,
        jsonb_build_object(
            'type', et.type,
            'timestamp', to_char(to_timestamp(u.at) AT TIME ZONE 'UTC', {rfc3339}),
            'data', jsonb_build_object(
                'messageId', u.message_id, 'dispatchId', u.id, 'externalId', u.external_id,
                'deviceToken', u.device_token, 'platform', u.platform, 'status', u.status,
                'reason', u.reason, 'gatewayResponse', u.step_response,
                'attempts', u.attempts, 'source', m.source, 'sourceRef', m.source_ref)),
        m.webhook_url
    FROM steps u
    JOIN unnest(%(event_statuses)b::text[], %(event_types)b::text[]) AS et(status, type)
        ON et.status = u.status
    JOIN webhook_endpoints w ON w.app_id = u.app_id AND et.type = ANY(w.event_types)
    JOIN messages m ON m.id = u.message_id
    WHERE coalesce(m.webhook_url, w.primary_url) IS NOT NULL
),
token_events AS (
    INSERT INTO webhook_events (id, app_id, type, dispatch_id, message_id, payload, override_url)
    SELECT gen_random_uuid(), x.app_id, %(token_event)s, x.dispatch_id, x.message_id,
        jsonb_build_object(
            'type', %(token_event)s,
            'timestamp', to_char(x.invalidated_at AT TIME ZONE 'UTC', {rfc3339}),
            'data', jsonb_build_object(
                'messageId', x.message_id, 'dispatchId', x.dispatch_id,
                'externalId', x.external_id, 'deviceToken', x.device_token,
                'platform', x.platform, 'status', 'failed', 'reason', x.reason,
                'gatewayResponse', x.gateway_response, 'attempts', x.attempts,
                'invalidatedAt', to_char(x.invalidated_at AT TIME ZONE 'UTC', {rfc3339}))),
        m.webhook_url
    FROM dead x
    JOIN invalidated v ON v.app_id = x.app_id AND v.token = x.device_token
    JOIN webhook_endpoints w ON w.app_id = x.app_id AND %(token_event)s = ANY(w.event_types)
    JOIN messages m ON m.id = x.message_id
    WHERE coalesce(m.webhook_url, w.primary_url) IS NOT NULL
)
SELECT u.id::text, u.new_status FROM updated u
""").format(
    input_rank=statuses.rank_sql(sql.SQL("status")),
    stored_rank=statuses.rank_sql(sql.SQL("d.status")),
    rfc3339=sql.SQL(_RFC3339),
)


def record_query(outcomes: list[Outcome]) -> tuple[sql.Composed, dict[str, Any]]:
    """The statement and parameters recording ``outcomes`` (final outcomes and receipts, not
    ``retried`` ones); returns (dispatch id, new status) for each dispatch it moved forward."""
    ordered = sorted(outcomes, key=lambda o: o.dispatch_id)  # stable lock order across workers
    params: dict[str, Any] = {
        "ids": [o.dispatch_id for o in ordered],
        "apps": [o.app_id for o in ordered],
        "statuses": [o.status for o in ordered],
        "reasons": [o.reason for o in ordered],
        "attempts": [o.attempts for o in ordered],
        "gateway_ids": [o.gateway_id for o in ordered],
        "responses": [o.gateway_response for o in ordered],
        "ats": [o.at for o in ordered],
        "invalidated": [o.invalidated_at for o in ordered],
        "workers": [o.worker for o in ordered],
        "taken": [o.taken_at for o in ordered],
        "latency": [o.latency_ms for o in ordered],
        "dead_reasons": sorted(statuses.TOKEN_DEAD_REASONS),
        "event_statuses": list(statuses.EVENT_TYPE),
        "event_types": list(statuses.EVENT_TYPE.values()),
        "token_event": statuses.TOKEN_INVALIDATED,
    }
    return _RECORD, params


_CURRENT = "SELECT id::text, status FROM dispatches WHERE app_id = %s AND id = ANY(%s::uuid[])"


@dataclass(frozen=True, slots=True)
class Recorded:
    """A known dispatch after recording a report about it."""

    dispatch_id: str
    status: str  # its status now (the report's, or a later one it already had)
    changed: bool  # whether this report moved it forward


async def record_receipts(conn: AsyncConnection[Any], app_id: int, outcomes: list[Outcome]
                          ) -> dict[str, Recorded]:
    """Record reports about ``app_id``'s dispatches; by dispatch id, each one that exists (a
    missing or another app's dispatch is absent and nothing is recorded for it)."""
    query, params = record_query(outcomes)
    moved = dict(await (await conn.execute(query, params)).fetchall())
    current = await (await conn.execute(
        _CURRENT, (app_id, [o.dispatch_id for o in outcomes]))).fetchall()
    return {did: Recorded(did, status, did in moved) for did, status in current}
