-- 0001_schemas: one schema per pipeline phase, shared domains, and the
-- replay guard every table uses. Applied by sl_pg_migrate() (libcommon/src/pg.c)
-- in one transaction together with its ops.schema_migrations row; never edit
-- an applied migration: add a new file instead. See docs/schema.md.

CREATE SCHEMA IF NOT EXISTS raw;        -- phase 2: parsed payloads, one row per source fact
CREATE SCHEMA IF NOT EXISTS analytics;  -- phase 3: per-game summaries and upcoming-game context
CREATE SCHEMA IF NOT EXISTS precompute; -- phase 4: caches, factors, the ML feature store
CREATE SCHEMA IF NOT EXISTS prediction; -- phase 5: per-system predictions and their errors
CREATE SCHEMA IF NOT EXISTS publishing; -- phase 6: published documents
CREATE SCHEMA IF NOT EXISTS ops;        -- execution logs, idempotency keys, outbox, migrations

-- Shared value types. A bad value fails with SQLSTATE 23514 (check_violation),
-- which sl_pg maps to -EBADMSG: the payload is poison and goes to the DLQ.
CREATE DOMAIN ops.sha256_hex AS text
        CHECK (VALUE ~ '^[0-9a-f]{64}$');
-- NBA stats game ids: ten digits with leading zeros ("0022500165"), so text.
CREATE DOMAIN ops.game_id AS text
        CHECK (VALUE ~ '^[0-9]{10}$');
CREATE DOMAIN ops.phase AS text
        CHECK (VALUE IN ('scraper', 'raw', 'analytics', 'precompute', 'prediction',
                         'publishing', 'ops', 'backfill'));

-- Replay guard (BEFORE UPDATE, FOR EACH ROW). An upsert that rewrites a row
-- with the values it already has is skipped entirely: no new row version,
-- updated_at unchanged. So replaying an event, or running a date twice,
-- changes no row, whatever the writer's ON CONFLICT clause looks like. A real
-- change goes through and stamps updated_at.
CREATE FUNCTION ops.skip_unchanged_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
        NEW.updated_at := OLD.updated_at;
        IF NEW IS NOT DISTINCT FROM OLD THEN
                RETURN NULL; -- identical: keep the old version untouched
        END IF;
        NEW.updated_at := now();
        RETURN NEW;
END
$$;

-- Installs the replay guard on a table (which must have an updated_at column).
-- Every table created by a migration calls this; new tables must too.
CREATE FUNCTION ops.add_replay_guard(tbl regclass) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
        EXECUTE format('CREATE TRIGGER replay_guard BEFORE UPDATE ON %s '
                       'FOR EACH ROW EXECUTE FUNCTION ops.skip_unchanged_update()', tbl);
END
$$;
