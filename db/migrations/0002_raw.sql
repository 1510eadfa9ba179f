-- 0002_raw: phase 2 landing tables. One row per source fact, keyed by the
-- league's own ids, so loading the same payload twice upserts the same rows.
-- The columns follow the raw parsers' output (docs/parsers.md, "Output
-- tables"); each table adds provenance: source (<provider>.<endpoint>) and
-- payload_sha256 (the blob in the content-addressed store), set by the
-- loader, so a row can always be traced to and reloaded from its payload.
-- Ids: game ids are text (leading zeros), player and team ids bigint (team
-- ids exceed int4). Seasons are text "2018-19" (derived from the game id).
-- Stats are NULL when a player did not play; plus_minus is a decimal (the
-- game finder sends 1.4). Box scores and play-by-play carry no date: the date
-- of a game is raw.games.game_date.
-- No foreign keys between raw tables: payloads arrive in any order (a box
-- score can land before its scoreboard); analytics joins and checks.

CREATE TABLE raw.games (
        game_id         ops.game_id PRIMARY KEY,
        game_date       date NOT NULL,
        season          text NOT NULL CHECK (season ~ '^[0-9]{4}-[0-9]{2}$'),
        league          text NOT NULL DEFAULT '00' CHECK (league ~ '^[0-9]{2}$'), -- 00 NBA, 10 WNBA, 20 G League
        home_team_id    bigint NOT NULL,
        away_team_id    bigint NOT NULL,
        home_team_abbr  text,
        away_team_abbr  text,
        home_pts        smallint CHECK (home_pts >= 0),   -- NULL until the game has a score
        away_pts        smallint CHECK (away_pts >= 0),
        status          text NOT NULL CHECK (status IN ('scheduled', 'live', 'final', 'postponed', 'cancelled')),
        source          text NOT NULL,
        payload_sha256  ops.sha256_hex NOT NULL,
        loaded_at       timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT games_distinct_teams CHECK (home_team_id <> away_team_id),
        CONSTRAINT games_final_has_score CHECK (status <> 'final' OR (home_pts IS NOT NULL AND away_pts IS NOT NULL))
);
CREATE INDEX games_date_idx ON raw.games (game_date);
SELECT ops.add_replay_guard('raw.games');

-- Box score lines (traditional box scores v2/v3, and player game logs).
-- The stat checks hold for every real payload we have (2,460 team games of
-- 2018-19, the v2 and v3 box scores); a row that breaks them is corrupt and
-- fails the whole load (-EBADMSG, dead-lettered).
CREATE TABLE raw.player_boxscores (
        game_id         ops.game_id NOT NULL,
        player_id       bigint NOT NULL,
        team_id         bigint NOT NULL,
        player_name     text NOT NULL,
        starter         boolean,                          -- NULL when the source does not say (game logs)
        minutes         numeric(5,2) CHECK (minutes >= 0), -- minutes played, 30:49 -> 30.82
        pts             smallint CHECK (pts >= 0),
        reb             smallint CHECK (reb >= 0),
        oreb            smallint CHECK (oreb >= 0),
        dreb            smallint CHECK (dreb >= 0),
        ast             smallint CHECK (ast >= 0),
        stl             smallint CHECK (stl >= 0),
        blk             smallint CHECK (blk >= 0),
        tov             smallint CHECK (tov >= 0),
        pf              smallint CHECK (pf >= 0),
        fgm             smallint CHECK (fgm >= 0),
        fga             smallint CHECK (fga >= 0),
        fg3m            smallint CHECK (fg3m >= 0),
        fg3a            smallint CHECK (fg3a >= 0),
        ftm             smallint CHECK (ftm >= 0),
        fta             smallint CHECK (fta >= 0),
        plus_minus      numeric(6,1),
        source          text NOT NULL,
        payload_sha256  ops.sha256_hex NOT NULL,
        loaded_at       timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (game_id, player_id),
        CONSTRAINT player_boxscores_made_le_attempted
                CHECK (fgm <= fga AND fg3m <= fg3a AND ftm <= fta AND fg3m <= fgm AND fg3a <= fga),
        CONSTRAINT player_boxscores_reb_sum CHECK (reb = oreb + dreb),
        CONSTRAINT player_boxscores_pts_sum CHECK (pts = 2 * fgm + fg3m + ftm)
);
CREATE INDEX player_boxscores_player_idx ON raw.player_boxscores (player_id);
CREATE INDEX player_boxscores_team_idx ON raw.player_boxscores (team_id);
SELECT ops.add_replay_guard('raw.player_boxscores');

