"""The DLR recording of this tree against another commit's, interleaved in one run.

``bench/dlr.py`` measures the whole DLR path, but on a shared machine its figures swing by 2x
between runs, far more than a change to the recording costs. This puts the two side by side
instead: one fresh database (this tree's migrations), ``--results`` queued dispatches for each
side, and batches of ``--batch`` results recorded alternately by the baseline's
``domain/dispatches/record.py`` (read from git at ``--baseline``, fed results as that commit's
send workers report them) and by this tree's ``workers.dlr.recording`` (fed results with the
attempt facts the workers report now: worker, take time, latency). Each batch is validated and
recorded in its own transaction, one connection per side; the order flips every pair so neither
side always runs second. A share of this tree's results (``--retried``) can be attempts to be
retried, which take a statement of their own (``domain.dispatches.retried``).

    .venv/bin/python bench/dlr_ab.py --results 20000 --baseline main

Last line: ``baseline_results_per_s=… ours_results_per_s=… ratio=…`` (ratio = ours ÷ baseline).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.dlr import seed, sent_results  # noqa: E402
from shared.db.migrate import migrate  # noqa: E402
from shared.settings import get_settings  # noqa: E402
from tests.services import postgres_database  # noqa: E402
from workers.dlr.recording import Recorder, record_results  # noqa: E402

_ATTEMPT_FACTS = ("worker", "takenAt", "latencyMs")


def baseline_module(ref: str) -> types.ModuleType:
    """``domain/dispatches/record.py`` as it is at ``ref``, loaded as a module of its own."""
    source = subprocess.run(["git", "show", f"{ref}:domain/dispatches/record.py"], cwd=ROOT,
                            check=True, capture_output=True, text=True).stdout
    module = types.ModuleType("baseline_record")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"{ref}:domain/dispatches/record.py", "exec"), module.__dict__)
    return module


def batches(results: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [results[i:i + size] for i in range(0, len(results), size)]


def baseline_record(conn: psycopg.Connection[Any], module: Any, batch: list[dict[str, Any]]
                    ) -> float:
    """Seconds to validate and record ``batch`` as the baseline's DLR did (one statement)."""
    started = time.perf_counter()
    query, params = module.record_query(module.valid_outcomes(batch))
    with conn.transaction():
        conn.execute(query, params).fetchall()
    return time.perf_counter() - started


def our_record(recorder: Recorder, batch: list[dict[str, Any]]) -> float:
    """Seconds to record ``batch`` as this tree's DLR does (``workers.dlr.recording``)."""
    started = time.perf_counter()
    record_results(recorder, batch)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=20000, help="results per side")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--baseline", default="main", help="the git commit to compare with")
    parser.add_argument("--retried", type=float, default=0.0,
                        help="share of our results that are attempts to be retried")
    args = parser.parse_args()
    baseline = baseline_module(args.baseline)
    with postgres_database("pushflow_bench") as db_url:
        os.environ["PUSHFLOW_DATABASE_URL"] = db_url  # where the Recorder connects
        get_settings.cache_clear()
        migrate(db_url)
        app_id, rows = seed(db_url, 2 * args.results)
        theirs = sent_results(app_id, rows[:args.results])
        for result in theirs:  # as the baseline's workers report: no attempt facts
            for key in _ATTEMPT_FACTS:
                result.pop(key, None)
        mine = sent_results(app_id, rows[args.results:])
        for result in mine[:int(len(mine) * args.retried)]:
            result.update(status="queued", retryAt=time.time() + 3.0,
                          gatewayResponse={"status": 503, "reason": "ServiceUnavailable"})
        spent = {"baseline": 0.0, "ours": 0.0}
        recorder = Recorder()
        with psycopg.connect(db_url) as conn:
            baseline_record(conn, baseline, theirs[:1])  # warm both sides' caches
            our_record(recorder, mine[:1])
            pairs = zip(batches(theirs[1:], args.batch), batches(mine[1:], args.batch),
                        strict=False)
            for i, (a, b) in enumerate(pairs):
                if i % 2 == 0:
                    spent["baseline"] += baseline_record(conn, baseline, a)
                    spent["ours"] += our_record(recorder, b)
                else:
                    spent["ours"] += our_record(recorder, b)
                    spent["baseline"] += baseline_record(conn, baseline, a)
        recorder.drop_connection()
    n = args.results - 1
    rate = {side: n / seconds for side, seconds in spent.items()}
    print(f"baseline ({args.baseline}): {rate['baseline']:.0f} results/s; this tree:"
          f" {rate['ours']:.0f} results/s ({args.retried:.0%} retried attempts), one connection,"
          f" {args.batch} per statement", flush=True)
    print(f"baseline_results_per_s={rate['baseline']:.0f} ours_results_per_s={rate['ours']:.0f}"
          f" ratio={rate['ours'] / rate['baseline']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
