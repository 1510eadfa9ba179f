-- 0015_elo_kelly: Elo win probabilities and Kelly stakes written by the
-- prediction phase (issue 8; services/prediction/README.md "Elo" and "Kelly",
-- docs/models.md). Every run of a date rewrites the same values, which the
-- replay guard turns into no change at all.

-- Elo rating of each team entering a date: after every final game of
-- raw.games before as_of_date, replayed in date order (season carry-over
-- included). games = games the team has played in that replay.
CREATE TABLE prediction.elo_ratings (
        sport       text NOT NULL CHECK (sport ~ '^[a-z][a-z0-9_]{0,15}$'),
        team_id     bigint NOT NULL,
        as_of_date  date NOT NULL,
        rating      numeric(9,4) NOT NULL,
        games       integer NOT NULL CHECK (games >= 0),
        updated_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (sport, team_id, as_of_date)
);
CREATE INDEX elo_ratings_date_idx ON prediction.elo_ratings (sport, as_of_date);
SELECT ops.add_replay_guard('prediction.elo_ratings');

-- Pre-game win probabilities of each game of a date (home = team 1).
CREATE TABLE prediction.game_win_probs (
        sport        text NOT NULL CHECK (sport ~ '^[a-z][a-z0-9_]{0,15}$'),
        game_id      ops.game_id NOT NULL,
        game_date    date NOT NULL,
        home_team_id bigint NOT NULL,
        away_team_id bigint NOT NULL,
        r_home       numeric(9,4) NOT NULL,
        r_away       numeric(9,4) NOT NULL,
        p_home       numeric(7,6) NOT NULL CHECK (p_home BETWEEN 0 AND 1),
        p_away       numeric(7,6) NOT NULL CHECK (p_away BETWEEN 0 AND 1),
        model        text NOT NULL,                       -- "elo:nba"
        updated_at   timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (sport, game_id)
);
CREATE INDEX game_win_probs_date_idx ON prediction.game_win_probs (sport, game_date);
SELECT ops.add_replay_guard('prediction.game_win_probs');

-- One candidate bet per player, date and market: the side (OVER/UNDER) and
-- book with the largest edge of the ensemble's P(side) over the book's
-- margin-free probability. stake 0 = not bet (no edge, or below min_edge).
CREATE TABLE prediction.prop_bets (
        game_date       date NOT NULL,
        player_id       bigint NOT NULL,
        market          text NOT NULL CHECK (market ~ '^[a-z][a-z0-9_]{0,31}$'),
        sport           text NOT NULL CHECK (sport ~ '^[a-z][a-z0-9_]{0,15}$'),
        game_id         ops.game_id,
        book            text NOT NULL,
        side            text NOT NULL CHECK (side IN ('OVER', 'UNDER')),
        line            numeric(5,1) NOT NULL,
        price           integer NOT NULL CHECK (price <= -100 OR price >= 100), -- American
        predicted_value numeric(6,2) NOT NULL,            -- ensemble_v1
        sd              numeric(6,3) NOT NULL CHECK (sd > 0), -- spread of the normal model
        p_model         numeric(7,6) NOT NULL CHECK (p_model BETWEEN 0 AND 1),
        p_fair          numeric(7,6) NOT NULL CHECK (p_fair BETWEEN 0 AND 1),
        edge            numeric(7,6) NOT NULL,
        ev              numeric(8,6) NOT NULL,            -- expected profit per unit staked
        full_kelly      numeric(7,6) NOT NULL CHECK (full_kelly >= 0),
        stake           numeric(12,2) NOT NULL CHECK (stake >= 0),
        capped          text[] NOT NULL DEFAULT '{}',     -- bet, day, portfolio
        updated_at      timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (game_date, player_id, market)
);
SELECT ops.add_replay_guard('prediction.prop_bets');

-- The date's slate as sized by sl_kelly_size (one row per sport and date).
CREATE TABLE prediction.kelly_portfolio (
        sport           text NOT NULL CHECK (sport ~ '^[a-z][a-z0-9_]{0,15}$'),
        game_date       date NOT NULL,
        bankroll        numeric(14,2) NOT NULL CHECK (bankroll > 0),
        fraction        numeric(6,4) NOT NULL,
        n_bets          integer NOT NULL CHECK (n_bets >= 0),  -- candidates
        n_staked        integer NOT NULL CHECK (n_staked >= 0),
        total_stake     numeric(14,2) NOT NULL,
        expected_profit numeric(14,2) NOT NULL,
        scale_day       numeric(8,6) NOT NULL,
        scale_portfolio numeric(8,6) NOT NULL,
        caps_bet        integer NOT NULL,                 -- bets cut to max_bet
        open_exposure   numeric(14,2) NOT NULL,           -- after this slate
        updated_at      timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (sport, game_date)
);
SELECT ops.add_replay_guard('prediction.kelly_portfolio');
