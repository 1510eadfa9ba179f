/*
 * statline-publishing for the NHL (README.md, "NHL"): the games document of a
 * date, nhl/<date>/games.json, from raw.nhl_games and the prediction phase's
 * Game Outcome Index win probabilities (prediction.game_win_probs, model
 * 'goi:nhl', whose r_home/r_away are the teams' TPI). NHL has no player
 * props: no predictions.json or player documents.
 */
#include <errno.h>
#include <stdlib.h>

#include <libpq-fe.h>

#include <sl/err.h>
#include <sl/pg.h>
#include <sl/util.h>

#include "publishing.h"

/* One JSON array of the date's games ordered by game id (empty: "[]"). */
static const char NHL_GAMES_SQL[] =
    "SELECT coalesce(jsonb_agg(jsonb_build_object("
    "   'game_id', g.game_id, 'season', g.season, 'game_type', g.game_type,"
    "   'status', g.game_state, 'last_period_type', g.last_period_type,"
    "   'home_team_id', g.home_team_id, 'away_team_id', g.away_team_id,"
    "   'home_team_abbr', g.home_team_abbr, 'away_team_abbr', g.away_team_abbr,"
    "   'home_score', g.home_score, 'away_score', g.away_score,"
    "   'start_time', g.start_time_utc, 'venue', g.venue,"
    "   'win_prob', (SELECT jsonb_build_object('model', w.model, 'p_home', w.p_home,"
    "       'p_away', w.p_away, 'tpi_home', w.r_home, 'tpi_away', w.r_away)"
    "       FROM prediction.game_win_probs w WHERE w.sport = 'nhl' AND w.game_id = g.game_id))"
    "   ORDER BY g.game_id), '[]'::jsonb)::text"
    " FROM raw.nhl_games g WHERE g.game_date = $1::date";

int pub_nhl_games_json(struct sl_pg *pg, const char *date, char **json, char *errstr, size_t n)
{
        const char *params[] = {date};
        PGresult *res = NULL;
        int rc;

        *json = NULL;
        rc = sl_pg_exec(pg, NHL_GAMES_SQL, 1, params, &res, errstr, n);
        if (rc < 0)
                return rc;
        if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
                PQclear(res);
                return sl_errf(errstr, n, -EIO, "nhl games: no row from SQL");
        }
        *json = sl_xstrdup(PQgetvalue(res, 0, 0));
        PQclear(res);
        return 0;
}
