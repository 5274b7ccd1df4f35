"""What migration 0007's text index costs the intake: PostgreSQL CPU per stored 1-token push,
with and without ``messages_search_words``, in one run.

The intake's own statement (``domain.messages.rows.insert_batch``, groups of 10 messages as the
API's grouped writer makes them under load) into a fresh database, in slices that alternate the
index dropped and present. CPU is the backend's own (``/proc/<pid>/stat``: user + system time),
which other processes on a shared machine do not inflate the way they inflate wall time.

    .venv/bin/python bench/search_intake_cost.py --slices 6 --messages 3000

Last line: ``us_per_push_without=… us_per_push_with=… index_cost_pct=…``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from domain.keys import store as apps  # noqa: E402
from domain.messages.rows import NewMessage, insert_batch  # noqa: E402
from shared.db.migrate import migrate  # noqa: E402
from shared.ids import new_id  # noqa: E402
from tests.services import postgres_database  # noqa: E402

GROUP = 10
_TICKS = os.sysconf("SC_CLK_TCK")
_INDEX = ("CREATE INDEX IF NOT EXISTS messages_search_words ON messages"
          " USING gin (message_search_words(content, external_id))")


def backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def message(app_id: int, n: int) -> NewMessage:
    return NewMessage(
        app_id=app_id, message_id=new_id(), external_id=f"order-{n}",
        content={"title": "Sign-in code", "content": f"Your code is {n % 1_000_000:06d}"},
        webhook_url=None, schedule_time=None, ttl=None, request_id="bench", status="queued",
        dispatch_ids=[new_id()], tokens=[secrets.token_hex(32)], platforms=["ios"], jobs=[])


async def slice_cpu(conn: psycopg.AsyncConnection[Any], pid: int, app_id: int,
                    count: int) -> float:
    began = backend_cpu(pid)
    for start in range(0, count, GROUP):
        await insert_batch(conn, [message(app_id, start + i) for i in range(GROUP)], 5.0)
    return (backend_cpu(pid) - began) / count * 1e6


async def run(url: str, app_id: int, slices: int, count: int) -> dict[bool, list[float]]:
    found: dict[bool, list[float]] = {False: [], True: []}
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        pid = (await (await conn.execute("SELECT pg_backend_pid()")).fetchone() or [0])[0]
        await slice_cpu(conn, pid, app_id, count)  # warm-up: caches, plans
        for i in range(slices):
            with_index = i % 2 == 1
            await conn.execute(_INDEX if with_index else
                               "DROP INDEX IF EXISTS messages_search_words")
            found[with_index].append(await slice_cpu(conn, pid, app_id, count))
            print(f"slice {i + 1}: index {'on ' if with_index else 'off'} "
                  f"{found[with_index][-1]:.0f} us/push", flush=True)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=6)
    parser.add_argument("--messages", type=int, default=3000, help="pushes per slice")
    args = parser.parse_args()
    with postgres_database("pushflow_bench_intake_cost") as url:
        migrate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            app_id = apps.app_id_for(conn, apps.create_app(conn, "bench"))
        found = asyncio.run(run(url, app_id, args.slices, args.messages))
    without, with_ = (sorted(found[k])[len(found[k]) // 2] for k in (False, True))
    print(f"us_per_push_without={without:.0f} us_per_push_with={with_:.0f} "
          f"index_cost_pct={(with_ / without - 1) * 100:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
