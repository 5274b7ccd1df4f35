"""Searching an app's dispatches (one per token), newest first, a page at a time.

Every filter is served by an index leading with ``app_id`` (see the migrations): the ones ending
with ``created_at DESC`` give the newest first without a sort; ``q``, the words of the title,
content or external id, goes through the full-text index of messages (``message_search_words``,
migration 0007). Pages follow a keyset ``Cursor`` (the last row's ``created_at`` and id), so the
50th page costs what the first does; ``offset`` remains for the API's ``GET /v2.1/push``, whose
contract has it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import AsyncConnection

from shared import statuses

STATUSES = tuple(statuses.RANK)
SOURCES = ("api", "automation", "campaign")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_COLUMNS = """
SELECT d.id, d.message_id, d.external_id, d.device_token, d.platform, d.lane, d.source,
       d.source_ref, d.status, d.reason, d.attempts, d.gateway_id, d.created_at, d.updated_at
FROM dispatches d WHERE d.app_id = %(app_id)s
"""
# The token prefix as a range, so that the B-tree (app_id, device_token, ...) serves it, with
# the LIKE as the exact rule: the range equals the prefix under a byte-order collation (C or
# C.UTF-8, as the databases of pushflow up and the tests have); under another one the LIKE still
# keeps the answer right.
_PREFIX = ("d.device_token >= %(token_prefix)s AND d.device_token < %(prefix_end)s"
           " AND d.device_token LIKE %(prefix_like)s")
# q: the messages whose words match, from the full-text index, at most WORD_HITS of them; their
# dispatches are then looked up by message. A common word has more: those are found walking the
# app's dispatches newest first, checking each one's message, which soon fills a page. (One
# statement for both is left to the planner, whose estimate of a word not among the most common
# is a fixed 0.5 % of the messages: it walks for a 2FA code that is in 6 messages of millions.)
WORD_HITS = 2000
_MESSAGES_WITH_WORDS = ("SELECT m.id FROM messages m WHERE m.app_id = %(app_id)s"
                        " AND message_search_words(m.content, m.external_id)"
                        " @@ plainto_tsquery('simple', %(q)s) LIMIT %(hits)s")
_WORDS_FEW = "d.message_id = ANY(%(hit_ids)s)"
_WORDS_MANY = f"d.message_id IN ({_MESSAGES_WITH_WORDS.replace(' LIMIT %(hits)s', '')})"
_CONDITIONS = {
    "date_from": "d.created_at >= %(date_from)s", "date_to": "d.created_at <= %(date_to)s",
    "status": "d.status = %(status)s", "reason": "d.reason = %(reason)s",
    "platform": "d.platform = %(platform)s", "source": "d.source = %(source)s",
    "source_ref": "d.source_ref = %(source_ref)s", "token": "d.device_token = %(token)s",
    "token_prefix": _PREFIX, "message_id": "d.message_id = %(message_id)s",
    "dispatch_id": "d.id = %(dispatch_id)s", "external_id": "d.external_id = %(external_id)s",
}
_AFTER = " AND (d.created_at, d.id) < (%(after_at)s, %(after_id)s)"
_ORDER = " ORDER BY d.created_at DESC, d.id DESC OFFSET %(offset)s LIMIT %(limit)s"


@dataclass(frozen=True)
class DispatchFilter:
    """What to look for; None (or an empty string) leaves a criterion out."""

    date_from: datetime | None = None
    date_to: datetime | None = None
    status: str | None = None
    reason: str | None = None  # the failure reason (shared.statuses)
    platform: str | None = None
    source: str | None = None
    source_ref: str | None = None  # the automation rule or campaign
    token: str | None = None  # one device token, exactly
    token_prefix: str | None = None  # the tokens starting with this
    message_id: uuid.UUID | None = None
    dispatch_id: uuid.UUID | None = None
    external_id: str | None = None
    q: str | None = None  # words of the title, the content or the external id (all of them)


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: after this row in the newest-first order."""

    created_at: datetime
    id: uuid.UUID

    def encode(self) -> str:
        """URL-safe text: microseconds since the epoch, a dot, the id."""
        micros = (self.created_at - _EPOCH) // timedelta(microseconds=1)
        return f"{micros}.{self.id.hex}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """The cursor ``encode`` wrote; ValueError for anything else."""
        micros, _, hex_id = text.partition(".")
        if not micros.isdigit() or len(micros) > 17:
            raise ValueError("not a page cursor")
        return cls(_EPOCH + timedelta(microseconds=int(micros)), uuid.UUID(hex=hex_id))


@dataclass(frozen=True)
class DispatchRow:
    id: str
    message_id: str
    external_id: str | None
    device_token: str
    platform: str
    lane: str
    source: str
    source_ref: str | None
    status: str
    reason: str | None
    attempts: int
    gateway_id: str | None
    created_at: datetime
    updated_at: datetime

    def cursor(self) -> Cursor:
        return Cursor(self.created_at, uuid.UUID(self.id))


@dataclass(frozen=True)
class Page:
    rows: list[DispatchRow]
    next: Cursor | None  # None on the last page


def _prefix_params(prefix: str) -> dict[str, str]:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    # The first string after every string starting with the prefix, in code-point order.
    last = min(ord(prefix[-1]) + 1, 0x10FFFF)
    return {"prefix_end": prefix[:-1] + chr(last), "prefix_like": escaped + "%"}


async def search(conn: AsyncConnection[Any], app_id: int, f: DispatchFilter, *, limit: int,
                 offset: int = 0, after: Cursor | None = None) -> list[DispatchRow]:
    """Up to ``limit`` dispatches matching every criterion of ``f``, newest first, starting
    after ``after`` (keyset) and skipping ``offset`` more."""
    filters = {field.name: getattr(f, field.name) for field in fields(f)}
    filters = {name: value for name, value in filters.items() if value not in (None, "")}
    sql = _COLUMNS + "".join(f" AND {_CONDITIONS[name]}" for name in filters if name != "q")
    params = {**filters, "app_id": app_id, "offset": offset, "limit": limit}
    if "q" in filters:
        hits = await (await conn.execute(_MESSAGES_WITH_WORDS.encode(),
                                         {**params, "hits": WORD_HITS + 1})).fetchall()
        if not hits:
            return []
        sql += f" AND {_WORDS_FEW if len(hits) <= WORD_HITS else _WORDS_MANY}"
        params["hit_ids"] = [h[0] for h in hits]
    if "token_prefix" in filters:
        params.update(_prefix_params(filters["token_prefix"]))
    if after is not None:
        sql += _AFTER
        params.update(after_at=after.created_at, after_id=after.id)
    rows = await (await conn.execute((sql + _ORDER).encode(), params)).fetchall()
    return [DispatchRow(str(r[0]), str(r[1]), *r[2:]) for r in rows]


async def search_page(conn: AsyncConnection[Any], app_id: int, f: DispatchFilter, *,
                      size: int, after: Cursor | None = None) -> Page:
    """One page and the cursor of the next (one row more is read to know there is one)."""
    rows = await search(conn, app_id, f, limit=size + 1, after=after)
    more = len(rows) > size
    rows = rows[:size]
    return Page(rows, rows[-1].cursor() if more else None)
