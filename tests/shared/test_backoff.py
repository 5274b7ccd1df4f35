"""The one backoff rule: exponential, capped, equal jitter (never near 0)."""

from __future__ import annotations

import random

import pytest

from shared.backoff import backoff_seconds


@pytest.mark.parametrize(("failures", "low", "high"), [
    (1, 5, 10), (2, 10, 20), (5, 80, 160), (12, 1800, 3600), (400, 1800, 3600), (0, 5, 10)])
def test_exponential_capped_and_never_near_zero(failures: int, low: float, high: float) -> None:
    rng = random.Random(1)
    delays = [backoff_seconds(failures, base=10, cap=3600, rng=rng) for _ in range(200)]
    assert all(low <= d <= high for d in delays)
    assert len(set(delays)) > 1  # jittered
    assert min(delays) < low * 1.2 and max(delays) > high * 0.8  # the whole half-step is used
