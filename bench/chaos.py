"""Faults injected while pushes flow end to end through the sandboxes, one after another, and
what each did: dispatches in flight, lost, duplicated, stuck, recovery time.

A whole Pushflow on 127.0.0.1 (tests/chaos_system.py: a real ``pushflow api``, both send
workers, the DLR worker, the webhook sender, beat, the sandbox gateways, a webhook receiver; a
private redis-server with AOF; a fresh PostgreSQL database behind a cuttable TCP proxy). For
each fault (tests/chaos_faults.py), a burst of ``--pushes-per-fault`` pushes (one APNs and one
FCM token each) at ``--rate`` pushes/s, retried by the client with the same Idempotency-Key
until answered 202; the fault is injected once a third of the burst is accepted. Then every
dispatch answered 202 must reach exactly one final status, none may be sent twice (outside the
documented window of a send-worker kill or a dropped connection), none stuck, every webhook
event must arrive with a stable ``webhook-id``. Duplicates come in two parts: sends unanswered
when the fault hit (unavoidable) and sends answered but not yet committed when the worker died
(tests/chaos_sends.py).

Last line: ``faults=… lost=… duplicated=… dup_unanswered=… dup_answered_uncommitted=…
dup_outside_window=… stuck=… webhooks_missing=… max_recovery_s=…``; the exit status is 1 when
anything is lost, stuck or duplicated outside the window, or a webhook event is missing.

    .venv/bin/python bench/chaos.py --pushes-per-fault 300
    .venv/bin/python bench/chaos.py --faults kill-worker-apns,redis-kill-mid-take
    .venv/bin/python bench/chaos.py --faults receiver-down --receiver-down-s 300
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.chaos_faults import FAULTS, RECEIVER_DOWN_S, FaultReport, faults, run_fault
from tests.chaos_system import ChaosSystem


def summary(reports: list[FaultReport]) -> str:
    def total(attr: str) -> int:
        return sum(int(getattr(r, attr)) for r in reports)

    max_recovery = max((r.recovery_s for r in reports), default=0.0)
    return (f"faults={len(reports)} lost={total('lost')} duplicated={total('duplicated')}"
            f" dup_unanswered={total('dup_unanswered')}"
            f" dup_answered_uncommitted={total('dup_answered_uncommitted')}"
            f" dup_outside_window={total('dup_outside_window')} stuck={total('stuck')}"
            f" multi_final={total('multi_final')} stored_twice={total('stored_twice')}"
            f" webhooks_missing={total('webhooks_missing')}"
            f" webhook_ids_unstable={total('webhook_ids_unstable')}"
            f" max_recovery_s={max_recovery:.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pushes-per-fault", type=int, default=300)
    parser.add_argument("--rate", type=float, default=100.0, help="pushes per second")
    parser.add_argument("--latency-ms", type=float, default=50.0,
                        help="the sandbox's answer delay: sends in flight when a worker dies")
    parser.add_argument("--faults", default=",".join(FAULTS),
                        help=f"comma-separated, in order; of {', '.join(FAULTS)}")
    parser.add_argument("--receiver-down-s", type=float, default=RECEIVER_DOWN_S,
                        help="how long receiver-down keeps the webhook receiver stopped")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep every process's log there (default: a temporary folder)")
    args = parser.parse_args()
    names = [n for n in args.faults.split(",") if n]
    unknown = [n for n in names if n not in FAULTS]
    if unknown:
        parser.error(f"unknown faults: {unknown}")
    injects = faults(args.receiver_down_s)
    reports = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="chaos-") as tmp, ChaosSystem(
            args.workdir or Path(tmp)) as system:
        system.sandbox.set_latency(args.latency_ms)
        for name in names:
            report = run_fault(system, name, args.pushes_per_fault, args.rate,
                               inject=injects[name])
            reports.append(report)
            print(report.line(), flush=True)
            down = system.dead()
            if down:
                print(f"  processes not running after {name}: {down}", flush=True)
    print(f"elapsed_s={time.monotonic() - started:.0f}")
    print(summary(reports))
    bad = sum(r.lost + r.stuck + r.dup_outside_window + r.multi_final + r.stored_twice
              + r.webhooks_missing + r.webhook_ids_unstable for r in reports)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
