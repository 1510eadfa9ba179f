-- 0014_nhl: the NHL tables. raw.nhl_* land the api-web.nhle.com payloads
-- (services/raw/parse_nhl.c, docs/parsers.md "NHL"): one row per source fact,
-- keyed by the league's own ids, so a reload upserts the same rows; the
-- loader adds source and payload_sha256 as for the NBA tables (0002_raw).
-- analytics.nhl_* hold the derived metrics (libmodels sl/nhl.h,
-- docs/models-nhl.md): per team game, per team season aggregate and the
-- dated ratings (z-scores, TPI). NHL game ids are ten digits (2024021015:
-- season year, type 02 = regular season, number), so ops.game_id fits.
-- No foreign keys between raw tables: payloads arrive in any order.

CREATE TABLE raw.nhl_games (
        game_id          ops.game_id PRIMARY KEY,
        game_date        date NOT NULL,                       -- Eastern date (gameDate)
        season           text NOT NULL CHECK (season ~ '^[0-9]{4}-[0-9]{2}$'),
        game_type        smallint NOT NULL CHECK (game_type >= 0), -- 1 preseason, 2 regular, 3 playoffs
        home_team_id     bigint NOT NULL,
        away_team_id     bigint NOT NULL,
        home_team_abbr   text,
        away_team_abbr   text,
        home_score       smallint CHECK (home_score >= 0),   -- NULL until the game has a score
        away_score       smallint CHECK (away_score >= 0),   -- a shootout win counts one goal
        game_state       text NOT NULL,                       -- FUT, PRE, LIVE, CRIT, FINAL, OFF
        last_period_type text CHECK (last_period_type IN ('REG', 'OT', 'SO')),
        start_time_utc   text,
        venue            text,
        source           text NOT NULL,
        payload_sha256   ops.sha256_hex NOT NULL,
        loaded_at        timestamptz NOT NULL DEFAULT now(),
        updated_at       timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT nhl_games_distinct_teams CHECK (home_team_id <> away_team_id),
        CONSTRAINT nhl_games_final_has_score CHECK (game_state NOT IN ('OFF', 'FINAL')
                OR (home_score IS NOT NULL AND away_score IS NOT NULL))
);
CREATE INDEX nhl_games_date_idx ON raw.nhl_games (game_date);
SELECT ops.add_replay_guard('raw.nhl_games');

-- Every play of the gamecenter play-by-play. Shot events (goal, shot-on-goal,
-- missed-shot, blocked-shot) carry the shooting team in event_owner_team_id.
-- player1/2/3 by type: goal scorer/assist1/assist2; shot shooter (blocked:
-- player2 = blocker); faceoff winner/loser; hit hitter/hittee; giveaway and
-- takeaway player; penalty committed by/drawn by.
CREATE TABLE raw.nhl_plays (
        game_id             ops.game_id NOT NULL,
        event_id            bigint NOT NULL,
        sort_order          integer,
        period              smallint NOT NULL CHECK (period >= 1),
        period_type         text CHECK (period_type IN ('REG', 'OT', 'SO')),
        time_in_period      text,
        situation_code      text CHECK (situation_code ~ '^[0-9]{4}$'),
        home_defending_side text CHECK (home_defending_side IN ('left', 'right')),
        type_code           integer,
        type_desc_key       text NOT NULL,
        event_owner_team_id bigint,
        x_coord             smallint,
        y_coord             smallint,
        zone_code           text,
        shot_type           text,
        player1_id          bigint,
        player2_id          bigint,
        player3_id          bigint,
        goalie_id           bigint,
        home_score          smallint,
        away_score          smallint,
        home_sog            smallint,
        away_sog            smallint,
        reason              text,
        penalty_minutes     smallint,
        source              text NOT NULL,
        payload_sha256      ops.sha256_hex NOT NULL,
        loaded_at           timestamptz NOT NULL DEFAULT now(),
        updated_at          timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (game_id, event_id)
);
CREATE INDEX nhl_plays_shots_idx ON raw.nhl_plays (game_id)
        WHERE type_desc_key IN ('goal', 'shot-on-goal', 'missed-shot', 'blocked-shot');
SELECT ops.add_replay_guard('raw.nhl_plays');

