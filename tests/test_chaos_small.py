"""A short chaos run in ``make test``: the faults of bench/chaos.py that must hold, each on a
burst of a few hundred pushes through the whole system (tests/chaos_system.py). Nothing lost,
nothing stuck, nothing sent twice but inside the documented window of a send-worker kill, every
webhook event delivered with one ``webhook-id``. docs/reliability.md has the long run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos_faults import run_fault
from tests.chaos_system import ChaosSystem

PUSHES = 150  # two dispatches each
RATE = 100.0


@pytest.fixture(scope="module")
def system(pushflow_env: dict[str, str],
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaosSystem]:
    with ChaosSystem(Path(tmp_path_factory.mktemp("chaos"))) as running:
        running.sandbox.set_latency(50)  # sends on the wire when a worker dies
        yield running


# A burst, its fault, the recovery probe and the settle waits (45 s each at most); the first case
# also starts the whole system. On a loaded 2-core machine that is more than the default 120 s.
@pytest.mark.timeout(300)
@pytest.mark.parametrize("fault", ["kill-worker-apns", "kill-worker-fcm", "kill-dlr",
                                   "redis-kill-mid-take"])
def test_fault_loses_nothing(system: ChaosSystem, fault: str) -> None:
    report = run_fault(system, fault, PUSHES, RATE, settle_s=45)
    print(report.line())
    assert report.accepted == 2 * PUSHES and report.given_up == 0, report.line()
    assert report.in_flight > 0, "the fault hit no dispatch in flight: " + report.line()
    assert (report.lost, report.stuck, report.multi_final) == (0, 0, 0), report.line()
    assert report.dup_outside_window == 0, report.line()
    assert report.stored_twice == 0, report.line()
    assert (report.webhooks_missing, report.webhook_ids_unstable) == (0, 0), report.line()
    assert not system.dead(), f"not running after {fault}: {system.dead()}"
