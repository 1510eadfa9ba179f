-- 0009_precompute_features: what statline-precompute (services/precompute)
-- needs beyond 0004. Only additions: new nullable columns, a helper function,
-- and wider CHECKs for the shot "zones" our data can actually give.
--
-- Zones: our box scores split shots into 2-point field goals, 3-point field
-- goals and free throws, not court zones. So the zone tables get 2PT / 3PT /
-- FT rates and percentages; paint_* and mid_range_* stay NULL (there is no
-- source that separates them), three_pt_* is filled, and 'two_pt' becomes a
-- valid primary / weakest zone. docs: services/precompute/README.md.

-- The NBA season a date belongs to ("2024-25" for 2025-01-10 and 2024-10-22):
-- seasons start in the autumn, so August..December belong to the season
-- starting that year. The same text form as analytics.*.season.
CREATE FUNCTION precompute.season_of(d date) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
        SELECT CASE WHEN extract(month FROM d) >= 8
                    THEN to_char(d, 'YYYY') || '-' || to_char((extract(year FROM d)::int + 1) % 100, 'FM00')
                    ELSE (extract(year FROM d)::int - 1)::text || '-' || to_char(d, 'YY')
               END
$$;

-- Rolling form: the 5 / 10 / season windows for every stat the brief names,
-- and the rest since the previous game. All strictly before cache_date.
ALTER TABLE precompute.player_daily_cache
        ADD COLUMN reb_avg_last_5        numeric(5,2),
        ADD COLUMN reb_avg_season        numeric(5,2),
        ADD COLUMN ast_avg_last_5        numeric(5,2),
        ADD COLUMN ast_avg_season        numeric(5,2),
        ADD COLUMN minutes_avg_last_5    numeric(5,2),
        ADD COLUMN minutes_avg_season    numeric(5,2),
        ADD COLUMN usage_avg_last_5      numeric(5,4),
        ADD COLUMN usage_avg_season      numeric(5,4),
        ADD COLUMN games_played_total    integer CHECK (games_played_total >= 0),
        ADD COLUMN last_game_date        date,
        ADD COLUMN days_since_last_game  integer CHECK (days_since_last_game >= 1),
        ADD CONSTRAINT player_daily_cache_no_leak CHECK (last_game_date IS NULL OR last_game_date < cache_date);

-- Form (last 5 vs season, points) and the rest facts behind the fatigue score.
ALTER TABLE precompute.player_composite_factors
        ADD COLUMN form_score   numeric(6,3),
        ADD COLUMN days_rest    integer CHECK (days_rest >= 0),
        ADD COLUMN back_to_back boolean;

ALTER TABLE precompute.player_shot_zone_analysis
        ADD COLUMN two_pt_rate   numeric(4,3) CHECK (two_pt_rate BETWEEN 0 AND 1),  -- 2PA / FGA
        ADD COLUMN two_pt_pct    numeric(4,3) CHECK (two_pt_pct BETWEEN 0 AND 1),   -- 2PM / 2PA
        ADD COLUMN ft_rate       numeric(5,3) CHECK (ft_rate >= 0),                 -- FTA / FGA (can exceed 1)
        ADD COLUMN ft_pct        numeric(4,3) CHECK (ft_pct BETWEEN 0 AND 1),       -- FTM / FTA
        ADD COLUMN fga_per_game  numeric(5,2) CHECK (fga_per_game >= 0),
        DROP CONSTRAINT player_shot_zone_analysis_primary_zone_check,
        ADD CONSTRAINT player_shot_zone_analysis_primary_zone_check
                CHECK (primary_zone IN ('paint', 'mid_range', 'three', 'two_pt'));

ALTER TABLE precompute.team_defense_zone_analysis
        ADD COLUMN two_pt_pct_allowed    numeric(4,3) CHECK (two_pt_pct_allowed BETWEEN 0 AND 1),
        ADD COLUMN three_pt_rate_allowed numeric(4,3) CHECK (three_pt_rate_allowed BETWEEN 0 AND 1),
        ADD COLUMN ft_rate_allowed       numeric(5,3) CHECK (ft_rate_allowed >= 0),
        ADD COLUMN opp_pts_avg           numeric(5,2),
        DROP CONSTRAINT team_defense_zone_analysis_weakest_zone_check,
        ADD CONSTRAINT team_defense_zone_analysis_weakest_zone_check
                CHECK (weakest_zone IN ('paint', 'mid_range', 'three', 'two_pt'));
