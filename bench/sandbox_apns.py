"""How many requests per second the APNs sandbox answers, driven by a raw h2 client.

    .venv/bin/python bench/sandbox_apns.py --requests 20000 --connections 2 --streams 200

The sandbox runs in its own process (``SandboxProcess``); the client is a bare h2 state machine
on asyncio (uvloop), so the figure is the sandbox's ceiling rather than a client's. It also reads
the sandbox's CPU time from /proc, giving requests per CPU-second (= per core). Last line:
``sandbox_apns_req_per_s=... sandbox_apns_req_per_cpu_s=...``.
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
import jwt
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from sandbox.testing import SandboxProcess


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def one_connection(
    host: str, port: int, ctx: ssl.SSLContext, jwt_token: str, topic: str, count: int, streams: int
) -> int:
    reader, writer = await asyncio.open_connection(host, port, ssl=ctx)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    writer.write(conn.data_to_send())
    headers = [
        (":method", "POST"),
        (":scheme", "https"),
        (":authority", host),
        (":path", "/3/device/" + "ab" * 32),
        ("authorization", f"bearer {jwt_token}"),
        ("apns-topic", topic),
        ("apns-push-type", "alert"),
    ]
    body = b'{"aps":{"alert":{"title":"Hello","body":"A benchmark push"}}}'
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
            if (
                isinstance(ev, h2.events.ResponseReceived)
                and dict(ev.headers)[b":status"] == b"200"
            ):
                ok += 1
            elif isinstance(ev, h2.events.StreamEnded):
                in_flight.discard(ev.stream_id)
                done += 1
    writer.close()
    return ok


async def drive(
    sbx: SandboxProcess, total: int, connections: int, streams: int
) -> tuple[int, float]:
    apns = sbx.apns
    key = (sbx.credentials_dir / "apns-key.p8").read_text()
    token = jwt.encode(
        {"iss": apns["teamId"], "iat": int(time.time())},
        key,
        algorithm="ES256",
        headers={"kid": apns["keyId"]},
    )
    ctx = ssl.create_default_context(cafile=str(sbx.ca_file))
    ctx.set_alpn_protocols(["h2"])
    host, port = sbx.apns_url.removeprefix("https://").rsplit(":", 1)
    per = total // connections
    t0 = time.perf_counter()
    oks = await asyncio.gather(
        *(
            one_connection(host, int(port), ctx, token, apns["topic"], per, streams)
            for _ in range(connections)
        )
    )
    return sum(oks), time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--connections", type=int, default=2)
    ap.add_argument("--streams", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, SandboxProcess(Path(tmp) / "state") as sbx:
        assert sbx._proc is not None
        pid = sbx._proc.pid
        uvloop.run(drive(sbx, 500, 1, 50))  # warm-up: TLS, JWT cache
        cpu0 = cpu_seconds(pid)
        ok, elapsed = uvloop.run(drive(sbx, args.requests, args.connections, args.streams))
        cpu = cpu_seconds(pid) - cpu0
        accepted = sbx.stats()["apns"]["accepted"]
    print(
        f"accepted {ok} of {args.requests} in {elapsed:.2f}s "
        f"(sandbox counted {accepted} incl. warm-up)"
    )
    print(f"sandbox_apns_req_per_s={ok / elapsed:.0f} sandbox_apns_req_per_cpu_s={ok / cpu:.0f}")


if __name__ == "__main__":
    main()
