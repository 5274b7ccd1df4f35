"""The dry run on a known event history: what a draft rule would have done, nothing written."""

from __future__ import annotations

from domain.automation import rules
from domain.automation.dryrun import dry_run
from tests.domain.automation.conftest import T0, Automation, rule_body


async def test_dry_run_counts_on_a_known_history(automation: Automation) -> None:
    await automation.device("u1")
    await automation.device("u1", time_zone="America/New_York")  # quiet at 08:00 UTC
    await automation.device("u2")
    async with automation.outlet.pool.connection() as conn:
        await rules.set_daily_cap(conn, automation.app.app_id, 2)
    now = T0 + 3 * 86400
    history = [  # (seconds before now, user, total)
        (2 * 86400, "u1", 80),   # fires: 2 pushes, 1 held by quiet hours (New York)
        (2 * 86400 - 60, "u1", 90),  # cooldown (1 h)
        (2 * 86400 - 30, "u2", 10),  # condition false
        (86400, "u2", 70),       # fires: 1 push
        (86400 - 7200, "u2", 75),  # fires again (2 h later): 1 push
        (86400 - 14400, "u2", 75),  # the cap (2 a day) holds it
        (3600, "u3", 99),        # no devices
        (9 * 86400, "u1", 99),   # older than the 7 days replayed
    ]
    for ago, user, total in history:
        await automation.event("order.placed", now - ago, user, total=total)
    draft = rule_body(event="order.placed", cooldownSeconds=3600,
                      conditions={"property": "total", "op": "gt", "value": 50},
                      quietHours={"start": "22:00", "end": "07:00", "timeZone": "UTC"})
    async with automation.outlet.pool.connection() as conn:
        result = await dry_run(conn, automation.app.app_id, draft, 7, now)
    assert result.view() == {
        "days": 7, "events": 7, "matched": 6, "fired": 3, "pushes": 4, "users": 2,
        "cooldownHolds": 1, "capHolds": 1, "quietHourHolds": 1, "noDevices": 1,
        "templateErrors": 0}
    assert automation.messages() == []  # nothing sent
