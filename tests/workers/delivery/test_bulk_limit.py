"""The bulk lane's limit follows the answers' latency: grows while they are as fast as the fastest
lately and the limit is used, shrinks to its floor when they slow down, and takes a new base once
the gateway stays slower."""

from __future__ import annotations

from workers.delivery.bulk_limit import BASE_EPOCH_SECONDS, INTERVAL_SECONDS, BulkLimit


def feed(limit: BulkLimit, latency: float, start: float, seconds: float,
         held: int | None = None) -> float:
    """Answers of ``latency`` every 10 ms for ``seconds``; ``held`` None: the limit is full."""
    now = start
    while now < start + seconds:
        limit.observe(latency, now, limit.value if held is None else held)
        now += 0.01
    return now


def test_grows_to_the_ceiling_while_answers_stay_fast() -> None:
    limit = BulkLimit(floor=20, ceiling=500)
    feed(limit, 0.05, 0.0, 60 * INTERVAL_SECONDS)
    assert limit.value == 500


def test_a_limit_it_does_not_use_does_not_grow() -> None:
    limit = BulkLimit(floor=20, ceiling=500)
    feed(limit, 0.05, 0.0, 60 * INTERVAL_SECONDS, held=3)
    assert limit.value == 20


def test_shrinks_to_the_floor_when_a_queue_builds() -> None:
    limit = BulkLimit(floor=20, ceiling=500)
    now = feed(limit, 0.05, 0.0, 60 * INTERVAL_SECONDS)
    now = feed(limit, 0.05 * 3, now, 3 * INTERVAL_SECONDS)
    assert 20 < limit.value < 500
    feed(limit, 0.05 * 3, now, 30 * INTERVAL_SECONDS)
    assert limit.value == 20


def test_a_bit_slower_is_not_a_queue() -> None:
    limit = BulkLimit(floor=20, ceiling=500)
    now = feed(limit, 0.05, 0.0, 60 * INTERVAL_SECONDS)
    feed(limit, 0.05 * 1.3, now, 30 * INTERVAL_SECONDS)
    assert limit.value == 500


def test_a_gateway_that_stays_slower_becomes_the_new_base() -> None:
    limit = BulkLimit(floor=20, ceiling=500)
    now = feed(limit, 0.02, 0.0, BASE_EPOCH_SECONDS)
    now = feed(limit, 0.2, now, 2 * BASE_EPOCH_SECONDS + INTERVAL_SECONDS)
    assert abs(limit.base - 0.2) < 1e-9
    feed(limit, 0.2, now, 60 * INTERVAL_SECONDS)
    assert limit.value == 500


def test_floor_never_above_ceiling() -> None:
    limit = BulkLimit(floor=900, ceiling=100)
    assert limit.value == 100
