"""When a rule's send goes out: its delay, then -- if that falls inside the rule's quiet hours in
the device's time zone -- the end of the quiet hours. Pure functions of the time given (every
caller passes ``now``, so tests control the clock).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain.automation.model import QuietHours, RuleBody
from shared.validation import known_time_zone


def _zone(device_zone: str | None, quiet: QuietHours) -> ZoneInfo:
    name = device_zone if device_zone and known_time_zone(device_zone) else quiet.time_zone
    return ZoneInfo(name)


def quiet_end(at: float, quiet: QuietHours, device_zone: str | None) -> float | None:
    """The end of the quiet hours ``at`` falls in (unix seconds), or None when it falls in
    none."""
    zone = _zone(device_zone, quiet)
    local = datetime.fromtimestamp(at, UTC).astimezone(zone)
    start, end = time.fromisoformat(quiet.start), time.fromisoformat(quiet.end)
    now = local.time().replace(tzinfo=None)
    if start < end:
        inside = start <= now < end
        end_day = local.date()
    else:  # spans midnight: 22:00-07:00
        inside = now >= start or now < end
        end_day = local.date() + timedelta(days=1) if now >= start else local.date()
    if not inside:
        return None
    # Wall-clock end in that zone (a DST jump moves it with the zone's clocks).
    return datetime.combine(end_day, end, tzinfo=zone).timestamp()


def send_time(rule: RuleBody, now: float, device_zone: str | None) -> tuple[float, str | None]:
    """(when to send, why it waits: ``delay``, ``quiet_hours`` or None for now)."""
    at = now + rule.delay_seconds
    why = "delay" if rule.delay_seconds else None
    if rule.quiet_hours is not None:
        end = quiet_end(at, rule.quiet_hours, device_zone)
        if end is not None:
            return end, "quiet_hours"
    return at, why
