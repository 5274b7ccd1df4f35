"""Delivery throughput: tokens/s from the queue to gateway acceptance, against its ceiling.

For each gateway (APNs, FCM), with the sandbox answering every push after ``--latency-ms``:
1. ceiling: a bare client on the SAME HTTP/2 stack our worker uses (the raw-h2 client of
   workers/h2client, for both gateways) sends ``--tokens`` requests built like the worker builds
   them (APNs headers and JWT; FCM: firebase-admin's message JSON and OAuth token) with
   ``--in-flight`` concurrency and no queue;
2. ours: ONE ``celery -A workers worker`` process for that gateway; the queue is pre-filled with
   messages built exactly as the intake builds them; timed from the fill until every outcome is
   on the ``dlr`` queue.

Private redis-server, fresh PostgreSQL database and sandbox, all on this machine (the sandbox
shares the cores with what it measures: compare the ratio, not the absolute figures).
Also printed: the worker's window efficiency, tokens/s ÷ (in-flight ÷ latency), split by
Little's law into the window's fill (sends on the wire on average ÷ in-flight) and the round
trip's stretch (latency ÷ mean round trip), with the worker's and the sandbox's CPU per token,
the worker loop's demand and the machine's busy fraction: what bounds it (bench/window_probe.py).
``--events on`` (the default: how ``pushflow up`` and deploy/ run it) starts the worker with
``-E``, so it emits Celery task events for every send (what Flower shows); ``off`` without;
``both`` measures both in the same run, events off first, and adds their cost: tokens/s with
events ÷ tokens/s without (``*_events_ratio``).
Last line: ``apns_tokens_per_s=… fcm_tokens_per_s=… apns_ratio=… fcm_ratio=…
apns_efficiency=… fcm_efficiency=… apns_fill=… fcm_fill=… apns_cpu_ms_per_token=…
fcm_cpu_ms_per_token=… apns_loop_demand=… fcm_loop_demand=… apns_cpu_cap_efficiency=…
fcm_cpu_cap_efficiency=… apns_loop_cap_efficiency=… fcm_loop_cap_efficiency=…`` (the
efficiencies this machine's cores allow worker and sandbox at their CPU per token, and the
worker's one event loop allows at its own; with ``both``: of the run with
events, then
``apns_events_off_tokens_per_s=… fcm_events_off_tokens_per_s=… apns_events_ratio=…
fcm_events_ratio=…``).

    .venv/bin/python bench/delivery.py --tokens 20000
    .venv/bin/python bench/delivery.py --tokens 10000 --events both
    .venv/bin/python bench/delivery.py --tokens 10000 --in-flight 200
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import window_probe as probe
from bench.window_probe import Window
from domain.keys import store as apps
from sandbox.testing import SandboxProcess
from shared import credentials
from shared.db.migrate import migrate
from shared.gateway_payloads import apns_body
from shared.settings import get_settings
from shared.taskmessage import decode_message
from tests.services import free_port, postgres_database, redis_server
from workers.apns.jwt import mint
from workers.apns.request import request_headers
from workers.delivery.reliable_queue import WORKERS
from workers.delivery.runtime import new_loop
from workers.delivery.testing import (
    WorkerProcess,
    apns_token,
    enqueue,
    fcm_token,
    make_job,
    wait_for,
)
from workers.fcm import request as fcm_request
from workers.fcm.oauth import AccessTokens
from workers.h2client import ConnectionPool, tls_context


async def bare_rate(jobs: list[Any], in_flight: int,
                    send: Callable[[Any], Awaitable[None]]) -> tuple[float, float]:
    """(requests/s, mean round trip in s) of ``in_flight`` senders each taking the next job as
    soon as its last answer came (no task or semaphore per request: the leanest way to keep
    that many streams busy)."""
    todo = iter(jobs)
    round_trips = 0.0

    async def sender() -> None:
        nonlocal round_trips
        for job in todo:
            sent = time.perf_counter()
            await send(job)
            round_trips += time.perf_counter() - sent

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(min(in_flight, len(jobs)))))
    return len(jobs) / (time.perf_counter() - started), round_trips / len(jobs)


async def apns_ceiling(sbx: SandboxProcess, n: int, in_flight: int) -> tuple[float, float]:
    a = sbx.apns
    key = credentials.parse_apns_key((sbx.credentials_dir / "apns-key.p8").read_bytes(),
                                     a["keyId"], a["teamId"], a["topic"], a["sandbox"])
    bearer = mint(key, int(time.time()))
    pool = ConnectionPool(sbx.apns_url, tls_context(sbx.ca_file),
                          get_settings().apns_connections, 10)

    async def send(job: Any) -> None:
        body = apns_body(job["message"])
        headers = request_headers(job, pool.authority, key.topic, bearer, len(body))
        resp = await pool.request(headers, body, 30)
        assert resp.status == 200, resp

    try:
        return await bare_rate([make_job(0, "ios", apns_token()) for _ in range(n)], in_flight,
                               send)
    finally:
        await pool.close()


async def fcm_ceiling(sbx: SandboxProcess, n: int, in_flight: int) -> tuple[float, float]:
    account = credentials.parse_fcm_service_account(sbx.service_account_file.read_bytes())
    access_token = await AccessTokens().token(account)  # firebase-admin's credential
    pool = ConnectionPool(sbx.fcm_url, tls_context(sbx.ca_file), get_settings().fcm_connections,
                          10)

    async def send(job: Any) -> None:
        body = fcm_request.request_body(job)
        headers = fcm_request.request_headers(pool.authority, account.project_id, access_token,
                                              len(body))
        resp = await pool.request(headers, body, 30)
        assert resp.status == 200, resp

    try:
        return await bare_rate([make_job(0, "android", fcm_token()) for _ in range(n)],
                               in_flight, send)
    finally:
        await pool.close()


def ours(gateway: str, r: redis.Redis[bytes], app_id: int, n: int, env: dict[str, str],
         log: Path, per_task: bool, events: bool, sandbox_pid: int, in_flight: int,
         latency_ms: float) -> Window:
    """The worker's figures over the timed part (tokens/s, window fill, CPU: window_probe)."""
    platform = "ios" if gateway == "apns" else "android"
    jobs = [make_job(app_id, platform, apns_token() if gateway == "apns" else fcm_token())
            for _ in range(n)]
    r.delete("dlr")
    extra = ["--pool", "solo"]
    if per_task:  # Celery's own consumer, one task per message, a thread per send in flight
        env = {**env, "PUSHFLOW_DELIVERY_BATCH_CONSUMER": "false"}
        extra = ["--pool", "threads", "--concurrency", "200", "--prefetch-multiplier", "4"]
    if events:
        extra.append("-E")
    metrics_port = free_port()
    env = {**env, "PUSHFLOW_METRICS_PORT": str(metrics_port)}
    with WorkerProcess([f"{gateway}.tx", f"{gateway}.bulk"], env=env, log_path=log,
                       extra_args=extra) as worker:
        assert worker.proc is not None
        if not per_task:
            wait_for(lambda: any(m.startswith(gateway.encode()) for m in r.smembers(WORKERS)),
                     60, what=f"{gateway} worker ready")
        # Warm-up (connections, OAuth token, JWT) outside the timed part.
        enqueue(r, [make_job(app_id, platform, apns_token() if gateway == "apns"
                             else fcm_token())])
        wait_for(lambda: r.llen("dlr") >= 1, 60, what="warm-up")
        r.delete("dlr")
        before = probe.read(worker.proc.pid, sandbox_pid, metrics_port, gateway, first=True)
        enqueue(r, jobs)
        counter = ResultCounter(r)
        wait_for(lambda: counter.count() >= n, 600, interval=0.02, what=f"{gateway} results")
        after = probe.read(worker.proc.pid, sandbox_pid, metrics_port, gateway, first=False)
    r.delete("pushflow:workers")
    return probe.window(before, after, n, in_flight, latency_ms)


