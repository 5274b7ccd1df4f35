"""One pacer step for one (campaign, platform): the next pending recipients, as many as the
campaign's budget allows, submitted through ``domain.messages.submit`` (bulk lane, source
``campaign``) and marked in the ledger in the SAME transaction.

The budget row (``campaign_pacing``) is taken ``FOR UPDATE SKIP LOCKED``: every pacer process
shares one rate, and while one spends a budget the others move on. The recipients are taken
``FOR UPDATE SKIP LOCKED`` in ``seq`` order (the cursor). The messages, their dispatches and
outbox rows are written on the step's connection (``TransactionWriter``) and published only after
the commit; a pacer killed in between leaves outbox rows that a sweeper publishes
(``domain.messages.outbox.sweep``). A step that does not commit changes nothing: its recipients
are still pending for the next step, so nothing is sent twice and nothing is lost.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from domain.campaigns.content import content_for
from domain.campaigns.plan import bulk_rate
from domain.keys.send_rates import from_row
from domain.messages import rows
from domain.messages.configured import ConfiguredPlatforms
from domain.messages.outbox import OutboxAcks
from domain.messages.rows import NewMessage
from domain.messages.submit import LimitsExceeded, NothingAccepted, Source, Submitted, submit
from shared.jobs import MessageContent
from shared.payload import Limits, PushRequest
from shared.settings import Settings
from shared.tokens import Platform

MAX_GROUP = 500  # recipients per message (one submit, one statement)
MAX_STEP = 2000  # recipients per step
BURST_SECONDS = 2.0  # budget that may accrue while nothing could be taken (a late step)
# What may be on its way on the bulk lane (queued, or taken by a send worker and unfinished):
# BACKLOG_SECONDS of what the lane finishes per second lately (and of the campaign's rate), so a
# pause stops the sends within about that.
BACKLOG_SECONDS = 1.5
MIN_BACKLOG = 100

_BUDGET = """
SELECT c.state, c.per_minute, c.canary_state, c.round, c.content, c.languages, c.fallback,
       a.limits, a.send_rates, p.credit, p.canary_left,
       extract(epoch FROM clock_timestamp() - p.at), clock_timestamp()
FROM campaign_pacing p JOIN campaigns c ON c.id = p.campaign_id JOIN apps a ON a.id = c.app_id
WHERE p.campaign_id = %s AND p.platform = %s
FOR UPDATE OF p SKIP LOCKED
"""
_NEXT = """
SELECT r.seq, r.token, r.language, d.token IS NOT NULL
FROM campaign_recipients r
LEFT JOIN devices d ON d.app_id = %(app)s AND d.token = r.token
     AND d.invalidated_at > d.registered_at
WHERE r.campaign_id = %(c)s AND r.platform = %(p)s AND r.state = 'pending'
ORDER BY r.seq LIMIT %(n)s
FOR UPDATE OF r SKIP LOCKED
"""
# ``submitted_at``: the instant the step's budget was computed for (the pace, to the
# millisecond, whatever the submit itself took).
_MARK = """
UPDATE campaign_recipients r SET state = u.state, dispatch_id = u.dispatch_id,
    reason = u.reason, submitted_at = %s
FROM unnest(%s::bigint[], %s::text[], %s::uuid[], %s::text[]) AS u(seq, state, dispatch_id,
                                                                   reason)
