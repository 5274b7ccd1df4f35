"""Automation benchmark: ``POST /v2.1/events`` with 100 rules in the app, against the 1-token
``POST /v2.1/push`` rate of the same API process (``bench/intake.py``'s measure) in the same run.

The app has 100 enabled rules: 10 on ``order.shipped`` (the event sent), each with conditions
(``status`` equal to ``shipped`` and ``tier`` equal to the rule's number), so every event is
evaluated against 10 rules and fires exactly one push to its user's device; 90 rules on other
event names. 1,000 users have one registered device each. Every request carries ``--batch``
events with fresh ``eventId``s (no idempotent replays). Event slices and 1-token push slices
alternate (2 s each), so both see the same background load.

    .venv/bin/python bench/events.py --seconds 10

An event is "accepted" when its request is answered: by then it is stored, evaluated and its push
committed with its dispatch and outbox row (published to Redis right after). ``p99_ms`` is the
request latency (event -> push accepted). Last line:
``events_per_s=... p99_ms=... intake_rps=... ratio=...`` (ratio = events_per_s / intake_rps).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import secrets
import sys
import time
from pathlib import Path

import orjson
import psycopg
import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from intake import (  # noqa: E402
    SLICE_SECONDS,
    Result,
    bench_setup,
    drive,
    http_request,
    push_body,
    report,
    server,
)

from domain.keys import store as apps  # noqa: E402
from tests.services import free_port  # noqa: E402

RULES, MATCHING, USERS = 100, 10, 1000


def _rule(event: str, tier: int) -> dict[str, object]:
    return {"name": f"{event} {tier}", "event": event, "defaultLanguage": "en",
            "conditions": {"all": [{"property": "status", "op": "eq", "value": "shipped"},
                                   {"property": "tier", "op": "eq", "value": tier}]},
            "templates": {"en": {"title": "Order {{ properties.orderId }}",
                                 "content": "Your order is on its way"},
                          "pt": {"title": "Pedido {{ properties.orderId }}",
                                 "content": "O seu pedido saiu"}},
            "placeholderMaxChars": {"properties.orderId": 12}}


def _prepare(database_url: str, app_key: str) -> dict[str, str]:
    """Rules and devices; the headers of an ``events:send`` key."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        secret = apps.create_key(conn, app_key, ["events:send", "automations:write",
                                                 "push:send"]).secret
        app_id = apps.app_id_for(conn, app_key)
        conn.execute(
            "INSERT INTO devices (app_id, token, platform, user_id, language)"
            " SELECT %s, md5(i::text) || md5((i + 1)::text), 'ios', 'user-' || i,"
            " CASE WHEN i %% 2 = 0 THEN 'pt-BR' ELSE 'en' END"
            " FROM generate_series(0, %s - 1) i", (app_id, USERS))
    return {"Authorization": secret, "Application-Key": app_key}


def _post(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    return http_request(body, headers).replace(b"POST /v2.1/push ", f"POST {path} ".encode(), 1)


async def _create_rules(port: int, headers: dict[str, str]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    names = ["order.shipped"] * MATCHING + [f"other.{i}" for i in range(RULES - MATCHING)]
    for i, name in enumerate(names):
        writer.write(_post("/v2.1/automations", orjson.dumps(_rule(name, i % MATCHING)),
                           headers))
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line[15:]) for line in head.split(b"\r\n")
                      if line[:15].lower() == b"content-length:")
        answer = await reader.readexactly(length)
        assert head[9:12] == b"201", answer
    writer.close()


def _events(ids: itertools.count[int], batch: int) -> bytes:
    return orjson.dumps([{
        "eventId": f"{secrets.token_hex(4)}-{next(ids)}", "name": "order.shipped",
        "userId": f"user-{random.randrange(USERS)}",
        "properties": {"orderId": f"A{random.randrange(10**8)}", "status": "shipped",
                       "tier": random.randrange(MATCHING)}} for _ in range(batch)])


async def _connection(port: int, headers: dict[str, str], batch: int, stop: float,
                      ids: itertools.count[int], latencies: list[float], counts: list[int]
                      ) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < stop:
            request = _post("/v2.1/events", _events(ids, batch), headers)
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line[15:]) for line in head.split(b"\r\n")
                          if line[:15].lower() == b"content-length:")
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            ok = head[9:12] == b"200"
            counts[0 if ok else 1] += batch if ok else 1
            if ok and counts[2] == 0:  # check one answer: exactly one rule fired per event
                fired = [sum(r["fired"] for r in e["rules"])
                         for e in orjson.loads(body)["data"]]
                assert fired == [1] * batch, fired
                counts[2] = 1
    finally:
        writer.close()


async def drive_events(port: int, headers: dict[str, str], batch: int, seconds: float,
                       connections: int, ids: itertools.count[int]) -> Result:
    latencies: list[float] = []
    counts = [0, 0, 0]
    started = time.perf_counter()
    stop = started + seconds
    await asyncio.gather(*(_connection(port, headers, batch, stop, ids, latencies, counts)
                           for _ in range(connections)))
    return Result(counts[0], time.perf_counter() - started, latencies, counts[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=8, help="for the events")
    parser.add_argument("--push-connections", type=int, default=32, help="for the pushes")
    parser.add_argument("--batch", type=int, default=20, help="events per request")
    args = parser.parse_args()
    uvloop.install()
    with bench_setup("pushflow_bench_events") as setup:
        headers = _prepare(setup.database_url, setup.auth["Application-Key"])
        port = free_port()
        cmd = [sys.executable, "-m", "pushflow.cli.main", "api", "--port", str(port),
               "--workers", "1"]
        with server(cmd, port, setup.env):
            asyncio.run(_create_rules(port, headers))
            ids = itertools.count()
            asyncio.run(drive_events(port, headers, args.batch, 1.0, args.connections, ids))
            one_token = http_request(push_body(1), setup.auth)
            slices = max(1, round(args.seconds / SLICE_SECONDS))
            events, pushes = Result(0, 0.0, [], 0), Result(0, 0.0, [], 0)
            for _ in range(slices):
                events.add(asyncio.run(drive_events(port, headers, args.batch,
                                                    args.seconds / slices, args.connections,
                                                    ids)))
                pushes.add(asyncio.run(drive(port, one_token, args.seconds / slices,
                                             args.push_connections)))
            report(f"events x{args.batch}", events, 1)
            report("push 1 token", pushes, 1)
    ratio = events.rps / pushes.rps if pushes.rps else 0.0
    print(f"events_per_s={events.rps:.0f} p99_ms={events.pct(0.99):.2f} "
          f"intake_rps={pushes.rps:.0f} ratio={ratio:.2f}")
    return 0 if events.errors == 0 and pushes.errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
