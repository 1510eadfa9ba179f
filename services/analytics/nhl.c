/*
 * The NHL analytics processors (docs/models-nhl.md, libmodels sl/nhl.h):
 *
 *   nhl_team_game_stats   raw.nhl_plays + raw.nhl_games of the final games
 *                         in scope -> sl_nhl_game_metrics() (built-in xG
 *                         model) -> analytics.nhl_team_game_stats, two rows
 *                         per game;
 *   nhl_team_aggregates   every analytics.nhl_team_game_stats row of the
 *                         (season, team) pairs of those games, summed with
 *                         sl_nhl_agg_add() -> analytics.nhl_team_aggregates.
 *
 * They are C processors (struct analytics_processor.run): the metrics are
 * computed here, then written with one INSERT ... SELECT FROM
 * jsonb_to_recordset($1) ... ON CONFLICT DO UPDATE whose RETURNING has the
 * shape of the SQL processors' (inserted?, game, player, team). Both run in
 * the handler's one transaction, game stats first (registry order), so the
 * aggregates sum the rows just written (seed 000 [P0-1]). The replay guard
 * on both targets skips updates that change nothing: a replay returns no
 * row. computed_at is never updated (it would defeat the guard).
 *
 * Scope parameters as for every processor: $1 date, $2 game ids, $4 team
 * ids (a game is in scope when either side is named); $3 (players) does not
 * narrow team rows.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include <sl/err.h>
#include <sl/nhl.h>
#include <sl/pg.h>
#include <sl/util.h>

#include "analytics.h"

/* Final games of the scope with their plays, in play order. */
static const char sql_plays[] =
    "SELECT g.game_id::text, g.home_team_id, g.away_team_id, p.type_desc_key, p.period, "
    "p.period_type, p.event_owner_team_id, p.x_coord, p.y_coord, p.shot_type, "
    "p.situation_code, p.home_defending_side, g.game_date::text, g.season "
    "FROM raw.nhl_games g JOIN raw.nhl_plays p USING (game_id) "
    "WHERE ($1::date IS NULL OR g.game_date = $1::date) "
    "AND ($2::text[] IS NULL OR g.game_id = ANY($2::text[])) "
    "AND ($3::bigint[] IS NULL OR g.home_team_id = ANY($3::bigint[]) "
    "OR g.away_team_id = ANY($3::bigint[])) "
    "AND g.game_state IN ('OFF', 'FINAL') "
    "ORDER BY g.game_id, p.period, p.sort_order NULLS LAST, p.event_id";

#define HASH_ROW(r) "encode(sha256(convert_to(ROW(" r ")::text, 'UTF8')), 'hex')"

