"""The launch plan: how many recipients remain after the exclusions, the rate each gateway
will carry them at, and when the campaign will be done -- refused when ``finishBy`` cannot be
met. The pacer paces with the same rate (``bulk_rate``), so the plan is what happens unless the
campaign is slowed down for transactional traffic.

Transactional pushes come first: a campaign never goes faster than the app's bulk rate of that
gateway (``domain.keys.send_rates``, the budget of the bulk lane's token bucket), whatever
``perMinute`` asks for; the transactional lane has a budget of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection

from domain.campaigns.store import Campaign
from domain.keys.send_rates import SendRates, from_row
from shared.queues import gateway_for
from shared.settings import Settings
from shared.tokens import PLATFORMS

_PENDING = """SELECT platform, count(*) FROM campaign_recipients
WHERE campaign_id = %s AND state = 'pending' GROUP BY platform"""
_NOW_AND_RATES = "SELECT now(), send_rates FROM apps WHERE id = %s"


def bulk_rate(per_minute: int, rates: SendRates, platform: str) -> float:
    """Sends per second of one gateway for a campaign: ``perMinute``, at most the app's bulk
    rate of that gateway (0: unlimited)."""
    wanted = per_minute / 60.0
    lane_rate = rates.of(gateway_for(platform), "bulk")
    return wanted if lane_rate <= 0 else min(wanted, lane_rate)


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


async def launch_plan(conn: AsyncConnection[Any], c: Campaign, settings: Settings) -> Plan:
    row = await (await conn.execute(_NOW_AND_RATES, (c.app_id,))).fetchone()
    assert row is not None
    now, rates = row[0], from_row(row[1], settings)
    counts = dict(await (await conn.execute(_PENDING, (c.id,))).fetchall())
    recipients: dict[str, int] = {p: int(counts.get(p, 0)) for p in PLATFORMS}
    rate: dict[str, float] = {p: bulk_rate(c.per_minute, rates, p) for p in PLATFORMS}
    starts = max(now, c.schedule_time) if c.schedule_time is not None else now
    seconds = max(recipients[p] / rate[p] for p in PLATFORMS)
    finishes = starts + timedelta(seconds=seconds)
    refusal = None
    if c.finish_by is not None and finishes > c.finish_by:
        slowest = max(PLATFORMS, key=lambda p: recipients[p] / rate[p])
        capped = rate[slowest] < c.per_minute / 60.0
        why, raise_what = ((f" (the app's bulk send rate of {gateway_for(slowest)}: "
                            f"{rate[slowest]:g}/s)", "the app's bulk send rate")
                           if capped else ("", "perMinute"))
        refusal = (f"{recipients[slowest]} recipients of {gateway_for(slowest)} at "
                   f"{rate[slowest] * 60:.0f}/min{why} need until {finishes.isoformat()}, after "
                   f"finishBy {c.finish_by.isoformat()}; raise {raise_what} or start earlier")
    return Plan(recipients, {k: int(v) for k, v in c.excluded.items()}, rate, starts, finishes,
                refusal)


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
