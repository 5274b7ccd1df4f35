"""How many bulk (campaign) sends one worker holds at once: as many as keep its gateway answering
at the speed it answers when nothing queues, no more.

Past the rate the worker's CPU, the connection or the gateway sustains, more sends in flight do
not send more: they wait longer - in the loop, in the socket buffers, at the gateway - and a
transactional send made then waits behind all of them. So the limit follows the answers' latency,
as TCP Vegas follows round-trip times: ``base`` is the fastest answer seen lately (the path with
nothing queued), and every ``INTERVAL_SECONDS`` the mean answer time of the interval is compared
with it. Near ``base``, the limit grows by a tenth (if the interval used most of it: a limit
never reached says nothing about a bigger one); past ``QUEUEING_FACTOR`` times it plus
``QUEUEING_SLACK_SECONDS``, a queue is building and it shrinks by a quarter. Transactional sends
are observed too (they travel the same path) but never limited by it.

``base`` is the minimum over the current and the previous ``BASE_EPOCH_SECONDS``, so a gateway
that became slower for good (another region, a slower network) gives a new base within two
epochs instead of keeping the limit at its floor.
"""

from __future__ import annotations

INTERVAL_SECONDS = 0.1
QUEUEING_FACTOR = 1.5
QUEUEING_SLACK_SECONDS = 0.005
GROW = 0.1
SHRINK = 0.75
BASE_EPOCH_SECONDS = 5.0
USED = 0.8


class BulkLimit:
    def __init__(self, floor: int, ceiling: int) -> None:
        self.floor = max(1, min(floor, ceiling))
        self.ceiling = ceiling
        self.limit = float(self.floor)
        self._base = (float("inf"), float("inf"))  # (previous epoch's min, this epoch's min)
        self._epoch_at = 0.0
        self._interval_at = 0.0
        self._sum = 0.0
        self._count = 0
        self._held = 0  # the most bulk sends held during the interval

    @property
    def value(self) -> int:
        return int(self.limit)

    @property
    def base(self) -> float:
        return min(self._base)

    def observe(self, latency: float, now: float, held: int) -> None:
        """One answer's latency (seconds) at monotonic time ``now``, ``held`` bulk sends held."""
        if now - self._epoch_at >= BASE_EPOCH_SECONDS:
            self._base = (self._base[1], latency)
            self._epoch_at = now
        elif latency < self._base[1]:
            self._base = (self._base[0], latency)
        self._sum += latency
        self._count += 1
        self._held = max(self._held, held)
        if now - self._interval_at >= INTERVAL_SECONDS:
            self._adjust(self._sum / self._count)
            self._interval_at, self._sum, self._count, self._held = now, 0.0, 0, 0

    def _adjust(self, mean: float) -> None:
        if mean > self.base * QUEUEING_FACTOR + QUEUEING_SLACK_SECONDS:
            self.limit = max(float(self.floor), self.limit * SHRINK)
        elif self._held >= USED * self.limit:
            self.limit = min(float(self.ceiling), self.limit + max(1.0, self.limit * GROW))
