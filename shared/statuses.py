"""Dispatch statuses and the one rule about them: a status only ever moves forward.

Everyone who writes ``dispatches.status`` (intake, send workers, DLR worker, receipts API) takes the
order from here. A write is applied only when the new status has a strictly HIGHER rank than the
stored one, so a late, duplicated or out-of-order report never moves a dispatch back and replaying
the same report is a no-op (no second history row, no second webhook).

    scheduled(0) -> queued(1) -> sent(2) | failed(2) -> delivered(3) -> opened(4);  canceled(9)

- ``sent`` and ``failed`` share a rank: both are the send worker's final outcome, and the first
  one recorded wins (a send worker reports exactly one outcome per dispatch; a second, different
  one can only be a duplicate from a redelivered task).
- ``delivered``/``opened`` outrank ``failed``: they come from the device itself, which proves the
  push arrived whatever the send side believed (e.g. a timeout after the gateway accepted it).
- ``canceled`` is terminal: nothing moves a canceled dispatch.
"""

from __future__ import annotations

from typing import Final, Literal

from psycopg import sql

Status = Literal["scheduled", "queued", "sent", "failed", "delivered", "opened", "canceled"]

RANK: Final[dict[str, int]] = {
    "scheduled": 0,
    "queued": 1,
    "sent": 2,
    "failed": 2,
    "delivered": 3,
    "opened": 4,
    "canceled": 9,
}

# Reasons a dispatch can fail with (the contract's list), and those meaning the token is dead.
# ``template_error``: an automation rule's template could not be rendered for the event (a
# property missing), recorded when the push is made (domain/automation/sending.py).
FAILURE_REASONS: Final = frozenset(
    {"invalid_token", "unregistered", "bad_message", "expired", "auth_config", "retries_exhausted",
     "template_error"}
)
TOKEN_DEAD_REASONS: Final = frozenset({"invalid_token", "unregistered"})
# Reasons worth sending again later (a campaign's retry-failed): the gateway kept failing, or the
# app's credentials were refused (and may have been fixed). A dead token, a message the gateway
# refuses and a push past its ttl fail the same way every time.
RETRYABLE_REASONS: Final = frozenset({"retries_exhausted", "auth_config"})

# Statuses that produce a webhook event, and its type.
EVENT_TYPE: Final[dict[str, str]] = {
    "sent": "push.sent",
    "delivered": "push.delivered",
    "opened": "push.opened",
    "failed": "push.failed",
}
TOKEN_INVALIDATED: Final = "token.invalidated"
CAMPAIGN_FINISHED: Final = "campaign.finished"  # every recipient of a campaign is final
EVENT_TYPES: Final = (*EVENT_TYPE.values(), TOKEN_INVALIDATED, CAMPAIGN_FINISHED)


def rank(status: str) -> int:
    """The rank of a status; unknown statuses rank lowest so anything known overrides them."""
    return RANK.get(status, -1)


def moves_forward(current: str, new: str) -> bool:
    """Whether ``new`` may replace ``current``."""
    return rank(new) > rank(current)


def rank_sql(column: sql.Composable) -> sql.Composed:
    """``CASE <column> WHEN 'queued' THEN 1 ... ELSE -1 END`` built from ``RANK``, so SQL that
    compares statuses (``WHERE rank_sql(d.status) < new_rank``) follows the same table."""
    whens = [
        sql.SQL("WHEN {} THEN {}").format(sql.Literal(name), sql.Literal(value))
        for name, value in RANK.items()
    ]
    return sql.SQL("CASE {} {} ELSE -1 END").format(column, sql.SQL(" ").join(whens))
