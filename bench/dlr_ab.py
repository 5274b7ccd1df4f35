"""The DLR recording of this tree against another commit's, interleaved in one run.

``bench/dlr.py`` measures the whole DLR path, but on a shared machine its figures swing by 2x
between runs, far more than a change to the recording costs. This puts them side by side
instead: one fresh database (this tree's migrations), ``--results`` queued dispatches for each
side, and batches of ``--batch`` results recorded in turn (the order rotates every round, so no
side always runs first), each validated and recorded in its own transaction, one connection per
side:

- ``baseline``: ``domain/dispatches/record.py`` read from git at ``--baseline``, fed results as
  that commit's send workers reported them, on a connection with psycopg's defaults (what that
  commit's DLR did);
- ``baseline_custom``: the same on a connection with ``plan_cache_mode = force_custom_plan``: the
  baseline's statement without the generic plan psycopg's prepared statements led it to;
- ``ours``: this tree's ``workers.dlr.recording``, fed results with the attempt facts the
  workers report now (worker, take time, latency); a share of them (``--retried``) can be
  attempts to be retried, which take a statement of their own (``domain.dispatches.retried``);
- ``ours_no_facts``: the same without the attempt facts: what recording them costs this tree.

    .venv/bin/python bench/dlr_ab.py --results 20000 --baseline 0170d82

Last line: ``baseline_results_per_s=… … ratio=… ratio_custom=… facts_ratio=…`` (ratio = ours ÷
baseline; ratio_custom = ours ÷ baseline_custom; facts_ratio = ours ÷ ours_no_facts).
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


def without_facts(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``results`` as a send worker reported them before attempts were recorded."""
    for result in results:
        for key in _ATTEMPT_FACTS:
            result.pop(key, None)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=20000, help="results per side")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--baseline", default="main", help="the git commit to compare with")
    parser.add_argument("--retried", type=float, default=0.0,
                        help="share of our results that are attempts to be retried")
    args = parser.parse_args()
    baseline = baseline_module(args.baseline)
    sides = ("baseline", "baseline_custom", "ours", "ours_no_facts")
    with postgres_database("pushflow_bench") as db_url:
        os.environ["PUSHFLOW_DATABASE_URL"] = db_url  # where the Recorders connect
        get_settings.cache_clear()
        migrate(db_url)
        app_id, rows = seed(db_url, len(sides) * args.results)
        results = {side: sent_results(app_id, rows[i * args.results:(i + 1) * args.results])
                   for i, side in enumerate(sides)}
        for side in ("baseline", "baseline_custom", "ours_no_facts"):
            without_facts(results[side])
        for side in ("ours", "ours_no_facts"):
            for result in results[side][:int(args.results * args.retried)]:
                result.update(status="queued", retryAt=time.time() + 3.0,
                              gatewayResponse={"status": 503, "reason": "ServiceUnavailable"})
        recorders = {"ours": Recorder(), "ours_no_facts": Recorder()}
        with psycopg.connect(db_url) as plain, psycopg.connect(db_url) as custom:
            custom.execute("SET plan_cache_mode = force_custom_plan")
            custom.commit()
            conns = {"baseline": plain, "baseline_custom": custom}

            def record(side: str, batch: list[dict[str, Any]]) -> float:
                if side in conns:
                    return baseline_record(conns[side], baseline, batch)
                return our_record(recorders[side], batch)

            for side in sides:  # warm every side's caches
                record(side, results[side][:1])
            rounds = list(zip(*(batches(results[side][1:], args.batch) for side in sides),
                              strict=False))
            spent = dict.fromkeys(sides, 0.0)
            for i, round_batches in enumerate(rounds):
                by_side = dict(zip(sides, round_batches, strict=True))
                shift = i % len(sides)
                for side in sides[shift:] + sides[:shift]:
                    spent[side] += record(side, by_side[side])
        for recorder in recorders.values():
            recorder.drop_connection()
    n = args.results - 1
    rate = {side: n / seconds for side, seconds in spent.items()}
    print(f"baseline ({args.baseline}): {rate['baseline']:.0f} results/s, with custom plans"
          f" {rate['baseline_custom']:.0f}; this tree: {rate['ours']:.0f} results/s"
          f" ({args.retried:.0%} retried attempts), without the attempt facts"
          f" {rate['ours_no_facts']:.0f}; one connection per side, {args.batch} per statement",
          flush=True)
    print(" ".join(f"{side}_results_per_s={rate[side]:.0f}" for side in sides)
          + f" ratio={rate['ours'] / rate['baseline']:.3f}"
          f" ratio_custom={rate['ours'] / rate['baseline_custom']:.3f}"
          f" facts_ratio={rate['ours'] / rate['ours_no_facts']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
