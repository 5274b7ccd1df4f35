"""One dispatch's whole story, for the panel's dispatch page: the stages it went through with the
time spent in each (accepted -> queued -> taken by a worker -> each gateway attempt -> sent ->
delivered / opened / failed -> each webhook attempt), the payload as sent to APNs or FCM, the
gateway's answers and the webhook attempts.

The payload is rebuilt, not stored: with the encoders the send workers use
(``shared.gateway_payloads``), which are pure functions of the stored message, so the rebuilt
body is the one sent. One caveat, FCM's ``android.ttl``: the worker turns the message's absolute
ttl into the seconds left when it builds the request, so it is rebuilt for the start of the last
attempt and may differ from what was sent by the second the request took to leave.

Scoped by app: another app's dispatch is not found, like a missing one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import orjson
from psycopg import AsyncConnection

from domain.dispatches.timeline import (
    DISPATCH_COLUMNS,
    EVENTS,
    DispatchStory,
    GatewayAttempt,
    dispatch_story,
)
from domain.webhooks.config import Attempt, Delivery, DeliveryFilter, list_deliveries
from shared.gateway_payloads import apns_body, fcm_body
from shared.jobs import MessageContent

_DISPATCH = f"""
SELECT {DISPATCH_COLUMNS}, d.message_id, m.external_id, m.content, m.webhook_url,
       m.schedule_time, extract(epoch FROM m.ttl)::bigint, d.source, d.source_ref,
       m.request_id, m.created_at
FROM dispatches d JOIN messages m ON m.id = d.message_id
WHERE d.id = %s AND d.app_id = %s
"""
_MAX_DELIVERIES = 200  # webhook events of one dispatch: a handful in practice


@dataclass(frozen=True)
class GatewayPayload:
    """The request body for APNs (``POST /3/device/<token>``) or FCM (``messages:send``)."""

    gateway: str  # apns | fcm
    body: bytes  # byte for byte as the encoder writes it
    json: Any  # the same, decoded
    built_for: datetime | None  # FCM: the moment the relative ttl was computed for


@dataclass(frozen=True)
class Stage:
    """One step of the story. ``spent``: until the next stage (None for the last one)."""

    kind: str  # accepted | scheduled | queued | taken | attempt | retry_wait | sent | failed
    #            | delivered | opened | canceled | webhook
    at: datetime
    spent: timedelta | None
    attempt: GatewayAttempt | None = None  # kinds taken, attempt, retry_wait
    webhook: Attempt | None = None  # kind webhook
    webhook_type: str | None = None  # kind webhook: push.sent, push.delivered, ...
    reason: str | None = None  # kind failed: the failure reason


@dataclass(frozen=True)
class DispatchTimeline:
    message_id: str
    external_id: str | None
    content: dict[str, Any]  # the message as the API accepted it
    webhook_url: str | None
    schedule_time: datetime | None
    source: str
    source_ref: str | None
    request_id: str | None
    accepted_at: datetime
    dispatch: DispatchStory  # status, history, attempt_log (the gateway's answers), webhooks
    payload: GatewayPayload
    stages: list[Stage]  # in time order


def gateway_payload(content: MessageContent, platform: str, token: str, ttl: int | None,
                    built_for: datetime | None) -> GatewayPayload:
    """The body the send worker builds for this message (``workers/apns/gateway.py``,
    ``workers/fcm/request.py``); FCM's relative ttl as of ``built_for`` (None: now)."""
    if platform == "ios":
        body = apns_body(content)
        return GatewayPayload("apns", body, orjson.loads(body), None)
    at = built_for.timestamp() if built_for is not None else None
    body = fcm_body(content, token, ttl, at)
    return GatewayPayload("fcm", body, orjson.loads(body), built_for)


def stages(accepted_at: datetime, dispatch: DispatchStory) -> list[Stage]:
    """Every stage with its time, in time order, each with the time until the next."""
    found: list[tuple[datetime, int, Stage]] = []

    def add(stage: Stage) -> None:
        found.append((stage.at, len(found), stage))

    add(Stage("accepted", accepted_at, None))
    for event in dispatch.history:
        if event.status == "queued" and event.attempt is not None:
            continue  # a retried attempt: its stages come from the attempt log below
        add(Stage(event.status, event.at, None,
                  reason=event.reason if event.status == "failed" else None))
    for a in dispatch.attempt_log:
        if a.taken_at is not None:
            add(Stage("taken", a.taken_at, None, attempt=a))
        add(Stage("attempt", a.started_at, None, attempt=a))
        if a.outcome == "retried":
            add(Stage("retry_wait", a.answered_at, None, attempt=a))
    for delivery in dispatch.webhooks:
        for w in delivery.attempt_log:
            add(Stage("webhook", datetime.fromisoformat(w.at), None, webhook=w,
                      webhook_type=delivery.type))
    ordered = [s for _, _, s in sorted(found, key=lambda f: (f[0], f[1]))]
    out = []
    for stage, following in zip(ordered, [*ordered[1:], None], strict=True):
        spent = None if following is None else max(following.at - stage.at, timedelta(0))
        out.append(Stage(stage.kind, stage.at, spent, stage.attempt, stage.webhook,
                         stage.webhook_type, stage.reason))
    return out


async def dispatch_timeline(conn: AsyncConnection[Any], app_id: int, dispatch_id: uuid.UUID
                            ) -> DispatchTimeline | None:
    """The dispatch's whole story; None when the app has no such dispatch."""
    row = await (await conn.execute(_DISPATCH, (dispatch_id, app_id))).fetchone()
    if row is None:
        return None
    events = await (await conn.execute(EVENTS, ([dispatch_id],))).fetchall()
    deliveries = await list_deliveries(conn, app_id, DeliveryFilter(dispatch_id=str(dispatch_id)),
                                       offset=0, limit=_MAX_DELIVERIES)
    webhooks: list[Delivery] = list(reversed(deliveries))  # oldest first
    head, rest = tuple(row[:11]), row[11:]
    (message_id, external_id, content, webhook_url, schedule_time, ttl, source, source_ref,
     request_id, accepted_at) = rest
    dispatch = dispatch_story(head, [tuple(e[1:]) for e in events], webhooks)
    last = dispatch.attempt_log[-1].started_at if dispatch.attempt_log else None
    payload = gateway_payload(cast(MessageContent, content), dispatch.platform,
                              dispatch.device_token, ttl, last)
    return DispatchTimeline(
        message_id=str(message_id), external_id=external_id, content=content,
        webhook_url=webhook_url, schedule_time=schedule_time, source=source,
        source_ref=source_ref, request_id=request_id, accepted_at=accepted_at,
        dispatch=dispatch, payload=payload, stages=stages(accepted_at, dispatch))