static const char sql_upsert_games[] =
    "INSERT INTO analytics.nhl_team_game_stats AS t (game_id, team_id, game_date, season, "
    "opponent_team_id, is_home, goals_for, goals_against, shots_for, shots_against, cf, ca, ff, "
    "fa, xgf, xga, cf_5v5, ca_5v5, ff_5v5, fa_5v5, gf_5v5, ga_5v5, xgf_5v5, xga_5v5, xg_model, "
    "source_hash) "
    "SELECT r.game_id, r.team_id, r.game_date, r.season, r.opp, r.is_home, r.gf, r.ga, r.sf, "
    "r.sa, r.cf, r.ca, r.ff, r.fa, round(r.xgf, 3), round(r.xga, 3), r.cf5, r.ca5, r.ff5, r.fa5, "
    "r.gf5, r.ga5, round(r.xgf5, 3), round(r.xga5, 3), 'builtin', " HASH_ROW(
        "r.game_date, r.season, r.opp, r.is_home, r.gf, r.ga, r.sf, r.sa, r.cf, r.ca, r.ff, r.fa, "
        "round(r.xgf, 3), round(r.xga, 3), r.cf5, r.ca5, r.ff5, r.fa5, r.gf5, r.ga5, "
        "round(r.xgf5, 3), round(r.xga5, 3)") " "
                                              "FROM jsonb_to_recordset($1::jsonb) AS r(game_id "
                                              "text, team_id bigint, game_date date, "
                                              "season text, opp bigint, is_home boolean, gf int, "
                                              "ga int, sf int, sa int, cf int, ca int, "
                                              "ff int, fa int, xgf numeric, xga numeric, cf5 int, "
                                              "ca5 int, ff5 int, fa5 int, gf5 int, "
                                              "ga5 int, xgf5 numeric, xga5 numeric) "
                                              "ON CONFLICT (game_id, team_id) DO UPDATE SET "
                                              "game_date = EXCLUDED.game_date, "
                                              "season = EXCLUDED.season, opponent_team_id = "
                                              "EXCLUDED.opponent_team_id, "
                                              "is_home = EXCLUDED.is_home, goals_for = "
                                              "EXCLUDED.goals_for, "
                                              "goals_against = EXCLUDED.goals_against, shots_for = "
                                              "EXCLUDED.shots_for, "
                                              "shots_against = EXCLUDED.shots_against, cf = "
                                              "EXCLUDED.cf, ca = EXCLUDED.ca, "
                                              "ff = EXCLUDED.ff, fa = EXCLUDED.fa, xgf = "
                                              "EXCLUDED.xgf, xga = EXCLUDED.xga, "
                                              "cf_5v5 = EXCLUDED.cf_5v5, ca_5v5 = EXCLUDED.ca_5v5, "
                                              "ff_5v5 = EXCLUDED.ff_5v5, "
                                              "fa_5v5 = EXCLUDED.fa_5v5, gf_5v5 = EXCLUDED.gf_5v5, "
                                              "ga_5v5 = EXCLUDED.ga_5v5, "
                                              "xgf_5v5 = EXCLUDED.xgf_5v5, xga_5v5 = "
                                              "EXCLUDED.xga_5v5, xg_model = EXCLUDED.xg_model, "
                                              "source_hash = EXCLUDED.source_hash "
                                              "RETURNING (xmax = 0), game_id::text, NULL::text, "
                                              "team_id::text";

/* Every game row of the (season, team) pairs of the scope's games, in date order. */
static const char sql_team_games[] =
    "WITH sc AS (SELECT DISTINCT g.season, t.team_id FROM raw.nhl_games g "
    "CROSS JOIN LATERAL (VALUES (g.home_team_id), (g.away_team_id)) t(team_id) "
    "WHERE ($1::date IS NULL OR g.game_date = $1::date) "
    "AND ($2::text[] IS NULL OR g.game_id = ANY($2::text[])) "
    "AND ($3::bigint[] IS NULL OR t.team_id = ANY($3::bigint[]))) "
    "SELECT s.season, s.team_id, s.game_id::text, s.game_date::text, s.cf, s.ca, s.ff, s.fa, "
    "s.shots_for, s.shots_against, s.goals_for, s.goals_against, s.xgf, s.xga, s.cf_5v5, "
    "s.ca_5v5, s.ff_5v5, s.fa_5v5, s.gf_5v5, s.ga_5v5, s.xgf_5v5, s.xga_5v5 "
    "FROM analytics.nhl_team_game_stats s JOIN sc ON sc.season = s.season "
    "AND sc.team_id = s.team_id "
    "ORDER BY s.season, s.team_id, s.game_date, s.game_id";

