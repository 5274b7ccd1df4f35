"""What the sandbox saw of a fault run's pushes: lost ones, and every push sent more than once,
each extra send classed by what the gateway had done with the send before it.

A send worker killed, or a connection dropped, leaves sends in doubt: the gateway received them
and the worker never committed their outcome, so they are sent again (at least once). Two parts
(docs/operations.md, "Duplicates after a send worker is killed"):

- **unanswered**: the gateway had not answered when the fault hit (its answer was abandoned, or
  written after the kill), or its answer went down with a dropped connection. No design avoids
  these: the gateway may have taken the push, and nothing tells the worker so;
- **answered, not committed**: the gateway answered before the worker was killed, and the
  worker died before its guard reached Redis (docs/delivery.md: the committer). The time from an
  answer to its guard is what the design can shrink; ``uncommitted_ms`` lists, for each, how
  long before the kill the answer was written.

A repeat whose earlier send was not open within ``WINDOW_S`` of a fault instant (for a kill: or
read by the gateway before the worker's restart) is **outside** the window: a defect. A send
counts from its arrival at the gateway until its answer was written or abandoned (the sandbox's
``time`` and ``answeredAt``, on the same clock as the run's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

# How long after the sandbox wrote a 2xx the worker may still be committing that outcome:
# reading and classifying the answer, the committer's ~5 ms flush timer, one Redis MULTI/EXEC;
# generous for a loaded 2-core machine. The one value: tests/workers/test_processes.py uses it.
WINDOW_S = 0.25


@dataclass(frozen=True)
class Instant:
    """When a fault may have separated a gateway's answer from the worker: ``kill`` (the worker
    died; what it had read was lost with it) or ``drop`` (the connection went; the worker lives,
    so what it had read it committed)."""

    at: float
    kind: Literal["kill", "drop"]
    # A killed worker is restarted at ``until``: a send the gateway read between the kill and
    # then was written by the dead worker before it died (the gateway reads its socket late on a
    # loaded machine), so it is in doubt like any send open at the kill.
    until: float = 0.0


@dataclass
class SendCount:
    lost: int = 0
    duplicated: int = 0
    unanswered: int = 0
    answered_uncommitted: int = 0
    outside: int = 0
    abandoned: int = 0  # answers decided but never written (the client was gone)
    uncommitted_ms: list[float] = field(default_factory=list)


def count_sends(stats: dict[str, Any], records: list[dict[str, Any]], accepted: dict[str, str],
                found: dict[str, str], instants: list[Instant]) -> SendCount:
    """``stats``: the sandbox's /stats; ``records``: its requests for both gateways;
    ``accepted``: dispatchId -> token of every dispatch answered 202; ``found``: their stored
    statuses."""
    out = SendCount()
    by_token: dict[str, int] = {**stats["apns"]["acceptedByToken"],
                                **stats["fcm"]["acceptedByToken"]}
    for dispatch, token in accepted.items():
        status = found.get(dispatch)
        if status is None or (status == "sent" and by_token.get(token, 0) == 0):
            out.lost += 1
    tokens = set(accepted.values())
    sends: dict[str, list[dict[str, Any]]] = {}
    for r in records:  # 2xx only carry answeredAt: what a gateway took or may have taken
        if r["token"] in tokens and "answeredAt" in r:
            sends.setdefault(r["token"], []).append(r)
    out.abandoned = sum(1 for rs in sends.values() for r in rs if r["abandoned"])
    for token, rs in sends.items():
        if by_token.get(token, 0) == 0:
            continue  # never accepted: at most the in-doubt sends of a push not sent again
        for earlier in sorted(rs, key=lambda r: r["time"])[:-1]:
            out.duplicated += 1
            _classify(out, earlier, instants)
    return out


def _classify(out: SendCount, send: dict[str, Any], instants: list[Instant]) -> None:
    answered = float(send["answeredAt"])
    for instant in instants:
        latest = max(instant.at + WINDOW_S, instant.until)
        if not send["time"] <= latest or answered < instant.at - WINDOW_S:
            continue  # not open around this instant
        if send["abandoned"] or answered >= instant.at or instant.kind == "drop":
            out.unanswered += 1
        else:
            out.answered_uncommitted += 1
            out.uncommitted_ms.append(round((instant.at - answered) * 1000, 1))
        return
    out.outside += 1
