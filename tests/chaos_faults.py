"""The faults of a chaos run, and one run of one: a burst of pushes, the fault injected once a
third of them is accepted, then the figures (docs/reliability.md explains each).

- in_flight: dispatches answered 202 and not yet final when the fault hit;
- lost: dispatches answered 202 that never reached the gateway nor a final status, or whose
  stored status says sent though the sandbox never accepted them;
- duplicated: sends of a push beyond its first that the gateway received, each classed
  (tests/chaos_sends.py) as unanswered when a send worker was killed or a connection dropped,
  answered but not committed when the worker was killed, or outside that window (a defect);
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

from tests.chaos_load import (
    FINAL,
    Load,
    dispatch_tokens,
    final_event_counts,
    not_final,
    statuses,
    webhook_events,
)
from tests.chaos_sends import Instant, count_sends
from tests.chaos_system import TAKE_MARKER, ChaosSystem
from workers.delivery.testing import apns_token, fcm_token, wait_for

SEND_WORKERS = ("worker-apns", "worker-fcm")
MAX_LOAD_S = 180.0  # a burst's retries end well before: see chaos_load.MAX_TRIES
RECEIVER_DOWN_S = 180.0  # "down for minutes": the sender's backoff must bring every event after


# A fault returns the instants at which a send may have been separated from its answer (a send
# worker killed, a connection dropped): tests/chaos_sends.py classes the repeats around them.
Fault = Callable[[ChaosSystem], list[Instant]]


def kill_and_restart(name: str, down_s: float = 1.0) -> Fault:
    def inject(system: ChaosSystem) -> list[Instant]:
        killed_at = time.time()
        system.kill(name)
        time.sleep(down_s)
        restarted_at = time.time()
        system.start(name)
        return [Instant(killed_at, "kill", restarted_at)] if name in SEND_WORKERS else []
    return inject


def redis_restart(system: ChaosSystem) -> list[Instant]:
    system.redis.stop()
    time.sleep(2)
    system.redis.start()
    return []


def redis_kill_mid_take(system: ChaosSystem) -> list[Instant]:
    """SIGKILL to Redis while the APNs worker's take is in it: the take has run (its messages are
    in the worker's in-flight hash, and in the AOF) and its reply never reaches the worker."""
    system.redis_proxy.hold_replies_after(TAKE_MARKER)
    system.redis_proxy.wait_holding(30)
    system.redis.kill()
    time.sleep(2)
    system.redis.start()
    return []


def postgres_unreachable(seconds: float) -> Fault:
    def inject(system: ChaosSystem) -> list[Instant]:
        system.pg_proxy.cut()
        time.sleep(seconds)
        system.pg_proxy.restore()
        return []
    return inject


def sandbox_closes(action: str, times: int = 3) -> Fault:
    def inject(system: ChaosSystem) -> list[Instant]:
        instants = []
        for _ in range(times):
            instants.append(Instant(time.time(), "drop"))
            system.sandbox.close_connections(None, action)
            time.sleep(0.5)
        # GOAWAY answers every stream it received: no answer is lost, so no window.
        return instants if action == "drop" else []
    return inject


def receiver_down(seconds: float) -> Fault:
    def inject(system: ChaosSystem) -> list[Instant]:
        system.receiver.stop()
        time.sleep(seconds)
        system.receiver.start()
        return []
    return inject


def faults(receiver_down_s: float = RECEIVER_DOWN_S) -> dict[str, Fault]:
    return {
        "kill-worker-apns": kill_and_restart("worker-apns"),
        "kill-worker-fcm": kill_and_restart("worker-fcm"),
        "kill-dlr": kill_and_restart("dlr"),
        "kill-webhooks": kill_and_restart("webhooks"),
        "kill-api": kill_and_restart("api"),
        "redis-restart": redis_restart,
        "redis-kill-mid-take": redis_kill_mid_take,
        "postgres-unreachable-20s": postgres_unreachable(20),
        "sandbox-drop": sandbox_closes("drop"),
        "sandbox-goaway": sandbox_closes("goaway"),
        "receiver-down": receiver_down(receiver_down_s),
    }


FAULTS = tuple(faults())


@dataclass
class FaultReport:
    name: str
    accepted: int = 0
    in_flight: int = 0
    lost: int = 0
    duplicated: int = 0  # sends beyond a push's first, in three parts (tests/chaos_sends.py):
    dup_unanswered: int = 0  # in doubt at the fault: unavoidable
    dup_answered_uncommitted: int = 0  # answered before the kill, its guard not yet in Redis
    dup_outside_window: int = 0  # a defect
    abandoned: int = 0
    uncommitted_ms: list[float] = field(default_factory=list)  # kill minus each answer's time
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
                f" (unanswered={self.dup_unanswered}"
                f" answered_uncommitted={self.dup_answered_uncommitted}"
                f" outside={self.dup_outside_window}; abandoned={self.abandoned}"
                f" uncommitted_ms={self.uncommitted_ms}) stuck={self.stuck}"
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
              settle_s: float = 90.0, inject: Fault | None = None) -> FaultReport:
    """``inject``: the fault (default: ``faults()[name]``)."""
    report = FaultReport(name)
    load = Load(system, pushes, per_second).start()
    wait_for(lambda: len(load.snapshot()) >= pushes * 2 // 3, 60, "a third of the burst",
             interval=0.02)
    in_flight_ids = list(load.snapshot())
    report.in_flight = not_final(system.direct_db_url, in_flight_ids)
    instants = (inject or faults()[name])(system)
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
    records = [*system.sandbox.requests("apns"), *system.sandbox.requests("fcm")]
    sends = count_sends(system.sandbox.stats(), records, accepted, found, instants)
    report.lost, report.duplicated, report.abandoned = sends.lost, sends.duplicated, sends.abandoned
    report.dup_unanswered, report.dup_outside_window = sends.unanswered, sends.outside
    report.dup_answered_uncommitted = sends.answered_uncommitted
    report.uncommitted_ms = sends.uncommitted_ms
    report.multi_final = sum(1 for n in final_event_counts(db, ids).values() if n > 1)
    report.stored_twice = sum(1 for n in dispatch_tokens(db, sorted(load.tokens)).values()
                              if n > 1)
    _check_webhooks(system, report, found, settle_s)
    return report


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