WHERE r.campaign_id = %s AND r.seq = u.seq
"""
# ``at``: the instant the credit was computed for (the step's own time is credited next time).
_SPEND = """UPDATE campaign_pacing SET credit = %s, rate = %s, canary_left = %s, at = %s
WHERE campaign_id = %s AND platform = %s"""


@dataclass
class TransactionWriter:
    """A ``domain.messages.submit.Writer`` storing on the step's connection, inside its
    transaction; the messages are published by the caller once committed."""

    conn: AsyncConnection[Any]
    sweep_after: float
    stored: list[NewMessage] = field(default_factory=list)

    async def store(self, message: NewMessage) -> bool:
        ids = await rows.insert_batch(self.conn, [message], self.sweep_after)
        if message.message_id not in ids:
            return False
        self.stored.append(message)
        return True


@dataclass
class StepOutlet:
    """The ``domain.messages.submit.Outlet`` of one step."""

    settings: Settings
    pool: AsyncConnectionPool[AsyncConnection[Any]]
    redis: Redis[bytes]
    acks: OutboxAcks
    platforms: ConfiguredPlatforms
    writer: TransactionWriter


@dataclass(frozen=True)
class CampaignApp:
    app_id: int
    limits: Limits


@dataclass(frozen=True)
class Step:
    taken: int  # recipients moved out of pending (submitted or rejected)
    submitted: int
    rate: float  # the rate applied (sends/s)
    locked: bool  # another pacer holds this budget
    messages: list[NewMessage]


NOTHING = Step(0, 0, 0.0, False, [])


async def step(conn: AsyncConnection[Any], outlet: StepOutlet, app_id: int, campaign_id: str,
               platform: Platform, *, factor: float, on_its_way: int, drained: float) -> Step:
    """Take and submit what the budget allows (``factor``: the slow-down, 1 = full rate;
    ``on_its_way``: the gateway's bulk tasks queued or being sent; ``drained``: how many of
    them the gateway's lane finishes per second lately). Run inside a transaction; the caller
    publishes ``Step.messages`` after the commit."""
    row = await (await conn.execute(_BUDGET, (campaign_id, platform))).fetchone()
    if row is None:
        return Step(0, 0, 0.0, True, [])
    (state, per_minute, canary_state, _round, content, languages, fallback, limits, send_rates,
     credit, canary_left, elapsed, now) = row
    if state != "running":
        return NOTHING
    rate = bulk_rate(per_minute, from_row(send_rates, outlet.settings), platform) * factor
    credit = min(max(1.0, rate * BURST_SECONDS), credit + rate * max(0.0, float(elapsed)))
    room = max(MIN_BACKLOG, int(min(rate, drained) * BACKLOG_SECONDS)) - on_its_way
    want = min(math.floor(credit), MAX_STEP, max(0, room))
    canary = canary_state == "sending"
    if canary:
        want = min(want, canary_left)
    if want <= 0:
        await conn.execute(_SPEND, (credit, rate, canary_left, now, campaign_id, platform))
        return Step(0, 0, rate, False, [])
    picked = await (await conn.execute(_NEXT, {
        "app": app_id, "c": campaign_id, "p": platform, "n": want})).fetchall()
    app = CampaignApp(app_id, Limits.from_settings(outlet.settings, limits))
    marks: list[tuple[int, str, str | None, str | None]] = []
    groups: dict[str | None, list[tuple[int, str]]] = defaultdict(list)
    chosen: dict[str | None, MessageContent] = {}
    for seq, token, language, dead in picked:
        if dead:
            marks.append((seq, "rejected", None, "TOKEN_INVALIDATED"))
            continue
        tag, message = content_for(language, content, languages, fallback)
        chosen[tag] = message
        groups[tag].append((seq, token))
    submitted = 0
    for tag, members in groups.items():
        for i in range(0, len(members), MAX_GROUP):
            part = members[i:i + MAX_GROUP]
            submitted += await _submit(app, outlet, campaign_id, platform, chosen[tag], part,
                                       marks)
    if marks:
        seqs, states, dispatch_ids, reasons = (list(c) for c in zip(*marks, strict=True))
        await conn.execute(_MARK, (now, seqs, states, dispatch_ids, reasons, campaign_id))
    left = canary_left - len(picked) if canary else canary_left
    await conn.execute(_SPEND, (credit - submitted, rate, max(0, left), now, campaign_id,
                                platform))
    return Step(len(picked), submitted, rate, False, list(outlet.writer.stored))


async def _submit(app: CampaignApp, outlet: StepOutlet, campaign_id: str, platform: Platform,
                  content: MessageContent, members: list[tuple[int, str]],
                  marks: list[tuple[int, str, str | None, str | None]]) -> int:
    tokens = [t for _, t in members]
    request = PushRequest(tokens, content, platform=platform)
    try:
        result = await submit(app, request, outlet=outlet, lane="bulk",
                              source=Source("campaign", campaign_id), request_id=campaign_id)
    except NothingAccepted as refused:
        marks.extend((seq, "rejected", None, r.code)
                     for (seq, _), r in zip(members, refused.rejected, strict=True))
        return 0
    except LimitsExceeded as exceeded:
        code = exceeded.errors[0].code
        marks.extend((seq, "rejected", None, code) for seq, _ in members)
        return 0
    assert isinstance(result, Submitted)  # no idempotency key: never a stored answer
    by_token = {d.token: d.id for d in result.dispatches}
    refused_codes = {r.token: r.code for r in result.rejected}
    for seq, token in members:
        dispatch_id = by_token.get(token)
        if dispatch_id is not None:
            marks.append((seq, "submitted", dispatch_id, None))
        else:
            marks.append((seq, "rejected", None, refused_codes.get(token, "REJECTED")))
    return len(by_token)
