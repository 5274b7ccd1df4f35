"""The gateways' own "slow down": a 429 (FCM QUOTA_EXCEEDED, APNs TooManyRequests) answered to a
campaign's send. Send workers report it here; the pacer reads it before each step and lowers that
gateway's campaign rate (``workers.campaigns.signals.SlowDown`` holds the rule).

The signal is one Redis key per gateway holding the unix time of the latest bulk 429, so every
worker and every pacer share it, and a report costs one SET (429s come in bursts: a worker reports
at most once per ``REPORT_EVERY_SECONDS``). It expires, so a pacer started long after the last
429 does not read an old one as news.
"""

from __future__ import annotations

from redis.asyncio import Redis

THROTTLED_KEY = "pushflow:campaigns:throttled:"  # + gateway name ("apns", "fcm")
REPORT_EVERY_SECONDS = 0.2
KEEP_SECONDS = 600


def throttled_key(gateway: str) -> str:
    return THROTTLED_KEY + gateway


def is_throttle(status: int | None) -> bool:
    """A gateway asking us to send less: HTTP 429, the same status on both gateways."""
    return status == 429


async def report_throttled(redis: Redis[bytes], gateway: str, at: float) -> None:
    """Record that ``gateway`` answered a bulk send with 429 at unix time ``at``."""
    await redis.set(throttled_key(gateway), repr(at), ex=KEEP_SECONDS)


def parse_throttled_at(raw: bytes | None) -> float:
    """The stored time of the latest 429 (0.0: none lately)."""
    if raw is None:
        return 0.0
    try:
        return float(raw)
    except ValueError:
        return 0.0
