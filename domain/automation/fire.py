"""Events in, pushes out: ``fire`` takes a batch of events and, in ONE transaction on one
connection, claims their ids (idempotency, ``domain.automation.events``), drops the pending
sends they cancel, evaluates every enabled rule of the event's name and makes its sends
(``domain.automation.sending``: now, or held in ``automation_pending``), and stores each event's
answer. The tasks are published after the commit. A repeated id answers what was stored.

For each rule the answer says whether it fired and what it made, or why not:
``condition_false``, ``no_devices``, ``cooldown`` (the rule fired for this user less than
``cooldownSeconds`` ago), ``cap`` (the user had the app's daily cap of automated pushes),
``template_error`` (a message whose dispatches failed so, listed too). A send waiting for quiet
hours to end is listed under ``scheduled`` with ``why: quiet_hours``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection

from domain.automation import events as stored_events
from domain.automation import pending
from domain.automation.cache import RuleCache
from domain.automation.conditions import MISSING, holds, lookup
from domain.automation.events import EventBody
from domain.automation.render import CompiledRule, event_context
from domain.automation.rules import daily_cap
from domain.automation.sending import Sent, body_for, send_failed, send_now
from domain.automation.templates import RenderError
from domain.automation.timing import send_time
from domain.automation.tx import DeviceConflict, TransactionOutlet
from domain.devices.registry import devices_of_tokens, devices_of_users
from domain.messages.submit import Outlet, SendingApp

_COOLDOWN = """
INSERT INTO automation_cooldowns AS c (rule_id, user_id, app_id, fired_at)
VALUES (%s, %s, %s, to_timestamp(%s))
ON CONFLICT (rule_id, user_id) DO UPDATE SET fired_at = excluded.fired_at
WHERE c.fired_at <= excluded.fired_at - make_interval(secs => %s)
RETURNING 1
"""
_CAP = """
INSERT INTO automation_daily_counts AS n (app_id, user_id, day, sent) VALUES (%s, %s, %s, 1)
ON CONFLICT (app_id, user_id, day) DO UPDATE SET sent = n.sent + 1 WHERE n.sent < %s
RETURNING sent
"""


@dataclass(frozen=True)
class Target:
    token: str
    language: str | None
    time_zone: str | None


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")


async def targets_of(conn: AsyncConnection[Any], app_id: int, events: Sequence[EventBody]
                     ) -> dict[str, list[Target]]:
    """Each event's targets (by event id): its user's valid devices, then its own tokens."""
    users = sorted({e.user_id for e in events if e.user_id})
    tokens = sorted({t for e in events for t in e.device_tokens or ()})
    by_user: dict[str, list[Target]] = defaultdict(list)
    for d in await devices_of_users(conn, app_id, users) if users else ():
        by_user[d.user_id or ""].append(Target(d.token, d.language, d.time_zone))
    known = await devices_of_tokens(conn, app_id, tokens) if tokens else {}
    out: dict[str, list[Target]] = {}
    for e in events:
        found = list(by_user.get(e.user_id or "", [])) if e.user_id else []
        seen = {t.token for t in found}
        for token in e.device_tokens or ():
            if token not in seen:
                device = known.get(token)
                found.append(Target(token, device.language if device else None,
                                    device.time_zone if device else None))
                seen.add(token)
        out[e.event_id] = found
    return out


def _day(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).date().isoformat()


async def _claim_budget(conn: AsyncConnection[Any], app_id: int, rule: CompiledRule,
                        user_id: str, cap: int | None, now: float) -> None:
    """Take the rule's cooldown and one of the user's daily cap, both or neither."""
    async with conn.transaction():  # a savepoint: a refused cap gives the cooldown back
        if rule.rule.cooldown_seconds:
            cur = await conn.execute(_COOLDOWN, (rule.rule_id, user_id, app_id, now,
                                                 rule.rule.cooldown_seconds))
            if await cur.fetchone() is None:
                raise _Refused("cooldown")
        if cap is not None:
            cur = await conn.execute(_CAP, (app_id, user_id, _day(now), cap))
            if await cur.fetchone() is None:
                raise _Refused("cap")


def _groups(rule: CompiledRule, targets: list[Target], now: float
            ) -> dict[tuple[str, float, str | None], list[str]]:
    """Tokens by (template language, send time, why it waits)."""
    groups: dict[tuple[str, float, str | None], list[str]] = defaultdict(list)
    for t in targets:
        at, why = send_time(rule.rule, now, t.time_zone)
        groups[rule.language_for(t.language), at, why].append(t.token)
    return groups


def _message(sent: Sent, language: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"messageId": sent.message_id, "status": sent.status,
                             "dispatches": sent.dispatches, "language": language}
    if sent.reason:
        entry["reason"] = sent.reason
        entry["detail"] = sent.detail
    return entry


async def _fire_rule(tx: TransactionOutlet, app: SendingApp, e: EventBody, rule: CompiledRule,
                     targets: list[Target], cap: int | None, request_id: str, now: float
                     ) -> dict[str, Any]:
    answer: dict[str, Any] = {"ruleId": rule.rule_id, "ruleName": rule.rule.name}
    if not holds(rule.rule.conditions, e.properties):
        return {**answer, "fired": False, "reason": "condition_false"}
    if not targets:
        return {**answer, "fired": False, "reason": "no_devices"}
    conn = tx.writer.conn
    if e.user_id and (rule.rule.cooldown_seconds or cap is not None):
        try:
            await _claim_budget(conn, app.app_id, rule, e.user_id, cap, now)
        except _Refused as refused:
            return {**answer, "fired": False, "reason": refused.reason}
    context = event_context(e.name, e.event_id, e.user_id, e.properties)
    messages: list[dict[str, Any]] = []
    scheduled: list[dict[str, Any]] = []
    cancel = _cancel_of(rule, e)
    for (language, at, why), tokens in _groups(rule, targets, now).items():
        try:
            body = rule.body(language, context)
        except RenderError as exc:
            raw = rule.rule.templates[language]
            failed = await send_failed(tx, app, tokens, body_for(
                {"title": raw.title, "content": raw.content}, e.event_id, None, now),
                rule.rule_id, str(exc), request_id=request_id, now=now)
            messages.append(_message(failed, language))
            continue
        if at > now:
            held = pending.Hold(app.app_id, rule.rule_id, e.event_id, e.user_id, at, tokens,
                                body, rule.rule.ttl_seconds, why or "delay", cancel)
            scheduled.append({"pendingId": await pending.hold(conn, held), "sendAt": iso(at),
                              "why": held.why, "devices": len(tokens), "language": language})
            continue
        sent = await send_now(tx, app, tokens, body_for(body, e.event_id,
                                                        rule.rule.ttl_seconds, now),
                              rule.rule_id, request_id=request_id, now=now)
        messages.append(_message(sent, language))
    fired = bool(scheduled) or any(m["status"] == "queued" for m in messages)
    answer.update(fired=fired, messages=messages, scheduled=scheduled)
    if not fired:
        answer["reason"] = next((m["reason"] for m in messages if m.get("reason")), "no_devices")
    return answer


def _cancel_of(rule: CompiledRule, e: EventBody) -> tuple[str, str, str] | None:
    c = rule.rule.cancel
    if c is None:
        return None
    value = lookup(e.properties, tuple(c.key.split(".")))
    if value is MISSING or value is None or isinstance(value, dict | list):
        return None
    # As PostgreSQL's #>> prints the cancel event's value: true, 42, text.
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return c.event, c.key, text


async def fire(outlet: Outlet, app: SendingApp, batch: Sequence[EventBody], *,
               cache: RuleCache, request_id: str, now: float) -> list[dict[str, Any]]:
    """Each event's answer, in the batch's order (see the module docstring). The messages of
    the batch are stored in one statement; when a device changed under it, the whole batch is
    done again, storing message by message (``domain.automation.tx.DeviceConflict``)."""
    try:
        return await _fire(outlet, app, batch, cache, request_id, now, deferred=True)
    except DeviceConflict:
        return await _fire(outlet, app, batch, cache, request_id, now, deferred=False)


async def _fire(outlet: Outlet, app: SendingApp, batch: Sequence[EventBody], cache: RuleCache,
                request_id: str, now: float, *, deferred: bool) -> list[dict[str, Any]]:
    unique = list({e.event_id: e for e in batch}.values())
    unique.sort(key=lambda e: e.event_id)  # one lock order for every batch: no deadlocks
    answered: dict[str, dict[str, Any]] = {}
    async with outlet.pool.connection() as conn:
        tx = TransactionOutlet(outlet, conn, deferred)
        async with conn.transaction():
            new = await stored_events.claim(conn, app.app_id, unique, now)
            fresh = [e for e in unique if e.event_id in new]
            if fresh:
                canceled = await pending.cancel_matching(conn, app.app_id, [
                    {"event_id": e.event_id, "name": e.name, "properties": e.properties}
                    for e in fresh], now)
                rules = await cache.rules(conn, app.app_id, {e.name for e in fresh})
                wanted = [e for e in fresh if any(r.rule.event == e.name for r in rules)]
                targets = await targets_of(conn, app.app_id, wanted) if wanted else {}
                cap = await daily_cap(conn, app.app_id) if wanted else None
                for e in fresh:
                    answered[e.event_id] = {
                        "eventId": e.event_id, "name": e.name,
                        "canceled": canceled.get(e.event_id, []),
                        "rules": [await _fire_rule(tx, app, e, r, targets[e.event_id], cap,
                                                   request_id, now)
                                  for r in rules if r.rule.event == e.name]}
                await tx.writer.flush()
                await stored_events.set_answers(conn, app.app_id, answered)
            repeats = [e.event_id for e in unique if e.event_id not in new]
            if repeats:
                answered.update(await stored_events.answers(conn, app.app_id, repeats))
        await tx.publish()
    return [answered[e.event_id] for e in batch]
