-- 0023_precompute_inputs: the team game summaries join the change log
-- (0020), so statline-precompute can tell that the history before a date is
-- unchanged since it last computed the date's players: count + sum(seq) of
-- the log's rows of the three analytics game summaries dated before D
-- (services/precompute/sql.inc SQL_SLATE_INPUTS). A date's second whole
-- pass (after its prop lines moved the upcoming context, which precompute
-- reads only for the slate) and an injury update recomputed every row to
-- the same values (~60 ms a date; docs/performance.md, pass 5).
SELECT ops.add_change_log('analytics.team_offense_game_summary', 'game_date');
SELECT ops.add_change_log('analytics.team_defense_game_summary', 'game_date');
