-- 0024_system_error_sums: each prediction date's error sums, kept, so that
-- scoring the 30 days before a date sums 30 days of sums instead of joining
-- ~40,000 predictions with their box scores again (~75 ms of every whole-date
-- prediction run, on the season's critical path; docs/performance.md, pass 5).
--
-- system_error_sums holds, per prediction date, system and market, the
-- count and the exact numeric sums of |e|, e^2 and e (e = predicted - actual,
-- the actual being the player's box score of the same game ON THE SAME DATE);
-- avg = sum / count is then the very value avg() gave over the rows.
-- system_error_days records the change-log fingerprint (0020) of the
-- predictions and game summaries of the date the sums were taken from: a
-- date whose fingerprint moved (a prediction rewritten, a box score
-- corrected, a TRUNCATE) is summed again. Both are derived data: deleting
-- them only costs one recomputation.
CREATE TABLE prediction.system_error_days (
        game_date  date PRIMARY KEY,
        inputs_fp  text NOT NULL,                 -- count:sum(seq) of the date's change-log rows
        updated_at timestamptz NOT NULL DEFAULT now()
);
SELECT ops.add_replay_guard('prediction.system_error_days');

CREATE TABLE prediction.system_error_sums (
        game_date  date NOT NULL,                 -- the predictions' date
        system_id  text NOT NULL CHECK (system_id ~ '^[a-z][a-z0-9_]{0,63}$'),
        market     text NOT NULL CHECK (market ~ '^[a-z][a-z0-9_]{0,31}$'),
        n_samples  bigint NOT NULL CHECK (n_samples > 0),
        sum_abs    numeric NOT NULL,              -- sum |predicted - actual|
        sum_sq     numeric NOT NULL,              -- sum (predicted - actual) ^ 2
        sum_err    numeric NOT NULL,              -- sum (predicted - actual)
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (game_date, system_id, market)
);
SELECT ops.add_replay_guard('prediction.system_error_sums');

-- A rewritten prediction moves its date's fingerprint.
SELECT ops.add_change_log('prediction.player_prop_predictions', 'game_date');
