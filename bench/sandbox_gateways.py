"""How many requests per second the sandbox gateways answer, driven by a raw h2 client.

    .venv/bin/python bench/sandbox_gateways.py --requests 20000 --connections 2 --streams 200

The sandbox runs in its own process (``SandboxProcess``); the client is a bare h2 state machine
on asyncio (uvloop), so the figure is the sandbox's ceiling rather than a client's. It reads the
sandbox's CPU time from /proc, giving requests per CPU-second (= per core), which stays
meaningful when the client competes for the same cores. Last line:
``sandbox_apns_req_per_s=... sandbox_apns_req_per_cpu_s=... sandbox_fcm_req_per_s=...
sandbox_fcm_req_per_cpu_s=...``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import sys
import tempfile
import time
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import httpx
import jwt
import orjson
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from sandbox.testing import SandboxProcess


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def apns_request(sbx: SandboxProcess) -> tuple[str, list[tuple[str, str]], bytes]:
    apns = sbx.apns
    key = (sbx.credentials_dir / "apns-key.p8").read_text()
    claims = {"iss": apns["teamId"], "iat": int(time.time())}
    token = jwt.encode(claims, key, algorithm="ES256", headers={"kid": apns["keyId"]})
    headers = [
        ("authorization", f"bearer {token}"),
        ("apns-topic", apns["topic"]),
        ("apns-push-type", "alert"),
    ]
    body = b'{"aps":{"alert":{"title":"Hello","body":"A benchmark push"}}}'
    return "/3/device/" + "ab" * 32, headers, body


def fcm_request(sbx: SandboxProcess) -> tuple[str, list[tuple[str, str]], bytes]:
    account = orjson.loads(sbx.service_account_file.read_bytes())
    now = int(time.time())
    claims = {
        "iss": account["client_email"],
        "aud": account["token_uri"],
        "iat": now,
        "exp": now + 3600,
        "scope": "https://www.googleapis.com/auth/firebase.messaging",
    }
    assertion = jwt.encode(claims, account["private_key"], algorithm="RS256")
    grant = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
    access = httpx.post(account["token_uri"], data=grant).json()["access_token"]
    message = {
        "message": {
            "token": "bench-token",
            "notification": {"title": "Hello", "body": "A"},
            "data": {"orderId": "42"},
            "android": {"priority": "HIGH"},
        }
    }
    path = f"/v1/projects/{account['project_id']}/messages:send"
    return (
        path,
        [("authorization", f"Bearer {access}"), ("content-type", "application/json")],
        (orjson.dumps(message)),
    )


async def one_connection(
    url: str,
    ctx: ssl.SSLContext,
    req: tuple[str, list[tuple[str, str]], bytes],
    count: int,
    streams: int,
) -> int:
    host, port = url.removeprefix("https://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port), ssl=ctx)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    writer.write(conn.data_to_send())
    path, extra, body = req
    headers = [
        (":method", "POST"),
        (":scheme", "https"),
        (":authority", host),
        (":path", path),
        *extra,
    ]
    sent = done = ok = 0
    in_flight: set[int] = set()
    while done < count:
        while sent < count and len(in_flight) < streams:
            sid = conn.get_next_available_stream_id()
            conn.send_headers(sid, headers)
            conn.send_data(sid, body, end_stream=True)
            in_flight.add(sid)
            sent += 1
        writer.write(conn.data_to_send())
        data = await reader.read(65536)
        if not data:
            raise RuntimeError("sandbox closed the connection")
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived):
                ok += dict(ev.headers)[b":status"] == b"200"
            elif isinstance(ev, h2.events.DataReceived):
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                in_flight.discard(ev.stream_id)
                done += 1
    writer.close()
    return ok


async def drive(
    url: str,
    ca: Path,
    req: tuple[str, list[tuple[str, str]], bytes],
    total: int,
    connections: int,
    streams: int,
) -> tuple[int, float]:
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.set_alpn_protocols(["h2"])
    t0 = time.perf_counter()
    per = total // connections
    oks = await asyncio.gather(
        *(one_connection(url, ctx, req, per, streams) for _ in range(connections))
    )
    return sum(oks), time.perf_counter() - t0


def measure(sbx: SandboxProcess, pid: int, gateway: str, args: argparse.Namespace) -> str:
    url, req = (
        (sbx.apns_url, apns_request(sbx)) if gateway == "apns" else (sbx.fcm_url, fcm_request(sbx))
    )
    uvloop.run(drive(url, sbx.ca_file, req, 500, 1, 50))  # warm-up: TLS, caches
    cpu0 = cpu_seconds(pid)
    ok, elapsed = uvloop.run(
        drive(url, sbx.ca_file, req, args.requests, args.connections, args.streams)
    )
    cpu = cpu_seconds(pid) - cpu0
    print(f"{gateway}: {ok} of {args.requests} accepted in {elapsed:.2f}s, sandbox CPU {cpu:.2f}s")
    g = f"sandbox_{gateway}"
    return f"{g}_req_per_s={ok / elapsed:.0f} {g}_req_per_cpu_s={ok / cpu:.0f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--connections", type=int, default=2)
    ap.add_argument("--streams", type=int, default=200)
    ap.add_argument("--gateways", default="apns,fcm")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, SandboxProcess(Path(tmp) / "state") as sbx:
        pid = sbx.pid
        figures = [measure(sbx, pid, g, args) for g in args.gateways.split(",")]
    print(" ".join(figures))


if __name__ == "__main__":
    main()