static const char sql_upsert_aggs[] =
    "INSERT INTO analytics.nhl_team_aggregates AS t (season, team_id, games, last_game_id, "
    "last_game_date, cf, ca, ff, fa, sf, sa, gf, ga, xgf, xga, cf_5v5, ca_5v5, ff_5v5, fa_5v5, "
    "gf_5v5, ga_5v5, xgf_5v5, xga_5v5, source_hash) "
    "SELECT r.season, r.team_id, r.games, r.last_game_id, r.last_game_date, r.cf, r.ca, r.ff, "
    "r.fa, r.sf, r.sa, r.gf, r.ga, round(r.xgf, 3), round(r.xga, 3), r.cf5, r.ca5, r.ff5, r.fa5, "
    "r.gf5, r.ga5, round(r.xgf5, 3), round(r.xga5, 3), " HASH_ROW(
        "r.games, r.last_game_id, r.last_game_date, r.cf, r.ca, r.ff, r.fa, r.sf, r.sa, r.gf, "
        "r.ga, round(r.xgf, 3), round(r.xga, 3), r.cf5, r.ca5, r.ff5, r.fa5, r.gf5, r.ga5, "
        "round(r.xgf5, 3), round(r.xga5, 3)") " "
                                              "FROM jsonb_to_recordset($1::jsonb) AS r(season "
                                              "text, team_id bigint, games int, "
                                              "last_game_id text, last_game_date date, cf numeric, "
                                              "ca numeric, ff numeric, fa numeric, "
                                              "sf numeric, sa numeric, gf numeric, ga numeric, xgf "
                                              "numeric, xga numeric, cf5 numeric, "
                                              "ca5 numeric, ff5 numeric, fa5 numeric, gf5 numeric, "
                                              "ga5 numeric, xgf5 numeric, "
                                              "xga5 numeric) "
                                              "ON CONFLICT (season, team_id) DO UPDATE SET games = "
                                              "EXCLUDED.games, "
                                              "last_game_id = EXCLUDED.last_game_id, "
                                              "last_game_date = EXCLUDED.last_game_date, "
                                              "cf = EXCLUDED.cf, ca = EXCLUDED.ca, ff = "
                                              "EXCLUDED.ff, fa = EXCLUDED.fa, sf = EXCLUDED.sf, "
                                              "sa = EXCLUDED.sa, gf = EXCLUDED.gf, ga = "
                                              "EXCLUDED.ga, xgf = EXCLUDED.xgf, "
                                              "xga = EXCLUDED.xga, cf_5v5 = EXCLUDED.cf_5v5, "
                                              "ca_5v5 = EXCLUDED.ca_5v5, "
                                              "ff_5v5 = EXCLUDED.ff_5v5, fa_5v5 = EXCLUDED.fa_5v5, "
                                              "gf_5v5 = EXCLUDED.gf_5v5, "
                                              "ga_5v5 = EXCLUDED.ga_5v5, xgf_5v5 = "
                                              "EXCLUDED.xgf_5v5, xga_5v5 = EXCLUDED.xga_5v5, "
                                              "source_hash = EXCLUDED.source_hash "
                                              "RETURNING (xmax = 0), last_game_id::text, "
                                              "NULL::text, team_id::text";

/* The scope parameters of the NHL queries: date, game ids, team ids. */
static void scope(const char *const params[4], const char *out[3])
{
        out[0] = params[0];
        out[1] = params[1];
        out[2] = params[3];
}

