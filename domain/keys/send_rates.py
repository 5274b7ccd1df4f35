"""An app's send rate per gateway and lane (``apps.send_rates``): the one rule every reader
applies -- the send workers' token bucket (``workers/delivery/ratelimit.py``), the campaign plan
and its pacer (``domain/campaigns``), the API and the panel's limits page.

Each (gateway, lane) is its own budget of sends per second; 0 means unlimited. A pair the app
does not set takes its lane's default: ``send_rate_per_second`` for tx,
``bulk_send_rate_per_second`` for bulk. Keys are the send queues' names (``apns.bulk``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from domain.keys.limits import BadLimit, check
from shared.queues import Gateway, Lane, lane_queue
from shared.settings import Settings

Conn = psycopg.AsyncConnection[Any]
GATEWAYS: tuple[Gateway, ...] = ("apns", "fcm")
LANES: tuple[Lane, ...] = ("tx", "bulk")
# The setting whose default and rule (>= 0) a lane's rate takes.
LANE_SETTING: dict[Lane, str] = {"tx": "send_rate_per_second",
                                 "bulk": "bulk_send_rate_per_second"}


def key(gateway: str, lane: Lane) -> str:
    return lane_queue(gateway, lane)


KEYS: tuple[str, ...] = tuple(key(g, lane) for g in GATEWAYS for lane in LANES)


@dataclass(frozen=True)
class SendRates:
    own: dict[str, float]  # the app's own rates by key; the others take the lane's default
    defaults: dict[Lane, float]

    def of(self, gateway: str, lane: Lane) -> float:
        """Sends per second of this app on ``gateway``'s ``lane`` (0: unlimited)."""
        return self.own.get(key(gateway, lane), self.defaults[lane])


def from_row(raw: Mapping[str, Any] | None, settings: Settings) -> SendRates:
    """``apps.send_rates`` as read (a key this module does not know is ignored)."""
    own = {k: float(v) for k, v in dict(raw or {}).items() if k in KEYS and v is not None}
    return SendRates(own, {lane: float(getattr(settings, LANE_SETTING[lane])) for lane in LANES})


def check_rate(gateway: str, lane: Lane, raw: str | float) -> float:
    """A rate as typed (form text or JSON number), by its lane's setting's rule."""
    if gateway not in GATEWAYS:
        raise BadLimit(key(gateway, lane), f"unknown gateway (known: {', '.join(GATEWAYS)})")
    try:
        return float(check(LANE_SETTING[lane], raw))
    except BadLimit as exc:
        raise BadLimit(key(gateway, lane), str(exc).split(": ", 1)[-1]) from None


async def get_send_rates(conn: Conn, app_id: int, settings: Settings) -> SendRates:
    cur = await conn.execute("SELECT send_rates FROM apps WHERE id = %s", (app_id,))
    row = await cur.fetchone()
    return from_row(None if row is None else row[0], settings)


async def set_send_rates(conn: Conn, app_id: int, own: dict[str, float]) -> None:
    """Replace the app's own rates: a key left out goes back to its lane's default."""
    unknown = set(own) - set(KEYS)
    if unknown:
        raise BadLimit(sorted(unknown)[0], f"not a send rate (known: {', '.join(KEYS)})")
    await conn.execute("UPDATE apps SET send_rates = %s WHERE id = %s", (Jsonb(own), app_id))
