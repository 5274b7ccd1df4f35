"""Isolation benchmark: a campaign at full speed must not slow transactional pushes.

A whole Pushflow on 127.0.0.1 (tests/chaos_system.py: the API, both send workers, the DLR
worker, the webhook sender, beat and the campaign pacer, every process ``pushflow up`` runs),
the sandbox gateways answering after ``--latency-ms``. Transactional pushes (one token each,
APNs and FCM in turn) arrive at ``--tx-rate`` per second:

1. idle: ``--idle-seconds`` of transactional pushes alone;
2. campaign: a campaign of ``--tokens`` tokens (half APNs, half FCM), uploaded, then started
   with no throughput limit (``perMinute`` at its maximum, the app's send rate unlimited), while
   the transactional pushes go on until it has finished.

A transactional push's latency runs from the API's 202 to the sandbox receiving its request.
Compare the campaign's rate with ``bench/delivery.py`` for the same workers.

    .venv/bin/python bench/isolation.py --tokens 1000000
    .venv/bin/python bench/isolation.py --tokens 20000 --idle-seconds 10     # a quick run

Last line: ``campaign_tokens_per_s=... tx_p99_ms=... idle_p99_ms=... p99_ratio=...``
(targets: tx p99 < 300 ms and p99_ratio < 1.5).
"""

from __future__ import annotations

import argparse
import secrets
import signal
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.chaos_system import ChaosSystem

MAX_PER_MINUTE = 6_000_000
CHUNK = 256 * 1024


def apns_token() -> str:
    return secrets.token_hex(32)


def fcm_token() -> str:
    return secrets.token_hex(6) + ":APA91b" + secrets.token_urlsafe(100)[:130]


class TxLoad(threading.Thread):
    """Transactional pushes at ``rate``/s; their 202 times by token."""

    def __init__(self, system: ChaosSystem, rate: float) -> None:
        super().__init__(daemon=True)
        self.system, self.rate = system, rate
        self.accepted: dict[str, float] = {}
        self.stop = threading.Event()
        self.errors = 0

    def run(self) -> None:
        n = 0
        start = time.monotonic()
        while not self.stop.is_set():
            token = apns_token() if n % 2 == 0 else fcm_token()
            status, _body = self.system.push([token])
            if status == 202:
                self.accepted[token] = time.time()
            else:
                self.errors += 1
            n += 1
            delay = start + n / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)


class GatewayLog(threading.Thread):
    """Polls the sandbox's recent requests: when each token of interest first arrived."""

    def __init__(self, system: ChaosSystem, wanted: dict[str, float]) -> None:
        super().__init__(daemon=True)
        self.system, self.wanted = system, wanted
        self.arrived: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        since = {"apns": 0.0, "fcm": 0.0}
        while not self.stop.wait(0.5):
            for gateway in ("apns", "fcm"):
                # Only what is new (records are appended when answered, so a little overlap):
                # fetching the whole window each time made the sandbox itself the bottleneck.
                records = self.system.sandbox.requests(gateway, limit=20_000,
                                                       since=since[gateway] - 2.0)
                for r in records:
                    if r["token"] in self.wanted and r["token"] not in self.arrived:
                        self.arrived[r["token"]] = r["time"]
                since[gateway] = max([since[gateway], *(r["time"] for r in records)])


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else float("nan")


def latencies(tx: TxLoad, log: GatewayLog, since: float, until: float) -> list[float]:
    return [(log.arrived[t] - at) * 1000 for t, at in list(tx.accepted.items())
            if since <= at <= until and t in log.arrived]


def tx_stages(db_url: str, since: float, until: float) -> tuple[float, ...]:
    """Where a transactional push's time went, from the attempts the DLR recorded: accept ->
    taken by a worker (the queue and the worker's window), and the gateway request itself."""
    with psycopg.connect(db_url) as db:
        row = db.execute(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY w), percentile_cont(0.99)"
            " WITHIN GROUP (ORDER BY w), percentile_cont(0.5) WITHIN GROUP (ORDER BY l),"
            " percentile_cont(0.99) WITHIN GROUP (ORDER BY l) FROM ("
            " SELECT extract(epoch FROM e.taken_at - d.created_at) * 1000 AS w, e.latency_ms AS l"
            " FROM dispatches d JOIN dispatch_events e ON e.dispatch_id = d.id"
            " WHERE d.lane = 'tx' AND e.status = 'sent' AND e.taken_at IS NOT NULL"
            " AND d.created_at BETWEEN to_timestamp(%s) AND to_timestamp(%s)) s",
            (since, until)).fetchone()
    return tuple(float(v) if v is not None else float("nan") for v in (row or ()))


