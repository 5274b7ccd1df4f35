"""Grouping concurrent requests into one statement and one publish (``IntakeWriter``, the API's
``domain.messages.submit.Writer``).

Each group costs the API process about half a millisecond of CPU whatever its size (a PostgreSQL
and a Redis round trip through psycopg and redis-py, the pool, the event loop), and PostgreSQL
one commit; a 1-token request's own work is a fraction of that. So groups should be as large as
the load allows without making anyone wait for nothing:

- nothing in flight: the first waiting request starts a group at once (alone, a request waits
  for nobody);
- a group's statement in flight: newcomers wait for it to finish (not for its publish), then
  all of them go as the next group -- unless enough are already waiting (``GROUP_TARGET_*``) to
  start another group alongside, so a heavy load still overlaps several statements (and their
  WAL flushes) in PostgreSQL.

With 32 busy clients this takes the requests per group from ~8 to ~13 compared to starting a
group whenever a writer is free (docs/benchmarks.md, Intake). ``WRITERS`` bounds the groups in
flight.

A connection lost during a group's statement leaves its outcome unknown; the writer ends the
lost session and asks, on another connection, whether the messages are stored before answering
(``_settle``): 202 for those stored, 503 ``UNAVAILABLE`` ("nothing accepted") when none is. When
the database cannot tell (unreachable for the question too), each request gets
``OutcomeUnknown`` -- never "nothing accepted" (docs/operations.md, What a 503 means for a
push).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import TYPE_CHECKING

import psycopg

from domain.messages import outbox, rows
from domain.messages.rows import NewMessage, OutcomeUnknown

if TYPE_CHECKING:
    from producer.state import AppState

log = logging.getLogger("pushflow.intake")

MAX_BATCH_MESSAGES = 200
MAX_BATCH_TOKENS = 20_000
WRITERS = 8  # groups in flight at most
# Waiting requests (or tokens) that start a group although another one is in flight.
GROUP_TARGET_MESSAGES = 10
GROUP_TARGET_TOKENS = 1_000
SETTLE_TIMEOUT_SECONDS = 2.0  # asking whether a statement committed after a lost connection

Waiting = tuple[NewMessage, "asyncio.Future[bool]"]


class IntakeWriter:
    """Stores (and publishes) the messages handed to ``store``, in groups."""

    def __init__(self) -> None:
        self.waiting: deque[Waiting] = deque()
        self.waiting_tokens = 0
        self.in_flight = 0
        self.idle: deque[asyncio.Future[None]] = deque()  # one per writer task with no work
        self.woken = 0  # idle writers woken and not yet running: one wake per group suffices

    async def store(self, message: NewMessage) -> bool:
        """True once stored and published (or left to the outbox); False on a device conflict."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._enqueue((message, future))
        if not self.woken and self._should_start():
            self._wake_one()
        return await future

    def _enqueue(self, item: Waiting) -> None:
        self.waiting.append(item)
        self.waiting_tokens += len(item[0].tokens)

    def _should_start(self) -> bool:
        return bool(self.waiting) and (
            self.in_flight == 0 or len(self.waiting) >= GROUP_TARGET_MESSAGES
            or self.waiting_tokens >= GROUP_TARGET_TOKENS)

    def _wake_one(self) -> None:
        while self.idle:
            writer = self.idle.popleft()
            if not writer.done():
                writer.set_result(None)
                self.woken += 1
                return

    def _take(self) -> list[Waiting]:
        batch: list[Waiting] = []
        tokens = 0
        while self.waiting and len(batch) < MAX_BATCH_MESSAGES and tokens < MAX_BATCH_TOKENS:
            item = self.waiting.popleft()
            batch.append(item)
            tokens += len(item[0].tokens)
        self.waiting_tokens -= tokens
        return batch

    async def _write_one_batch(self, state: AppState, batch: list[Waiting]) -> None:
        try:
            await self._write(state, batch)
        except _Unknown:
            for message, future in batch:
                if not future.done():
                    future.set_exception(OutcomeUnknown(message.message_id))
        except Exception as exc:
            # Whatever went wrong, every waiting request gets an answer (503 for a database
            # outage, else a 500 envelope) and this writer goes on with the next batch.
            log.warning("intake batch of %d failed: %r", len(batch), exc)
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)

    async def _write(self, state: AppState, batch: list[Waiting]) -> None:
        messages = [m for m, _ in batch]  # a cancelled request's message is stored all the same
        # Confirmed publishes of earlier batches ride along: under load no separate DELETE
        # (round trip, commit) is needed; OutboxAcks.run flushes what no batch took.
        acked = state.acks.take()
        lost: tuple[int, psycopg.OperationalError] | None = None
        try:
            # Waiting for a connection fails before anything is sent: that 503 is "nothing
            # accepted". A failure of the statement itself is told apart by the connection.
            async with state.pool.connection() as conn:
                backend_pid = conn.info.backend_pid
                try:
                    stored = await rows.insert_batch(
                        conn, messages, state.settings.outbox_sweep_after_seconds, acked)
                except psycopg.OperationalError as exc:
                    if not conn.broken:
                        raise  # refused by the server: rolled back
                    lost = backend_pid, exc
        except BaseException:
            state.acks.restore(acked)
            raise
        finally:
            self._statement_done()
        if lost is not None:
            state.acks.restore(acked)
            stored = await _settle(state, messages, *lost)
        await outbox.publish_messages(state, [m for m in messages if m.message_id in stored])
        for message, future in batch:
            if not future.done():
                future.set_result(message.message_id in stored)

    async def _loop(self, state: AppState) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._should_start():
                idle: asyncio.Future[None] = loop.create_future()
                self.idle.append(idle)
                await idle
                self.woken -= 1
                continue
            batch = self._take()
            self.in_flight += 1  # until its statement is done (_statement_done)
            await self._write_one_batch(state, batch)

    def _statement_done(self) -> None:
        # "In flight" is the statement only: while this group publishes, the next one may
        # already go to PostgreSQL, through another writer.
        self.in_flight -= 1
        if not self.woken and self._should_start():
            self._wake_one()

    async def run(self, state: AppState) -> None:
        await asyncio.gather(*(self._loop(state) for _ in range(WRITERS)))


