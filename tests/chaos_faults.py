"""The faults of a chaos run, and one run of one: a burst of pushes, the fault injected once a
third of them is accepted, then the figures (docs/reliability.md explains each).

- in_flight: dispatches answered 202 and not yet final when the fault hit;
- lost: dispatches answered 202 that never reached the gateway nor a final status, or whose
  stored status says sent though the sandbox never accepted them;
- duplicated: extra acceptances by the sandbox, split into those inside the documented window
  of a send-worker kill or a dropped connection (docs/operations.md, "Duplicates after a send
  worker is killed": first answered within COMMIT_WINDOW_S of it) and the rest (defects);
- stuck: dispatches answered 202 still not final after the settle time;
- recovery_s: from the end of the fault until a new push is accepted, final on both gateways
  and its webhook events received.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.chaos_load import (
    FINAL,
    Load,
    dispatch_tokens,
    final_event_counts,
    not_final,
    statuses,
    webhook_events,
)
from tests.chaos_system import ChaosSystem
from workers.delivery.testing import apns_token, fcm_token, wait_for

COMMIT_WINDOW_S = 0.25  # as tests/workers/test_processes.py allows on a loaded 2-core machine
SEND_WORKERS = ("worker-apns", "worker-fcm")
MAX_LOAD_S = 180.0  # a burst's retries end well before: see chaos_load.MAX_TRIES


# A fault returns the instants after which a send may have been answered by the gateway and the
# answer lost (a send worker killed, a connection dropped): duplicates whose first answer came
# within COMMIT_WINDOW_S before one of them are the documented window; all others are defects.
Fault = Callable[[ChaosSystem], list[float]]


def kill_and_restart(name: str, down_s: float = 1.0) -> Fault:
    def inject(system: ChaosSystem) -> list[float]:
        killed_at = time.time()
        system.kill(name)
        time.sleep(down_s)
        system.start(name)
        return [killed_at] if name in SEND_WORKERS else []
    return inject


def redis_restart(system: ChaosSystem) -> list[float]:
    system.redis.stop()
    time.sleep(2)
    system.redis.start()
    return []


def postgres_unreachable(seconds: float) -> Fault:
    def inject(system: ChaosSystem) -> list[float]:
        system.pg_proxy.cut()
        time.sleep(seconds)
        system.pg_proxy.restore()
        return []
    return inject


def sandbox_closes(action: str, times: int = 3) -> Fault:
    def inject(system: ChaosSystem) -> list[float]:
        instants = []
        for _ in range(times):
            instants.append(time.time())
            system.sandbox.close_connections(None, action)
            time.sleep(0.5)
        # GOAWAY answers every stream it received: no answer is lost, so no window.
        return instants if action == "drop" else []
    return inject


def receiver_down(seconds: float) -> Fault:
    def inject(system: ChaosSystem) -> list[float]:
        system.receiver.stop()
        time.sleep(seconds)
        system.receiver.start()
        return []
    return inject


FAULTS: dict[str, Fault] = {
    "kill-worker-apns": kill_and_restart("worker-apns"),
    "kill-worker-fcm": kill_and_restart("worker-fcm"),
    "kill-dlr": kill_and_restart("dlr"),
    "kill-webhooks": kill_and_restart("webhooks"),
    "kill-api": kill_and_restart("api"),
    "redis-restart": redis_restart,
    "postgres-unreachable-20s": postgres_unreachable(20),
    "sandbox-drop": sandbox_closes("drop"),
    "sandbox-goaway": sandbox_closes("goaway"),
    "receiver-down-30s": receiver_down(30),
}


@dataclass
class FaultReport:
    name: str
    accepted: int = 0
    in_flight: int = 0
    lost: int = 0
    duplicated: int = 0
    dup_in_window: int = 0
    dup_outside_window: int = 0
    abandoned: int = 0
    stuck: int = 0
    multi_final: int = 0  # dispatches with more than one final status in their history
    stored_twice: int = 0  # tokens with two dispatches: a retried push stored again
    webhooks_missing: int = 0
    webhook_ids_unstable: int = 0  # an event that arrived twice with two different ids
    webhooks_redelivered: int = 0  # events that arrived more than once (allowed: same id)
    refused: dict[int, int] = field(default_factory=dict)
    given_up: int = 0
    accept_s: float = 0.0  # recovery: a new push answered 202 again
    final_s: float = 0.0  # ... and final on both gateways
    recovery_s: float = 0.0  # ... and its webhook events received

    def line(self) -> str:
        refused = ",".join(f"{k}:{v}" for k, v in sorted(self.refused.items())) or "none"
        return (f"{self.name}: in_flight={self.in_flight} accepted={self.accepted}"
                f" lost={self.lost} duplicated={self.duplicated}"
                f" (in_window={self.dup_in_window} outside={self.dup_outside_window}"
                f" abandoned={self.abandoned}) stuck={self.stuck}"
                f" multi_final={self.multi_final} stored_twice={self.stored_twice}"
                f" webhooks_missing={self.webhooks_missing}"
                f" webhook_ids_unstable={self.webhook_ids_unstable}"
                f" webhooks_redelivered={self.webhooks_redelivered}"
                f" refused_before_202={refused} given_up={self.given_up}"
                f" recovery_s={self.recovery_s:.1f} (accepted={self.accept_s:.1f}"
                f" final={self.final_s:.1f})")


def probe_recovery(system: ChaosSystem, since: float, timeout: float = 120.0
                   ) -> tuple[float, float, float]:
    """Seconds from ``since`` until a new push is accepted, until it is final on both gateways,
    and until its webhook events have arrived."""
    key, tokens = uuid.uuid4().hex, [apns_token(), fcm_token()]

    def accepted() -> list[str]:
        status, body = system.push(tokens, idempotency_key=key)
        return [d["dispatchId"] for d in body["data"][0]["dispatches"]] if status == 202 else []

    ids = wait_for(accepted, timeout, "a probe push accepted", interval=0.2)
    accepted_s = time.monotonic() - since
    wait_for(lambda: not_final(system.direct_db_url, ids) == 0, timeout, "the probe final",
             interval=0.1)
    final_s = time.monotonic() - since
    wait_for(lambda: {d for d, _ in webhook_events(system)} >= set(ids), timeout,
             "the probe's webhook events", interval=0.1)
    return accepted_s, final_s, time.monotonic() - since


def run_fault(system: ChaosSystem, name: str, pushes: int, per_second: float,
              settle_s: float = 90.0) -> FaultReport:
    report = FaultReport(name)
    load = Load(system, pushes, per_second).start()
    wait_for(lambda: len(load.snapshot()) >= pushes * 2 // 3, 60, "a third of the burst",
             interval=0.02)
    in_flight_ids = list(load.snapshot())
    report.in_flight = not_final(system.direct_db_url, in_flight_ids)
    instants = FAULTS[name](system)
    report.accept_s, report.final_s, report.recovery_s = probe_recovery(
        system, time.monotonic())
    load.join(MAX_LOAD_S)
    accepted = load.snapshot()
    ids = list(accepted)
    report.accepted, report.given_up = len(ids), load.given_up
    report.refused = dict(load.refusals)
    db = system.direct_db_url
    with contextlib.suppress(TimeoutError):  # what is not final by then is counted stuck
        wait_for(lambda: not_final(db, ids) == 0, settle_s, "every dispatch final", interval=0.5)
    found = statuses(db, ids)
    report.stuck = sum(1 for d in ids if d in found and found[d] not in FINAL)
    _count_sends(system, report, accepted, found, instants)
    report.multi_final = sum(1 for n in final_event_counts(db, ids).values() if n > 1)
    report.stored_twice = sum(1 for n in dispatch_tokens(db, sorted(load.tokens)).values()
                              if n > 1)
    _check_webhooks(system, report, found, settle_s)
    return report


def _count_sends(system: ChaosSystem, report: FaultReport, accepted: dict[str, str],
                 found: dict[str, str], instants: list[float]) -> None:
    stats = system.sandbox.stats()
    by_token: dict[str, int] = {**stats["apns"]["acceptedByToken"],
                                **stats["fcm"]["acceptedByToken"]}
    tokens = set(accepted.values())
    for dispatch, token in accepted.items():
        status = found.get(dispatch)
        if status is None or (status == "sent" and by_token.get(token, 0) == 0):
            report.lost += 1
    twice = [t for t in tokens if by_token.get(t, 0) > 1]
    report.duplicated = sum(by_token[t] - 1 for t in twice)
    records: list[dict[str, Any]] = []
    for gateway in ("apns", "fcm"):
        records += [r for r in system.sandbox.requests(gateway) if r["token"] in tokens]
    report.abandoned = sum(1 for r in records if r.get("abandoned"))
    for token in twice:
        answers = [r["answeredAt"] for r in records
                   if r["token"] == token and r.get("abandoned") is False and r["answeredAt"]]
        extra = by_token[token] - 1
        first = min(answers, default=0.0)
        if any(at - COMMIT_WINDOW_S <= first <= at + COMMIT_WINDOW_S for at in instants):
            report.dup_in_window += extra
        else:
            report.dup_outside_window += extra


def _check_webhooks(system: ChaosSystem, report: FaultReport, found: dict[str, str],
                    timeout: float) -> None:
    wanted = {(d, f"push.{s}") for d, s in found.items() if s in FINAL}

    def missing() -> set[tuple[str, str]]:
        return wanted - set(webhook_events(system))

    with contextlib.suppress(TimeoutError):  # counted below
        wait_for(lambda: not missing(), timeout, "every webhook event", interval=0.5)
    report.webhooks_missing = len(missing())
    seen = webhook_events(system)
    report.webhook_ids_unstable = sum(1 for key in wanted if len(set(seen.get(key, ()))) > 1)
    report.webhooks_redelivered = sum(1 for key in wanted if len(seen.get(key, ())) > 1)
