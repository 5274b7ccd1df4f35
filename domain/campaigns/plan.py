"""The launch plan: how many recipients remain after the exclusions, the rate each gateway
will carry them at, and when the campaign will be done -- refused when ``finishBy`` cannot be
met. The pacer paces with the same rate (``bulk_rate``), so the plan is what happens unless the
campaign is slowed down for transactional traffic.

Transactional pushes come first: a campaign never plans to use more than
``1 - TX_SHARE_RESERVED`` of the app's send rate per gateway (``apps.send_rate``, else
``PUSHFLOW_SEND_RATE_PER_SECOND``), whatever ``perMinute`` asks for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection

from domain.campaigns.store import Campaign
from shared.tokens import PLATFORMS

TX_SHARE_RESERVED = 0.25

_PENDING = """SELECT platform, count(*) FROM campaign_recipients
WHERE campaign_id = %s AND state = 'pending' GROUP BY platform"""
_NOW_AND_RATE = "SELECT now(), send_rate FROM apps WHERE id = %s"


def bulk_rate(per_minute: int, app_send_rate: float) -> float:
    """Sends per second of one gateway for a campaign (``app_send_rate`` 0: unlimited)."""
    wanted = per_minute / 60.0
    if app_send_rate <= 0:
        return wanted
    return min(wanted, app_send_rate * (1.0 - TX_SHARE_RESERVED))


@dataclass(frozen=True)
class Plan:
    recipients: dict[str, int]  # pending, by platform
    excluded: dict[str, int]
    rate_per_second: dict[str, float]  # by platform
    starts_at: datetime
    finishes_at: datetime
    refusal: str | None  # why finishBy cannot be met

    @property
    def total(self) -> int:
        return sum(self.recipients.values())


async def app_send_rate(conn: AsyncConnection[Any], app_id: int, default: float
                        ) -> tuple[datetime, float]:
    row = await (await conn.execute(_NOW_AND_RATE, (app_id,))).fetchone()
    assert row is not None
    return row[0], float(row[1]) if row[1] is not None else default


async def launch_plan(conn: AsyncConnection[Any], c: Campaign, default_send_rate: float
                      ) -> Plan:
    now, send_rate = await app_send_rate(conn, c.app_id, default_send_rate)
    counts = dict(await (await conn.execute(_PENDING, (c.id,))).fetchall())
    recipients: dict[str, int] = {p: int(counts.get(p, 0)) for p in PLATFORMS}
    rate = bulk_rate(c.per_minute, send_rate)
    starts = max(now, c.schedule_time) if c.schedule_time is not None else now
    seconds = max(n / rate for n in recipients.values())
    finishes = starts + timedelta(seconds=seconds)
    refusal = None
    if c.finish_by is not None and finishes > c.finish_by:
        reserved = "" if send_rate <= 0 else (
            f" (at most {rate * 60:.0f}/min: {TX_SHARE_RESERVED:.0%} of the app's send rate"
            f" of {send_rate:g}/s per gateway is kept for transactional pushes)")
        refusal = (f"{max(recipients.values())} recipients of one gateway at "
                   f"{rate * 60:.0f}/min{reserved} need until {finishes.isoformat()}, after "
                   f"finishBy {c.finish_by.isoformat()}; raise perMinute or start earlier")
    return Plan(recipients, {k: int(v) for k, v in c.excluded.items()},
                {p: rate for p in PLATFORMS}, starts, finishes, refusal)


@dataclass(frozen=True)
class Refusal:
    code: str  # the API's error code
    parameter: str
    message: str


def start_refusal(c: Campaign, launch: Plan) -> Refusal | None:
    """Why a draft campaign may not start on this plan (None: it may)."""
    if launch.total == 0:
        return Refusal("EMPTY_AUDIENCE", "audience", "The campaign has no recipients to send to"
                       + (" (upload a token list first)" if c.audience.get("kind") == "upload"
                          else ""))
    if launch.refusal is not None:
        return Refusal("FINISH_BY_UNREACHABLE", "finishBy", launch.refusal)
    return None