CREATE TABLE raw.team_boxscores (
        game_id         ops.game_id NOT NULL,
        team_id         bigint NOT NULL,
        team_abbr       text NOT NULL,
        minutes         numeric(5,2) CHECK (minutes >= 0), -- team minutes: 240, 265 with one OT
        pts             smallint CHECK (pts >= 0),
        reb             smallint CHECK (reb >= 0),
        oreb            smallint CHECK (oreb >= 0),
        dreb            smallint CHECK (dreb >= 0),
        ast             smallint CHECK (ast >= 0),
        stl             smallint CHECK (stl >= 0),
        blk             smallint CHECK (blk >= 0),
        tov             smallint CHECK (tov >= 0),
        pf              smallint CHECK (pf >= 0),
        fgm             smallint CHECK (fgm >= 0),
        fga             smallint CHECK (fga >= 0),
        fg3m            smallint CHECK (fg3m >= 0),
        fg3a            smallint CHECK (fg3a >= 0),
        ftm             smallint CHECK (ftm >= 0),
        fta             smallint CHECK (fta >= 0),
        plus_minus      numeric(6,1),
        source          text NOT NULL,
        payload_sha256  ops.sha256_hex NOT NULL,
        loaded_at       timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (game_id, team_id),
        CONSTRAINT team_boxscores_made_le_attempted
                CHECK (fgm <= fga AND fg3m <= fg3a AND ftm <= fta AND fg3m <= fgm AND fg3a <= fga),
        CONSTRAINT team_boxscores_reb_sum CHECK (reb = oreb + dreb),
        CONSTRAINT team_boxscores_pts_sum CHECK (pts = 2 * fgm + fg3m + ftm)
);
CREATE INDEX team_boxscores_team_idx ON raw.team_boxscores (team_id);
SELECT ops.add_replay_guard('raw.team_boxscores');

-- Games as announced by scoreboards / schedules (upcoming and past).
CREATE TABLE raw.schedule (
        game_id         ops.game_id PRIMARY KEY,
        game_date       date NOT NULL,
        season          text CHECK (season ~ '^[0-9]{4}-[0-9]{2}$'),
        home_team_id    bigint NOT NULL,
        away_team_id    bigint NOT NULL,
        home_team_abbr  text,
        away_team_abbr  text,
        start_time      timestamptz,                      -- tip-off, when known
        arena           text,
        status          text NOT NULL CHECK (status IN ('scheduled', 'live', 'final', 'postponed', 'cancelled')),
        source          text NOT NULL,
        payload_sha256  ops.sha256_hex NOT NULL,
        loaded_at       timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT schedule_distinct_teams CHECK (home_team_id <> away_team_id)
);
CREATE INDEX schedule_date_idx ON raw.schedule (game_date);
SELECT ops.add_replay_guard('raw.schedule');

-- Injury report: a player's latest status on a report date, in the NBA's
-- own words (Out, Questionable, ...). A later report of the same day updates
-- the row, and only that player's row: that is what drives a single-player
-- recompute downstream.
CREATE TABLE raw.injuries (
        report_date     date NOT NULL,
        player_id       bigint NOT NULL,
        team_id         bigint NOT NULL,
        player_name     text NOT NULL,
        status          text NOT NULL CHECK (status IN ('Out', 'Doubtful', 'Questionable', 'Probable', 'Available')),
        reason          text,
        game_id         ops.game_id,                      -- the game the report is for, when given
        reported_at     timestamptz,                      -- time of the report, when given
        source          text NOT NULL,
        payload_sha256  ops.sha256_hex NOT NULL,
        loaded_at       timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (report_date, player_id)
);
CREATE INDEX injuries_player_idx ON raw.injuries (player_id, report_date);
SELECT ops.add_replay_guard('raw.injuries');

