"""The one backoff rule of the project: how long to wait after the n-th failure in a row.

Exponential (``base``, ``2 * base``, ``4 * base``, ... up to ``cap``) with "equal jitter": half
of the step fixed, half random. The delay is never close to 0 (a full-jitter draw, like Celery's
``retry_jitter``, can retry at once and hammer whatever is struggling), and retries of many jobs
that failed together spread out instead of coming back in one wave.

Used by the delivery retry (``workers.delivery.retry``), the DLR recorder's wait for the
database (``workers.dlr.tasks``) and the webhook sender (``workers.webhooks.queue``).
"""

from __future__ import annotations

import random

# 2 ** 60 times any base is past every cap; a larger exponent would only overflow the float.
_MAX_DOUBLINGS = 60


def backoff_seconds(failures: int, *, base: float, cap: float,
                    rng: random.Random | None = None) -> float:
    """Seconds to wait after the ``failures``-th failure in a row (1 for the first)."""
    step = min(cap, base * 2.0 ** min(max(0, failures - 1), _MAX_DOUBLINGS))
    return step / 2 + (rng or random).random() * step / 2
