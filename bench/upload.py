"""Upload benchmark: a campaign's token list (CSV, ``--lines`` lines, 1,000,000 by default)
streamed to ``POST /v2.1/campaigns/{id}/audience`` of a real ``pushflow api`` server, with a
private redis-server and a fresh PostgreSQL database (bench/intake.py's set-up).

The body is sent in 256 KiB chunks as it is produced; the server parses each chunk as it arrives
and COPYs it into PostgreSQL (docs/campaigns.md). A few lines are bad, duplicated or known dead,
so the exclusions are part of the work measured.

    .venv/bin/python bench/upload.py --lines 1000000

Last line: ``upload_lines_per_s=... lines=... seconds=... accepted=...`` (target >= 50,000).
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from intake import bench_setup, server  # noqa: E402

from domain.keys import store as apps  # noqa: E402
from tests.services import free_port  # noqa: E402

CHUNK = 256 * 1024
BAD_EVERY = 1000  # one line in a thousand is not a token, one a duplicate


def csv_lines(n: int) -> list[bytes]:
    seed = secrets.token_hex(24)  # 48 hex characters + a 16-digit counter: 64, an APNs shape
    lines = [f"{seed}{i:016x}".encode() for i in range(n)]
    for i in range(0, n, BAD_EVERY):
        lines[i] = b"not-a-token"
        if i + 1 < n:
            lines[i + 1] = lines[max(0, i - 1)]
    return lines


def chunks(lines: list[bytes]) -> Iterator[bytes]:
    body = b"token\n" + b"\n".join(lines) + b"\n"
    for i in range(0, len(body), CHUNK):
        yield body[i:i + CHUNK]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()
    lines = csv_lines(args.lines)
    with bench_setup("pushflow_bench_upload") as setup:
        with psycopg.connect(setup.database_url, autocommit=True) as conn:
            key = apps.create_key(conn, setup.auth["Application-Key"], ["campaigns:write"])
        auth = {**setup.auth, "Authorization": key.secret}
        port = free_port()
        cmd = [sys.executable, "-m", "pushflow.cli.main", "api", "--port", str(port)]
        with server(cmd, port, setup.env), httpx.Client(
                base_url=f"http://127.0.0.1:{port}", headers=auth, timeout=600) as client:
            created = client.post("/v2.1/campaigns", json={
                "name": "upload bench", "content": {"content": "c"},
                "audience": {"kind": "upload"}, "perMinute": 60000})
            created.raise_for_status()
            campaign_id = created.json()["data"][0]["id"]
            started = time.perf_counter()
            answer = client.post(f"/v2.1/campaigns/{campaign_id}/audience",
                                 content=chunks(lines), headers={"Content-Type": "text/csv"})
            seconds = time.perf_counter() - started
            answer.raise_for_status()
            report = answer.json()["data"][0]
    rate = report["lines"] / seconds
    print(f"lines {report['lines']} accepted {report['accepted']} invalid {report['invalid']} "
          f"duplicate {report['duplicate']} in {seconds:.2f} s")
    print(f"upload_lines_per_s={rate:.0f} lines={report['lines']} seconds={seconds:.2f} "
          f"accepted={report['accepted']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
