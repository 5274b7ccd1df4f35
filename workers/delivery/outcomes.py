"""What one send attempt came to, as the gateway error tables classify it.

A gateway module turns each response (or transport failure) into exactly one of these; the
engine turns them into a final ``SendResult`` on the ``dlr`` queue or a re-publish with a delay.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.jobs import FailureReason, GatewayResponse


@dataclass(frozen=True)
class Accepted:
    gateway_id: str
    response: GatewayResponse = field(default_factory=lambda: GatewayResponse(status=200))


@dataclass(frozen=True)
class Failed:
    """Final: never retried. ``invalidated_at`` (unix seconds) marks the device dead."""

    reason: FailureReason
    response: GatewayResponse
    invalidated_at: float | None = None


@dataclass(frozen=True)
class Retry:
    """Try again later through the queue. ``retry_after`` is the gateway's own wish (seconds),
    ``floor`` the least delay this kind of failure allows (FCM quota: 60 s)."""

    response: GatewayResponse
    retry_after: float | None = None
    floor: float = 0.0


Outcome = Accepted | Failed | Retry
