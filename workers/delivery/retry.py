"""Retry delays of the send path: the project's backoff (``shared.backoff``) on the attempt that
failed, raised to a gateway's Retry-After and to a floor, and always below the broker's
visibility timeout (a longer countdown would be redelivered by Redis while it still waits and
run twice)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from shared.backoff import backoff_seconds

# Celery's Redis transport redelivers unacked messages after this long (workers/celery_app.py);
# a retry must come due well before that for a plain Celery worker holding it with an ETA.
VISIBILITY_MARGIN = 0.9


def retry_delay(
    attempt: int,
    *,
    base: float,
    cap: float,
    visibility_timeout: float,
    retry_after: float | None = None,
    floor: float = 0.0,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before attempt ``attempt + 1`` (``attempt`` is the one that just failed)."""
    delay = backoff_seconds(attempt, base=base, cap=cap, rng=rng)
    if retry_after is not None and retry_after > 0:
        delay = max(delay, retry_after)
    delay = max(delay, floor, 0.001)
    return float(min(delay, visibility_timeout * VISIBILITY_MARGIN))


def eta_iso(at: float) -> str:
    """A Celery protocol-2 ``eta`` header value for the unix time ``at``."""
    return datetime.fromtimestamp(at, UTC).isoformat()


def parse_eta(value: str | None) -> float | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:  # Celery writes naive ETAs in UTC when timezone is UTC
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
