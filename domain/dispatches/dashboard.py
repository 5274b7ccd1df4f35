"""The figures of an app's dashboard: the last 24 hours of dispatches by status and gateway,
per hour, the top failure reasons, accept -> gateway acceptance percentiles, and the app's
flagged credentials with their expiry. Each a single aggregate over the app's last day, on the
indexes leading with (app_id, created_at) or (app_id, status, created_at)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection

WINDOW = timedelta(hours=24)
LATENCY_SAMPLE = 5000  # the newest sent dispatches the percentiles are computed on

_BY_STATUS = """
SELECT status, platform, count(*) FROM dispatches
WHERE app_id = %(app_id)s AND created_at > %(since)s GROUP BY status, platform
"""
_PER_HOUR = """
SELECT date_trunc('hour', created_at) AS hour, count(*) FILTER (WHERE status <> 'failed'),
       count(*) FILTER (WHERE status = 'failed')
FROM dispatches WHERE app_id = %(app_id)s AND created_at > %(since)s GROUP BY hour ORDER BY hour
"""
_REASONS = """
SELECT coalesce(reason, 'unknown'), count(*) FROM dispatches
WHERE app_id = %(app_id)s AND status = 'failed' AND created_at > %(since)s
GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5
"""
# Accepted (the dispatch row) to the gateway's acceptance (its 'sent' status event).
_LATENCY = """
SELECT percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY ms), count(*) FROM (
  SELECT extract(epoch FROM e.at - d.created_at) * 1000 AS ms
  FROM (SELECT id, created_at FROM dispatches
        WHERE app_id = %(app_id)s AND created_at > %(since)s
          AND status IN ('sent', 'delivered', 'opened')
        ORDER BY created_at DESC LIMIT %(sample)s) d
  JOIN LATERAL (SELECT at FROM dispatch_events WHERE dispatch_id = d.id AND status = 'sent'
                ORDER BY id LIMIT 1) e ON true) x
"""
_FLAGS = "SELECT auth_error, auth_error_at FROM apps WHERE id = %(app_id)s"
_CREDENTIALS = """
SELECT provider, kind, meta->>'notAfter', updated_at FROM app_credentials
WHERE app_id = %(app_id)s ORDER BY provider
"""


@dataclass(frozen=True)
class HourCount:
    hour: datetime
    ok: int  # every status but failed
    failed: int


@dataclass(frozen=True)
class CredentialState:
    provider: str  # apns | fcm
    kind: str  # token | certificate | service_account
    not_after: str | None  # a certificate's expiry (ISO 8601), when it has one
    updated_at: datetime


@dataclass(frozen=True)
class Dashboard:
    since: datetime
    by_status: dict[str, dict[str, int]]  # status -> gateway (apns | fcm) -> dispatches
    per_hour: list[HourCount]  # the hours that had dispatches, oldest first
    top_reasons: list[tuple[str, int]]
    accept_to_gateway_ms: tuple[float, float] | None  # p50, p95; None without a sent one
    latency_sample: int
    auth_error: str | None  # the credentials failure delivery flagged, if any
    auth_error_at: datetime | None
    credentials: list[CredentialState]


async def dashboard(conn: AsyncConnection[Any], app_id: int, now: datetime) -> Dashboard:
    since = now - WINDOW
    params = {"app_id": app_id, "since": since, "sample": LATENCY_SAMPLE}

    async def rows(query: str) -> list[Any]:
        return await (await conn.execute(query, params)).fetchall()

    by_status: dict[str, dict[str, int]] = {}
    for status, platform, n in await rows(_BY_STATUS):
        gateway = "apns" if platform == "ios" else "fcm"
        by_status.setdefault(status, {})[gateway] = n
    (percentiles, sample), = await rows(_LATENCY)
    (flag, flag_at), = await rows(_FLAGS)
    return Dashboard(
        since=since, by_status=by_status,
        per_hour=[HourCount(*r) for r in await rows(_PER_HOUR)],
        top_reasons=[(r[0], r[1]) for r in await rows(_REASONS)],
        accept_to_gateway_ms=(percentiles[0], percentiles[1]) if sample else None,
        latency_sample=sample, auth_error=flag, auth_error_at=flag_at,
        credentials=[CredentialState(*r) for r in await rows(_CREDENTIALS)])