class ResultCounter:
    """Counts outcomes on ``dlr`` decoding only the messages pushed since the last look (the
    measuring process must not eat the CPU it measures)."""

    def __init__(self, r: redis.Redis[bytes]) -> None:
        self.r = r
        self.seen_messages = 0
        self.results = 0

    def count(self) -> int:
        # LPUSH: the messages already counted are the last ``seen_messages`` of the list, so
        # everything before them is new — read in one call, whatever is pushed meanwhile.
        for raw in self.r.lrange("dlr", 0, -(self.seen_messages + 1)):
            self.results += len(decode_message(raw)[1][0])
            self.seen_messages += 1
        return self.results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=20000)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--in-flight", type=int, default=1000)
    parser.add_argument("--per-task", action="store_true",
                        help="measure Celery's per-task path instead (the rejected model)")
    parser.add_argument("--only", choices=("apns", "fcm"), default=None)
    parser.add_argument("--events", choices=("on", "off", "both"), default="on",
                        help="worker with Celery task events (-E), without, or both to compare")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pushflow-bench-delivery-"))
    with redis_server(work) as redis_url, postgres_database("pushflow_bench") as db_url, \
            SandboxProcess(work / "sandbox", latency_ms=args.latency_ms) as sbx:
        env = {"PUSHFLOW_DATABASE_URL": db_url, "PUSHFLOW_REDIS_URL": redis_url,
               "PUSHFLOW_DATA_DIR": str(work / "data"), "PUSHFLOW_LOG_JSON": "false",
               "PUSHFLOW_SEND_RATE_PER_SECOND": "0",
               "PUSHFLOW_DELIVERY_MAX_IN_FLIGHT": str(args.in_flight), **sbx.env()}
        os.environ.update(env)
        get_settings.cache_clear()
        migrate(db_url)
        settings = get_settings()
        with psycopg.connect(db_url, autocommit=True) as conn:
            app_key = apps.create_app(conn, "bench")
            app_id = apps.app_id_for(conn, app_key)
            a = sbx.apns
            credentials.store(conn, app_id, credentials.parse_apns_key(
                (sbx.credentials_dir / "apns-key.p8").read_bytes(), a["keyId"], a["teamId"],
                a["topic"], a["sandbox"]), settings.fernet_key())
            credentials.store(conn, app_id, credentials.parse_fcm_service_account(
                sbx.service_account_file.read_bytes()), settings.fernet_key())
        r = redis.Redis.from_url(redis_url)
        figures: dict[str, float] = {}
        for gateway in [args.only] if args.only else ["apns", "fcm"]:
            ceiling_fn = apns_ceiling if gateway == "apns" else fcm_ceiling
            cpu0 = time.process_time()
            with asyncio.Runner(loop_factory=new_loop) as runner:  # uvloop, like the worker
                ceiling, ceiling_rtt = runner.run(ceiling_fn(sbx, args.tokens, args.in_flight))
            ceiling_cpu_ms = (time.process_time() - cpu0) / args.tokens * 1000
            print(f"{gateway}: ceiling (bare client) {ceiling:,.0f}/s, {ceiling_cpu_ms:.2f} ms "
                  f"CPU/request, mean round trip {ceiling_rtt * 1000:.0f} ms, efficiency "
                  f"{ceiling * args.latency_ms / 1000 / args.in_flight:.2f}", flush=True)
            for events in {"on": [True], "off": [False], "both": [False, True]}[args.events]:
                w = ours(gateway, r, app_id, args.tokens, env, work / f"{gateway}-worker.log",
                         args.per_task, events, sbx.pid, args.in_flight, args.latency_ms)
                rate = w.tokens_per_s
                if not events and args.events == "both":
                    figures[gateway + "_events_off"] = rate
                figures[gateway] = rate
                figures[gateway + "_ratio"] = rate / ceiling
                figures[gateway + "_efficiency"] = w.efficiency
                figures[gateway + "_fill"] = w.fill
                figures[gateway + "_cpu_ms"] = w.worker_cpu_ms
                figures[gateway + "_demand"] = w.loop_demand
                figures[gateway + "_cpu_cap"] = w.machine_limit / w.bound if w.bound else 0.0
                figures[gateway + "_loop_cap"] = w.loop_limit / w.bound if w.bound else 0.0
                print(f"{gateway}: ours {rate:,.0f}/s, ratio {rate / ceiling:.2f} of the ceiling, "
                      f"CPU ratio {ceiling_cpu_ms / w.worker_cpu_ms:.2f}; {w.describe()} "
                      f"({args.tokens} tokens, {args.in_flight} in flight, "
                      f"{args.latency_ms:.0f} ms latency, task events {'on' if events else 'off'}"
                      f"{', per-task Celery path' if args.per_task else ''})", flush=True)
        r.close()
    ran = [g for g in ("apns", "fcm") if g in figures]
    compared = [g for g in ran if g + "_events_off" in figures]
    print(" ".join([*(f"{g}_tokens_per_s={figures[g]:.0f}" for g in ran),
                    *(f"{g}_ratio={figures[g + '_ratio']:.2f}" for g in ran),
                    *(f"{g}_efficiency={figures[g + '_efficiency']:.2f}" for g in ran),
                    *(f"{g}_fill={figures[g + '_fill']:.2f}" for g in ran),
                    *(f"{g}_cpu_ms_per_token={figures[g + '_cpu_ms']:.3f}" for g in ran),
                    *(f"{g}_loop_demand={figures[g + '_demand']:.2f}" for g in ran),
                    *(f"{g}_cpu_cap_efficiency={figures[g + '_cpu_cap']:.2f}" for g in ran),
                    *(f"{g}_loop_cap_efficiency={figures[g + '_loop_cap']:.2f}" for g in ran),
                    *(f"{g}_events_off_tokens_per_s={figures[g + '_events_off']:.0f}"
                      for g in compared),
                    *(f"{g}_events_ratio={figures[g] / figures[g + '_events_off']:.2f}"
                      for g in compared)]))


if __name__ == "__main__":
    main()