-- Player prop lines: one line per player, market and book on a game date.
-- Prices are American odds (-110, 150).
CREATE TABLE raw.prop_lines (
        game_date       date NOT NULL,
        player_id       bigint NOT NULL,
        market          text NOT NULL CHECK (market ~ '^[a-z][a-z0-9_]{0,31}$'), -- points, rebounds, assists
        book            text NOT NULL CHECK (book <> ''),
        player_name     text,
        line            numeric(5,1) NOT NULL CHECK (line >= 0),
        over_price      integer CHECK (over_price <= -100 OR over_price >= 100),
        under_price     integer CHECK (under_price <= -100 OR under_price >= 100),
        game_id         ops.game_id,
        team_id         bigint,
        source          text NOT NULL,
        payload_sha256  ops.sha256_hex NOT NULL,
        loaded_at       timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (game_date, player_id, market, book)
);
CREATE INDEX prop_lines_player_idx ON raw.prop_lines (player_id, game_date);
SELECT ops.add_replay_guard('raw.prop_lines');

-- stats.nba.com leaguegamelog / leaguegamefinder (PlayerOrTeam=T): one row per
-- team per game (1,230 games = 2,460 rows a season).
CREATE TABLE raw.league_game_log (
        game_id         ops.game_id NOT NULL,
        team_id         bigint NOT NULL,
        game_date       date NOT NULL,
        season          text NOT NULL CHECK (season ~ '^[0-9]{4}-[0-9]{2}$'),
        matchup         text NOT NULL,                    -- "DEN vs. MIN" (home), "MIN @ DEN" (away)
        wl              char(1) CHECK (wl IN ('W', 'L')),
        pts             smallint CHECK (pts >= 0),
        fgm             smallint CHECK (fgm >= 0),
        fga             smallint CHECK (fga >= 0),
        fg3m            smallint CHECK (fg3m >= 0),
        fg3a            smallint CHECK (fg3a >= 0),
        ftm             smallint CHECK (ftm >= 0),
        fta             smallint CHECK (fta >= 0),
        oreb            smallint CHECK (oreb >= 0),
        dreb            smallint CHECK (dreb >= 0),
        reb             smallint CHECK (reb >= 0),
        ast             smallint CHECK (ast >= 0),
        stl             smallint CHECK (stl >= 0),
        blk             smallint CHECK (blk >= 0),
        tov             smallint CHECK (tov >= 0),
        pf              smallint CHECK (pf >= 0),
        plus_minus      numeric(6,1),
        team_abbr       text,
        source          text NOT NULL,
        payload_sha256  ops.sha256_hex NOT NULL,
        loaded_at       timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (game_id, team_id),
        CONSTRAINT league_game_log_made_le_attempted
                CHECK (fgm <= fga AND fg3m <= fg3a AND ftm <= fta AND fg3m <= fgm AND fg3a <= fga),
        CONSTRAINT league_game_log_pts_sum CHECK (pts = 2 * fgm + fg3m + ftm),
        CONSTRAINT league_game_log_reb_sum CHECK (reb = oreb + dreb)
);
CREATE INDEX league_game_log_date_idx ON raw.league_game_log (game_date);
CREATE INDEX league_game_log_team_idx ON raw.league_game_log (team_id, game_date);
SELECT ops.add_replay_guard('raw.league_game_log');

-- Play-by-play events (playbyplayv2). Player ids are NULL where the feed has
-- no person (0) or a team (PERSONnTYPE 2/3). SCORE "visitor - home" is split
-- into the two scores, NULL on events without a score change.
CREATE TABLE raw.play_by_play (
        game_id         ops.game_id NOT NULL,
        event_num       integer NOT NULL CHECK (event_num >= 0),
        period          smallint NOT NULL CHECK (period BETWEEN 1 AND 14),
        clock           text,                             -- game clock "11:38"
        event_type      smallint NOT NULL,                -- EVENTMSGTYPE: 1 made shot, 2 miss, 3 free throw, ...
        action_type     smallint,                         -- EVENTMSGACTIONTYPE
        player1_id      bigint,
        player2_id      bigint,
        player3_id      bigint,
        score_home      smallint CHECK (score_home >= 0),
        score_away      smallint CHECK (score_away >= 0),
        description     text,                             -- home | neutral | visitor texts
        source          text NOT NULL,
        payload_sha256  ops.sha256_hex NOT NULL,
        loaded_at       timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (game_id, event_num)
);
CREATE INDEX play_by_play_player1_idx ON raw.play_by_play (player1_id) WHERE player1_id IS NOT NULL;
SELECT ops.add_replay_guard('raw.play_by_play');
