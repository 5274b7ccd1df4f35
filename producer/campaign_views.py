"""How campaigns, their progress, plans and upload reports look in answers, and their schemas."""

from __future__ import annotations

from typing import Any

from domain.campaigns.audience import UploadReport
from domain.campaigns.plan import Plan
from domain.campaigns.progress import Progress
from domain.campaigns.store import Campaign
from producer.history import iso

_INT, _STR, _NUM = {"type": "integer"}, {"type": "string"}, {"type": "number"}
_OPT_STR = {"type": ["string", "null"]}
_COUNTS = {"type": "object", "additionalProperties": {"type": "integer"}}


def progress_view(p: Progress) -> dict[str, Any]:
    return {"total": p.total, "pending": p.pending, "queued": p.queued, "sent": p.sent,
            "failed": p.failures, "failedByReason": p.failed, "delivered": p.delivered,
            "opened": p.opened, "canceled": p.canceled,
            "ratePerMinute": round(p.rate_per_second * 60, 1),
            "plannedRatePerMinute": round(p.planned_rate * 60, 1),
            "estimatedFinish": iso(p.estimated_finish)}


PROGRESS_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    **{k: _INT for k in ("total", "pending", "queued", "sent", "failed", "delivered", "opened",
                         "canceled")},
    "failedByReason": _COUNTS, "ratePerMinute": _NUM, "plannedRatePerMinute": _NUM,
    "estimatedFinish": _OPT_STR}}


def campaign_view(c: Campaign, p: Progress | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": c.id, "name": c.name, "state": c.state, "haltReason": c.halt_reason,
        "content": c.content, "languages": c.languages, "fallback": c.fallback,
        "audience": c.audience, "perMinute": c.per_minute,
        "scheduleTime": iso(c.schedule_time), "finishBy": iso(c.finish_by),
        "canary": None if c.canary_percent is None else {
            "percent": c.canary_percent, "maxFailureRate": c.canary_max_failure,
            "size": c.canary_size, "state": c.canary_state},
        "excluded": c.excluded, "round": c.round, "createdAt": iso(c.created_at),
        "startedAt": iso(c.started_at), "finishedAt": iso(c.finished_at)}
    if p is not None:
        view["progress"] = progress_view(p)
    return view


CAMPAIGN_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "id": _STR, "name": _STR, "state": {"type": "string", "enum": [
        "draft", "scheduled", "running", "paused", "halted", "canceled", "finished"]},
    "haltReason": _OPT_STR, "content": {"type": "object"}, "languages": {"type": "object"},
    "fallback": {"type": "array", "items": _STR}, "audience": {"type": "object"},
    "perMinute": _INT, "scheduleTime": _OPT_STR, "finishBy": _OPT_STR,
    "canary": {"type": ["object", "null"]}, "excluded": _COUNTS, "round": _INT,
    "createdAt": _STR, "startedAt": _OPT_STR, "finishedAt": _OPT_STR,
    "progress": PROGRESS_SCHEMA}}


def plan_view(plan: Plan) -> dict[str, Any]:
    return {"recipients": plan.total, "byPlatform": plan.recipients, "excluded": plan.excluded,
            "ratePerMinute": {k: round(v * 60, 1) for k, v in plan.rate_per_second.items()},
            "startsAt": iso(plan.starts_at), "estimatedFinish": iso(plan.finishes_at),
            "feasible": plan.refusal is None, "refusal": plan.refusal}


PLAN_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "recipients": _INT, "byPlatform": _COUNTS, "excluded": _COUNTS,
    "ratePerMinute": {"type": "object", "additionalProperties": _NUM}, "startsAt": _STR,
    "estimatedFinish": _STR, "feasible": {"type": "boolean"}, "refusal": _OPT_STR}}


def upload_view(r: UploadReport) -> dict[str, Any]:
    return {"lines": r.lines, "accepted": r.accepted, "invalid": r.invalid,
            "duplicate": r.duplicate, "dead": r.dead,
            "problems": [{"line": n, "reason": why} for n, why in r.problems]}


UPLOAD_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    **{k: _INT for k in ("lines", "accepted", "invalid", "duplicate", "dead")},
    "problems": {"type": "array", "items": {"type": "object", "properties": {
        "line": _INT, "reason": _STR}}}}}