async def _settle(state: AppState, messages: list[NewMessage], backend_pid: int,
                  error: psycopg.OperationalError) -> set[str]:
    """The connection was lost during the statement: it may have committed all the same (the
    server went away after the commit, before its answer reached us). Answering 503 then would
    tell the client "nothing was accepted" while the outbox sends it, and the client's retry
    would send it twice. So ask: the ids of the messages that are stored (their requests get
    their 202 and are published); ``error`` again (503) when none is; ``_Unknown`` (each
    request gets an ``OutcomeUnknown``) when the database cannot tell."""
    ids = [m.message_id for m in messages]
    deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
    found: set[str] | None = None
    for _attempt in range(state.settings.db_pool_size + 1):  # each idle one may be stale
        try:
            found = await _ask(state, backend_pid, ids, deadline)
            break
        except _StaleConnection:
            continue
        except psycopg.Error as exc:  # unreachable, or refused (a role that may not end it)
            log.warning("intake: %d message(s) of unknown outcome: the connection was lost (%s) "
                        "and the database cannot tell (%s): %s", len(ids), error, exc, ids)
            raise _Unknown from None
    if found is None:
        log.warning("intake: %d message(s) of unknown outcome: their session did not end, or "
                    "no connection could ask: %s", len(ids), ids)
        raise _Unknown
    if not found:
        raise error
    log.warning("intake: the connection was lost after %d message(s) were committed; "
                "answering 202 for them: %s", len(found), error)
    return found


class _StaleConnection(Exception):
    """The pool's connection had died too (idle, lost in the same outage): it tells nothing."""


async def _ask(state: AppState, backend_pid: int, ids: list[str], deadline: float
               ) -> set[str] | None:
    async with state.pool.connection(timeout=max(0.0, deadline - time.monotonic())) as conn:
        try:
            return await rows.settle(conn, backend_pid, ids, SETTLE_TIMEOUT_SECONDS)
        except psycopg.OperationalError:
            # An idle connection lost in the same outage (a restart, a failover): the pool
            # drops it; another one -- a new one in the end -- may answer.
            if conn.broken and time.monotonic() < deadline:
                raise _StaleConnection from None
            raise


class _Unknown(Exception):
    """The group's outcome is unknown: each of its requests gets its own ``OutcomeUnknown``."""
