"""The dry run of a draft rule: the stored events of its event name from the last ``days`` days,
replayed in the order they came, through the same decisions a live rule makes -- conditions,
the users' devices (as registered now), cooldown, the app's daily cap, quiet hours in each
device's zone, the templates -- with nothing written and nothing sent.

The cap counts what the app's rules really sent each user each day
(``automation_daily_counts``) plus what the draft would add. ``pushes`` counts devices (one
dispatch each); ``quietHourHolds`` the pushes that would wait for quiet hours to end.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection

from domain.automation import events as stored_events
from domain.automation.conditions import holds
from domain.automation.fire import targets_of
from domain.automation.model import RuleBody
from domain.automation.render import CompiledRule, event_context
from domain.automation.rules import daily_cap
from domain.automation.templates import RenderError
from domain.automation.timing import send_time

MAX_DAYS = 90
_COUNTS = """
SELECT user_id, day::text, sent FROM automation_daily_counts
WHERE app_id = %s AND day >= %s::date
"""


@dataclass
class DryRun:
    days: int
    events: int = 0
    matched: int = 0  # the conditions held
    fired: int = 0  # events that would have sent (or held) pushes
    pushes: int = 0
    users: int = 0
    cooldown_holds: int = 0
    cap_holds: int = 0
    quiet_hour_holds: int = 0
    no_devices: int = 0
    template_errors: int = 0

    def view(self) -> dict[str, Any]:
        names = {"cooldown_holds": "cooldownHolds", "cap_holds": "capHolds",
                 "quiet_hour_holds": "quietHourHolds", "no_devices": "noDevices",
                 "template_errors": "templateErrors"}
        return {names.get(k, k): v for k, v in asdict(self).items()}


def _day(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).date().isoformat()


async def dry_run(conn: AsyncConnection[Any], app_id: int, rule: RuleBody, days: int,
                  now: float) -> DryRun:
    since = now - days * 86400
    history = await stored_events.history(conn, app_id, rule.event, since)
    result = DryRun(days, events=len(history))
    compiled = CompiledRule.of("draft", rule)
    targets = await targets_of(conn, app_id, [e for e, _ in history]) if history else {}
    cap = await daily_cap(conn, app_id)
    counts: dict[tuple[str, str], int] = {}
    if cap is not None:
        rows = await (await conn.execute(_COUNTS, (app_id, _day(since)))).fetchall()
        counts = {(user, day): int(sent) for user, day, sent in rows}
    last_fired: dict[str, float] = {}
    users: set[str] = set()
    for event, at in history:
        if not holds(rule.conditions, event.properties):
            continue
        result.matched += 1
        found = targets.get(event.event_id, [])
        if not found:
            result.no_devices += 1
            continue
        user = event.user_id
        if user and rule.cooldown_seconds and user in last_fired \
                and at - last_fired[user] < rule.cooldown_seconds:
            result.cooldown_holds += 1
            continue
        if user and cap is not None:
            if counts.get((user, _day(at)), 0) >= cap:
                result.cap_holds += 1
                continue
            counts[user, _day(at)] = counts.get((user, _day(at)), 0) + 1
        if user:
            last_fired[user] = at
        context = event_context(event.name, event.event_id, user, event.properties)
        try:
            for language in {compiled.language_for(t.language) for t in found}:
                compiled.body(language, context)
        except RenderError:
            result.template_errors += 1
            continue
        result.fired += 1
        result.pushes += len(found)
        users.add(user or found[0].token)
        result.quiet_hour_holds += sum(
            1 for t in found if send_time(rule, at, t.time_zone)[1] == "quiet_hours")
    result.users = len(users)
    return result
