"""Intake benchmark: ``POST /v2.1/push`` against the ceiling of a Python intake on this machine.

Starts a private redis-server and a fresh PostgreSQL database (as the tests do), a real
``pushflow api`` server and, on the same stack with the same process count, the bare endpoint of
``bench/ceiling_app.py`` (one Redis LPUSH per token, nothing else). A keep-alive HTTP/1.1 load
generator (raw asyncio streams on uvloop, many connections) drives each for ``--seconds``:
1-token requests alternating with the ceiling (same requests) in 2-second slices, then
100-token requests.

    .venv/bin/python bench/intake.py --seconds 10

Last line: ``rps_1=… p99_ms_1=… tokens_per_s_100=… ceiling_rps=… ratio=…`` (ratio = rps_1 /
ceiling_rps). Persistence is on: every accepted request is committed to PostgreSQL. The API logs
at the default level, INFO (error answers get an access-log line, successes do not).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson
import psycopg
import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from domain.keys import store as apps  # noqa: E402
from shared.db.migrate import migrate  # noqa: E402
from tests.services import free_port, postgres_database, redis_server, wait_port  # noqa: E402

SLICE_SECONDS = 2.0


@dataclass
class Result:
    requests: int
    seconds: float
    latencies: list[float]
    errors: int

    def add(self, other: Result) -> None:
        self.requests += other.requests
        self.seconds += other.seconds
        self.latencies += other.latencies
        self.errors += other.errors

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def pct(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000 if ordered else 0.0


async def _connection(port: int, request: bytes, stop: float, latencies: list[float],
                      counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < stop:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            counts[0 if status < 300 else 1] += 1
    finally:
        writer.close()


async def drive(port: int, request: bytes, seconds: float, connections: int) -> Result:
    latencies: list[float] = []
    counts = [0, 0]
    # Warm-up (connections, prepared statements, auth cache), not counted.
    await asyncio.gather(*(_connection(port, request, time.perf_counter() + 0.2, [], [0, 0])
                           for _ in range(connections)))
    started = time.perf_counter()
    stop = started + seconds
    await asyncio.gather(*(_connection(port, request, stop, latencies, counts)
                           for _ in range(connections)))
    return Result(counts[0], time.perf_counter() - started, latencies, counts[1])


def http_request(body: bytes, headers: dict[str, str]) -> bytes:
    lines = [b"POST /v2.1/push HTTP/1.1", b"Host: 127.0.0.1", b"Content-Type: application/json",
             b"Content-Length: " + str(len(body)).encode()]
    lines += [f"{k}: {v}".encode() for k, v in headers.items()]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def push_body(tokens: int) -> bytes:
    return orjson.dumps({"device_tokens": [secrets.token_hex(32) for _ in range(tokens)],
                         "title": "Your code", "content": "123456 is your code",
                         "data": {"orderId": "42"}})


@contextmanager
def server(cmd: list[str], port: int, env: dict[str, str]
           ) -> Iterator[subprocess.Popen[bytes]]:
    """The server process, listening; stopped (SIGTERM, then SIGKILL) after the block."""
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        wait_port(port, timeout=30)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def ceiling_command(port: int, workers: int = 1) -> list[str]:
    """``uvicorn`` serving bench/ceiling_app.py with the settings ``pushflow api`` names
    (pushflow/cli/serve_commands.py): uvloop, httptools, no WebSocket protocol, lifespan on,
    warnings only, no access log -- not uvicorn's "auto" choices. The one difference is the HTTP
    protocol class: uvicorn's own httptools protocol, where the API adds its head limits
    (producer/http_server.py), which are the API's work and counted as such."""
    return [sys.executable, "-m", "uvicorn", "ceiling_app:app", "--app-dir", "bench",
            "--port", str(port), "--workers", str(workers), "--loop", "uvloop",
            "--http", "httptools", "--ws", "none", "--lifespan", "on",
            "--log-level", "warning", "--no-access-log"]


def report(name: str, result: Result, tokens: int) -> None:
    print(f"{name:>14}: {result.rps:8.0f} req/s {result.rps * tokens:9.0f} tokens/s "
          f"p50 {result.pct(0.5):6.2f} ms  p99 {result.pct(0.99):6.2f} ms  "
          f"non-2xx {result.errors}", flush=True)


