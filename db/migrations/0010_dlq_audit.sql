-- 0010_dlq_audit: statline-dlq bookkeeping (tools/dlq/README.md).
--
-- ops.dlq_audit: one row per replay, purge or replay-from-phase run (also a
-- dry run): who ran it, the filter and options, the counts and the result.
-- The row is written with result 'running' before the first message moves and
-- finished at the end, so a run that was killed stays visible as 'running'.
CREATE TABLE ops.dlq_audit (
        id          bigserial PRIMARY KEY,
        started_at  timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz,
        who         text NOT NULL,                        -- $USER@hostname
        command     text NOT NULL CHECK (command IN ('replay', 'purge', 'replay-from-phase')),
        backend     text NOT NULL,                        -- redis-streams | redis-pubsub | kafka
        dry_run     boolean NOT NULL DEFAULT false,
        filter      jsonb NOT NULL DEFAULT '{}',          -- filters and options (--to, --rate, --limit, ...)
        matched     integer NOT NULL DEFAULT 0 CHECK (matched >= 0),
        succeeded   integer NOT NULL DEFAULT 0 CHECK (succeeded >= 0), -- replayed / purged / re-emitted
        skipped     integer NOT NULL DEFAULT 0 CHECK (skipped >= 0),   -- e.g. poison: nothing to replay
        failed      integer NOT NULL DEFAULT 0 CHECK (failed >= 0),
        result      text NOT NULL CHECK (result IN ('running', 'ok', 'partial', 'interrupted',
                                                    'failed', 'dry-run', 'aborted')),
        error       text,
        updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dlq_audit_started_idx ON ops.dlq_audit (started_at);
SELECT ops.add_replay_guard('ops.dlq_audit');

-- ops.dlq_resolved: Kafka cannot delete a record, so a dead letter that was
-- replayed (after the broker confirmed the publish) or purged is marked here
-- and statline-dlq hides it. Redis dead letters are XDELeted instead and never
-- appear here.
CREATE TABLE ops.dlq_resolved (
        topic       text NOT NULL,                        -- the DLQ topic ("<topic>.dlq")
        partition   integer NOT NULL CHECK (partition >= 0),
        "offset"    bigint NOT NULL CHECK ("offset" >= 0),
        action      text NOT NULL CHECK (action IN ('replayed', 'purged')),
        event_id    uuid,                                 -- NULL for poison
        audit_id    bigint REFERENCES ops.dlq_audit (id),
        resolved_at timestamptz NOT NULL DEFAULT now(),
        updated_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (topic, partition, "offset")
);
SELECT ops.add_replay_guard('ops.dlq_resolved');
