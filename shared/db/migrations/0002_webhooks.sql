-- Pushflow schema, version 2: delivery-report webhooks.
-- Webhook events are an outbox in PostgreSQL, written in the same transaction as the status
-- change that causes them. Retries wait up to a day or more, far beyond the broker's visibility
-- timeout, so the schedule (next_attempt_at) lives here, not in Redis countdowns.

-- One webhook configuration per app. primary_url may be NULL when every message names its own
-- webhookUrl (which overrides primary_url for that message; secondary_url stays the fallback).
CREATE TABLE webhook_endpoints (
    app_id          bigint PRIMARY KEY REFERENCES apps(id) ON DELETE CASCADE,
    primary_url     text,
    secondary_url   text,
    event_types     text[] NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Signing secrets. Every secret whose expires_at is NULL or in the future signs (Standard Webhooks
-- allows several space-separated signatures): rotation adds a new secret and gives the old ones an
-- expires_at at the end of the overlap. Stored Fernet-encrypted (settings.fernet_key).
CREATE TABLE webhook_secrets (
    id              bigserial PRIMARY KEY,
    app_id          bigint NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    secret          bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz
);
CREATE INDEX webhook_secrets_app ON webhook_secrets (app_id, id DESC);

-- One row per event to deliver. state: pending -> delivered | dead (dead letters; a replay puts
-- them back to pending with a fresh retry window). A sender claims due rows by pushing
-- next_attempt_at forward by a lease (FOR UPDATE SKIP LOCKED), so a crashed sender's claims come
-- due again on their own.
CREATE TABLE webhook_events (
    id              uuid PRIMARY KEY,                     -- also the webhook-id header
    app_id          bigint NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    type            text NOT NULL,
    dispatch_id     uuid,
    message_id      uuid,
    payload         jsonb NOT NULL,                       -- the exact body sent
    override_url    text,                                 -- the message's webhookUrl, if any
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,           -- HTTP attempts ever made
    rounds          integer NOT NULL DEFAULT 0,           -- failed rounds in the retry window
    retry_from      timestamptz NOT NULL DEFAULT now(),   -- start of the retry window
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    delivered_at    timestamptz,
    dead_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
-- Per-app due queue: the sender takes a few due events from each app in turn (fair batches).
CREATE INDEX webhook_events_due ON webhook_events (app_id, next_attempt_at)
    WHERE state = 'pending';
CREATE INDEX webhook_events_app_created ON webhook_events (app_id, created_at DESC, id DESC);
CREATE INDEX webhook_events_dead ON webhook_events (app_id, dead_at) WHERE state = 'dead';
CREATE INDEX webhook_events_dispatch ON webhook_events (dispatch_id) WHERE dispatch_id IS NOT NULL;

-- Every HTTP attempt: when, where, what came back, how long it took.
CREATE TABLE webhook_attempts (
    id              bigserial PRIMARY KEY,
    event_id        uuid NOT NULL REFERENCES webhook_events(id) ON DELETE CASCADE,
    app_id          bigint NOT NULL,
    at              timestamptz NOT NULL,
    url             text NOT NULL,
    status_code     integer,                              -- NULL when no HTTP answer
    latency_ms      double precision NOT NULL,
    error           text
);
CREATE INDEX webhook_attempts_event ON webhook_attempts (event_id, id);
