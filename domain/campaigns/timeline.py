"""A campaign's sends over time, for the panel's chart: the recipients submitted in each of
``buckets`` equal slices of the time from its first submission to its last, split into those
whose dispatch failed and the rest. One indexed pass over the campaign's recipients."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

_SPAN = """SELECT min(submitted_at), max(submitted_at) FROM campaign_recipients
WHERE campaign_id = %s AND submitted_at IS NOT NULL"""
# width_bucket's upper bound is exclusive: the last submission belongs in the last slice.
_PER_BUCKET = """
SELECT least(width_bucket(extract(epoch FROM r.submitted_at), %(lo)s, %(hi)s, %(n)s), %(n)s),
       count(*) FILTER (WHERE d.status IS DISTINCT FROM 'failed'),
       count(*) FILTER (WHERE d.status = 'failed')
FROM campaign_recipients r LEFT JOIN dispatches d ON d.id = r.dispatch_id
WHERE r.campaign_id = %(c)s AND r.submitted_at IS NOT NULL GROUP BY 1"""


@dataclass(frozen=True)
class Slice:
    ok: int  # submitted, not failed (yet)
    failed: int


@dataclass(frozen=True)
class Timeline:
    first: datetime | None  # None: nothing submitted yet
    last: datetime | None
    slices: list[Slice]


async def timeline(conn: AsyncConnection[Any], campaign_id: str, buckets: int) -> Timeline:
    first, last = await (await conn.execute(_SPAN, (campaign_id,))).fetchone() or (None, None)
    if first is None or last is None:
        return Timeline(None, None, [])
    lo = first.timestamp()
    hi = max(last.timestamp(), lo + 1.0)  # one instant still draws as one second
    counts = {int(b): (int(ok), int(failed)) for b, ok, failed in await (await conn.execute(
        _PER_BUCKET, {"c": campaign_id, "lo": lo, "hi": hi, "n": buckets})).fetchall()}
    return Timeline(first, last, [Slice(*counts.get(i, (0, 0))) for i in range(1, buckets + 1)])
