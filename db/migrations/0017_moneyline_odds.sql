-- 0017_moneyline_odds: game moneyline odds (The Odds API v4 h2h, scraper
-- source "odds", raw kind "odds") and the Kelly-sized moneyline bets written
-- next to the prop bets (issue 8; docs/models.md "Odds" and "Kelly",
-- docs/parsers.md "odds", services/prediction/README.md "Kelly").

-- One row per game and bookmaker. The game is identified by its US date and
-- its two teams (a team plays at most once a day), so no lookup is needed at
-- load time; prediction joins it to prediction.game_win_probs on those.
-- Prices as quoted (odds_format american: integers; decimal: D > 1) plus
-- their decimal value.
CREATE TABLE raw.moneyline_odds (
        game_date       date NOT NULL,                    -- US date of commence_time (UTC - 6 h)
        home_team_id    bigint NOT NULL,
        away_team_id    bigint NOT NULL CHECK (away_team_id <> home_team_id),
        book            text NOT NULL CHECK (book ~ '^[a-z][a-z0-9_]{0,31}$'),
        event_id        text NOT NULL,                    -- The Odds API event id
        commence_time   timestamptz NOT NULL,
        odds_format     text NOT NULL CHECK (odds_format IN ('american', 'decimal')),
        home_price      numeric(9,3) NOT NULL,
        away_price      numeric(9,3) NOT NULL,
        home_decimal    numeric(10,6) NOT NULL CHECK (home_decimal > 1),
        away_decimal    numeric(10,6) NOT NULL CHECK (away_decimal > 1),
        last_update     timestamptz NOT NULL,
        source          text NOT NULL,
        payload_sha256  ops.sha256_hex NOT NULL,
        loaded_at       timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (game_date, home_team_id, away_team_id, book)
);
SELECT ops.add_replay_guard('raw.moneyline_odds');

-- One candidate moneyline bet per game: the side and book with the largest
-- edge of the shrunk model probability over the book's margin-free one.
-- stake 0 = not bet.
CREATE TABLE prediction.moneyline_bets (
        sport           text NOT NULL CHECK (sport ~ '^[a-z][a-z0-9_]{0,15}$'),
        game_id         ops.game_id NOT NULL,
        game_date       date NOT NULL,
        side            text NOT NULL CHECK (side IN ('HOME', 'AWAY')),
        team_id         bigint NOT NULL,
        book            text NOT NULL,
        price           integer NOT NULL CHECK (price <= -100 OR price >= 100), -- American
        decimal_odds    numeric(10,6) NOT NULL CHECK (decimal_odds > 1),
        p_elo           numeric(7,6) NOT NULL CHECK (p_elo BETWEEN 0 AND 1),   -- game_win_probs
        p_model         numeric(7,6) NOT NULL CHECK (p_model BETWEEN 0 AND 1), -- after shrinkage
        p_fair          numeric(7,6) NOT NULL CHECK (p_fair BETWEEN 0 AND 1),
        edge            numeric(7,6) NOT NULL,
        ev              numeric(8,6) NOT NULL,
        full_kelly      numeric(7,6) NOT NULL CHECK (full_kelly >= 0),
        stake           numeric(12,2) NOT NULL CHECK (stake >= 0),
        capped          text[] NOT NULL DEFAULT '{}',
        updated_at      timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (sport, game_id)
);
CREATE INDEX moneyline_bets_date_idx ON prediction.moneyline_bets (sport, game_date);
SELECT ops.add_replay_guard('prediction.moneyline_bets');

-- The portfolio row now covers props and moneylines sized as one slate.
ALTER TABLE prediction.kelly_portfolio
        ADD COLUMN n_moneyline     integer NOT NULL DEFAULT 0,        -- moneyline candidates
        ADD COLUMN moneyline_staked integer NOT NULL DEFAULT 0,
        ADD COLUMN moneyline_stake numeric(14,2) NOT NULL DEFAULT 0,
        ADD COLUMN min_edge        numeric(6,4) NOT NULL DEFAULT 0,
        ADD COLUMN market_weight   numeric(6,4) NOT NULL DEFAULT 0,    -- props
        ADD COLUMN moneyline_market_weight numeric(6,4) NOT NULL DEFAULT 0;
