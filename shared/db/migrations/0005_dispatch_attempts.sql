-- Pushflow schema, version 5: every gateway attempt of a dispatch is recorded as it happens.
--
-- Attempts are rows of dispatch_events, not of a table of their own, because of what writing
-- them costs. The DLR already writes one history row per result (sent or failed) in its batched
-- statement (domain/dispatches/record.py); the attempt that ended the dispatch is that same row
-- with the columns below filled in, so the common case (sent at the first attempt) writes no
-- extra row and no extra index entry. Only an attempt that will be retried adds a row
-- (status 'queued': the dispatch is queued again), written when the send worker re-queues it.
-- A separate dispatch_attempts table would have cost every result one more heap tuple and index
-- entry in that statement, the DLR's hot path.
--
-- Columns added without a default: a metadata-only change, no rewrite of the big table.
ALTER TABLE dispatch_events
    ADD COLUMN attempt     smallint,      -- the gateway attempt this row records (1 = the first);
                                          -- NULL: not a gateway attempt (intake, receipts, ...)
    ADD COLUMN worker      text,          -- the send worker that made it (gateway-host-pid)
    ADD COLUMN taken_at    timestamptz,   -- when that worker took the job up to send it (a
                                          -- retry it held until due: then)
    ADD COLUMN latency_ms  real,          -- request sent to answer received
    ADD COLUMN retry_at    timestamptz;   -- a retried attempt: when the next one is due

-- A retried attempt is reported once, but a result batch may be recorded twice (the DLR replays
-- a batch whose commit it cannot confirm): this index makes the second insert a no-op. Partial,
-- so the final rows written for every result do not pay for it.
CREATE UNIQUE INDEX dispatch_events_retried ON dispatch_events (dispatch_id, attempt)
    WHERE status = 'queued' AND attempt IS NOT NULL;
