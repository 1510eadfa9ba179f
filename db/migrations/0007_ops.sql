-- 0007_ops: pipeline bookkeeping. (ops.schema_migrations is created by the
-- migrator itself, before 0001 runs.) The two execution logs are audit
-- trails: every attempt is a row with a fresh execution_id, so a replay adds
-- log rows by design; facts live in the phase schemas, deduplicated by their
-- natural keys, and idempotency_keys + outbox make effects exactly-once.

CREATE TABLE ops.pipeline_execution_log (
        execution_id         uuid PRIMARY KEY,            -- UUIDv7, one per processor run
        correlation_id       uuid NOT NULL,               -- the pipeline run (envelope correlation_id)
        event_id             uuid,                        -- the event that triggered the run
        phase                ops.phase NOT NULL,
        processor            text NOT NULL CHECK (processor ~ '^[a-z][a-z0-9_]{0,63}$'),
        status               text NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'skipped', 'partial')),
        started_at           timestamptz NOT NULL,
        completed_at         timestamptz,
        duration_ms          integer CHECK (duration_ms >= 0),
        dependencies_met     boolean,                     -- NULL when not checked
        missing_dependencies text[] NOT NULL DEFAULT '{}',
        skip_reason          text,
        error_message        text,
        rows_written         integer CHECK (rows_written >= 0),
        affected_entities    jsonb NOT NULL DEFAULT '[]', -- envelope form: [{"kind": "player", "id": "2544"}]
        game_date            date,
        sport                text NOT NULL DEFAULT 'nba' CHECK (sport ~ '^[a-z][a-z0-9_]{1,15}$'),
        updated_at           timestamptz NOT NULL DEFAULT now(),
        CHECK (completed_at IS NULL OR completed_at >= started_at),
        CHECK (status <> 'skipped' OR skip_reason IS NOT NULL)
);
CREATE INDEX pipeline_execution_log_correlation_idx ON ops.pipeline_execution_log (correlation_id);
CREATE INDEX pipeline_execution_log_phase_started_idx ON ops.pipeline_execution_log (phase, started_at);
CREATE INDEX pipeline_execution_log_date_idx ON ops.pipeline_execution_log (game_date);
SELECT ops.add_replay_guard('ops.pipeline_execution_log');

CREATE TABLE ops.scraper_execution_log (
        execution_id   uuid PRIMARY KEY,
        correlation_id uuid,
        source         text NOT NULL,                     -- <provider>.<endpoint>
        scraper        text NOT NULL DEFAULT '',
        url            text NOT NULL,                     -- never with credentials
        http_status    smallint CHECK (http_status BETWEEN 100 AND 599),
        bytes          bigint CHECK (bytes >= 0),
        blob_sha256    ops.sha256_hex,                    -- the stored blob, when one was stored
        status         text NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'skipped', 'unchanged')),
        attempts       smallint NOT NULL DEFAULT 1 CHECK (attempts >= 1),
        started_at     timestamptz NOT NULL,
        completed_at   timestamptz,
        duration_ms    integer CHECK (duration_ms >= 0),
        error_message  text,
        game_date      date,
        updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX scraper_execution_log_source_started_idx ON ops.scraper_execution_log (source, started_at);
CREATE INDEX scraper_execution_log_blob_idx ON ops.scraper_execution_log (blob_sha256) WHERE blob_sha256 IS NOT NULL;
CREATE INDEX scraper_execution_log_correlation_idx ON ops.scraper_execution_log (correlation_id);
SELECT ops.add_replay_guard('ops.scraper_execution_log');

-- An effect applied once: claimed with INSERT ... ON CONFLICT DO NOTHING in the
-- same transaction as the effect (STYLE B10). A second claim finds the row
-- (23505 / -EEXIST in a plain INSERT): ack and skip.
CREATE TABLE ops.idempotency_keys (
        key            text PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 512),
        phase          ops.phase NOT NULL,
        processor      text NOT NULL,
        correlation_id uuid,
        created_at     timestamptz NOT NULL DEFAULT now(),
        completed_at   timestamptz,                       -- NULL while in progress
        updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idempotency_keys_created_idx ON ops.idempotency_keys (created_at); -- expiry sweeps
SELECT ops.add_replay_guard('ops.idempotency_keys');

-- Transactional outbox: an event is written in the transaction of the effect
-- that causes it and published afterwards. (topic, idempotency_key) is unique,
-- so a handler that runs twice cannot enqueue its event twice.
CREATE TABLE ops.outbox (
        id              bigserial PRIMARY KEY,            -- publish order
        topic           text NOT NULL,
        key             text,                             -- message/partition key
        idempotency_key text NOT NULL,
        payload         bytea NOT NULL,                   -- the serialized envelope
        created_at      timestamptz NOT NULL DEFAULT now(),
        published_at    timestamptz,                      -- NULL until handed to the bus
        updated_at      timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT outbox_topic_idem_key UNIQUE (topic, idempotency_key)
);
CREATE INDEX outbox_unpublished_idx ON ops.outbox (id) WHERE published_at IS NULL;
SELECT ops.add_replay_guard('ops.outbox');
