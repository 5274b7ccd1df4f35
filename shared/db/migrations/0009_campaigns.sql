-- Pushflow schema, version 9: campaigns (bulk sends paced from PostgreSQL) and their ledger.
--
-- A campaign's pushes go through domain.messages.submit on the bulk lane with source =
-- 'campaign' and source_ref = the campaign's id. The pacer (workers/campaigns/pacer.py) takes the
-- next pending recipients of a gateway FOR UPDATE SKIP LOCKED, submits them in the same
-- transaction and marks them submitted with their dispatch id: a recipient is never submitted
-- twice, and a pacer killed mid-campaign leaves its rows pending for the next one.
--
-- The ledger does not copy outcomes: a submitted recipient's final state is its dispatch's
-- (joined by dispatch_id at read time), recorded by the DLR as for any push.

CREATE TABLE campaigns (
    id              uuid PRIMARY KEY,
    app_id          bigint NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    name            text NOT NULL,
    content         jsonb NOT NULL,                       -- the default content (a push's fields)
    languages       jsonb NOT NULL DEFAULT '{}'::jsonb,   -- language tag -> content
    fallback        text[] NOT NULL DEFAULT '{}',         -- languages tried before the default
    audience        jsonb NOT NULL,                       -- {"kind": "upload"} or a device filter
    per_minute      integer NOT NULL CHECK (per_minute > 0),   -- per gateway
    schedule_time   timestamptz,
    finish_by       timestamptz,
    canary_percent  double precision,                     -- the first slice, % of the audience
    canary_max_failure double precision,                  -- halt when the slice fails more
    canary_size     integer,                              -- recipients in the slice (at start)
    canary_state    text CHECK (canary_state IN ('sending', 'passed', 'failed')),
    state           text NOT NULL DEFAULT 'draft' CHECK (state IN (
                        'draft', 'scheduled', 'running', 'paused', 'halted', 'canceled',
                        'finished')),
    halt_reason     text,
    excluded        jsonb NOT NULL DEFAULT '{}'::jsonb,   -- {"invalid": n, "duplicate": n, ...}
    round           integer NOT NULL DEFAULT 1,           -- retry-failed starts the next round
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX campaigns_app_created ON campaigns (app_id, created_at DESC, id DESC);
-- What the pacer looks at: campaigns that may have work.
CREATE INDEX campaigns_active ON campaigns (state) WHERE state IN ('scheduled', 'running');

-- The ledger: one row per recipient. state: pending -> submitted (dispatch_id set) | rejected
-- (submit refused the token: reason is its code) | canceled. Excluded upload lines (invalid,
-- duplicate, known dead) are counted in campaigns.excluded, never stored here.
-- No foreign key to campaigns: an upload inserts a million rows in one statement, and the check
-- (a lookup and a lock of the campaign per row) cost more than the rest of the insert; rows are
-- only written by an upload or a device audience that has just locked or created the campaign.
CREATE TABLE campaign_recipients (
    campaign_id     uuid NOT NULL,
    seq             bigint NOT NULL,                      -- upload order: the pacer's cursor
    token           text NOT NULL,
    platform        text NOT NULL CHECK (platform IN ('ios', 'android')),
    language        text,
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'submitted', 'rejected', 'canceled')),
    reason          text,
    dispatch_id     uuid,
    round           integer NOT NULL DEFAULT 1,
    submitted_at    timestamptz,
    PRIMARY KEY (campaign_id, seq)
);
-- No index by token: an upload finds its duplicates in its own staging table (and, for a second
-- upload to the same campaign, with an anti-join); an index would slow every COPY down.
CREATE INDEX campaign_recipients_pending ON campaign_recipients (campaign_id, platform, seq)
    WHERE state = 'pending';
-- The measured rate of the last seconds (progress).
CREATE INDEX campaign_recipients_submitted ON campaign_recipients (campaign_id, submitted_at)
    WHERE submitted_at IS NOT NULL;

-- The pacing budget of each (campaign, platform): credit accrues at the campaign's rate; the
-- row is locked by the pacer that spends it, so every pacer process shares one rate.
CREATE TABLE campaign_pacing (
    campaign_id     uuid NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    platform        text NOT NULL CHECK (platform IN ('ios', 'android')),
    credit          double precision NOT NULL DEFAULT 0,
    rate            double precision NOT NULL DEFAULT 0,  -- applied sends/s (after slow-downs)
    canary_left     integer NOT NULL DEFAULT 0,           -- of the canary slice, still to take
    at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, platform)
);
