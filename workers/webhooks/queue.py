"""The webhook outbox in PostgreSQL: claim due events fairly, record what happened, back off.

Claiming pushes ``next_attempt_at`` forward by a lease instead of holding row locks during the
HTTP calls: ``FOR UPDATE SKIP LOCKED`` only keeps two senders from claiming the same row at the
same instant, and a sender that dies mid-flight loses nothing (its claims come due after the
lease). Fairness: each app contributes at most ``per_app`` events to a claim and apps already at
their in-flight cap are skipped, so a backlog (or a slow receiver) of one app never fills the
sender with that app's work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg

from shared.backoff import backoff_seconds

_CLAIM = """
WITH picked AS (
    SELECT e.id, e.app_id FROM apps a
    CROSS JOIN LATERAL (
        SELECT id, app_id FROM webhook_events e
        WHERE e.app_id = a.id AND e.state = 'pending' AND e.next_attempt_at <= now()
        ORDER BY e.next_attempt_at
        LIMIT %(per_app)s
        FOR UPDATE SKIP LOCKED
    ) e
    WHERE a.id <> ALL(%(busy)s::bigint[])
    ORDER BY random()
    LIMIT %(total)s
)
UPDATE webhook_events e
SET next_attempt_at = now() + make_interval(secs => %(lease)s)
FROM picked p LEFT JOIN webhook_endpoints w ON w.app_id = p.app_id
WHERE e.id = p.id
RETURNING e.id::text, e.app_id, e.payload::text, e.rounds,
    extract(epoch FROM e.retry_from)::float8,
    coalesce(e.override_url, w.primary_url), w.secondary_url,
    (SELECT coalesce(array_agg(s.secret ORDER BY s.id DESC), '{}') FROM webhook_secrets s
     WHERE s.app_id = e.app_id AND (s.expires_at IS NULL OR s.expires_at > now())),
    (SELECT m.request_id FROM messages m WHERE m.id = e.message_id)
"""

_COMPLETE = """
WITH done AS (
    SELECT * FROM unnest(%(ids)s::uuid[], %(states)s::text[], %(next_at)s::float8[],
                         %(tries)s::int[], %(rounds)s::int[], %(errors)s::text[])
        AS t(id, state, next_at, tries, rounds, error)
), events AS (
    UPDATE webhook_events e SET
        state = d.state,
        attempts = e.attempts + d.tries,
        rounds = d.rounds,
        next_attempt_at = coalesce(to_timestamp(d.next_at), e.next_attempt_at),
        last_error = coalesce(d.error, e.last_error),
        delivered_at = CASE WHEN d.state = 'delivered' THEN now() END,
        dead_at = CASE WHEN d.state = 'dead' THEN now() END
    FROM done d WHERE e.id = d.id AND e.state = 'pending'
)
INSERT INTO webhook_attempts (event_id, app_id, at, url, status_code, latency_ms, error)
SELECT * FROM unnest(%(a_ids)s::uuid[], %(a_apps)s::bigint[], %(a_ats)s::timestamptz[],
                     %(a_urls)s::text[], %(a_codes)s::int[], %(a_latency)s::float8[],
                     %(a_errors)s::text[])
"""


@dataclass(frozen=True, slots=True)
class Claimed:
    id: str
    app_id: int
    body: str
    rounds: int
    retry_from: float
    urls: tuple[str, ...]  # primary (or the message's webhookUrl), then secondary
    secrets: tuple[bytes, ...]  # encrypted, newest first
    request_id: str | None = None  # the API request's uniqId (messages.request_id), for logs


@dataclass(frozen=True, slots=True)
class Attempt:
    url: str
    at: float
    status_code: int | None
    latency_ms: float
    error: str | None


@dataclass(slots=True)
class Outcome:
    event: Claimed
    state: str  # delivered | pending | dead
    next_at: float | None = None
    rounds: int = 0
    error: str | None = None
    attempts: list[Attempt] = field(default_factory=list)


async def claim(conn: psycopg.AsyncConnection[Any], *, total: int, per_app: int,
                busy_apps: list[int], lease_seconds: float) -> list[Claimed]:
    cur = await conn.execute(_CLAIM, {"total": total, "per_app": per_app, "busy": busy_apps,
                                      "lease": lease_seconds})
    claimed = []
    rows = await cur.fetchall()
    for id_, app_id, body, rounds, retry_from, primary, secondary, secrets, request_id in rows:
        urls = tuple(u for u in dict.fromkeys((primary, secondary)) if u)
        claimed.append(Claimed(id_, app_id, body, rounds, retry_from, urls,
                               tuple(bytes(s) for s in secrets), request_id))
    return claimed


def after_failure(event: Claimed, now: float, *, window_seconds: float, base: float,
                  cap: float) -> tuple[str, float | None, int]:
    """(state, next attempt time, rounds) after a failed round: retried until the retry window
    (``webhook_retry_hours`` from creation or replay) has passed, then dead-lettered."""
    rounds = event.rounds + 1
    if now - event.retry_from >= window_seconds:
        return "dead", None, rounds
    return "pending", now + backoff_seconds(rounds, base=base, cap=cap), rounds


async def complete(conn: psycopg.AsyncConnection[Any], outcomes: list[Outcome]) -> None:
    """Record a batch of outcomes and their attempts in one statement."""
    attempts = [(o.event, a) for o in outcomes for a in o.attempts]
    await conn.execute(_COMPLETE, {
        "ids": [o.event.id for o in outcomes],
        "states": [o.state for o in outcomes],
        "next_at": [o.next_at for o in outcomes],
        "tries": [len(o.attempts) for o in outcomes],
        "rounds": [o.rounds for o in outcomes],
        "errors": [o.error for o in outcomes],
        "a_ids": [e.id for e, _ in attempts],
        "a_apps": [e.app_id for e, _ in attempts],
        "a_ats": [_ts(a.at) for _, a in attempts],
        "a_urls": [a.url for _, a in attempts],
        "a_codes": [a.status_code for _, a in attempts],
        "a_latency": [a.latency_ms for _, a in attempts],
        "a_errors": [a.error for _, a in attempts],
    })


def _ts(unix: float) -> datetime:
    return datetime.fromtimestamp(unix, tz=UTC)