@dataclass(frozen=True)
class Setup:
    env: dict[str, str]  # the servers' environment
    auth: dict[str, str]  # the headers of a push:send key
    database_url: str


@contextmanager
def bench_setup(db_prefix: str) -> Iterator[Setup]:
    """A private redis-server and a fresh migrated database with an app and a push:send key,
    both gone after the block."""
    workdir = Path(tempfile.mkdtemp(prefix="pushflow-bench-"))
    with redis_server(workdir) as redis_url, postgres_database(db_prefix) as db_url:
        migrate(db_url)
        with psycopg.connect(db_url, autocommit=True) as conn:
            app_key = apps.create_app(conn, "bench")
            secret = apps.create_key(conn, app_key, ["push:send"]).secret
            # The intake refuses tokens of platforms without credentials; it only checks that
            # a row exists, and no worker runs here, so placeholder rows do.
            conn.execute("INSERT INTO app_credentials (app_id, provider, kind, secret)"
                         " SELECT id, p, 'token', '\\x00' FROM apps,"
                         " unnest(ARRAY['apns', 'fcm']) p WHERE app_key = %s", (app_key,))
        env = {**os.environ, "PUSHFLOW_DATABASE_URL": db_url, "PUSHFLOW_REDIS_URL": redis_url,
               "PUSHFLOW_DATA_DIR": str(workdir / "data"), "PUSHFLOW_LOG_LEVEL": "INFO",
               # per-success access lines off (errors still logged): see docs/benchmarks.md
               "PUSHFLOW_ACCESS_LOG_SUCCESSES": os.environ.get(
                   "PUSHFLOW_ACCESS_LOG_SUCCESSES", "false"),
               "PUSHFLOW_DB_POOL_SIZE": "10",
               # The bench's one app sends far past the default intake rate: raised so that
               # every request is still counted (the limiter's cost is measured) but none refused.
               "PUSHFLOW_INTAKE_REQUESTS_PER_SECOND": "1000000",
               "PUSHFLOW_INTAKE_REQUEST_BURST": "1000000"}
        yield Setup(env, {"Authorization": secret, "Application-Key": app_key}, db_url)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1, help="server processes (both servers)")
    parser.add_argument("--drop-search-index", action="store_true",
                        help="an experiment, not the product: drop messages_search_words after"
                             " the migrations (docs/benchmarks.md, Intake)")
    args = parser.parse_args()
    uvloop.install()
    with bench_setup("pushflow_bench") as setup:
        env, auth = setup.env, setup.auth
        if args.drop_search_index:
            with psycopg.connect(setup.database_url, autocommit=True) as conn:
                conn.execute("DROP INDEX messages_search_words")
        api_port, ceiling_port = free_port(), free_port()
        api_cmd = [sys.executable, "-m", "pushflow.cli.main", "api", "--port", str(api_port),
                   "--workers", str(args.workers)]
        ceiling_cmd = ceiling_command(ceiling_port, args.workers)
        with server(api_cmd, api_port, env), server(ceiling_cmd, ceiling_port, env):
            one_token = http_request(push_body(1), auth)
            # The machine is shared and noisy: 1-token pushes and the ceiling alternate in
            # short slices, so both see the same background load and the ratio holds.
            slices = max(1, round(args.seconds / SLICE_SECONDS))
            one, ceiling = Result(0, 0.0, [], 0), Result(0, 0.0, [], 0)
            for _ in range(slices):
                for total, port in ((one, api_port), (ceiling, ceiling_port)):
                    total.add(asyncio.run(drive(port, one_token, args.seconds / slices,
                                                 args.connections)))
            report("push 1 token", one, 1)
            report("ceiling", ceiling, 1)
            hundred = asyncio.run(drive(api_port, http_request(push_body(100), auth),
                                         args.seconds, args.connections))
            report("push 100", hundred, 100)
    ratio = one.rps / ceiling.rps if ceiling.rps else 0.0
    print(f"rps_1={one.rps:.0f} p99_ms_1={one.pct(0.99):.2f} "
          f"tokens_per_s_100={hundred.rps * 100:.0f} ceiling_rps={ceiling.rps:.0f} "
          f"ratio={ratio:.2f}")
    return 0 if one.errors == 0 and hundred.errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
