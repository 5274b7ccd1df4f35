"""The outcome classes both gateways' error tables map into (one vocabulary, two tables)."""

from __future__ import annotations

import enum
import time

from shared.jobs import GatewayResponse
from workers.delivery.outcomes import Failed, Outcome, Retry


class Kind(enum.Enum):
    INVALID_TOKEN = "invalid_token"  # final; the device is marked invalid now
    UNREGISTERED = "unregistered"  # final; invalid as of the gateway's timestamp
    BAD_MESSAGE = "bad_message"  # final; our request was wrong for this message
    AUTH_CONFIG = "auth_config"  # final; the app's credentials are wrong
    RETRY = "retry"  # transient: retry through the queue with backoff
    REFRESH_AUTH = "refresh_auth"  # provider token expired: refresh once, resend at once


def outcome_for(
    kind: Kind,
    response: GatewayResponse,
    *,
    retry_after: float | None = None,
    floor: float = 0.0,
    invalidated_at: float | None = None,
) -> Outcome:
    """The engine's outcome for a classified gateway failure (REFRESH_AUTH that could not be
    cured by one refresh ends here as a credentials failure)."""
    if kind is Kind.RETRY:
        return Retry(response, retry_after, floor)
    if kind is Kind.INVALID_TOKEN:
        return Failed("invalid_token", response, invalidated_at or time.time())
    if kind is Kind.UNREGISTERED:
        return Failed("unregistered", response, invalidated_at or time.time())
    if kind is Kind.BAD_MESSAGE:
        return Failed("bad_message", response)
    return Failed("auth_config", response)
