"""An app's webhook configuration, secret rotation, delivery log and dead-letter replay (async
psycopg, every statement scoped by app id). Used by ``/v2.1/webhooks`` and the panel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from cryptography.fernet import Fernet
from psycopg.rows import dict_row

from domain.webhooks.signing import encrypt, new_secret

Conn = psycopg.AsyncConnection[Any]


@dataclass(frozen=True)
class WebhookConfig:
    primary_url: str | None
    secondary_url: str | None
    event_types: list[str]
    signing_secrets: int  # live secrets (two during a rotation's overlap)
    previous_secret_valid_until: datetime | None
    created_at: datetime
    updated_at: datetime


async def get_config(conn: Conn, app_id: int) -> WebhookConfig | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT w.primary_url, w.secondary_url, w.event_types, w.created_at, w.updated_at,"
            " (SELECT count(*) FROM webhook_secrets s WHERE s.app_id = w.app_id"
            "  AND (s.expires_at IS NULL OR s.expires_at > now())) AS live_secrets,"
            " (SELECT max(s.expires_at) FROM webhook_secrets s WHERE s.app_id = w.app_id"
            "  AND s.expires_at > now()) AS overlap_until"
            " FROM webhook_endpoints w WHERE w.app_id = %s", (app_id,))
        row = await cur.fetchone()
    if row is None:
        return None
    return WebhookConfig(
        primary_url=row["primary_url"], secondary_url=row["secondary_url"],
        event_types=list(row["event_types"]), signing_secrets=int(row["live_secrets"]),
        previous_secret_valid_until=row["overlap_until"], created_at=row["created_at"],
        updated_at=row["updated_at"])


async def save_config(conn: Conn, app_id: int, *, primary_url: str | None,
                      secondary_url: str | None, event_types: list[str],
                      fernet: Fernet) -> str | None:
    """Create or replace the app's configuration; returns a new signing secret when the app had
    none (the only time it is shown), else None."""
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO webhook_endpoints (app_id, primary_url, secondary_url, event_types)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (app_id) DO UPDATE SET"
            " primary_url = excluded.primary_url, secondary_url = excluded.secondary_url,"
            " event_types = excluded.event_types, updated_at = now()",
            (app_id, primary_url, secondary_url, event_types))
        cur = await conn.execute(
            "SELECT 1 FROM webhook_secrets WHERE app_id = %s"
            " AND (expires_at IS NULL OR expires_at > now()) LIMIT 1", (app_id,))
        if await cur.fetchone() is not None:
            return None
        secret = new_secret()
        await conn.execute("INSERT INTO webhook_secrets (app_id, secret) VALUES (%s, %s)",
                           (app_id, encrypt(fernet, secret)))
        return secret


@dataclass(frozen=True)
class Rotation:
    secret: str
    previous_valid_until: datetime | None


async def rotate_secret(conn: Conn, app_id: int, *, overlap_hours: float,
                        fernet: Fernet) -> Rotation | None:
    """A new secret; the current ones keep signing for ``overlap_hours`` (0 = stop at once).
    None when the app has no webhook configuration."""
    secret = new_secret()
    async with conn.transaction():
        cur = await conn.execute("SELECT 1 FROM webhook_endpoints WHERE app_id = %s FOR UPDATE",
                                 (app_id,))
        if await cur.fetchone() is None:
            return None
        cur = await conn.execute(
            "UPDATE webhook_secrets SET expires_at = now() + make_interval(secs => %s)"
            " WHERE app_id = %s AND (expires_at IS NULL OR expires_at > now()"
            " + make_interval(secs => %s)) RETURNING expires_at",
            (overlap_hours * 3600, app_id, overlap_hours * 3600))
        until = max((r[0] for r in await cur.fetchall()), default=None)
        await conn.execute("INSERT INTO webhook_secrets (app_id, secret) VALUES (%s, %s)",
                           (app_id, encrypt(fernet, secret)))
    return Rotation(secret, until)


async def delete_config(conn: Conn, app_id: int) -> bool:
    """Remove the configuration and its secrets; pending events then dead-letter at send."""
    async with conn.transaction():
        await conn.execute("DELETE FROM webhook_secrets WHERE app_id = %s", (app_id,))
        cur = await conn.execute("DELETE FROM webhook_endpoints WHERE app_id = %s", (app_id,))
        return cur.rowcount > 0


DELIVERY_STATES = ("pending", "delivered", "dead")


@dataclass(frozen=True)
class DeliveryFilter:
    state: str | None = None
    type: str | None = None
    dispatch_id: str | None = None
    message_id: str | None = None
    dispatch_ids: tuple[str, ...] | None = None  # any of these (a message's story)
    date_from: datetime | None = None
    date_to: datetime | None = None


@dataclass(frozen=True)
class Attempt:
    """One HTTP attempt at delivering a webhook event."""

    at: str  # RFC 3339, as PostgreSQL renders it
    url: str
    status_code: int | None  # None when no HTTP answer came
    latency_ms: float
    error: str | None


@dataclass(frozen=True)
class Delivery:
    """One webhook event and every HTTP attempt at it."""

    id: str
    type: str
    state: str  # one of DELIVERY_STATES
    dispatch_id: str | None
    message_id: str | None
    attempts: int
    next_attempt_at: datetime | None  # only while pending
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    dead_at: datetime | None
    attempt_log: list[Attempt]  # oldest first


async def list_deliveries(conn: Conn, app_id: int, f: DeliveryFilter, *, offset: int,
                          limit: int) -> list[Delivery]:
    """Events newest first, each with every attempt."""
    where = ["e.app_id = %(app)s"]
    for column, value in (("state", f.state), ("type", f.type), ("dispatch_id", f.dispatch_id),
                          ("message_id", f.message_id)):
        if value is not None:
            where.append(f"e.{column} = %({column})s")
    if f.dispatch_ids is not None:
        where.append("e.dispatch_id = ANY(%(dispatch_ids)s::uuid[])")
    if f.date_from is not None:
        where.append("e.created_at >= %(date_from)s")
    if f.date_to is not None:
        where.append("e.created_at <= %(date_to)s")
    query = (
        "SELECT e.id::text, e.type, e.state, e.dispatch_id::text, e.message_id::text,"
        " e.attempts, e.next_attempt_at, e.last_error, e.created_at, e.delivered_at, e.dead_at,"
        " coalesce((SELECT jsonb_agg(jsonb_build_object('at', a.at, 'url', a.url,"
        "   'statusCode', a.status_code, 'latencyMs', round(a.latency_ms::numeric, 1),"
        "   'error', a.error) ORDER BY a.id)"
        "  FROM webhook_attempts a WHERE a.event_id = e.id), '[]') AS attempt_log"
        f" FROM webhook_events e WHERE {' AND '.join(where)}"
        " ORDER BY e.created_at DESC, e.id DESC OFFSET %(offset)s LIMIT %(limit)s"
    )
    params = {"app": app_id, "state": f.state, "type": f.type, "dispatch_id": f.dispatch_id,
              "message_id": f.message_id, "dispatch_ids": list(f.dispatch_ids or ()),
              "date_from": f.date_from, "date_to": f.date_to,
              "offset": offset, "limit": limit}
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        rows = await cur.fetchall()
    return [Delivery(
        id=r["id"], type=r["type"], state=r["state"], dispatch_id=r["dispatch_id"],
        message_id=r["message_id"], attempts=r["attempts"],
        next_attempt_at=r["next_attempt_at"] if r["state"] == "pending" else None,
        last_error=r["last_error"], created_at=r["created_at"],
        delivered_at=r["delivered_at"], dead_at=r["dead_at"],
        attempt_log=[Attempt(a["at"], a["url"], a["statusCode"], float(a["latencyMs"]),
                             a["error"]) for a in r["attempt_log"]],
    ) for r in rows]


async def replay(conn: Conn, app_id: int, event_id: str | None = None) -> int:
    """Put dead letters (one, or all of the app's) back in the queue with a fresh retry window;
    returns how many."""
    cur = await conn.execute(
        "UPDATE webhook_events SET state = 'pending', rounds = 0, retry_from = now(),"
        " next_attempt_at = now(), dead_at = NULL"
        " WHERE app_id = %s AND state = 'dead' AND (%s::uuid IS NULL OR id = %s::uuid)",
        (app_id, event_id, event_id))
    return cur.rowcount
