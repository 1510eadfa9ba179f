-- 0004_precompute: phase 4. Per-player and per-team aggregates "as of" a
-- date (everything strictly before it), and the ML feature store. Keys are
-- (entity, date[, version]): recomputing a date replaces exactly its rows.

-- Rolling form of a player as of cache_date (games before that date).
CREATE TABLE precompute.player_daily_cache (
        player_id           bigint NOT NULL,
        cache_date          date NOT NULL,
        team_id             bigint NOT NULL,
        games_played_season smallint NOT NULL CHECK (games_played_season >= 0),
        pts_avg_last_5      numeric(5,2),
        pts_avg_last_10     numeric(5,2),
        pts_avg_season      numeric(5,2),
        pts_std_last_10     numeric(5,2),
        reb_avg_last_10     numeric(5,2),
        ast_avg_last_10     numeric(5,2),
        minutes_avg_last_10 numeric(5,2),
        fga_avg_last_10     numeric(5,2),
        usage_avg_last_10   numeric(5,4),
        source_hash         ops.sha256_hex,
        updated_at          timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (player_id, cache_date)
);
CREATE INDEX player_daily_cache_date_idx ON precompute.player_daily_cache (cache_date);
SELECT ops.add_replay_guard('precompute.player_daily_cache');

-- Adjustment factors for a player's game on game_date (fatigue, matchup, pace, usage).
CREATE TABLE precompute.player_composite_factors (
        player_id         bigint NOT NULL,
        game_date         date NOT NULL,
        game_id           ops.game_id NOT NULL,
        fatigue_score     numeric(6,3),
        matchup_score     numeric(6,3),
        pace_score        numeric(6,3),
        usage_spike_score numeric(6,3),
        total_adjustment  numeric(6,3),                   -- points added to the baseline projection
        factors           jsonb NOT NULL DEFAULT '{}',   -- the inputs behind each score
        source_hash       ops.sha256_hex,
        updated_at        timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (player_id, game_date)
);
CREATE INDEX player_composite_factors_date_idx ON precompute.player_composite_factors (game_date);
SELECT ops.add_replay_guard('precompute.player_composite_factors');

-- Where a player's shots come from and how well they go in, as of analysis_date.
CREATE TABLE precompute.player_shot_zone_analysis (
        player_id      bigint NOT NULL,
        analysis_date  date NOT NULL,
        games_sampled  smallint NOT NULL CHECK (games_sampled >= 0),
        paint_rate     numeric(4,3) CHECK (paint_rate BETWEEN 0 AND 1),     -- share of attempts
        mid_range_rate numeric(4,3) CHECK (mid_range_rate BETWEEN 0 AND 1),
        three_pt_rate  numeric(4,3) CHECK (three_pt_rate BETWEEN 0 AND 1),
        paint_pct      numeric(4,3) CHECK (paint_pct BETWEEN 0 AND 1),      -- make rate
        mid_range_pct  numeric(4,3) CHECK (mid_range_pct BETWEEN 0 AND 1),
        three_pt_pct   numeric(4,3) CHECK (three_pt_pct BETWEEN 0 AND 1),
        primary_zone   text CHECK (primary_zone IN ('paint', 'mid_range', 'three')),
        source_hash    ops.sha256_hex,
        updated_at     timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (player_id, analysis_date)
);
SELECT ops.add_replay_guard('precompute.player_shot_zone_analysis');

-- What a defense allows by zone, as of analysis_date.
CREATE TABLE precompute.team_defense_zone_analysis (
        team_id               bigint NOT NULL,
        analysis_date         date NOT NULL,
        games_sampled         smallint NOT NULL CHECK (games_sampled >= 0),
        paint_pct_allowed     numeric(4,3) CHECK (paint_pct_allowed BETWEEN 0 AND 1),
        mid_range_pct_allowed numeric(4,3) CHECK (mid_range_pct_allowed BETWEEN 0 AND 1),
        three_pt_pct_allowed  numeric(4,3) CHECK (three_pt_pct_allowed BETWEEN 0 AND 1),
        defensive_rating      numeric(6,2),
        weakest_zone          text CHECK (weakest_zone IN ('paint', 'mid_range', 'three')),
        source_hash           ops.sha256_hex,
        updated_at            timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (team_id, analysis_date)
);
SELECT ops.add_replay_guard('precompute.team_defense_zone_analysis');

-- Feature vector layouts. A version's names never change: a new feature set
-- is a new version, so old rows and trained models stay interpretable.
CREATE TABLE precompute.ml_feature_versions (
        feature_version text PRIMARY KEY CHECK (feature_version ~ '^v[0-9]+(\.[0-9]+)*$'),
        feature_names   text[] NOT NULL CHECK (cardinality(feature_names) > 0),
        description     text NOT NULL DEFAULT '',
        created_at      timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now()
);
SELECT ops.add_replay_guard('precompute.ml_feature_versions');

-- One feature row per player per game date per feature version.
CREATE TABLE precompute.ml_feature_store (
        player_id       bigint NOT NULL,
        game_date       date NOT NULL,
        feature_version text NOT NULL REFERENCES precompute.ml_feature_versions (feature_version),
        game_id         ops.game_id NOT NULL,
        features        real[] NOT NULL CHECK (cardinality(features) > 0 AND array_ndims(features) = 1),
        data_quality    numeric(4,3) CHECK (data_quality BETWEEN 0 AND 1), -- share of features from full history
        source_hash     ops.sha256_hex,
        updated_at      timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (player_id, game_date, feature_version)
);
CREATE INDEX ml_feature_store_date_idx ON precompute.ml_feature_store (game_date, feature_version);
SELECT ops.add_replay_guard('precompute.ml_feature_store');
