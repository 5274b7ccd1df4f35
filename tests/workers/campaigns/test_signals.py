"""The slow-down rule alone (``workers.campaigns.signals.SlowDown``): a unit test of one function;
the whole path (a worker's 429 -> Redis -> the pacer's rate) is in test_campaign_system."""

from __future__ import annotations

from workers.campaigns.signals import (
    ADJUST_EVERY_SECONDS,
    RECOVER_STEP,
    THROTTLE_QUIET_SECONDS,
    LaneLoad,
    SlowDown,
)

WALL = 1_800_000_000.0


def quiet(throttled_at: float = 0.0) -> LaneLoad:
    return LaneLoad(tx_depth=0, tx_age=0.0, bulk_depth=0, throttled_at=throttled_at)


def test_a_429_halves_the_rate_and_it_recovers_stepwise_only_after_a_quiet_period() -> None:
    slow = SlowDown()
    step = ADJUST_EVERY_SECONDS
    assert slow.update(quiet(WALL), 10.0, WALL + 0.1) == 0.5
    # The same 429 read again is no news: no second halving, and no recovery yet.
    assert slow.update(quiet(WALL), 10.0 + step, WALL + 0.1 + step) == 0.5
    # A later 429 halves again.
    assert slow.update(quiet(WALL + 0.8), 10.0 + 2 * step, WALL + 0.9) == 0.25
    # Quiet, but not long enough: held.
    t = 10.0 + 3 * step
    assert slow.update(quiet(WALL + 0.8), t, WALL + 0.8 + THROTTLE_QUIET_SECONDS - 0.1) == 0.25
    # Quiet long enough: up one step per adjustment, until full rate.
    wall = WALL + 0.8 + THROTTLE_QUIET_SECONDS
    factors = []
    for i in range(1, 12):
        factors.append(slow.update(quiet(WALL + 0.8), t + i * step, wall + i * step))
    assert abs(factors[0] - (0.25 + RECOVER_STEP)) < 1e-9
    assert factors == sorted(factors) and factors[-1] == 1.0


def test_an_old_429_read_by_a_pacer_that_just_started_does_not_slow_it() -> None:
    slow = SlowDown()
    assert slow.update(quiet(WALL - 60), 5.0, WALL) == 1.0


def test_no_429_and_no_congestion_keeps_the_full_rate() -> None:
    slow = SlowDown()
    assert [slow.update(quiet(), 1.0 + i, WALL + i) for i in range(3)] == [1.0, 1.0, 1.0]
