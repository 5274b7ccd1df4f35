"""Record the gateway attempts that will be retried, as they happen, in ONE statement per batch.

A send worker re-queues a dispatch whose attempt failed for a passing reason (a 5xx, a 429, a
timeout) and reports that attempt to the DLR in the same flush (``shared.jobs.SendResult`` with
status ``queued`` and ``retryAt``). Each becomes a ``dispatch_events`` row (status ``queued``: the
dispatch is queued again; with the attempt's number, worker, times and the gateway's answer), and
the dispatch's ``attempts`` and ``gateway_response`` show the attempt while it waits. Its status
never moves (``shared.statuses``: only forward, and it already is queued); a dispatch that has
gone further keeps its attempt count, but the attempt is still recorded.

Idempotent like ``domain.dispatches.record``: a batch recorded twice (the DLR replays one whose
commit it could not confirm) adds nothing, by the unique index of migration 0005. It runs in
the batch's transaction before the final outcomes' statement, each locking in dispatch id
order; two batches crossing (one retries X and ends Y, the other the reverse) can deadlock, and
the DLR retries a deadlocked batch at once (workers/dlr/recording.py).
"""

from __future__ import annotations

from typing import Any

from domain.dispatches.record import Outcome

# Binary arrays, as record.py's.
_RETRIED = """
WITH input AS (
    SELECT * FROM unnest(
        %(ids)b::uuid[], %(apps)b::bigint[], %(attempts)b::int[], %(responses)b::jsonb[],
        %(ats)b::float8[], %(workers)b::text[], %(taken)b::float8[], %(latency)b::float8[],
        %(retry_at)b::float8[]
    ) AS t(dispatch_id, app_id, attempt, gateway_response, at, worker, taken_at, latency_ms,
           retry_at)
),
latest AS (  -- per dispatch, its highest attempt in the batch
    SELECT DISTINCT ON (dispatch_id) * FROM input ORDER BY dispatch_id, attempt DESC
),
locked AS (  -- carries what the UPDATE writes (a generic plan: see record.py's locked)
    SELECT d.id, l.attempt, l.gateway_response FROM dispatches d
    JOIN latest l ON d.id = l.dispatch_id AND d.app_id = l.app_id
    WHERE d.status = 'queued' AND d.attempts < l.attempt
    ORDER BY d.id FOR UPDATE OF d
),
counted AS (
    UPDATE dispatches d SET attempts = k.attempt, gateway_response = k.gateway_response,
                            updated_at = now()
    FROM locked k
    WHERE d.id = k.id
)
INSERT INTO dispatch_events (dispatch_id, status, detail, at, attempt, worker, taken_at,
                             latency_ms, retry_at)
SELECT i.dispatch_id, 'queued', i.gateway_response, to_timestamp(i.at), i.attempt, i.worker,
       to_timestamp(i.taken_at), i.latency_ms, to_timestamp(i.retry_at)
FROM input i JOIN dispatches d ON d.id = i.dispatch_id AND d.app_id = i.app_id
ORDER BY i.dispatch_id, i.attempt
ON CONFLICT (dispatch_id, attempt) WHERE status = 'queued' AND attempt IS NOT NULL DO NOTHING
"""


def retried_query(outcomes: list[Outcome]) -> tuple[str, dict[str, Any]]:
    """The statement and parameters recording the ``retried`` ones among ``outcomes``."""
    ordered = sorted((o for o in outcomes if o.retried), key=lambda o: o.dispatch_id)
    return _RETRIED, {
        "ids": [o.dispatch_id for o in ordered],
        "apps": [o.app_id for o in ordered],
        "attempts": [o.attempts for o in ordered],
        "responses": [o.gateway_response for o in ordered],
        "ats": [o.at for o in ordered],
        "workers": [o.worker for o in ordered],
        "taken": [o.taken_at for o in ordered],
        "latency": [o.latency_ms for o in ordered],
        "retry_at": [o.retry_at for o in ordered],
    }
