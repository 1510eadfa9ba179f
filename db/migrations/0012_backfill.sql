-- 0012_backfill: bookkeeping for scrape triggers (statline-scraper), statline-backfill and
-- statline-scheduler (tools/backfill/README.md, tools/scheduler/README.md).

-- One row per scrape run started by a scrape.requested trigger. The tool that
-- published the trigger (backfill, scheduler) reads it to know when the scrape
-- ended and how; the rest of the run is followed through the execution logs by
-- correlation id. A trigger delivered twice runs twice: the row is updated.
CREATE TABLE ops.scrape_runs (
        trigger_event_id uuid PRIMARY KEY,                -- the scrape.requested event
        correlation_id   uuid NOT NULL,                   -- the trigger's, shared by the whole run
        sport            text NOT NULL DEFAULT 'nba',
        game_date        date NOT NULL,
        requested_by     text NOT NULL DEFAULT '',        -- payload requested_by: statline-backfill, ...
        sources          text NOT NULL DEFAULT '',        -- the families scraped
        status           text NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'aborted')),
        games            integer CHECK (games >= 0),      -- on the scoreboard
        games_final      integer CHECK (games_final >= 0),
        fetched          integer CHECK (fetched >= 0),
        stored           integer CHECK (stored >= 0),     -- new documents = scraper.completed events
        unchanged        integer CHECK (unchanged >= 0),
        skipped          integer CHECK (skipped >= 0),
        failed           integer CHECK (failed >= 0),
        error_message    text,                            -- the first failures, when failed
        started_at       timestamptz NOT NULL,
        completed_at     timestamptz,
        updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX scrape_runs_correlation_idx ON ops.scrape_runs (correlation_id);
SELECT ops.add_replay_guard('ops.scrape_runs');

-- A backfill run: one invocation of statline-backfill over a set of dates.
-- Running the same command again (same run_key) resumes the latest run that
-- did not complete.
CREATE TABLE ops.backfill_runs (
        run_id      uuid PRIMARY KEY,
        run_key     text NOT NULL,                        -- "<sport>:<first>..<last>:<n>:<md5 of the dates>"
        sport       text NOT NULL,
        date_from   date NOT NULL,
        date_to     date NOT NULL,
        n_dates     integer NOT NULL CHECK (n_dates > 0),
        status      text NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
        command     text NOT NULL,                        -- how it was started
        started_at  timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz,
        updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX backfill_runs_key_idx ON ops.backfill_runs (run_key, started_at);
SELECT ops.add_replay_guard('ops.backfill_runs');

-- The checkpoint: one row per date of a run. A date is 'in_flight' from the
-- moment its trigger is about to be published until it is settled; a resumed
-- run re-runs in-flight and failed dates with the same correlation id.
CREATE TABLE ops.backfill_checkpoint (
        run_id           uuid NOT NULL REFERENCES ops.backfill_runs ON DELETE CASCADE,
        game_date        date NOT NULL,
        seq              integer NOT NULL,                -- processing order
        status           text NOT NULL CHECK (status IN ('pending', 'in_flight', 'done', 'failed')),
        correlation_id   uuid,
        trigger_event_id uuid,                            -- the last trigger published
        attempts         integer NOT NULL DEFAULT 0,
        reached          text,                            -- last phase with a completed/skipped row
        reason           text,                            -- why it failed, or a note
        started_at       timestamptz,
        finished_at      timestamptz,
        duration_ms      integer CHECK (duration_ms >= 0),
        updated_at       timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (run_id, game_date)
);
SELECT ops.add_replay_guard('ops.backfill_checkpoint');

-- Data-quality metadata: the per-date validation of a backfill (row counts in
-- raw against what the source reported, NULLs in required fields).
CREATE TABLE ops.data_quality (
        id             bigserial PRIMARY KEY,
        sport          text NOT NULL DEFAULT 'nba',
        game_date      date NOT NULL,
        check_name     text NOT NULL,                     -- games, boxscore_games, player_rows, required_nulls
        expected       bigint,
        actual         bigint,
        passed         boolean NOT NULL,
        detail         text,
        correlation_id uuid,
        run_id         uuid,                              -- the backfill run, when one checked
        checked_at     timestamptz NOT NULL DEFAULT now(),
        updated_at     timestamptz NOT NULL DEFAULT now()
);
SELECT ops.add_replay_guard('ops.data_quality');
CREATE INDEX data_quality_date_idx ON ops.data_quality (game_date, check_name);

-- statline-scheduler: one row per schedule entry and fire minute. The primary
-- key makes a fire happen once even when two schedulers (or a --once rerun)
-- evaluate the same minute.
CREATE TABLE ops.scheduler_fires (
        entry            text NOT NULL,
        fire_at          timestamptz NOT NULL,            -- the minute the entry matched
        status           text NOT NULL CHECK (status IN ('fired', 'skipped', 'failed')),
        game_date        date,
        correlation_id   uuid,
        trigger_event_id uuid,
        reason           text,                            -- why skipped / failed
        created_at       timestamptz NOT NULL DEFAULT now(),
        updated_at       timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (entry, fire_at)
);
SELECT ops.add_replay_guard('ops.scheduler_fires');
