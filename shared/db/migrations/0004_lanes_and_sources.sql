-- Pushflow schema, version 4: every message and dispatch says which lane it travels (tx | bulk)
-- and where it came from (api | automation | campaign, with the rule or campaign behind it).
--
-- source_ref names the automation rule or campaign (NULL for API pushes). The search indexes are
-- partial: API pushes (nearly every row) do not pay for them at intake, and a search for API
-- pushes is served by the app's created_at index as before.
ALTER TABLE messages ADD COLUMN lane text NOT NULL DEFAULT 'tx' CHECK (lane IN ('tx', 'bulk'));
ALTER TABLE messages ADD CONSTRAINT messages_source_known
    CHECK (source IN ('api', 'automation', 'campaign'));
ALTER TABLE messages ADD COLUMN source_ref text;
ALTER TABLE dispatches ADD COLUMN source text NOT NULL DEFAULT 'api'
    CHECK (source IN ('api', 'automation', 'campaign'));
ALTER TABLE dispatches ADD COLUMN source_ref text;

CREATE INDEX dispatches_app_source ON dispatches (app_id, source, created_at DESC, id DESC)
    WHERE source <> 'api';
CREATE INDEX dispatches_app_source_ref ON dispatches (app_id, source_ref, created_at DESC)
    WHERE source_ref IS NOT NULL;
CREATE INDEX messages_app_source_ref ON messages (app_id, source_ref, created_at DESC)
    WHERE source_ref IS NOT NULL;
