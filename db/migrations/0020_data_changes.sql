-- 0020_data_changes: a log of which dates of the history tables each
-- committed statement changed, so "has anything before date D changed?"
-- costs an index range over a few thousand log rows instead of a sum over
-- the season's rows (prediction's input fingerprint and its similarity
-- history check read 20-40 ms each per run before; docs/performance.md).
--
-- An AFTER ... FOR EACH STATEMENT trigger with transition tables adds one
-- row (table, date) per distinct date the statement inserted, updated or
-- deleted; TRUNCATE adds one row with date NULL (every date). A row the
-- replay guard skipped (an upsert of the values already there) is in no
-- transition table, so a replay logs nothing. seq comes from a sequence:
-- count + sum(seq) of a table's rows over a date range changes with every
-- committed change there (a rolled-back statement leaves no row), which is
-- all a fingerprint needs. Deleting old log rows only changes fingerprints
-- (one recomputation for the caches that hold them), never hides a change.
CREATE SEQUENCE ops.data_change_seq;

CREATE TABLE ops.data_changes (
        seq        bigint      PRIMARY KEY DEFAULT nextval('ops.data_change_seq'),
        tbl        text        NOT NULL,
        game_date  date,                  -- NULL: every date (TRUNCATE)
        updated_at timestamptz NOT NULL DEFAULT now()  -- when the change was made
);
CREATE INDEX data_changes_tbl_date_idx ON ops.data_changes (tbl, game_date) INCLUDE (seq);
SELECT ops.add_replay_guard('ops.data_changes'); -- append-only; the guard keeps the rule uniform

-- TG_ARGV[0]: the table's date column.
CREATE FUNCTION ops.log_changes() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
        t text := TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME;
BEGIN
        IF TG_OP = 'TRUNCATE' THEN
                INSERT INTO ops.data_changes (tbl, game_date) VALUES (t, NULL);
        ELSIF TG_OP = 'INSERT' THEN
                EXECUTE format('INSERT INTO ops.data_changes (tbl, game_date) '
                               'SELECT DISTINCT %L::text, %I FROM new_rows', t, TG_ARGV[0]);
        ELSIF TG_OP = 'UPDATE' THEN
                EXECUTE format('INSERT INTO ops.data_changes (tbl, game_date) '
                               'SELECT %L::text, %I FROM new_rows UNION '
                               'SELECT %L::text, %I FROM old_rows', t, TG_ARGV[0], t, TG_ARGV[0]);
        ELSE
                EXECUTE format('INSERT INTO ops.data_changes (tbl, game_date) '
                               'SELECT DISTINCT %L::text, %I FROM old_rows', t, TG_ARGV[0]);
        END IF;
        RETURN NULL;
END
$$;

-- Installs the four triggers on a table (transition tables allow one event per trigger).
CREATE FUNCTION ops.add_change_log(tbl regclass, date_col text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
        EXECUTE format('CREATE TRIGGER log_changes_ins AFTER INSERT ON %s '
                       'REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT '
                       'EXECUTE FUNCTION ops.log_changes(%L)', tbl, date_col);
        EXECUTE format('CREATE TRIGGER log_changes_upd AFTER UPDATE ON %s '
                       'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION ops.log_changes(%L)', tbl, date_col);
        EXECUTE format('CREATE TRIGGER log_changes_del AFTER DELETE ON %s '
                       'REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT '
                       'EXECUTE FUNCTION ops.log_changes(%L)', tbl, date_col);
        EXECUTE format('CREATE TRIGGER log_changes_trunc AFTER TRUNCATE ON %s '
                       'FOR EACH STATEMENT EXECUTE FUNCTION ops.log_changes(%L)', tbl, date_col);
END
$$;

-- The history a prediction run reads (services/prediction/inputs.c,
-- predict.c history_window()). A new history input of prediction gets its
-- log here, in a later migration.
SELECT ops.add_change_log('raw.games', 'game_date');
SELECT ops.add_change_log('analytics.player_game_summary', 'game_date');
SELECT ops.add_change_log('precompute.ml_feature_store', 'game_date');
SELECT ops.add_change_log('prediction.system_errors', 'as_of_date');
SELECT ops.add_change_log('prediction.prop_bets', 'game_date');
SELECT ops.add_change_log('prediction.kelly_portfolio', 'game_date');
SELECT ops.add_change_log('raw.moneyline_odds', 'game_date');
SELECT ops.add_change_log('prediction.moneyline_bets', 'game_date');
