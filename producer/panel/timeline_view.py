"""A dispatch's stages (``domain.dispatches.story``) as the rows the dispatch page shows, the
same for its HTML table and for the JSON its script polls while the story is still being
written (``static/timeline.js``), so both say the same thing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from domain.dispatches.story import DispatchTimeline, Stage
from producer.panel.templates import when

FINAL = frozenset({"sent", "failed", "delivered", "opened", "canceled"})
_LABELS = {"accepted": "Accepted by the API", "scheduled": "Scheduled", "queued": "Queued",
           "taken": "Taken by a worker", "attempt": "Gateway attempt",
           "retry_wait": "Waiting to retry", "sent": "Sent (gateway accepted)",
           "failed": "Failed", "delivered": "Delivered", "opened": "Opened",
           "canceled": "Canceled", "webhook": "Webhook attempt"}


def spent(value: timedelta | None) -> str:
    if value is None:
        return ""
    ms = value.total_seconds() * 1000
    return f"{ms:.0f} ms" if ms < 10_000 else f"{ms / 1000:.1f} s"


def _detail(s: Stage) -> str:
    if s.kind in ("attempt", "retry_wait") and s.attempt is not None:
        a = s.attempt
        parts = [f"#{a.number}", a.outcome, f"HTTP {a.gateway_status or 'no answer'}",
                 a.gateway_reason or "", f"{a.latency_ms:.0f} ms"]
        if s.kind == "retry_wait" and a.retry_at is not None:
            parts = [f"#{a.number} retried at {when(a.retry_at)}"]
        return " · ".join(p for p in parts if p)
    if s.kind == "taken" and s.attempt is not None:
        return f"worker {s.attempt.worker or '?'} (attempt #{s.attempt.number})"
    if s.kind == "webhook" and s.webhook is not None:
        w = s.webhook
        answer = f"HTTP {w.status_code}" if w.status_code is not None else (w.error or "no answer")
        return f"{s.webhook_type} → {w.url} · {answer} · {w.latency_ms:.0f} ms"
    return s.reason or ""


def stage_rows(timeline: DispatchTimeline) -> list[dict[str, Any]]:
    return [{"kind": s.kind, "label": _LABELS.get(s.kind, s.kind), "at": when(s.at),
             "spent": spent(s.spent), "detail": _detail(s)} for s in timeline.stages]


def settled(timeline: DispatchTimeline) -> bool:
    """Nothing more will be written soon: a final status and no webhook still pending."""
    return timeline.dispatch.status in FINAL and not any(
        d.state == "pending" for d in timeline.dispatch.webhooks)


def timeline_json(timeline: DispatchTimeline) -> dict[str, Any]:
    d = timeline.dispatch
    return {"status": d.status, "reason": d.reason, "attempts": d.attempts,
            "settled": settled(timeline), "stages": stage_rows(timeline)}
