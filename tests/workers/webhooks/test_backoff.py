"""Retry schedule of the webhook sender (pure functions; the backoff itself is
shared.backoff's, tested in tests/shared/test_backoff.py)."""

from __future__ import annotations

from workers.webhooks.queue import Claimed, after_failure


def test_retried_until_the_window_has_passed_then_dead():
    event = Claimed("id", 1, "{}", rounds=3, retry_from=1000.0, urls=("https://x",), secrets=())
    state, next_at, rounds = after_failure(event, 1000.0 + 3599, window_seconds=3600, base=10,
                                           cap=3600)
    assert (state, rounds) == ("pending", 4) and next_at is not None and next_at > 1000 + 3599
    assert after_failure(event, 1000.0 + 3600, window_seconds=3600, base=10, cap=3600) == \
        ("dead", None, 4)
