"""The data set of ``bench/search.py``: N dispatches of one app, loaded with COPY, resumable.

Every row is a pure function of its number, so the benchmark knows what to look for (a token, an
external id, a 2FA code) without asking the database. Shape, per block of 10 dispatches: one
5-token push and five 1-token pushes (6 messages), over the 30 days before the load; 1 device
per 10 dispatches; 40 % of the messages are 2FA codes ("Your code is 123456", each code in ~6
messages per million rows), 30 % parcel notices (external id ``order-N``), 30 % digests (no
external id); 85 % delivered, 8 % sent, 5 % failed (reasons of shared.statuses), 2 % queued.

Loading: the secondary indexes are dropped first and rebuilt once at the end (far cheaper than
maintaining them row by row), chunks of ``CHUNK_ROWS`` are each one transaction recorded in
``bench_load_chunks``, so an interrupted load resumes where it stopped and a finished one is
reused as it is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

CHUNK_ROWS = 200_000
DAYS = 30
APP_KEY = "bench-search"
_MIX = 0x9E3779B97F4A7C15
_MASK = (1 << 64) - 1
_STATE = """
CREATE TABLE IF NOT EXISTS bench_load (rows bigint PRIMARY KEY, start_at timestamptz NOT NULL,
                                       finished boolean NOT NULL DEFAULT false);
