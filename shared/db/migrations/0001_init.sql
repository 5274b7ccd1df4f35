-- Pushflow schema, version 1.
-- Sizing note: dispatches is the big table (tens of millions of rows). Every search the API and
-- panel offer is app-scoped and newest-first, so each index leads with app_id and ends with
-- (created_at DESC, id DESC) to serve "WHERE app_id = $1 AND <filter> ORDER BY created_at DESC"
-- with an index range scan and keyset/offset paging.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE apps (
    id              bigserial PRIMARY KEY,
    app_key         text NOT NULL UNIQUE,
    name            text NOT NULL,
    limits          jsonb NOT NULL DEFAULT '{}'::jsonb,   -- per-app overrides of default limits
    send_rate       double precision,                     -- sends/s per gateway; NULL = default
    auth_error      text,                                 -- set by delivery on a credentials failure
    auth_error_at   timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE app_credentials (
    app_id          bigint NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    provider        text NOT NULL CHECK (provider IN ('fcm', 'apns')),
    kind            text NOT NULL,                        -- service_account | token | certificate
    secret          bytea NOT NULL,                       -- Fernet-encrypted credential material
    meta            jsonb NOT NULL DEFAULT '{}'::jsonb,   -- non-secret facts: key id, team, topic...
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (app_id, provider)
);

CREATE TABLE api_keys (
    id              bigserial PRIMARY KEY,
    app_id          bigint NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    key_prefix      text NOT NULL,                        -- first characters, for display only
    key_hash        bytea NOT NULL UNIQUE,                -- sha256 of the secret
    scopes          text[] NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz,
    last_used_at    timestamptz
);
CREATE INDEX api_keys_app ON api_keys (app_id);

CREATE TABLE messages (
    id              uuid PRIMARY KEY,
    app_id          bigint NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    external_id     text,
    content         jsonb NOT NULL,                       -- title, content, image, data, sound, ...
    webhook_url     text,
    schedule_time   timestamptz,
    ttl             timestamptz,
    source          text NOT NULL DEFAULT 'api',          -- api | automation | campaign
    request_id      text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_app_created ON messages (app_id, created_at DESC, id DESC);

CREATE TABLE dispatches (
    id              uuid PRIMARY KEY,
    message_id      uuid NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    app_id          bigint NOT NULL,
    device_token    text NOT NULL,
    platform        text NOT NULL CHECK (platform IN ('ios', 'android')),
    lane            text NOT NULL DEFAULT 'tx' CHECK (lane IN ('tx', 'bulk')),
    status          text NOT NULL,
    reason          text,
    attempts        integer NOT NULL DEFAULT 0,
    gateway_id      text,
    gateway_response jsonb,
    external_id     text,                                 -- copied from the message for search
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dispatches_message ON dispatches (message_id);
CREATE INDEX dispatches_app_created ON dispatches (app_id, created_at DESC, id DESC);
CREATE INDEX dispatches_app_token ON dispatches (app_id, device_token, created_at DESC);
CREATE INDEX dispatches_app_external ON dispatches (app_id, external_id, created_at DESC)
    WHERE external_id IS NOT NULL;
CREATE INDEX dispatches_app_status ON dispatches (app_id, status, created_at DESC);
CREATE INDEX dispatches_app_platform ON dispatches (app_id, platform, created_at DESC);
CREATE INDEX dispatches_gateway_id ON dispatches (gateway_id) WHERE gateway_id IS NOT NULL;

CREATE TABLE dispatch_events (
    id              bigserial PRIMARY KEY,
    dispatch_id     uuid NOT NULL REFERENCES dispatches(id) ON DELETE CASCADE,
    status          text NOT NULL,
    reason          text,
    detail          jsonb,
    at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dispatch_events_dispatch ON dispatch_events (dispatch_id, id);

-- Transactional outbox: a row per dispatch whose task has not yet been confirmed on the broker.
-- Written in the same statement as the dispatch; removed once the publish is confirmed. The
-- sweeper publishes rows whose publish_at has passed: commit time + a few seconds (crash between
-- commit and publish, Redis down) or the message's scheduleTime. No FK: it would cost every
-- intake insert a lookup, and the sweeper drops rows whose dispatch is gone.
CREATE TABLE outbox (
    dispatch_id     uuid PRIMARY KEY,
    publish_at      timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_due ON outbox (publish_at);

CREATE TABLE devices (
    app_id          bigint NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    token           text NOT NULL,
    platform        text NOT NULL CHECK (platform IN ('ios', 'android')),
    user_id         text,
    language        text,
    tags            text[] NOT NULL DEFAULT '{}',
    registered_at   timestamptz NOT NULL DEFAULT now(),
    invalidated_at  timestamptz,                          -- the gateway's timestamp
    invalid_reason  text,
    PRIMARY KEY (app_id, token)
);
CREATE INDEX devices_app_user ON devices (app_id, user_id) WHERE user_id IS NOT NULL;
CREATE INDEX devices_app_tags ON devices USING gin (tags);

CREATE TABLE idempotency_keys (
    app_id          bigint NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    key             text NOT NULL,
    request_hash    bytea NOT NULL,
    status_code     integer,                              -- NULL while the first request runs
    response        jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (app_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
