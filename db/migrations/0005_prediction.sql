-- 0005_prediction: phase 5. Each system (moving_average, zone_matchup_v1,
-- similarity_balanced_v1, xgboost_v1, ensemble_v1) writes one row per player,
-- game date and market; a re-run with the same inputs and model writes the
-- same values, which the replay guard turns into no change at all.

-- Trained model files (xgboost_v1). The file is content-addressed: a model
-- version names exactly one file, and predictions name the version they used.
CREATE TABLE prediction.models (
        model_version   text PRIMARY KEY CHECK (model_version ~ '^[a-z0-9_.-]{1,64}$'),
        system_id       text NOT NULL CHECK (system_id ~ '^[a-z][a-z0-9_]{0,63}$'),
        feature_version text NOT NULL,
        file_path       text NOT NULL,
        file_sha256     ops.sha256_hex NOT NULL,
        trained_from    date NOT NULL,
        trained_to      date NOT NULL,
        holdout_mae     numeric(6,3),                     -- points MAE on held-out dates
        trained_at      timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now(),
        CHECK (trained_from <= trained_to)
);
SELECT ops.add_replay_guard('prediction.models');

CREATE TABLE prediction.player_prop_predictions (
        player_id       bigint NOT NULL,
        game_date       date NOT NULL,
        system_id       text NOT NULL CHECK (system_id ~ '^[a-z][a-z0-9_]{0,63}$'),
        market          text NOT NULL CHECK (market ~ '^[a-z][a-z0-9_]{0,31}$'), -- points, rebounds, assists
        game_id         ops.game_id NOT NULL,
        predicted_value numeric(6,2) NOT NULL,
        line            numeric(5,1),                     -- the prop line compared against; NULL when none
        recommendation  text NOT NULL CHECK (recommendation IN ('OVER', 'UNDER', 'PASS')),
        confidence      numeric(4,3) NOT NULL CHECK (confidence BETWEEN 0 AND 1),
        model_version   text NOT NULL,                    -- system version, or prediction.models key
        feature_version text,
        source_hash     ops.sha256_hex,
        updated_at      timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (player_id, game_date, system_id, market),
        CONSTRAINT player_prop_predictions_line_needed CHECK (line IS NOT NULL OR recommendation = 'PASS')
);
CREATE INDEX player_prop_predictions_date_idx ON prediction.player_prop_predictions (game_date, market, system_id);
SELECT ops.add_replay_guard('prediction.player_prop_predictions');

-- Recent accuracy of each system, as of a date (the ensemble weighs systems by it).
CREATE TABLE prediction.system_errors (
        system_id   text NOT NULL CHECK (system_id ~ '^[a-z][a-z0-9_]{0,63}$'),
        market      text NOT NULL CHECK (market ~ '^[a-z][a-z0-9_]{0,31}$'),
        as_of_date  date NOT NULL,                        -- errors of games strictly before this date
        window_days smallint NOT NULL CHECK (window_days > 0),
        n_samples   integer NOT NULL CHECK (n_samples >= 0),
        mae         numeric(6,3),                         -- NULL without samples
        rmse        numeric(6,3),
        bias        numeric(6,3),                         -- mean(predicted - actual)
        updated_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (system_id, market, as_of_date)
);
SELECT ops.add_replay_guard('prediction.system_errors');
