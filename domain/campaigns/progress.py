"""What the ledger says: the progress of a campaign (read by joining each submitted recipient to
its dispatch, whose status the DLR records as for any push), the canary's verdict, and the end
of a campaign -- "finished" only once every recipient is final.

A recipient is final when rejected or canceled, or when its dispatch is past ``queued``
(``shared.statuses``: sent, failed, delivered, opened, canceled).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection

from domain.webhooks.campaign_events import campaign_finished
from shared import statuses

NOT_FINAL = sorted(s for s, r in statuses.RANK.items() if r < statuses.RANK["sent"])
RATE_WINDOW_SECONDS = 10

_COUNTS = """
SELECT r.state, d.status, coalesce(d.reason, r.reason), count(*)
FROM campaign_recipients r LEFT JOIN dispatches d ON d.id = r.dispatch_id
WHERE r.campaign_id = %s GROUP BY 1, 2, 3
"""
_RATE = """
SELECT (SELECT count(*) FROM campaign_recipients WHERE campaign_id = %(c)s
          AND submitted_at > now() - make_interval(secs => %(window)s)),
       (SELECT coalesce(sum(rate), 0) FROM campaign_pacing WHERE campaign_id = %(c)s),
       (SELECT coalesce(max(count), 0) FROM (
            SELECT count(*) FROM campaign_recipients WHERE campaign_id = %(c)s
              AND state = 'pending' GROUP BY platform) x),
       now()
"""


@dataclass
class Progress:
    total: int = 0
    pending: int = 0
    queued: int = 0  # submitted, no outcome yet
    sent: int = 0  # accepted by the gateway (delivered and opened included)
    delivered: int = 0  # opened included
    opened: int = 0
    canceled: int = 0
    failed: dict[str, int] = field(default_factory=dict)  # by reason (rejections included)
    rate_per_second: float = 0.0  # measured over the last seconds
    planned_rate: float = 0.0  # the pacer's current rate, all gateways
    estimated_finish: datetime | None = None

    @property
    def final(self) -> int:
        return self.total - self.pending - self.queued

    @property
    def failures(self) -> int:
        return sum(self.failed.values())


async def progress(conn: AsyncConnection[Any], campaign_id: str, state: str) -> Progress:
    p = Progress()
    failed: Counter[str] = Counter()
    for ledger, status, reason, n in await (await conn.execute(_COUNTS, (campaign_id,))
                                            ).fetchall():
        p.total += n
        if ledger == "pending":
            p.pending += n
        elif ledger == "rejected":
            failed[reason or "rejected"] += n
        elif ledger == "canceled" or status == "canceled":
            p.canceled += n
        elif status in NOT_FINAL or status is None:
            p.queued += n
        elif status == "failed":
            failed[reason or "failed"] += n
        else:
            p.sent += n
            p.delivered += n if status in ("delivered", "opened") else 0
            p.opened += n if status == "opened" else 0
    p.failed = dict(failed)
    row = await (await conn.execute(_RATE, {"c": campaign_id, "window": RATE_WINDOW_SECONDS})
                 ).fetchone()
    assert row is not None
    recent, planned, longest, now = row
    p.rate_per_second = recent / RATE_WINDOW_SECONDS
    p.planned_rate = float(planned) if state == "running" else 0.0
    per_gateway = p.planned_rate / 2 if p.planned_rate else 0.0
    if p.pending == 0:
        p.estimated_finish = now if p.queued == 0 else None
    elif per_gateway > 0:
        p.estimated_finish = now + timedelta(seconds=longest / per_gateway)
    return p


# Two statements: the second (a join over every submitted recipient) runs only once nothing is
# pending any more.
_NOTHING_PENDING = """SELECT NOT EXISTS (SELECT 1 FROM campaign_recipients
    WHERE campaign_id = %(c)s AND state = 'pending')"""
_ALL_FINAL = f"""
SELECT NOT EXISTS (SELECT 1 FROM campaign_recipients r JOIN dispatches d ON d.id = r.dispatch_id
                   WHERE r.campaign_id = %(c)s AND r.state = 'submitted'
                     AND d.status = ANY(ARRAY{NOT_FINAL!r}))
"""
_FINISH = """UPDATE campaigns SET state = 'finished', finished_at = now(), updated_at = now()
WHERE id = %s AND state = 'running' RETURNING app_id, name, round"""


async def finish_if_done(conn: AsyncConnection[Any], campaign_id: str) -> bool:
    """Mark a running campaign finished when every recipient is final, and queue its
    ``campaign.finished`` event, in one transaction; whether it finished now."""
    async with conn.transaction():
        for check in (_NOTHING_PENDING, _ALL_FINAL):
            row = await (await conn.execute(check, {"c": campaign_id})).fetchone()
            if not (row and row[0]):
                return False
        done = await (await conn.execute(_FINISH, (campaign_id,))).fetchone()
        if done is None:
            return False
        app_id, name, round_ = done
        p = await progress(conn, campaign_id, "finished")
        await campaign_finished(conn, app_id, {
            "campaignId": campaign_id, "name": name, "round": round_, "total": p.total,
            "sent": p.sent, "failed": p.failed, "canceled": p.canceled})
    return True


_CANARY_TAKEN = """SELECT coalesce(sum(canary_left), 0) = 0 FROM campaign_pacing
WHERE campaign_id = %s"""
_HALT = """UPDATE campaigns SET state = 'halted', canary_state = 'failed', halt_reason = %s,
    updated_at = now() WHERE id = %s AND state = 'running' AND canary_state = 'sending'"""
_PASS = """UPDATE campaigns SET canary_state = 'passed', updated_at = now()
WHERE id = %s AND canary_state = 'sending'"""


async def judge_canary(conn: AsyncConnection[Any], campaign_id: str, max_failure: float
                       ) -> str | None:
    """Once the whole canary slice is final: halt the campaign when more of it failed than
    ``max_failure`` (a fraction), else let it go on. The verdict ("passed" or the halt reason),
    or None while the slice is still on its way."""
    row = await (await conn.execute(_CANARY_TAKEN, (campaign_id,))).fetchone()
    if not (row and row[0]):
        return None
    p = await progress(conn, campaign_id, "running")
    if p.queued:
        return None
    done = p.final
    if done and p.failures / done > max_failure:
        worst, count = max(p.failed.items(), key=lambda kv: kv[1])
        reason = (f"canary: {p.failures} of {done} recipients failed "
                  f"({p.failures / done:.1%}, threshold {max_failure:.1%}); most often "
                  f"'{worst}' ({count})")
        await conn.execute(_HALT, (reason, campaign_id))
        return reason
    await conn.execute(_PASS, (campaign_id,))
    return "passed"