CREATE TABLE raw.nhl_game_rosters (
        game_id         ops.game_id NOT NULL,
        player_id       bigint NOT NULL,
        team_id         bigint NOT NULL,
        first_name      text,
        last_name       text NOT NULL,
        sweater_number  smallint,
        position        text,
        source          text NOT NULL,
        payload_sha256  ops.sha256_hex NOT NULL,
        loaded_at       timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (game_id, player_id)
);
SELECT ops.add_replay_guard('raw.nhl_game_rosters');

CREATE TABLE raw.nhl_skater_boxscores (
        game_id          ops.game_id NOT NULL,
        player_id        bigint NOT NULL,
        team_id          bigint NOT NULL,
        player_name      text NOT NULL,
        position         text,
        goals            smallint NOT NULL CHECK (goals >= 0),
        assists          smallint NOT NULL CHECK (assists >= 0),
        points           smallint CHECK (points >= 0),
        plus_minus       smallint,
        pim              smallint CHECK (pim >= 0),
        hits             smallint CHECK (hits >= 0),
        power_play_goals smallint CHECK (power_play_goals >= 0),
        sog              smallint NOT NULL CHECK (sog >= goals),
        faceoff_pct      numeric(7,6),
        toi_minutes      numeric(6,2) CHECK (toi_minutes >= 0),
        blocked_shots    smallint CHECK (blocked_shots >= 0),
        shifts           smallint CHECK (shifts >= 0),
        giveaways        smallint CHECK (giveaways >= 0),
        takeaways        smallint CHECK (takeaways >= 0),
        source           text NOT NULL,
        payload_sha256   ops.sha256_hex NOT NULL,
        loaded_at        timestamptz NOT NULL DEFAULT now(),
        updated_at       timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (game_id, player_id)
);
SELECT ops.add_replay_guard('raw.nhl_skater_boxscores');

CREATE TABLE raw.nhl_goalie_boxscores (
        game_id                     ops.game_id NOT NULL,
        player_id                   bigint NOT NULL,
        team_id                     bigint NOT NULL,
        player_name                 text NOT NULL,
        shots_against               smallint CHECK (shots_against >= 0),
        saves                       smallint CHECK (saves >= 0),
        goals_against               smallint CHECK (goals_against >= 0),
        save_pct                    numeric(7,6),
        even_strength_goals_against smallint,
        power_play_goals_against    smallint,
        shorthanded_goals_against   smallint,
        pim                         smallint,
        toi_minutes                 numeric(6,2) CHECK (toi_minutes >= 0),
        starter                     boolean,
        decision                    text CHECK (decision IN ('W', 'L', 'O')),
        source                      text NOT NULL,
        payload_sha256              ops.sha256_hex NOT NULL,
        loaded_at                   timestamptz NOT NULL DEFAULT now(),
        updated_at                  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (game_id, player_id)
);
SELECT ops.add_replay_guard('raw.nhl_goalie_boxscores');

