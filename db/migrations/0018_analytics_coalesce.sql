-- 0018_analytics_coalesce: batch coalescing of raw.completed events in
-- statline-analytics (issue 5 item 4; services/analytics/README.md
-- "Coalescing", docs/reliability.md "Batch coalescing"). With
-- coalesce.window_ms > 0 the handler merges a ready event of a game date
-- into the pending batch of its (correlation id, sport, date) and acks it
-- only after that one statement committed; the service's tick claims a
-- batch once due_at has passed (FOR UPDATE SKIP LOCKED, then a lease) and
-- runs it as ONE analytics run, deleting the row in the run's transaction.
CREATE TABLE ops.analytics_batches (
        batch_id       bigserial PRIMARY KEY,
        prefix         text NOT NULL,        -- the service's bus prefix (its topics)
        correlation_id text NOT NULL,
        sport          text NOT NULL,
        game_date      date NOT NULL,
        processors     text[] NOT NULL,      -- union of the members' processors (after early exits)
        games          text[],               -- union of game ids; NULL = a member had no game filter
        players        text[],               -- likewise player ids
        teams          text[],               -- likewise team ids
        upstreams      text[] NOT NULL,      -- the members' data versions, sorted, distinct
        members        text[] NOT NULL,      -- the members' event ids, in arrival order
        parent         text NOT NULL,        -- the first member's envelope (correlation, trace)
        version        integer NOT NULL DEFAULT 1, -- + 1 per merge: a run deletes only what it read
        attempts       integer NOT NULL DEFAULT 0,
        last_error     text,
        due_at         timestamptz NOT NULL,
        created_at     timestamptz NOT NULL DEFAULT now(),
        updated_at     timestamptz NOT NULL DEFAULT now(),
        UNIQUE (prefix, correlation_id, sport, game_date)
);
CREATE INDEX analytics_batches_due_idx ON ops.analytics_batches (prefix, due_at);
SELECT ops.add_replay_guard('ops.analytics_batches');

-- Every event ever merged into a batch: a redelivered one (before or after
-- its batch ran) is a duplicate. Rows older than 14 days are pruned.
CREATE TABLE ops.analytics_batch_members (
        event_id       text PRIMARY KEY,
        correlation_id text NOT NULL,
        sport          text NOT NULL,
        game_date      date NOT NULL,
        created_at     timestamptz NOT NULL DEFAULT now(),
        updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX analytics_batch_members_created_idx ON ops.analytics_batch_members (created_at);
SELECT ops.add_replay_guard('ops.analytics_batch_members');
