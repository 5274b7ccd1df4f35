-- Pushflow schema, version 3: no foreign keys from a dispatch to its message, nor from a status
-- event to its dispatch.
--
-- Both children are only ever written next to an existing parent: the intake writes a message,
-- its dispatches and their first events in ONE statement (domain/messages/rows.py); the DLR adds
-- events only for the dispatches its statement has just locked and updated
-- (domain/dispatches/record.py). Nothing deletes apps, messages or dispatches; whatever will (app
-- deletion, retention) deletes the rows of the three tables explicitly. Meanwhile the two checks
-- cost every intake row a lookup and a FOR KEY SHARE lock of its parent: PostgreSQL spent ~140 us
-- of CPU per 1-token push with them, ~110 us without, on the same two cores as the API
-- (docs/benchmarks.md, Intake). The outbox has had no foreign key from the start, for the same
-- reason. messages -> apps stays (one check per message).
ALTER TABLE dispatches DROP CONSTRAINT IF EXISTS dispatches_message_id_fkey;
ALTER TABLE dispatch_events DROP CONSTRAINT IF EXISTS dispatch_events_dispatch_id_fkey;
