"""The sends a rule makes, all through ``domain.messages.submit`` (``source=automation``, the tx
lane, ``source_ref`` = the rule, ``externalId`` = the event's ``eventId``):

- ``send_now``: a rendered push, validated by the push contract's rules;
- ``send_failed``: a push that could not be rendered (``template_error``): stored as a message
  whose dispatches are recorded ``failed`` at once, in the same transaction, so that search,
  the panel and webhooks (``push.failed``) show it like any other failure. It is never queued:
  it is stored scheduled a day ahead with a ttl already past, and recorded failed before the
  commit -- even a crash cannot send it (a failed dispatch is not publishable, and a past ttl
  is dropped by the send workers).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from domain.automation.render import validated
from domain.automation.tx import TransactionOutlet
from domain.dispatches.record import Outcome, record_query
from domain.messages.idempotency import StoredAnswer
from domain.messages.submit import LimitsExceeded, NothingAccepted, SendingApp, Source, submit
from shared.payload import Limits, PushRequest

TEMPLATE_ERROR = "template_error"
_NEVER_SOON = 86400.0


@dataclass(frozen=True)
class App:
    """A ``SendingApp`` for callers that are not an API key (the release job)."""

    app_id: int
    limits: Limits


@dataclass(frozen=True)
class Sent:
    message_id: str | None
    status: str  # queued | failed
    dispatches: int
    reason: str | None = None  # failed: template_error, no_devices
    detail: str | None = None


def body_for(body: dict[str, Any], event_id: str, ttl_seconds: int | None, now: float
             ) -> dict[str, Any]:
    extra: dict[str, Any] = {"externalId": event_id}
    if ttl_seconds:
        extra["ttl"] = int(now) + ttl_seconds
    return {**body, **extra}


async def send_now(tx: TransactionOutlet, app: SendingApp, tokens: list[str],
                   body: dict[str, Any], rule_id: str, *, request_id: str, now: float) -> Sent:
    """Validate and submit a rendered push; a push the contract refuses is a template error."""
    request, errors = validated(body, tokens, app.limits, now)
    if request is None:
        why = "; ".join(f"{e.parameter}: {e.message}" for e in errors)
        return await send_failed(tx, app, tokens, body, rule_id, why, request_id=request_id,
                                 now=now)
    try:
        submitted = await submit(app, request, outlet=tx, source=Source("automation", rule_id),
                                 lane="tx", request_id=request_id, now=now)
    except NothingAccepted as exc:
        return Sent(None, "failed", 0, "no_devices",
                    "; ".join(f"{r.code}: {r.token[:8]}…" for r in exc.rejected))
    except LimitsExceeded as exc:
        why = "; ".join(f"{e.parameter}: {e.message}" for e in exc.errors)
        return await send_failed(tx, app, tokens, body, rule_id, why, request_id=request_id,
                                 now=now)
    assert not isinstance(submitted, StoredAnswer)  # no idempotency key is given
    return Sent(submitted.message_id, "queued", len(submitted.dispatches))


async def send_failed(tx: TransactionOutlet, app: SendingApp, tokens: list[str],
                      body: dict[str, Any], rule_id: str, why: str, *, request_id: str,
                      now: float) -> Sent:
    """Store the push as failed with ``template_error`` (see the module docstring)."""
    content: Any = {k: v for k, v in body.items() if k in ("title", "content")}
    content.setdefault("content", "")
    request = PushRequest(tokens, content, ttl=int(now),
                          schedule_time=datetime.fromtimestamp(now + _NEVER_SOON, UTC),
                          external_id=body.get("externalId"))
    try:
        submitted = await submit(app, request, outlet=tx, source=Source("automation", rule_id),
                                 lane="tx", request_id=request_id, now=now)
    except NothingAccepted as exc:
        return Sent(None, "failed", 0, "no_devices",
                    "; ".join(f"{r.code}: {r.token[:8]}…" for r in exc.rejected))
    assert not isinstance(submitted, StoredAnswer)
    await tx.writer.flush()  # the dispatches must be stored before they are recorded failed
    detail = orjson.dumps({"reason": TEMPLATE_ERROR, "detail": why[:500]}).decode()
    query, params = record_query([Outcome(d.id, app.app_id, "failed", now, TEMPLATE_ERROR,
                                          gateway_response=detail)
                                  for d in submitted.dispatches])
    await tx.writer.conn.execute(query, params)
    return Sent(submitted.message_id, "failed", len(submitted.dispatches), TEMPLATE_ERROR, why)
