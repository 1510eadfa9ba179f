-- 0013_prediction_status: an injured player's prediction (issue 4).
--
-- prediction.player_prop_predictions.player_status is the injury status the
-- prediction was made with (analytics.upcoming_player_game_context of the
-- date: 'Out', 'Doubtful', 'Questionable', 'Probable', 'Available'; NULL: no
-- report in the 7 days up to the date). A player who is Out gets the
-- recommendation NO_BET (confidence 0), whether or not a line is offered; the
-- value each system predicted is kept. When the player is back, the next run
-- writes the usual OVER/UNDER/PASS again.
ALTER TABLE prediction.player_prop_predictions
        ADD COLUMN player_status text
        CHECK (player_status IN ('Out', 'Doubtful', 'Questionable', 'Probable', 'Available'));
ALTER TABLE prediction.player_prop_predictions
        DROP CONSTRAINT player_prop_predictions_recommendation_check;
ALTER TABLE prediction.player_prop_predictions
        ADD CONSTRAINT player_prop_predictions_recommendation_check
        CHECK (recommendation IN ('OVER', 'UNDER', 'PASS', 'NO_BET'));
ALTER TABLE prediction.player_prop_predictions
        DROP CONSTRAINT player_prop_predictions_line_needed;
ALTER TABLE prediction.player_prop_predictions
        ADD CONSTRAINT player_prop_predictions_line_needed
        CHECK (line IS NOT NULL OR recommendation IN ('PASS', 'NO_BET'));
ALTER TABLE prediction.player_prop_predictions
        ADD CONSTRAINT player_prop_predictions_no_bet_when_out
        CHECK ((player_status IS NOT DISTINCT FROM 'Out') = (recommendation = 'NO_BET'));

-- Entity-scoped runs look up one date's error rows ("scored already?").
CREATE INDEX system_errors_as_of_idx ON prediction.system_errors (as_of_date);
