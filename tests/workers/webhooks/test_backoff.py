"""Retry schedule of the webhook sender (pure functions)."""

from __future__ import annotations

import pytest

from workers.webhooks.queue import Claimed, after_failure, backoff_seconds


@pytest.mark.parametrize(("round_no", "low", "high"), [
    (1, 5, 10), (2, 10, 20), (5, 80, 160), (12, 1800, 3600), (400, 1800, 3600)])
def test_backoff_is_exponential_capped_and_never_near_zero(round_no, low, high):
    delays = [backoff_seconds(round_no, base=10, cap=3600) for _ in range(200)]
    assert all(low <= d <= high for d in delays)
    assert len(set(delays)) > 1  # jittered


def test_retried_until_the_window_has_passed_then_dead():
    event = Claimed("id", 1, "{}", rounds=3, retry_from=1000.0, urls=("https://x",), secrets=())
    state, next_at, rounds = after_failure(event, 1000.0 + 3599, window_seconds=3600, base=10,
                                           cap=3600)
    assert (state, rounds) == ("pending", 4) and next_at is not None and next_at > 1000 + 3599
    assert after_failure(event, 1000.0 + 3600, window_seconds=3600, base=10, cap=3600) == \
        ("dead", None, 4)
