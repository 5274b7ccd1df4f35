-- Pushflow schema, version 6: the panel's users (domain/users).
--
-- A panel user signs in with an email and a password (argon2id hash, never the password). What
-- they may do is per app: a membership (user x app) with a role. Sessions are kept server-side;
-- the cookie carries a random session id and only its SHA-256 is stored, so a copy of this table
-- signs nobody in. Failed sign-ins are counted per key (an email, a client address) in a window,
-- so guessing passwords is throttled across every API process.

CREATE TABLE panel_users (
    id              bigserial PRIMARY KEY,
    email           text NOT NULL,                         -- as typed; matched lower-cased
    password_hash   text NOT NULL,                         -- argon2id (PHC string)
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX panel_users_email ON panel_users (lower(email));

CREATE TABLE panel_memberships (
    user_id         bigint NOT NULL REFERENCES panel_users(id) ON DELETE CASCADE,
    app_id          bigint NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    role            text NOT NULL CHECK (role IN ('admin', 'developer', 'support')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, app_id)
);
CREATE INDEX panel_memberships_app ON panel_memberships (app_id);

CREATE TABLE panel_sessions (
    id_hash         bytea PRIMARY KEY,                     -- sha256 of the cookie's session id
    user_id         bigint NOT NULL REFERENCES panel_users(id) ON DELETE CASCADE,
    csrf_token      text NOT NULL,                         -- the synchronizer token of its forms
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL
);
CREATE INDEX panel_sessions_user ON panel_sessions (user_id);
CREATE INDEX panel_sessions_expires ON panel_sessions (expires_at);

CREATE TABLE panel_signin_failures (
    key             text PRIMARY KEY,                      -- 'email:<lower email>' | 'addr:<ip>'
    failures        integer NOT NULL,
    window_started_at timestamptz NOT NULL
);