-- One team's game: shot attempts for/against (all situations and 5v5) and
-- xG (sl_nhl_game_metrics), the final score. Written by analytics from
-- raw.nhl_plays + raw.nhl_games.
CREATE TABLE analytics.nhl_team_game_stats (
        game_id          ops.game_id NOT NULL,
        team_id          bigint NOT NULL,
        game_date        date NOT NULL,
        season           text NOT NULL CHECK (season ~ '^[0-9]{4}-[0-9]{2}$'),
        opponent_team_id bigint NOT NULL,
        is_home          boolean NOT NULL,
        goals_for        smallint NOT NULL CHECK (goals_for >= 0),
        goals_against    smallint NOT NULL CHECK (goals_against >= 0),
        shots_for        smallint NOT NULL CHECK (shots_for >= 0),     -- SOG + goals
        shots_against    smallint NOT NULL CHECK (shots_against >= 0),
        cf               smallint NOT NULL CHECK (cf >= 0),            -- Corsi for
        ca               smallint NOT NULL CHECK (ca >= 0),
        ff               smallint NOT NULL CHECK (ff >= 0 AND ff <= cf), -- Fenwick for
        fa               smallint NOT NULL CHECK (fa >= 0 AND fa <= ca),
        xgf              numeric(6,3) NOT NULL CHECK (xgf >= 0),
        xga              numeric(6,3) NOT NULL CHECK (xga >= 0),
        cf_5v5           smallint NOT NULL CHECK (cf_5v5 >= 0 AND cf_5v5 <= cf),
        ca_5v5           smallint NOT NULL CHECK (ca_5v5 >= 0 AND ca_5v5 <= ca),
        ff_5v5           smallint NOT NULL CHECK (ff_5v5 >= 0),
        fa_5v5           smallint NOT NULL CHECK (fa_5v5 >= 0),
        gf_5v5           smallint NOT NULL CHECK (gf_5v5 >= 0),
        ga_5v5           smallint NOT NULL CHECK (ga_5v5 >= 0),
        xgf_5v5          numeric(6,3) NOT NULL CHECK (xgf_5v5 >= 0),
        xga_5v5          numeric(6,3) NOT NULL CHECK (xga_5v5 >= 0),
        xg_model         text NOT NULL,                                -- model id (file or "builtin")
        source_hash      ops.sha256_hex,
        computed_at      timestamptz NOT NULL DEFAULT now(),
        updated_at       timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (game_id, team_id)
);
CREATE INDEX nhl_team_game_stats_team_idx ON analytics.nhl_team_game_stats (season, team_id, game_date);
SELECT ops.add_replay_guard('analytics.nhl_team_game_stats');

-- A team's sums over its season's games up to last_game_date (struct
-- sl_nhl_team_agg). Rewritten in the same transaction as the team game rows
-- it sums (seed 000 [P0-1]); last_game_id is the checkpoint ([P2-1]).
CREATE TABLE analytics.nhl_team_aggregates (
        season          text NOT NULL CHECK (season ~ '^[0-9]{4}-[0-9]{2}$'),
        team_id         bigint NOT NULL,
        games           smallint NOT NULL CHECK (games >= 0),
        last_game_id    ops.game_id,
        last_game_date  date,
        cf numeric(8,2) NOT NULL, ca numeric(8,2) NOT NULL, ff numeric(8,2) NOT NULL,
        fa numeric(8,2) NOT NULL, sf numeric(8,2) NOT NULL, sa numeric(8,2) NOT NULL,
        gf numeric(8,2) NOT NULL, ga numeric(8,2) NOT NULL,
        xgf numeric(8,3) NOT NULL, xga numeric(8,3) NOT NULL,
        cf_5v5 numeric(8,2) NOT NULL, ca_5v5 numeric(8,2) NOT NULL,
        ff_5v5 numeric(8,2) NOT NULL, fa_5v5 numeric(8,2) NOT NULL,
        gf_5v5 numeric(8,2) NOT NULL, ga_5v5 numeric(8,2) NOT NULL,
        xgf_5v5 numeric(8,3) NOT NULL, xga_5v5 numeric(8,3) NOT NULL,
        source_hash     ops.sha256_hex,
        computed_at     timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (season, team_id)
);
SELECT ops.add_replay_guard('analytics.nhl_team_aggregates');

-- League z-scores and TPI of every team as of a date (sl_nhl_ratings).
CREATE TABLE analytics.nhl_team_ratings (
        season          text NOT NULL CHECK (season ~ '^[0-9]{4}-[0-9]{2}$'),
        as_of_date      date NOT NULL,
        team_id         bigint NOT NULL,
        games           smallint NOT NULL CHECK (games > 0),
        xgf_pct_5v5     numeric(7,6) NOT NULL,
        cf_pct_5v5      numeric(7,6) NOT NULL,
        gf_pct          numeric(7,6) NOT NULL,
        sv_pct          numeric(7,6) NOT NULL,
        sh_pct          numeric(7,6) NOT NULL,
        z_xgf_pct_5v5   double precision NOT NULL,
        z_cf_pct_5v5    double precision NOT NULL,
        z_gf_pct        double precision NOT NULL,
        z_sv_pct        double precision NOT NULL,
        z_sh_pct        double precision NOT NULL,
        tpi             double precision NOT NULL,
        source_hash     ops.sha256_hex,
        computed_at     timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (season, as_of_date, team_id)
);
SELECT ops.add_replay_guard('analytics.nhl_team_ratings');
