"""Where the intake's CPU goes: CPU per 1-token push of the API process and of PostgreSQL.

Starts the services and one server as bench/intake.py does (``pushflow api``, or with
``--ceiling`` the bare endpoint of bench/ceiling_app.py), drives 1-token pushes for
``--seconds`` and reads the kernel's accounting from ``/proc``:

- ``api_us`` / ``pg_us``: CPU time per request of the server process / of all PostgreSQL
  processes (backends, WAL writer, autovacuum...);
- ``util``: the server's CPU time per second of wall time (1.0 = one core, always busy);
- ``runq_wait``: the share of the time it was runnable but waiting for a core
  (``/proc/PID/schedstat``): other processes - PostgreSQL's backends first - preempting it;
- ``preempted_per_s``: involuntary context switches per second;
- ``req_per_commit``: requests per PostgreSQL transaction (the writer's group size).

    .venv/bin/python bench/intake_cpu.py --seconds 8 [--ceiling] [--connections 32]

These figures move less than requests/s on a shared machine; docs/benchmarks.md (Intake)
explains what they showed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from intake import (  # noqa: E402
    bench_setup,
    ceiling_command,
    drive,
    http_request,
    push_body,
    server,
)

from tests.services import free_port  # noqa: E402

_TICK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def postgres_cpu() -> float:
    total = 0.0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/comm").read_text().startswith("postgres"):
                    total += process_cpu(int(entry))
            except OSError:
                continue  # gone meanwhile
    return total


def run_queue_wait(pid: int) -> float:
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9


def preemptions(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("nonvoluntary_ctxt_switches"):
            return int(line.split(":")[1])
    return 0


def commits(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT xact_commit FROM pg_stat_database"
                           " WHERE datname = current_database()").fetchone()
    return int(row[0]) if row else 0


def readings(pid: int, database_url: str) -> tuple[float, float, float, int, int]:
    """(server CPU s, PostgreSQL CPU s, run-queue wait s, preemptions, commits) so far."""
    return (process_cpu(pid), postgres_cpu(), run_queue_wait(pid), preemptions(pid),
            commits(database_url))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--ceiling", action="store_true", help="measure the bare endpoint")
    parser.add_argument("--profile", metavar="FILE",
                        help="also sample the server with py-spy (pip install py-spy) into FILE"
                             " (raw collapsed stacks); the sampling costs the server some CPU")
    parser.add_argument("--drop-search-index", action="store_true",
                        help="an experiment, not the product: drop messages_search_words after"
                             " the migrations, to see what the full-text index costs the intake")
    args = parser.parse_args()
    uvloop.install()
    with bench_setup("pushflow_bench_cpu") as setup:
        if args.drop_search_index:
            with psycopg.connect(setup.database_url, autocommit=True) as conn:
                conn.execute("DROP INDEX messages_search_words")
        port = free_port()
        cmd = (ceiling_command(port) if args.ceiling else
               [sys.executable, "-m", "pushflow.cli.main", "api", "--port", str(port)])
        with server(cmd, port, setup.env) as proc:
            request = http_request(push_body(1), setup.auth)
            asyncio.run(drive(port, request, 1.0, args.connections))  # warm-up
            spy = None if args.profile is None else subprocess.Popen(
                ["py-spy", "record", "--pid", str(proc.pid), "--format", "raw", "--nonblocking",
                 "--duration", str(int(args.seconds)), "--output", args.profile],
                stdout=subprocess.DEVNULL)
            before = readings(proc.pid, setup.database_url)
            result = asyncio.run(drive(port, request, args.seconds, args.connections))
            after = readings(proc.pid, setup.database_url)
            if spy is not None:
                spy.wait()
    n, wall = result.requests, result.seconds
    api, pg, waited, preempted, transactions = (b - a for a, b in zip(before, after,
                                                                      strict=True))
    print(f"rps={result.rps:.0f} api_us={api / n * 1e6:.0f} pg_us={pg / n * 1e6:.0f} "
          f"util={api / wall:.2f} runq_wait={waited / wall:.2f} "
          f"preempted_per_s={preempted / wall:.0f} "
          f"req_per_commit={n / max(1, transactions):.1f} p50_ms={result.pct(0.5):.2f}")
    return 0 if result.errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
