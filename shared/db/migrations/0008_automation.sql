-- Pushflow schema, version 8: automation. Rules fire templated pushes when the customer's system
-- posts events (domain/automation). Every push a rule makes is an ordinary message created by
-- domain.messages.submit (source 'automation', source_ref = the rule's id, external_id = the
-- event's eventId); these tables hold only what automation itself must remember.

CREATE TABLE automation_rules (
    id              uuid PRIMARY KEY,
    app_id          bigint NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    event_name      text NOT NULL,
    enabled         boolean NOT NULL DEFAULT true,
    definition      jsonb NOT NULL,                       -- the rule as the API took it
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX automation_rules_app_event ON automation_rules (app_id, event_name) WHERE enabled;
CREATE INDEX automation_rules_app_created ON automation_rules (app_id, created_at DESC, id);

-- The app-wide cap: at most daily_cap automated pushes per user and UTC day, across all rules.
CREATE TABLE automation_settings (
    app_id          bigint PRIMARY KEY REFERENCES apps(id) ON DELETE CASCADE,
    daily_cap       integer CHECK (daily_cap > 0),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Every event received, with the answer it got: the primary key makes eventId idempotent (a
-- concurrent repeat waits on the key until the first commits, then reads its answer), and the
-- dry run replays these rows.
CREATE TABLE automation_events (
    app_id          bigint NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    event_id        text NOT NULL,
    name            text NOT NULL,
    user_id         text,
    body            jsonb NOT NULL,                       -- the event as posted
    answer          jsonb NOT NULL,                       -- what it caused, as answered
    received_at     timestamptz NOT NULL,
    PRIMARY KEY (app_id, event_id)
);
CREATE INDEX automation_events_app_received ON automation_events (app_id, received_at DESC);

-- Sends waiting for their time (a rule's delay, or the end of quiet hours), rendered already.
-- The release job (workers/automation/release.py) takes due rows FOR UPDATE SKIP LOCKED and
-- submits and marks them in one transaction; a cancel event marks them canceled.
CREATE TABLE automation_pending (
    id              uuid PRIMARY KEY,
    app_id          bigint NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    rule_id         uuid NOT NULL,
    event_id        text NOT NULL,
    user_id         text,
    due_at          timestamptz NOT NULL,
    push            jsonb NOT NULL,                       -- tokens, content, ttl: the rendered push
    cancel_event    text,                                 -- the event that drops it
    cancel_key      text,                                 -- the property both must share
    cancel_value    text,                                 -- its value in this rule's event
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'released', 'canceled', 'failed')),
    why             text,                                 -- delay | quiet_hours
    message_id      uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    settled_at      timestamptz
);
CREATE INDEX automation_pending_due ON automation_pending (due_at) WHERE state = 'pending';
CREATE INDEX automation_pending_cancel ON automation_pending (app_id, cancel_event, cancel_value)
    WHERE state = 'pending' AND cancel_event IS NOT NULL;

-- Per-rule, per-user cooldown: the last time the rule fired for the user.
CREATE TABLE automation_cooldowns (
    rule_id         uuid NOT NULL,
    user_id         text NOT NULL,
    app_id          bigint NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    fired_at        timestamptz NOT NULL,
    PRIMARY KEY (rule_id, user_id)
);

-- Per-user count of automated pushes per UTC day, for the app's cap.
CREATE TABLE automation_daily_counts (
    app_id          bigint NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    user_id         text NOT NULL,
    day             date NOT NULL,
    sent            integer NOT NULL,
    PRIMARY KEY (app_id, user_id, day)
);

-- Quiet hours are kept in the device's own time zone (an IANA name), when it registered one.
ALTER TABLE devices ADD COLUMN time_zone text;
