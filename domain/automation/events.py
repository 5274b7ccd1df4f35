"""An event as the customer's system posts it (``POST /v2.1/events``), and the stored events.

``eventId`` makes an event idempotent: the first one is stored with the answer it got
(``automation_events``), and any later one with that id -- concurrent or not -- gets that answer
and changes nothing (``domain.automation.fire``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field

from domain.automation.model import EVENT_NAME_PATTERN, MAX_EVENT_NAME

MAX_EVENT_ID, MAX_USER_ID, MAX_EVENT_TOKENS = 64, 256, 100
MAX_EVENTS = 100

# Claim the ids: a concurrent transaction inserting the same id waits here until the first one
# commits, then finds it taken.
_CLAIM = """
INSERT INTO automation_events (app_id, event_id, name, user_id, body, answer, received_at)
SELECT %(app_id)s, e.event_id, e.name, e.user_id, e.body, '{}'::jsonb, to_timestamp(%(now)s)
FROM jsonb_to_recordset(%(events)s::jsonb) AS e(event_id text, name text, user_id text,
                                                body jsonb)
ON CONFLICT (app_id, event_id) DO NOTHING
RETURNING event_id
"""
_ANSWERS = """
SELECT event_id, answer FROM automation_events WHERE app_id = %s AND event_id = ANY(%s)
"""
_SET_ANSWERS = """
UPDATE automation_events e SET answer = a.answer
FROM jsonb_to_recordset(%(answers)s::jsonb) AS a(event_id text, answer jsonb)
WHERE e.app_id = %(app_id)s AND e.event_id = a.event_id
"""
_HISTORY = """
SELECT body, extract(epoch FROM received_at) FROM automation_events
WHERE app_id = %s AND name = %s AND received_at >= to_timestamp(%s)
ORDER BY received_at, event_id
"""
_LIST = """
SELECT event_id, name, user_id, body, answer, received_at FROM automation_events
WHERE app_id = %s ORDER BY received_at DESC, event_id DESC OFFSET %s LIMIT %s
"""


class EventBody(BaseModel):
    """One event of the customer's system."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, populate_by_name=True)

    event_id: str = Field(alias="eventId", min_length=1, max_length=MAX_EVENT_ID, description=(
        "Your unique id of the event: a repeat with the same id changes nothing and gets the "
        "first answer again. It is the `externalId` of the pushes it causes."))
    name: str = Field(min_length=1, max_length=MAX_EVENT_NAME, pattern=EVENT_NAME_PATTERN,
                      description="The event's name: `order.shipped`.")
    user_id: str | None = Field(None, alias="userId", min_length=1, max_length=MAX_USER_ID,
                                description="Your user: the push goes to their devices.")
    device_tokens: list[Annotated[str, Field(min_length=1, max_length=4096)]] | None = Field(
        None, alias="deviceTokens", min_length=1, max_length=MAX_EVENT_TOKENS,
        description="Tokens to send to (besides the user's devices).")
    properties: dict[str, Any] = Field(default_factory=dict, description=(
        "What the templates and conditions read: `{{ properties.orderId }}`."))


@dataclass(frozen=True)
class StoredEvent:
    event_id: str
    name: str
    user_id: str | None
    body: dict[str, Any]
    answer: dict[str, Any]
    received_at: Any


def _row(e: EventBody) -> dict[str, Any]:
    return {"event_id": e.event_id, "name": e.name, "user_id": e.user_id,
            "body": e.model_dump(mode="json", by_alias=True, exclude_none=True)}


async def claim(conn: AsyncConnection[Any], app_id: int, events: Sequence[EventBody],
                now: float) -> set[str]:
    """Store the events whose ids are new; those ids."""
    cur = await conn.execute(_CLAIM, {"app_id": app_id, "now": now,
                                      "events": Jsonb([_row(e) for e in events])})
    return {row[0] for row in await cur.fetchall()}


async def answers(conn: AsyncConnection[Any], app_id: int, event_ids: Sequence[str]
                  ) -> dict[str, dict[str, Any]]:
    rows = await (await conn.execute(_ANSWERS, (app_id, list(event_ids)))).fetchall()
    return {row[0]: row[1] for row in rows}


async def set_answers(conn: AsyncConnection[Any], app_id: int,
                      answered: dict[str, dict[str, Any]]) -> None:
    await conn.execute(_SET_ANSWERS, {"app_id": app_id, "answers": Jsonb([
        {"event_id": k, "answer": v} for k, v in answered.items()])})


async def history(conn: AsyncConnection[Any], app_id: int, name: str, since: float
                  ) -> list[tuple[EventBody, float]]:
    """The stored events named ``name`` received since ``since``, oldest first."""
    rows = await (await conn.execute(_HISTORY, (app_id, name, since))).fetchall()
    return [(EventBody.model_validate(body), float(at)) for body, at in rows]


async def recent(conn: AsyncConnection[Any], app_id: int, *, offset: int, limit: int
                 ) -> list[StoredEvent]:
    rows = await (await conn.execute(_LIST, (app_id, offset, limit))).fetchall()
    return [StoredEvent(*row) for row in rows]


_PAGE = """
SELECT event_id, name, user_id, body, answer, received_at FROM automation_events
WHERE app_id = %(app_id)s
  AND (%(name)s::text IS NULL OR name = %(name)s)
  AND (%(user_id)s::text IS NULL OR user_id = %(user_id)s)
  AND (%(event_id)s::text IS NULL OR event_id = %(event_id)s)
  AND (%(before_at)s::timestamptz IS NULL
       OR (received_at, event_id) < (%(before_at)s, %(before_id)s))
ORDER BY received_at DESC, event_id DESC LIMIT %(limit)s
"""


@dataclass(frozen=True)
class EventFilter:
    name: str | None = None
    user_id: str | None = None
    event_id: str | None = None


async def page(conn: AsyncConnection[Any], app_id: int, wanted: EventFilter, *,
               before: tuple[Any, str] | None, limit: int) -> list[StoredEvent]:
    """The stored events that match ``wanted``, newest first, older than the keyset
    ``before`` (the last row of the previous page: ``received_at``, ``event_id``)."""
    rows = await (await conn.execute(_PAGE, {
        "app_id": app_id, "name": wanted.name, "user_id": wanted.user_id,
        "event_id": wanted.event_id, "before_at": before[0] if before else None,
        "before_id": before[1] if before else None, "limit": limit})).fetchall()
    return [StoredEvent(*row) for row in rows]


_DISPATCHES = """
SELECT message_id::text, id::text FROM dispatches
WHERE app_id = %s AND message_id = ANY(%s::uuid[]) ORDER BY created_at, id
"""


def caused_messages(found: Sequence[StoredEvent]) -> list[str]:
    """The ids of the messages these events' answers say they created."""
    return [m["messageId"] for e in found for r in e.answer.get("rules", [])
            for m in r.get("messages", []) if m.get("messageId")]


async def dispatches_of(conn: AsyncConnection[Any], app_id: int, message_ids: Sequence[str]
                        ) -> dict[str, list[str]]:
    """The dispatch ids of each message (one per device), oldest first."""
    rows = await (await conn.execute(_DISPATCHES, (app_id, list(message_ids)))).fetchall()
    found: dict[str, list[str]] = {}
    for message_id, dispatch_id in rows:
        found.setdefault(message_id, []).append(dispatch_id)
    return found