def upload(system: ChaosSystem, campaign_id: str, tokens: int) -> None:
    def body() -> bytes:
        return "\n".join(apns_token() if i % 2 == 0 else fcm_token()
                         for i in range(tokens)).encode()

    request = urllib.request.Request(
        f"{system.api_url}/v2.1/campaigns/{campaign_id}/audience", data=body(), method="POST",
        headers={**system.headers, "Content-Type": "text/csv"})
    with urllib.request.urlopen(request, timeout=3600) as answer:
        assert answer.status == 200


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=1_000_000)
    parser.add_argument("--tx-rate", type=float, default=50.0)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    args = parser.parse_args()
    # A SIGTERM unwinds like Ctrl-C: the system's processes are stopped, not left behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    workdir = Path(tempfile.mkdtemp(prefix="pushflow-isolation-"))
    with ChaosSystem(workdir, proxies=False) as system:
        system.sandbox.set_latency(args.latency_ms)
        with psycopg.connect(system.direct_db_url, autocommit=True) as db:
            db.execute("""UPDATE apps SET send_rates = '{"apns.tx": 0, "apns.bulk": 0,
                          "fcm.tx": 0, "fcm.bulk": 0}'""")  # full speed: no per-app budget
        status, body = system.request("POST", "/v2.1/campaigns", {
            "name": "isolation", "content": {"title": "Bench", "content": "bulk"},
            "audience": {"kind": "upload"}, "perMinute": MAX_PER_MINUTE})
        assert status == 201, body
        campaign_id = body["data"][0]["id"]
        upload(system, campaign_id, args.tokens)

        tx = TxLoad(system, args.tx_rate)
        log = GatewayLog(system, tx.accepted)
        tx.start()
        log.start()
        idle_from = time.time() + 3  # the first seconds warm the workers' connections up
        time.sleep(3 + args.idle_seconds)
        idle_until = time.time()
        status, body = system.request("POST", f"/v2.1/campaigns/{campaign_id}/start")
        assert status == 200, body
        started = time.time()
        while True:
            time.sleep(1.0)
            status, body = system.request("GET", f"/v2.1/campaigns/{campaign_id}")
            progress = body["data"][0]["progress"]
            if body["data"][0]["state"] == "finished":
                break
            print(f"  {time.time() - started:6.1f} s  sent {progress['sent']}"
                  f"  queued {progress['queued']}  rate {progress['ratePerMinute'] / 60:.0f}/s",
                  flush=True)
        finished = time.time()
        time.sleep(2.0)
        tx.stop.set()
        log.stop.set()
        log.join()
        with psycopg.connect(system.direct_db_url) as db:
            row = db.execute("SELECT extract(epoch FROM max(d.updated_at) - min(r.submitted_at))"
                             " FROM campaign_recipients r JOIN dispatches d"
                             " ON d.id = r.dispatch_id WHERE r.campaign_id = %s",
                             (campaign_id,)).fetchone()
        span = float(row[0]) if row and row[0] else finished - started
        stages = tx_stages(system.direct_db_url, started, finished)
    idle = latencies(tx, log, idle_from, idle_until)
    busy = latencies(tx, log, started, finished)
    rate = progress["total"] / span
    idle_p99, busy_p50, busy_p99 = percentile(idle, 0.99), percentile(busy, 0.5), percentile(
        busy, 0.99)
    print(f"campaign: {progress['total']} tokens in {span:.1f} s = {rate:.0f}/s; sent "
          f"{progress['sent']}, failed {progress['failed']}")
    print(f"tx idle: n={len(idle)} p50={percentile(idle, 0.5):.1f} ms p99={idle_p99:.1f} ms")
    print(f"tx during the campaign: n={len(busy)} p50={busy_p50:.1f} ms p99={busy_p99:.1f} ms"
          f" (refused {tx.errors})")
    print(f"tx stages during the campaign (p50 / p99 ms): accept -> taken by a worker "
          f"{stages[0]:.1f} / {stages[1]:.1f}, the gateway request "
          f"{stages[2]:.1f} / {stages[3]:.1f}")
    print(f"campaign_tokens_per_s={rate:.0f} tx_p99_ms={busy_p99:.1f} idle_p99_ms={idle_p99:.1f}"
          f" p99_ratio={busy_p99 / idle_p99:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
