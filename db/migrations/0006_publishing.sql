-- 0006_publishing: phase 6. One row per published document, keyed by its path
-- in the publish directory. The content hash decides whether anything changed:
-- republishing identical bytes must keep published_at (set it only when sha256
-- differs), and the replay guard then leaves the row untouched.
CREATE TABLE publishing.documents (
        doc_path     text PRIMARY KEY CHECK (doc_path ~ '^[A-Za-z0-9_./-]+$' AND doc_path !~ '(^|/)\.\.(/|$)'),
        doc_kind     text NOT NULL CHECK (doc_kind ~ '^[a-z][a-z0-9_]{0,31}$'), -- date, player, game
        game_date    date,
        player_id    bigint,
        sha256       ops.sha256_hex NOT NULL,             -- of the document bytes
        etag         text NOT NULL,                       -- HTTP ETag served by the read API
        bytes        bigint NOT NULL CHECK (bytes >= 0),
        content_type text NOT NULL DEFAULT 'application/json',
        published_at timestamptz NOT NULL DEFAULT now(),  -- when these bytes were first published
        updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX documents_date_idx ON publishing.documents (game_date, doc_kind);
CREATE INDEX documents_player_idx ON publishing.documents (player_id) WHERE player_id IS NOT NULL;
SELECT ops.add_replay_guard('publishing.documents');
