"""Search benchmark: the panel's searches over HTTP on 10 million dispatches.

Loads ``--rows`` dispatches of one app with COPY (``bench/search_load.py``) into its own
database, which is kept: a second run reuses it, an interrupted load resumes. Then starts a real
``pushflow api`` on it and times the panel's searches through HTTP: by token, by token prefix,
by external id, by status and day, by a word of the content (a 2FA code), and the first and the
50th page (keyset) of a broad search.

    .venv/bin/python bench/search.py                # 10 million rows (loads once, ~20 min)
    .venv/bin/python bench/search.py --rows 200000  # a small run (its own database)

Last line: ``token_p95_ms=… … worst_p95_ms=…``; the goal is every p95 under 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from search_load import APP_KEY, DAYS, Shape, load  # noqa: E402

from domain.users import passwords  # noqa: E402
from domain.users import store as users  # noqa: E402
from shared.db.migrate import migrate  # noqa: E402
from tests.producer.conftest import api_process  # noqa: E402
from tests.services import redis_server  # noqa: E402

EMAIL, PASSWORD = "bench-search@example.com", "bench search password"
_NEXT = re.compile(r'<a rel="next" href="([^"]+)"|<a href="([^"]+)" rel="next"')
_SIGNIN = re.compile(r'name="signin_token" value="([^"]+)"')

SERVER_URL = os.environ.get("PUSHFLOW_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")


def database(rows: int, name: str | None) -> str:
    """The benchmark's own database (one per row count unless named), migrated."""
    name = name or f"pushflow_bench_search_{rows}"
    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = f"{SERVER_URL}/{name}"
    migrate(url)
    return url


def bench_app(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT id FROM apps WHERE app_key = %s", (APP_KEY,)).fetchone()
        if row is None:
            row = conn.execute("INSERT INTO apps (app_key, name) VALUES (%s, 'search bench')"
                               " RETURNING id", (APP_KEY,)).fetchone()
        assert row is not None
        return int(row[0])


def loaded_start(url: str) -> datetime:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT start_at FROM bench_load").fetchone()
        assert row is not None
        return row[0]  # type: ignore[no-any-return]


async def _panel_user(url: str, app_id: int) -> None:
    """The support user the benchmark signs in as (created once; the password stays)."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        user, _ = await users.create_user(conn, EMAIL, passwords.hash_password(PASSWORD))
        await users.set_role(conn, app_id, user.id, "support")


@contextmanager
def api_server(url: str, redis_url: str) -> Iterator[str]:
    with api_process({"PUSHFLOW_DATABASE_URL": url, "PUSHFLOW_REDIS_URL": redis_url,
                      "PUSHFLOW_LOG_LEVEL": "WARNING"}) as (base, _proc):
        yield base


def signed_in(base: str) -> httpx.Client:
    """An HTTP client with the benchmark user's panel session (the sign-in form, posted)."""
    client = httpx.Client(base_url=base, timeout=30)
    form = client.get("/panel/sign-in")
    token = _SIGNIN.search(form.text)
    assert token is not None, form.text
    done = client.post("/panel/sign-in", data={"email": EMAIL, "password": PASSWORD,
                                               "signin_token": token.group(1),
                                               "next": "/panel/"})
    assert done.status_code in (200, 303), done.text
    return client


def queries(shape: Shape, n: int) -> dict[str, list[str]]:
    """``n`` URLs of the logs page per search, each for another row of the data set."""
    logs = f"/panel/apps/{APP_KEY}/logs?"
    picks = [(i * 7_919_993) % shape.rows for i in range(1, n + 1)]

    def row_with(kinds: range, n_: int) -> int:
        while shape.message_of(n_) % 10 not in kinds:
            n_ = (n_ + 1) % shape.rows
        return shape.message_of(n_)

    first_day = shape.start.replace(hour=0, minute=0, second=0, microsecond=0)
    days = [(first_day + timedelta(days=1 + i % (DAYS - 1))).date().isoformat()
            for i in range(n)]
    return {
        "token": [logs + urlencode({"token": shape.token(p)}) for p in picks],
        "prefix": [logs + urlencode({"token": shape.token(p)[:8], "token_match": "prefix"})
                   for p in picks],
        "external": [logs + urlencode({"external": shape.external_id(row_with(range(0, 7), p))})
                     for p in picks],
        "status_day": [logs + urlencode({"status": "failed", "from": d, "to": d}) for d in days],
        "word": [logs + urlencode({"q": shape.code(row_with(range(0, 4), p))}) for p in picks],
        "broad": [logs] * n,
    }


def page_50(client: httpx.Client, first: str) -> str:
    """The URL of the 50th page of a search, reached by its "next page" links."""
    path = first
    for _ in range(49):
        found = _NEXT.search(client.get(path).text)
        if found is None:
            raise SystemExit(f"{first} has fewer than 50 pages")
        path = html.unescape(found.group(1) or found.group(2))
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--database", help="default: pushflow_bench_search_<rows>")
    parser.add_argument("--requests", type=int, default=100, help="timed requests per search")
    parser.add_argument("--load-only", action="store_true")
    args = parser.parse_args()
    url = database(args.rows, args.database)
    app_id = bench_app(url)
    load(url, args.rows, app_id, log=lambda text: print(text, flush=True))
    if args.load_only:
        return 0
    return run_searches(url, app_id, args)


def run_searches(url: str, app_id: int, args: Any) -> int:
    shape = Shape(args.rows, loaded_start(url))
    asyncio.run(_panel_user(url, app_id))
    workdir = Path(tempfile.mkdtemp(prefix="pushflow-bench-search-"))
    with redis_server(workdir) as redis_url, api_server(url, redis_url) as base:
        client = signed_in(base)
        searches = queries(shape, args.requests)
        searches["page50"] = [page_50(client, searches["broad"][0])] * args.requests
        p95s = {}
        for name, urls in searches.items():
            for path in urls[:5]:  # warm-up: the first requests of a search open connections
                client.get(path)
            times = []
            for path in urls:
                began = time.perf_counter()
                response = client.get(path)
                times.append((time.perf_counter() - began) * 1000)
                if response.status_code != 200 or "results" not in response.text:
                    raise SystemExit(f"{name}: {path} answered {response.status_code}")
            times.sort()
            p95s[name] = times[int(len(times) * 0.95) - 1]
            print(f"{name:10} n={len(times)} p50={times[len(times) // 2]:.1f} ms "
                  f"p95={p95s[name]:.1f} ms max={times[-1]:.1f} ms", flush=True)
    print(" ".join(f"{k}_p95_ms={v:.1f}" for k, v in p95s.items())
          + f" worst_p95_ms={max(p95s.values()):.1f} rows={args.rows}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
