"""The long schemathesis run: the checks of ``tests/producer/test_schemathesis.py`` (no 5xx, status
codes, content types and response bodies as ``/openapi.json`` documents them), with many more
examples per operation and every phase (examples, coverage, fuzzing, stateful).

Starts a private redis-server and a fresh PostgreSQL database (as the tests do), migrates it,
creates an app with a key of every scope and runs a real ``pushflow api`` process.

    .venv/bin/python bench/schemathesis_long.py --examples 500 --seed 1

Prints schemathesis's report; exits with its code. A JUnit report is written under
``--report-dir``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from domain.keys import store as apps  # noqa: E402
from shared.db.migrate import migrate  # noqa: E402
from tests.producer.conftest import api_process  # noqa: E402
from tests.producer.test_schemathesis import SEED, keep_log, run_schemathesis  # noqa: E402
from tests.services import patched_env, postgres_database, redis_server  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=500, help="examples per operation")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--hours", type=float, default=2.0, help="give up after this long")
    parser.add_argument("--report-dir", type=Path, default=None)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="pushflow-schemathesis-"))
    report_dir = args.report_dir or workdir / "report"
    report_dir.mkdir(parents=True, exist_ok=True)
    with redis_server(workdir) as redis_url, postgres_database("pushflow_st") as db_url:
        migrate(db_url)
        with psycopg.connect(db_url, autocommit=True) as conn:
            app_key = apps.create_app(conn, "schemathesis")
            secret = apps.create_key(conn, app_key, list(apps.SCOPES)).secret
        env = {"PUSHFLOW_DATABASE_URL": db_url, "PUSHFLOW_REDIS_URL": redis_url,
               "PUSHFLOW_DATA_DIR": str(workdir / "data"),
               "PUSHFLOW_SECRET_KEY": "cHVzaGZsb3ctdGVzdC1rZXktbm90LWZvci1wcm9kISE=",
               "PUSHFLOW_ACCESS_LOG_SUCCESSES": "false"}
        with patched_env(env), api_process() as (base_url, proc):
            keep_log(proc, workdir / "api.log")
            result = run_schemathesis(
                base_url, {"Authorization": secret, "Application-Key": app_key},
                max_examples=args.examples, seed=args.seed, report_dir=report_dir,
                timeout=args.hours * 3600, phases="examples,coverage,fuzzing,stateful")
    print(result.stdout, end="")
    print(result.stderr, end="", file=sys.stderr)
    print(f"report: {report_dir}; API log: {workdir / 'api.log'}", file=sys.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