CREATE TABLE IF NOT EXISTS bench_load_chunks (chunk integer PRIMARY KEY);
CREATE TABLE IF NOT EXISTS bench_load_indexes (name text PRIMARY KEY, definition text NOT NULL);
"""
_SECONDARY = """
SELECT i.indexname, i.indexdef FROM pg_indexes i
WHERE i.tablename IN ('messages', 'dispatches') AND i.schemaname = 'public'
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
"""
_FAILED = ("unregistered", "invalid_token", "expired", "retries_exhausted", "bad_message")


@dataclass(frozen=True)
class Shape:
    """Row n of a data set of ``rows`` rows ending at ``end``."""

    rows: int
    start: datetime

    @property
    def devices(self) -> int:
        return max(self.rows // 10, 1)

    def at(self, n: int) -> datetime:
        return self.start + timedelta(days=DAYS) * (n / self.rows)

    def message_of(self, n: int) -> int:
        block, r = divmod(n, 10)
        return block * 6 + (0 if r < 5 else r - 4)

    def token(self, n: int) -> str:
        device = (n * 7919) % self.devices
        mixed = (device * _MIX) & _MASK
        return f"{mixed:016x}{device:016x}{mixed ^ _MASK:016x}{device * 31 & _MASK:016x}"

    @staticmethod
    def code(m: int) -> str:
        return f"{(m * 7777) % 1_000_000:06d}"

    @staticmethod
    def external_id(m: int) -> str | None:
        kind = m % 10
        return f"otp-{m}" if kind < 4 else f"order-{m}" if kind < 7 else None


def _message_line(shape: Shape, m: int, app_id: int, at: str) -> str:
    kind = m % 10
    if kind < 4:
        content = f'{{"title": "Sign-in code", "content": "Your code is {shape.code(m)}"}}'
    elif kind < 7:
        content = f'{{"title": "Parcel", "content": "Your order {m} has shipped"}}'
    else:
        content = '{"title": "Weekly digest", "content": "News of the week"}'
    ext = shape.external_id(m) or "\\N"
    return f"{_uuid(at, 1, m)}\t{app_id}\t{ext}\t{content}\tapi\t{at}\n"


def _uuid(at: str, kind: int, n: int) -> str:
    # Time first, like the product's UUIDv7 ids (shared/ids.py), so ids grow with created_at.
    stamp = int(datetime.fromisoformat(at).timestamp() * 1000)
    return f"{stamp:012x}{kind:x}{n:019x}"


def _dispatch_line(shape: Shape, n: int, app_id: int, at: str) -> str:
    m = shape.message_of(n)
    kind = n % 100
    status, reason = (("delivered", "\\N") if kind < 85 else ("sent", "\\N") if kind < 93
                      else ("failed", _FAILED[n % len(_FAILED)]) if kind < 98
                      else ("queued", "\\N"))
    platform = "ios" if ((n * 7919) % shape.devices) % 2 else "android"
    gateway = f"gw-{n}" if status != "queued" else "\\N"
    return (f"{_uuid(at, 2, n)}\t{_uuid(at, 1, m)}\t{app_id}\t{shape.token(n)}\t{platform}\ttx"
            f"\t{status}\t{reason}\t{1 if status != 'queued' else 0}\t{gateway}"
            f"\t{shape.external_id(m) or chr(92) + 'N'}\t{at}\t{at}\tapi\n")


def _load_chunk(conn: psycopg.Connection[Any], shape: Shape, app_id: int, chunk: int) -> None:
    first, last = chunk * CHUNK_ROWS, min((chunk + 1) * CHUNK_ROWS, shape.rows)
    messages, dispatches = [], []
    for n in range(first, last):
        at = shape.at(n).isoformat()
        dispatches.append(_dispatch_line(shape, n, app_id, at))
        if n % 10 < 5 and n % 10 != 0:
            continue  # dispatches 1-4 of a block share the message of dispatch 0
        messages.append(_message_line(shape, shape.message_of(n), app_id, at))
    with conn.transaction():
        with conn.cursor().copy("COPY messages (id, app_id, external_id, content, source,"
                                " created_at) FROM STDIN") as copy:
            copy.write("".join(messages))
        with conn.cursor().copy("COPY dispatches (id, message_id, app_id, device_token, platform,"
                                " lane, status, reason, attempts, gateway_id, external_id,"
                                " created_at, updated_at, source) FROM STDIN") as copy:
            copy.write("".join(dispatches))
        conn.execute("INSERT INTO bench_load_chunks VALUES (%s)", (chunk,))


def load(url: str, rows: int, app_id: int, log: Any = print) -> Shape:
    """Load (or finish loading, or reuse) ``rows`` dispatches of ``app_id``."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(_STATE)
        found = conn.execute("SELECT rows, start_at, finished FROM bench_load").fetchone()
        if found is not None and found[0] != rows:
            raise SystemExit(f"the database holds a load of {found[0]} rows, not {rows}: "
                             f"pass --rows {found[0]} or another --database")
        if found is None:
            start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=DAYS)
            conn.execute("INSERT INTO bench_load (rows, start_at) VALUES (%s, %s)", (rows, start))
        else:
            start = found[1]
        shape = Shape(rows, start)
        if found is not None and found[2]:
            log(f"reusing the loaded database ({rows} dispatches)")
            return shape
        for name, definition in conn.execute(_SECONDARY).fetchall():
            conn.execute("INSERT INTO bench_load_indexes VALUES (%s, %s) ON CONFLICT DO NOTHING",
                         (name, definition))
            conn.execute(f'DROP INDEX "{name}"')
        done = {r[0] for r in conn.execute("SELECT chunk FROM bench_load_chunks")}
        chunks = (rows + CHUNK_ROWS - 1) // CHUNK_ROWS
        began = time.monotonic()
        for chunk in range(chunks):
            if chunk not in done:
                _load_chunk(conn, shape, app_id, chunk)
                log(f"chunk {chunk + 1}/{chunks} loaded ({time.monotonic() - began:.0f} s)")
        conn.execute("SET maintenance_work_mem = '512MB'")
        for name, definition in conn.execute(
                "SELECT name, definition FROM bench_load_indexes").fetchall():
            t = time.monotonic()
            conn.execute(definition.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1))
            log(f"index {name} built ({time.monotonic() - t:.0f} s)")
        conn.execute("VACUUM ANALYZE messages")
        conn.execute("VACUUM ANALYZE dispatches")
        conn.execute("UPDATE bench_load SET finished = true")
        log(f"loaded {rows} dispatches in {time.monotonic() - began:.0f} s")
        return shape
