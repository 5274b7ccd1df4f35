"""DLR benchmark: results recorded per second and webhooks delivered per second.

Starts a private redis-server and a fresh PostgreSQL database (as the tests do), seeds
``--results`` queued dispatches of one app subscribed to ``push.sent``, then:
0. ceiling: the same recording statements run directly from one connection, same batch size,
   no Celery, on ``--results`` other dispatches (what PostgreSQL allows on this machine now);
1. results: starts the real DLR worker (``celery -A workers worker -Q dlr``), waits until it is
   consuming, LPUSHes every result in Celery messages of ``--batch`` results (built exactly as the
   send workers build them) and times until every dispatch is ``sent`` (each result also writes a
   history row and a webhook event);
2. webhooks: starts a fast asyncio HTTP receiver in its own process and the real
   ``pushflow webhooks-worker``; the rate is events / (last delivery - first attempt), both read
   from PostgreSQL, so process start-up is not counted.

    .venv/bin/python bench/dlr.py --results 20000

Last line: ``results_per_s=… webhooks_per_s=…``; the line before gives the ceiling and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from domain.keys import store as apps  # noqa: E402
from shared.db.migrate import migrate  # noqa: E402
from shared.queues import DLR, TASK_RECORD_RESULT  # noqa: E402
from shared.taskmessage import build_message  # noqa: E402
from tests.services import free_port, postgres_database, redis_server, wait_port  # noqa: E402

_ANSWER = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"


class _Receiver(asyncio.Protocol):
    """Keep-alive HTTP/1.1: answers 200 to every complete request (headers + content-length)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            at = head.find(b"content-length:")
            length = int(head[at + 15:].split(b"\r\n", 1)[0]) if at >= 0 else 0
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length:]
            self.transport.write(_ANSWER)  # type: ignore[attr-defined]


def run_receiver(port: int) -> None:
    import uvloop

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Receiver, "127.0.0.1", port, backlog=1024)
        await server.serve_forever()

    uvloop.run(serve())


