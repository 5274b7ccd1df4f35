"""A message's whole story: the message, its dispatches, each one's status history, its gateway
attempts and its webhook deliveries with their attempts (``GET /v2.1/push/{messageId}``).

Scoped by app: another app's message is not found, like a missing one.

Gateway attempts are the ``dispatch_events`` rows with an attempt number (migration 0005): a
retried attempt is a ``queued`` row written as it happened, the attempt that ended the dispatch
is the row of its final status (``domain.dispatches.record``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection

from domain.webhooks.config import Delivery, DeliveryFilter, list_deliveries

_MESSAGE = """
SELECT id, external_id, content, webhook_url, schedule_time, ttl, source, source_ref,
       request_id, created_at
FROM messages WHERE id = %s AND app_id = %s
"""
DISPATCH_COLUMNS = """d.id, d.device_token, d.platform, d.lane, d.status, d.reason, d.attempts,
       d.gateway_id, d.gateway_response, d.created_at, d.updated_at"""  # dispatch_story's order
_DISPATCHES = f"""
SELECT {DISPATCH_COLUMNS}
FROM dispatches d WHERE d.message_id = %s AND d.app_id = %s ORDER BY d.id
"""
EVENTS = """
SELECT dispatch_id, status, reason, detail, at, attempt, worker, taken_at, latency_ms, retry_at
FROM dispatch_events WHERE dispatch_id = ANY(%s::uuid[]) ORDER BY dispatch_id, id
"""
# A message has a few webhook events per dispatch (sent, delivered, ...): all of them, at most.
_MAX_DELIVERIES = 1000


@dataclass(frozen=True)
class StatusEvent:
    """One status a dispatch passed through."""

    status: str
    reason: str | None
    detail: Any  # the gateway's answer (JSON), when the step came from one
    at: datetime
    attempt: int | None = None  # the gateway attempt it records (``queued``: one retried)


@dataclass(frozen=True)
class GatewayAttempt:
    """One request to APNs or FCM for a dispatch."""

    number: int  # 1 for the first
    outcome: str  # sent | failed | retried
    started_at: datetime  # the request went out (answered_at - latency)
    answered_at: datetime  # the answer came (or the transport failed)
    latency_ms: float
    gateway_status: int | None  # the gateway's HTTP status; 0 or None: no answer
    gateway_reason: str | None  # APNs reason / FCM error status, or the transport failure
    response: Any  # the gateway's answer as recorded (JSON)
    gateway_id: str | None  # apns-id, or the FCM message name of an accepted message
    worker: str | None  # the send worker that made it (gateway-host-pid)
    taken_at: datetime | None  # when that worker took the job up (a held retry: once due)
    retry_at: datetime | None  # outcome retried: when the next attempt is due


@dataclass(frozen=True)
class DispatchStory:
    id: str
    device_token: str
    platform: str
    lane: str
    status: str
    reason: str | None
    attempts: int
    gateway_id: str | None
    gateway_response: Any
    created_at: datetime
    updated_at: datetime
    history: list[StatusEvent]  # oldest first
    attempt_log: list[GatewayAttempt] = field(default_factory=list)  # by attempt number
    webhooks: list[Delivery] = field(default_factory=list)  # each with its HTTP attempts


@dataclass(frozen=True)
class MessageStory:
    id: str
    external_id: str | None
    content: dict[str, Any]
    webhook_url: str | None
    schedule_time: datetime | None
    ttl: datetime | None
    source: str  # api | automation | campaign
    source_ref: str | None  # the automation rule or campaign behind it
    request_id: str | None
    created_at: datetime
    dispatches: list[DispatchStory]  # by id, i.e. in the order they were created


def gateway_attempts(rows: list[tuple[Any, ...]], dispatch_id: str, platform: str,
                     gateway_id: str | None) -> list[GatewayAttempt]:
    """The attempts among one dispatch's ``EVENTS`` rows (without their dispatch id column).
    APNs carries the dispatch id as ``apns-id`` on every attempt (``shared.jobs.SendJob``); FCM
    names a message only when it accepts it."""
    out: dict[int, GatewayAttempt] = {}
    for status, _reason, detail, at, number, worker, taken_at, latency, retry_at in rows:
        if number is None:
            continue
        answer = detail if isinstance(detail, dict) else {}
        code = answer.get("status")
        if status == "sent":
            attempt_gateway_id = gateway_id
        else:
            attempt_gateway_id = dispatch_id if platform == "ios" else None
        out.setdefault(number, GatewayAttempt(
            number=number, outcome="retried" if status == "queued" else status,
            started_at=at - timedelta(milliseconds=latency or 0.0), answered_at=at,
            latency_ms=float(latency or 0.0),
            gateway_status=code if isinstance(code, int) else None,
            gateway_reason=answer.get("reason") or answer.get("detail"), response=detail,
            gateway_id=attempt_gateway_id,
            worker=worker, taken_at=taken_at, retry_at=retry_at))
    return [out[n] for n in sorted(out)]


def dispatch_story(row: tuple[Any, ...], events: list[tuple[Any, ...]],
                   webhooks: list[Delivery]) -> DispatchStory:
    """A dispatch from its ``DISPATCH_COLUMNS``, its ``EVENTS`` rows (without the dispatch id
    column) and its webhook deliveries (oldest first)."""
    (did, token, platform, lane, status, reason, attempts, gateway_id, response, created,
     updated) = row
    return DispatchStory(
        str(did), token, platform, lane, status, reason, attempts, gateway_id, response,
        created, updated, history=[StatusEvent(e[0], e[1], e[2], e[3], e[4]) for e in events],
        attempt_log=gateway_attempts(events, str(did), platform, gateway_id), webhooks=webhooks)


async def message_story(conn: AsyncConnection[Any], app_id: int, message_id: uuid.UUID
                        ) -> MessageStory | None:
    """The message with every dispatch, its history, attempts and webhooks; None when the app
    has no such message."""
    row = await (await conn.execute(_MESSAGE, (message_id, app_id))).fetchone()
    if row is None:
        return None
    dispatches = await (await conn.execute(_DISPATCHES, (message_id, app_id))).fetchall()
    events = await (await conn.execute(EVENTS, ([d[0] for d in dispatches],))).fetchall()
    by_dispatch: dict[Any, list[tuple[Any, ...]]] = {}
    for event in events:
        by_dispatch.setdefault(event[0], []).append(tuple(event[1:]))
    webhooks: dict[str | None, list[Delivery]] = {}
    deliveries = await list_deliveries(
        conn, app_id, DeliveryFilter(dispatch_ids=tuple(str(d[0]) for d in dispatches)),
        offset=0, limit=_MAX_DELIVERIES) if dispatches else []
    for delivery in reversed(deliveries):  # oldest first
        webhooks.setdefault(delivery.dispatch_id, []).append(delivery)
    (mid, external_id, content, webhook_url, schedule_time, ttl, source, source_ref, rid,
     created) = row
    return MessageStory(
        id=str(mid), external_id=external_id, content=content, webhook_url=webhook_url,
        schedule_time=schedule_time, ttl=ttl, source=source, source_ref=source_ref,
        request_id=rid, created_at=created, dispatches=[
            dispatch_story(tuple(d), by_dispatch.get(d[0], []), webhooks.get(str(d[0]), []))
            for d in dispatches])
