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
import os
import sys
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from search_load import APP_KEY, load  # noqa: E402

from shared.db.migrate import migrate  # noqa: E402

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
    raise SystemExit("not yet")


if __name__ == "__main__":
    sys.exit(main())
