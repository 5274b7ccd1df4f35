-- Pushflow schema, version 10: an app's send rate per gateway and lane (issue 10).
--
-- apps.send_rates maps "gateway.lane" (the send queue's name: apns.tx, apns.bulk, fcm.tx,
-- fcm.bulk) to sends per second, 0 meaning unlimited; a key left out takes the deployment's
-- default of its lane (PUSHFLOW_SEND_RATE_PER_SECOND, PUSHFLOW_BULK_SEND_RATE_PER_SECOND).
-- domain/keys/send_rates.py is the one reader of this rule.
--
-- The single apps.send_rate it replaces was each lane's budget, and campaigns planned 75 % of
-- it: an app that had one keeps it for tx and gets those 75 % for bulk, what its campaigns ran at.
ALTER TABLE apps ADD COLUMN send_rates jsonb NOT NULL DEFAULT '{}'
    CHECK (jsonb_typeof(send_rates) = 'object');
UPDATE apps SET send_rates = jsonb_build_object(
        'apns.tx', send_rate, 'fcm.tx', send_rate,
        'apns.bulk', send_rate * 0.75, 'fcm.bulk', send_rate * 0.75)
    WHERE send_rate IS NOT NULL;
ALTER TABLE apps DROP COLUMN send_rate;