static int64_t col_i64(const PGresult *res, int row, int col)
{
        return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static double col_f(const PGresult *res, int row, int col)
{
        return PQgetisnull(res, row, col) ? 0 : strtod(PQgetvalue(res, row, col), NULL);
}

/* Row r of sql_plays as a play. */
static void read_play(const PGresult *res, int r, struct sl_nhl_play *p)
{
        memset(p, 0, sizeof(*p));
        p->event = sl_nhl_event_from_key(PQgetvalue(res, r, 3));
        p->period = (int)col_i64(res, r, 4);
        p->shootout = strcmp(PQgetvalue(res, r, 5), "SO") == 0;
        p->team_id = col_i64(res, r, 6);
        p->has_xy = !PQgetisnull(res, r, 7) && !PQgetisnull(res, r, 8);
        p->x = col_f(res, r, 7);
        p->y = col_f(res, r, 8);
        p->shot_type =
            sl_nhl_shot_type_from_key(PQgetisnull(res, r, 9) ? NULL : PQgetvalue(res, r, 9));
        snprintf(p->situation, sizeof(p->situation), "%s", PQgetvalue(res, r, 10));
        p->home_def_right = PQgetisnull(res, r, 11)                        ? -1
                            : strcmp(PQgetvalue(res, r, 11), "right") == 0 ? 1
                                                                           : 0;
}

/* One team's game as a jsonb_to_recordset object. */
static void game_json(struct sl_buf *b, const char *game_id, const char *date, const char *season,
                      const struct sl_nhl_team_game *t, int64_t opp)
{
        const struct sl_nhl_counts *f = &t->all_for, *a = &t->all_against;
        const struct sl_nhl_counts *f5 = &t->ev_for, *a5 = &t->ev_against;

        sl_buf_puts(b, b->len > 1 ? ",{\"game_id\":" : "{\"game_id\":");
        sl_buf_json_str(b, game_id);
        sl_buf_puts(b, ",\"game_date\":");
        sl_buf_json_str(b, date);
        sl_buf_puts(b, ",\"season\":");
        sl_buf_json_str(b, season);
        sl_buf_printf(b,
                      ",\"team_id\":%lld,\"opp\":%lld,\"is_home\":%s,\"gf\":%d,\"ga\":%d,"
                      "\"sf\":%d,\"sa\":%d,\"cf\":%d,\"ca\":%d,\"ff\":%d,\"fa\":%d,\"xgf\":%.6f,"
                      "\"xga\":%.6f,\"cf5\":%d,\"ca5\":%d,\"ff5\":%d,\"fa5\":%d,\"gf5\":%d,"
                      "\"ga5\":%d,\"xgf5\":%.6f,\"xga5\":%.6f}",
                      (long long)t->team_id, (long long)opp, t->home ? "true" : "false", f->goals,
                      a->goals, f->shots, a->shots, f->corsi, a->corsi, f->fenwick, a->fenwick,
                      f->xg, a->xg, f5->corsi, a5->corsi, f5->fenwick, a5->fenwick, f5->goals,
                      a5->goals, f5->xg, a5->xg);
}

/* Computes the game of rows [from, to) of res into b. Returns 0 or -EBADMSG. */
static int one_game(const PGresult *res, int from, int to, struct sl_buf *b, char *errstr, size_t n)
{
        size_t np = (size_t)(to - from);
        struct sl_nhl_play *plays = sl_xcalloc(np ? np : 1, sizeof(*plays));
        struct sl_nhl_team_game out[2];
        const char *game_id = PQgetvalue(res, from, 0);
        int64_t home = col_i64(res, from, 1), away = col_i64(res, from, 2);
        int no_xy = 0, rc;

        for (int r = from; r < to; r++)
                read_play(res, r, &plays[r - from]);
        rc = sl_nhl_game_metrics(plays, np, home, away, NULL, out, &no_xy);
        free(plays);
        if (rc < 0)
                return sl_errf(errstr, n, -EBADMSG,
                               "nhl game %s: plays do not fit the game (a shot of a team that "
                               "is not %lld or %lld?)",
                               game_id, (long long)home, (long long)away);
        game_json(b, game_id, PQgetvalue(res, from, 12), PQgetvalue(res, from, 13), &out[0], away);
        game_json(b, game_id, PQgetvalue(res, from, 12), PQgetvalue(res, from, 13), &out[1], home);
        return 0;
}

int analytics_nhl_game_stats(struct sl_pg *pg, const char *const params[4], PGresult **out,
                             char *errstr, size_t n)
{
        const char *sc[3], *p1[1];
        PGresult *res = NULL;
        struct sl_buf b;
        int rc, rows, from = 0;

        scope(params, sc);
        rc = sl_pg_exec(pg, sql_plays, 3, sc, &res, errstr, n);
        if (rc < 0)
                return rc;
        sl_buf_init(&b, 0);
        sl_buf_puts(&b, "[");
        rows = PQntuples(res);
        for (int r = 1; rc == 0 && r <= rows; r++) {
                if (r < rows && strcmp(PQgetvalue(res, r, 0), PQgetvalue(res, from, 0)) == 0)
                        continue;
                rc = one_game(res, from, r, &b, errstr, n);
                from = r;
        }
        PQclear(res);
        sl_buf_puts(&b, "]");
        p1[0] = b.data;
        if (rc == 0)
                rc = sl_pg_exec(pg, sql_upsert_games, 1, p1, out, errstr, n);
        sl_buf_fini(&b);
        return rc;
}

/* Row r of sql_team_games as the team's game (the stored, rounded numbers). */
static void read_team_game(const PGresult *res, int r, struct sl_nhl_team_game *g)
{
        memset(g, 0, sizeof(*g));
        g->team_id = col_i64(res, r, 1);
        g->all_for.corsi = (int)col_i64(res, r, 4);
        g->all_against.corsi = (int)col_i64(res, r, 5);
        g->all_for.fenwick = (int)col_i64(res, r, 6);
        g->all_against.fenwick = (int)col_i64(res, r, 7);
        g->all_for.shots = (int)col_i64(res, r, 8);
        g->all_against.shots = (int)col_i64(res, r, 9);
        g->all_for.goals = (int)col_i64(res, r, 10);
        g->all_against.goals = (int)col_i64(res, r, 11);
        g->all_for.xg = col_f(res, r, 12);
        g->all_against.xg = col_f(res, r, 13);
        g->ev_for.corsi = (int)col_i64(res, r, 14);
        g->ev_against.corsi = (int)col_i64(res, r, 15);
        g->ev_for.fenwick = (int)col_i64(res, r, 16);
        g->ev_against.fenwick = (int)col_i64(res, r, 17);
        g->ev_for.goals = (int)col_i64(res, r, 18);
        g->ev_against.goals = (int)col_i64(res, r, 19);
        g->ev_for.xg = col_f(res, r, 20);
        g->ev_against.xg = col_f(res, r, 21);
}

static void agg_json(struct sl_buf *b, const char *season, const struct sl_nhl_team_agg *a,
                     const char *last_id, const char *last_date)
{
        sl_buf_puts(b, b->len > 1 ? ",{\"season\":" : "{\"season\":");
        sl_buf_json_str(b, season);
        sl_buf_puts(b, ",\"last_game_id\":");
        sl_buf_json_str(b, last_id);
        sl_buf_puts(b, ",\"last_game_date\":");
        sl_buf_json_str(b, last_date);
        sl_buf_printf(b,
                      ",\"team_id\":%lld,\"games\":%d,\"cf\":%.0f,\"ca\":%.0f,\"ff\":%.0f,"
                      "\"fa\":%.0f,\"sf\":%.0f,\"sa\":%.0f,\"gf\":%.0f,\"ga\":%.0f,\"xgf\":%.6f,"
                      "\"xga\":%.6f,\"cf5\":%.0f,\"ca5\":%.0f,\"ff5\":%.0f,\"fa5\":%.0f,"
                      "\"gf5\":%.0f,\"ga5\":%.0f,\"xgf5\":%.6f,\"xga5\":%.6f}",
                      (long long)a->team_id, a->games, a->cf, a->ca, a->ff, a->fa, a->sf, a->sa,
                      a->gf, a->ga, a->xgf, a->xga, a->cf5, a->ca5, a->ff5, a->fa5, a->gf5, a->ga5,
                      a->xgf5, a->xga5);
}

int analytics_nhl_aggregates(struct sl_pg *pg, const char *const params[4], PGresult **out,
                             char *errstr, size_t n)
{
        const char *sc[3], *p1[1];
        PGresult *res = NULL;
        struct sl_nhl_team_agg a;
        struct sl_buf b;
        int rc, rows;

        scope(params, sc);
        rc = sl_pg_exec(pg, sql_team_games, 3, sc, &res, errstr, n);
        if (rc < 0)
                return rc;
        sl_buf_init(&b, 0);
        sl_buf_puts(&b, "[");
        rows = PQntuples(res);
        for (int r = 0; r < rows; r++) {
                struct sl_nhl_team_game g;
                bool first = r == 0 || strcmp(PQgetvalue(res, r, 0), PQgetvalue(res, r - 1, 0)) ||
                             strcmp(PQgetvalue(res, r, 1), PQgetvalue(res, r - 1, 1));
                bool last = r == rows - 1 ||
                            strcmp(PQgetvalue(res, r, 0), PQgetvalue(res, r + 1, 0)) ||
                            strcmp(PQgetvalue(res, r, 1), PQgetvalue(res, r + 1, 1));
                read_team_game(res, r, &g);
                if (first) {
                        memset(&a, 0, sizeof(a));
                        a.team_id = g.team_id;
                }
                sl_nhl_agg_add(&a, &g); /* same team: cannot fail */
                if (last)               /* rows are in date order: this one is the checkpoint */
                        agg_json(&b, PQgetvalue(res, r, 0), &a, PQgetvalue(res, r, 2),
                                 PQgetvalue(res, r, 3));
        }
        PQclear(res);
        sl_buf_puts(&b, "]");
        p1[0] = b.data;
        rc = sl_pg_exec(pg, sql_upsert_aggs, 1, p1, out, errstr, n);
        sl_buf_fini(&b);
        return rc;
}
