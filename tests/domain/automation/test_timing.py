"""Delay, cancel, cooldown, cap and quiet hours, with the clock in the test's hands."""

from __future__ import annotations

from domain.automation import rules
from tests.domain.automation.conftest import T0, Automation


async def test_a_delayed_send_is_released_when_due_and_once(automation: Automation) -> None:
    rule_id = await automation.rule(delaySeconds=600)
    await automation.device("u1")
    answer = await automation.event("cart.abandoned", T0)
    (fired,) = answer["rules"]
    assert fired["fired"] and not fired["messages"]
    assert [(s["why"], s["sendAt"]) for s in fired["scheduled"]] == [
        ("delay", "2027-01-15T08:10:00Z")]
    assert automation.messages() == []
    assert await automation.release(T0 + 599) == 0
    assert await automation.release(T0 + 600) == 1
    assert await automation.release(T0 + 601) == 0
    assert automation.messages() == [(answer["eventId"], "automation", rule_id)]


async def test_a_cancel_event_drops_the_delayed_send_with_the_same_key(
        automation: Automation) -> None:
    await automation.rule(delaySeconds=600, cancel={"event": "order.placed", "key": "cartId"})
    await automation.device("u1")
    kept = await automation.event("cart.abandoned", T0, cartId="c2")
    dropped = await automation.event("cart.abandoned", T0, cartId="c1")
    cancel = await automation.event("order.placed", T0 + 60, cartId="c1")
    assert cancel["canceled"] == [dropped["rules"][0]["scheduled"][0]["pendingId"]]
    assert await automation.release(T0 + 600) == 1
    assert [m[0] for m in automation.messages()] == [kept["eventId"]]


async def test_cooldown_per_user_and_rule(automation: Automation) -> None:
    await automation.rule(cooldownSeconds=3600)
    await automation.device("u1")
    await automation.device("u2")
    reasons = [(await automation.event("cart.abandoned", at, user))["rules"][0].get("reason")
               for at, user in ((T0, "u1"), (T0 + 10, "u1"), (T0 + 20, "u2"),
                                (T0 + 3600, "u1"))]
    assert reasons == [None, "cooldown", None, None]
    assert len(automation.messages()) == 3


async def test_the_daily_cap_counts_across_rules(automation: Automation) -> None:
    await automation.rule(name="a")
    await automation.rule(name="b")
    await automation.device("u1")
    async with automation.outlet.pool.connection() as conn:
        await rules.set_daily_cap(conn, automation.app.app_id, 3)
    first = await automation.event("cart.abandoned", T0)
    second = await automation.event("cart.abandoned", T0 + 60)
    next_day = await automation.event("cart.abandoned", T0 + 86400)
    assert [r.get("reason") for r in first["rules"]] == [None, None]
    assert [r.get("reason") for r in second["rules"]] == [None, "cap"]
    assert [r.get("reason") for r in next_day["rules"]] == [None, None]
    assert len(automation.messages()) == 5


async def test_quiet_hours_wait_in_each_devices_zone(automation: Automation) -> None:
    await automation.rule(quietHours={"start": "22:00", "end": "07:00",
                                      "timeZone": "Europe/Lisbon"})
    await automation.device("u1", time_zone="America/New_York")  # 03:00 there: quiet
    await automation.device("u1")  # Lisbon (the rule's zone): 08:00, not quiet
    await automation.device("u1", time_zone="Asia/Tokyo")  # 17:00: not quiet
    answer = await automation.event("cart.abandoned", T0)
    (fired,) = answer["rules"]
    assert [m["dispatches"] for m in fired["messages"]] == [2]
    assert [(s["why"], s["sendAt"], s["devices"]) for s in fired["scheduled"]] == [
        ("quiet_hours", "2027-01-15T12:00:00Z", 1)]  # 07:00 in New York
    assert await automation.release(T0 + 4 * 3600 - 1) == 0
    assert await automation.release(T0 + 4 * 3600) == 1
    assert len(automation.messages()) == 2


async def test_no_devices_and_condition_false_are_answered(automation: Automation) -> None:
    await automation.rule(conditions={"property": "total", "op": "gte", "value": 50})
    await automation.device("u1")
    assert (await automation.event("cart.abandoned", T0, total=10))["rules"][0]["reason"] \
        == "condition_false"
    assert (await automation.event("cart.abandoned", T0, user="nobody", total=60)
            )["rules"][0]["reason"] == "no_devices"
    assert (await automation.event("cart.abandoned", T0, total=60))["rules"][0]["fired"]