def spawn(args: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "wb") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def seed(db_url: str, n: int) -> tuple[int, list[tuple[str, str, str]]]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        app_key = apps.create_app(conn, "bench")
        app_id = apps.app_id_for(conn, app_key)
        conn.execute(
            "INSERT INTO messages (id, app_id, content) SELECT gen_random_uuid(), %s, '{}'"
            " FROM generate_series(1, %s)", (app_id, (n + 99) // 100))
        conn.execute(
            "INSERT INTO dispatches (id, message_id, app_id, device_token, platform, status)"
            " SELECT gen_random_uuid(), m.id, m.app_id, md5(random()::text) ||"
            " md5(random()::text), 'ios', 'queued' FROM messages m, generate_series(1, 100)"
            " WHERE m.app_id = %s", (app_id,))
        rows = conn.execute("SELECT id::text, message_id::text, device_token FROM dispatches"
                            " WHERE app_id = %s LIMIT %s", (app_id, n)).fetchall()
        conn.execute("DELETE FROM dispatches WHERE app_id = %s AND status = 'queued'"
                     " AND id <> ALL(%s::uuid[])", (app_id, [r[0] for r in rows]))
    return app_id, [(r[0], r[1], r[2]) for r in rows]


def subscribe(db_url: str, app_id: int, url: str) -> None:
    from cryptography.fernet import Fernet

    from domain.webhooks.signing import encrypt, new_secret
    from shared.settings import get_settings

    get_settings.cache_clear()
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO webhook_endpoints (app_id, primary_url, event_types)"
                     " VALUES (%s, %s, %s)", (app_id, url, ["push.sent"]))
        conn.execute("INSERT INTO webhook_secrets (app_id, secret) VALUES (%s, %s)",
                     (app_id, encrypt(Fernet(get_settings().fernet_key()), new_secret())))


def wait(db_url: str, sql: str, target: int, timeout: float, *params: object) -> None:
    """Poll a count until it reaches ``target`` (one connection, every 50 ms)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(db_url, autocommit=True) as conn:
        while True:
            row = conn.execute(sql, params).fetchone()
            if row is not None and int(row[0]) >= target:
                return
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for {target}: {sql}")
            time.sleep(0.05)


def sent_results(app_id: int, rows: list[tuple[str, str, str]]) -> list[dict[str, object]]:
    """What a send worker reports for a push sent at its first attempt, the attempt's facts
    (worker, take time, latency) included."""
    now = time.time()
    return [{"dispatchId": d, "messageId": m, "appId": app_id, "token": t, "platform": "ios",
             "status": "sent", "gatewayId": f"apns-{i}", "gatewayResponse": {"status": 200},
             "attempts": 1, "at": now, "requestId": "bench", "worker": "apns-bench-1234",
             "takenAt": now - 0.01, "latencyMs": 3.217} for i, (d, m, t) in enumerate(rows)]


def bench_ceiling(db_url: str, app_id: int, rows: list[tuple[str, str, str]], batch: int
                  ) -> float:
    from domain.dispatches.record import record_query, valid_outcomes

    results = sent_results(app_id, rows)
    with psycopg.connect(db_url) as conn:
        started = time.perf_counter()
        for i in range(0, len(results), batch):
            query, params = record_query(valid_outcomes(results[i:i + batch]))
            with conn.transaction():
                conn.execute(query, params).fetchall()
        return len(results) / (time.perf_counter() - started)


def bench_results(db_url: str, redis_url: str, app_id: int, rows: list[tuple[str, str, str]],
                  batch: int, workdir: Path, concurrency: int, already_sent: int) -> float:
    client = redis.Redis.from_url(redis_url)
    results = sent_results(app_id, rows)
    warm, rest = results[:1], results[1:]
    messages = [build_message(TASK_RECORD_RESULT, DLR, [rest[i:i + batch]])
                for i in range(0, len(rest), batch)]
    pool = ["-P", "solo"] if concurrency == 1 else ["-P", "prefork", "-c", str(concurrency)]
    worker = spawn([sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", DLR, *pool,
                    "--without-mingle", "--without-gossip", "--without-heartbeat",
                    "-l", "WARNING"], workdir / "dlr.log")
    try:
        client.lpush(DLR, build_message(TASK_RECORD_RESULT, DLR, [warm]))
        sent = "SELECT count(*) FROM dispatches WHERE app_id = %s AND status = 'sent'"
        already = already_sent + 1
        wait(db_url, sent, already, 60, app_id)  # the worker is up and consuming
        started = time.perf_counter()
        for i in range(0, len(messages), 500):
            client.lpush(DLR, *messages[i:i + 500])
        wait(db_url, sent, already_sent + len(results), 600, app_id)
        elapsed = time.perf_counter() - started
    finally:
        worker.terminate()
        worker.wait(30)
    return len(rest) / elapsed


def bench_webhooks(db_url: str, app_id: int, total: int, workdir: Path, senders: int) -> float:
    procs = [spawn([sys.executable, "-m", "pushflow.cli.main", "webhooks-worker"],
                   workdir / f"sender{i}.log") for i in range(senders)]
    try:
        wait(db_url, "SELECT count(*) FROM webhook_events WHERE app_id = %s"
             " AND state = 'delivered'", total, 600, app_id)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT extract(epoch FROM max(e.delivered_at) - (SELECT min(at) FROM"
            " webhook_attempts WHERE app_id = %s)), count(*) FILTER (WHERE e.attempts > 1)"
            " FROM webhook_events e WHERE e.app_id = %s", (app_id, app_id)).fetchone()
    assert row is not None
    print(f"webhooks: {total} delivered in {float(row[0]):.2f}s ({row[1]} needed a retry)",
          flush=True)
    return total / float(row[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=500, help="results per Celery message")
    parser.add_argument("--dlr-concurrency", type=int, default=4, help="DLR worker processes")
    parser.add_argument("--senders", type=int, default=1, help="webhooks-worker processes")
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        run_receiver(args.receiver)
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="pushflow-bench-dlr-"))
    with redis_server(workdir) as redis_url, postgres_database("pushflow_bench") as db_url:
        port = free_port()
        os.environ.update({
            "PUSHFLOW_DATABASE_URL": db_url, "PUSHFLOW_REDIS_URL": redis_url,
            "PUSHFLOW_DATA_DIR": str(workdir / "data"), "PUSHFLOW_LOG_LEVEL": "WARNING",
            "PUSHFLOW_WEBHOOK_ALLOW_HTTP": "true", "PUSHFLOW_WEBHOOK_ALLOW_PRIVATE": "true",
        })
        migrate(db_url)
        app_id, all_rows = seed(db_url, 2 * args.results)
        ceiling_rows, rows = all_rows[:args.results], all_rows[args.results:]
        subscribe(db_url, app_id, f"http://127.0.0.1:{port}/hook")
        receiver = subprocess.Popen([sys.executable, __file__, "--receiver", str(port)])
        try:
            wait_port(port)
            ceiling = bench_ceiling(db_url, app_id, ceiling_rows, args.batch)
            print(f"ceiling: {ceiling:.0f} results/s recorded directly from ONE connection"
                  " (no Celery)", flush=True)
            results_per_s = bench_results(db_url, redis_url, app_id, rows, args.batch, workdir,
                                          args.dlr_concurrency, len(ceiling_rows))
            print(f"results: {len(rows)} recorded, {results_per_s:.0f}/s", flush=True)
            print(f"ratio: {results_per_s / ceiling:.2f} of the one-connection ceiling with"
                  f" {args.dlr_concurrency} DLR process(es)", flush=True)
            webhooks_per_s = bench_webhooks(db_url, app_id, len(all_rows), workdir,
                                            args.senders)
        finally:
            receiver.terminate()
            receiver.wait(10)
    print(f"results_per_s={results_per_s:.0f} webhooks_per_s={webhooks_per_s:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
