"""Campaign rows: create, read, list, and the actions that move a campaign between states.

    draft --start--> scheduled (scheduleTime later) | running
    running <--pause/resume--> paused;  running --canary halt--> halted --resume--> running
    any but finished/canceled --cancel--> canceled (pending recipients canceled with it)
    running --every recipient final--> finished --retry-failed--> running (next round)

An action that does not apply to the campaign's state is refused (``NotAllowed``) with the
state it is in; the pacer (``domain.campaigns.pacing``) reads the state at every step, so a
pause stops new sends from its next step on.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from shared import statuses
from shared.jobs import MessageContent

State = Literal["draft", "scheduled", "running", "paused", "halted", "canceled", "finished"]
Action = Literal["start", "pause", "resume", "cancel", "retry-failed"]

COLUMNS = ("id::text, app_id, name, content, languages, fallback, audience, per_minute,"
           " schedule_time, finish_by, canary_percent, canary_max_failure, canary_size,"
           " canary_state, state,"
           " halt_reason, excluded, round, created_at, started_at, finished_at")


@dataclass(frozen=True)
class Campaign:
    id: str
    app_id: int
    name: str
    content: MessageContent
    languages: dict[str, MessageContent]
    fallback: list[str]
    audience: dict[str, Any]
    per_minute: int
    schedule_time: datetime | None
    finish_by: datetime | None
    canary_percent: float | None
    canary_max_failure: float | None
    canary_size: int | None
    canary_state: str | None  # sending, passed or failed (None: no canary)
    state: State
    halt_reason: str | None
    excluded: dict[str, int]
    round: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class NewCampaign:
    name: str
    content: MessageContent
    languages: dict[str, MessageContent]
    fallback: list[str]
    audience: dict[str, Any]
    per_minute: int
    schedule_time: datetime | None = None
    finish_by: datetime | None = None
    canary_percent: float | None = None
    canary_max_failure: float | None = None


class NotAllowed(Exception):
    """The action does not apply to the campaign in its state."""

    def __init__(self, action: str, state: str) -> None:
        super().__init__(f"'{action}' does not apply to a campaign that is {state}")
        self.state = state


def campaign_from_row(row: Any) -> Campaign:
    return Campaign(*row)


def valid_id(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


async def create(conn: AsyncConnection[Any], app_id: int, c: NewCampaign) -> Campaign:
    row = await (await conn.execute(
        f"""INSERT INTO campaigns (id, app_id, name, content, languages, fallback, audience,
                per_minute, schedule_time, finish_by, canary_percent, canary_max_failure)
            VALUES (gen_random_uuid(), %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            RETURNING {COLUMNS}""",
        (app_id, c.name, Jsonb(c.content), Jsonb(c.languages), c.fallback, Jsonb(c.audience),
         c.per_minute, c.schedule_time, c.finish_by, c.canary_percent,
         c.canary_max_failure))).fetchone()
    return campaign_from_row(row)


async def get(conn: AsyncConnection[Any], app_id: int, campaign_id: str) -> Campaign | None:
    row = await (await conn.execute(
        f"SELECT {COLUMNS} FROM campaigns WHERE app_id = %s AND id = %s",
        (app_id, campaign_id))).fetchone()
    return campaign_from_row(row) if row is not None else None


async def list_campaigns(conn: AsyncConnection[Any], app_id: int, *, state: str | None,
                         offset: int, limit: int) -> list[Campaign]:
    rows = await (await conn.execute(
        f"""SELECT {COLUMNS} FROM campaigns WHERE app_id = %s
              AND (%s::text IS NULL OR state = %s::text)
            ORDER BY created_at DESC, id DESC OFFSET %s LIMIT %s""",
        (app_id, state, state, offset, limit))).fetchall()
    return [campaign_from_row(r) for r in rows]


# Each action: the states it applies to and the statement that applies it (the campaign row is
# locked by the UPDATE; the recipients' changes ride in the same statement).
_FROM: dict[str, tuple[str, ...]] = {
    "start": ("draft",),
    "pause": ("scheduled", "running"),
    "resume": ("paused", "halted"),
    "cancel": ("draft", "scheduled", "running", "paused", "halted"),
    "retry-failed": ("finished",),
}
_START = f"""
WITH c AS (
    UPDATE campaigns SET
        state = CASE WHEN schedule_time > now() THEN 'scheduled' ELSE 'running' END,
        started_at = CASE WHEN schedule_time > now() THEN NULL ELSE now() END,
        canary_state = CASE WHEN canary_percent IS NULL THEN NULL ELSE 'sending' END,
        updated_at = now()
    WHERE app_id = %(app)s AND id = %(id)s AND state = ANY(%(from)s) RETURNING {COLUMNS}
), counts AS (
    SELECT platform, count(*) AS n FROM campaign_recipients
    WHERE campaign_id = (SELECT id::uuid FROM c) AND state = 'pending' GROUP BY platform
), pacing AS (  -- each gateway's budget, and its share of the canary slice
    INSERT INTO campaign_pacing (campaign_id, platform, canary_left)
    SELECT c.id::uuid, k.platform, CASE WHEN c.canary_percent IS NULL THEN 0
        ELSE greatest(1, ceil(k.n * c.canary_percent / 100.0))::int END
    FROM c CROSS JOIN counts k
)
SELECT * FROM c
"""
_CANARY_SIZE = f"""UPDATE campaigns SET canary_size = (
    SELECT sum(canary_left) FROM campaign_pacing WHERE campaign_id = %s)
WHERE id = %s RETURNING {COLUMNS}"""
_PAUSE = f"""UPDATE campaigns SET state = 'paused', updated_at = now()
WHERE app_id = %(app)s AND id = %(id)s AND state = ANY(%(from)s) RETURNING {COLUMNS}"""
# Resuming a halted campaign is the decision to go past its canary.
_RESUME = f"""UPDATE campaigns SET state = 'running', halt_reason = NULL,
    started_at = coalesce(started_at, now()), updated_at = now()
WHERE app_id = %(app)s AND id = %(id)s AND state = ANY(%(from)s) RETURNING {COLUMNS}"""
_CANCEL = f"""
WITH c AS (UPDATE campaigns SET state = 'canceled', finished_at = now(), updated_at = now()
           WHERE app_id = %(app)s AND id = %(id)s AND state = ANY(%(from)s)
           RETURNING {COLUMNS}),
     r AS (UPDATE campaign_recipients SET state = 'canceled'
           WHERE campaign_id = (SELECT id::uuid FROM c) AND state = 'pending')
SELECT * FROM c
"""
# The recipients failed with a retryable reason go back to pending for the next round.
_RETRY = f"""
WITH c AS (UPDATE campaigns SET state = 'running', round = round + 1, finished_at = NULL,
               updated_at = now()
           WHERE app_id = %(app)s AND id = %(id)s AND state = ANY(%(from)s)
           RETURNING {COLUMNS}),
     r AS (UPDATE campaign_recipients r SET state = 'pending', dispatch_id = NULL,
               reason = NULL, round = (SELECT round FROM c), submitted_at = NULL
           FROM dispatches d
           WHERE r.campaign_id = (SELECT id::uuid FROM c) AND r.state = 'submitted'
             AND d.id = r.dispatch_id AND d.status = 'failed'
             AND d.reason = ANY(%(retryable)s))
SELECT * FROM c
"""


def actions_for(state: str) -> list[Action]:
    """The actions that apply to a campaign in ``state`` (the panel's buttons)."""
    return [a for a, states in _FROM.items() if state in states]  # type: ignore[misc]


_STATEMENTS = {"start": _START, "pause": _PAUSE, "resume": _RESUME, "cancel": _CANCEL,
               "retry-failed": _RETRY}


async def act(conn: AsyncConnection[Any], app_id: int, campaign_id: str, action: Action
              ) -> Campaign | None:
    """Apply ``action``; the campaign after it, None when there is no such campaign, or
    ``NotAllowed``."""
    async with conn.transaction():
        row = await (await conn.execute(_STATEMENTS[action], {
            "app": app_id, "id": campaign_id, "from": list(_FROM[action]),
            "retryable": sorted(statuses.RETRYABLE_REASONS)})).fetchone()
        if row is not None and action == "start" and row[10] is not None:  # canary_percent
            row = await (await conn.execute(_CANARY_SIZE, (campaign_id, campaign_id))).fetchone()
    if row is not None:
        return campaign_from_row(row)
    current = await get(conn, app_id, campaign_id)
    if current is None:
        return None
    raise NotAllowed(action, current.state)
