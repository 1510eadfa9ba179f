-- 0022_opponent_index: what a team allowed is read by opponent and date.
--
-- zone_matchup_v1 sums the box scores of the players who faced each
-- target's opponent in the 60 days before the date (services/prediction,
-- SQL_ZONE); with only (game_date) to go on, a one-player injury update
-- read ~10,000 rows of the window to keep the ~330 against that opponent
-- (1.3 ms of a ~25 ms run; docs/performance.md, pass 5).
CREATE INDEX player_game_summary_opp_date_idx
        ON analytics.player_game_summary (opponent_team_id, game_date);
