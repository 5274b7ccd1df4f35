-- Pushflow schema, version 7: the indexes of the panel's search (domain/dispatches/search.py),
-- and the link from a resent dispatch to the one it replaces.
--
-- Words of a message (title, content, external id) are found through a full-text index on
-- messages, not an ILIKE scan. One row per message, not per dispatch: a 1000-token push is
-- indexed once. The words are an expression index over one IMMUTABLE function, so the index and
-- the search say the same thing by calling it, and no column is added to the intake's rows.
-- The 'simple' configuration: no stemming and no stop words, since messages come in every
-- language and a 2FA code or an order number is a word like any other. The index is GIN with its
-- pending list (fastupdate, the default): the intake appends to the list, and the list is merged
-- into the index in bulk by autovacuum or when it outgrows gin_pending_list_limit
-- (docs/benchmarks.md, Search, has the intake's cost).
CREATE FUNCTION message_search_words(content jsonb, external_id text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN to_tsvector('simple'::regconfig,
        coalesce(content->>'title', '') || ' ' || coalesce(content->>'content', '') || ' '
        || coalesce(external_id, ''));

CREATE INDEX messages_search_words ON messages
    USING gin (message_search_words(content, external_id));

-- Failure reason: set by the DLR, never by the intake (a row is inserted without one, so the
-- partial index costs the intake only the predicate).
CREATE INDEX dispatches_app_reason ON dispatches (app_id, reason, created_at DESC, id DESC)
    WHERE reason IS NOT NULL;

-- A failed dispatch resent from the panel becomes a new message (domain.messages.submit); this
-- row says which dispatch it replaces, who asked and when. A table of its own rather than a
-- column of dispatches: the intake's statement stays as it is, and only resends pay for it.
CREATE TABLE dispatch_resends (
    resent_id       uuid PRIMARY KEY,                     -- the new dispatch
    original_id     uuid NOT NULL,                        -- the dispatch it replaces
    app_id          bigint NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    resent_by       text NOT NULL,                        -- the panel user's email
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dispatch_resends_original ON dispatch_resends (original_id);
