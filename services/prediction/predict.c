#include "prediction.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sl/pg.h>
#include <sl/util.h>

/*
 * The data layer (prediction.h): targets live in the session temp table
 * pred_targets (idx = position in the set), so the SQL systems can join
 * them; the C systems work on the loaded set.
 */

static double num(PGresult *res, int r, int c)
{
        return PQgetisnull(res, r, c) ? NAN : strtod(PQgetvalue(res, r, c), NULL);
}

static int64_t i64(PGresult *res, int r, int c)
{
        int64_t v = 0;

        if (!PQgetisnull(res, r, c))
                sl_parse_i64(PQgetvalue(res, r, c), INT64_MIN, INT64_MAX, &v);
        return v;
}

/* ---- targets ------------------------------------------------------------------------ */

static int targets_reset(struct sl_pg *pg, char *errstr, size_t n)
{
        int rc = sl_pg_exec(pg,
                            "CREATE TEMP TABLE IF NOT EXISTS pred_targets (idx int PRIMARY KEY, "
                            "player_id bigint NOT NULL, game_date date NOT NULL, game_id text "
                            "NOT NULL, team_id bigint, opp_team_id bigint, line_pts numeric, "
                            "line_reb numeric, line_ast numeric, injury_status text)",
                            0, NULL, NULL, errstr, n);
        if (rc == 0)
                rc = sl_pg_exec(pg, "TRUNCATE pred_targets", 0, NULL, NULL, errstr, n);
        return rc;
}

/*
 * Runs the INSERT into pred_targets and returns its row count. Then
 * ANALYZE: a temporary table has no statistics (autovacuum never sees it),
 * so the planner guesses ~1,000 rows and joins the season's tables to a
 * one-player target list by sequential scans and hashes; with its real size
 * known the loads below use the indexes (one injury update's load: 19 ms
 * before, 0.5 ms after, docs/performance.md).
 */
static int targets_insert(struct sl_pg *pg, const char *sql, int np, const char *const *params,
                          char *errstr, size_t n)
{
        PGresult *res = NULL;
        int64_t v = 0;
        int rc = sl_pg_exec(pg, sql, np, params, &res, errstr, n);

        if (rc == 0 && sl_parse_i64(PQcmdTuples(res), 0, INT32_MAX, &v) == 0)
                rc = (int)v;
        PQclear(res);
        if (rc >= 0) {
                int arc = sl_pg_exec(pg, "ANALYZE pred_targets", 0, NULL, NULL, errstr, n);
                rc = arc < 0 ? arc : rc;
        }
        return rc;
}

/*
 * Consensus (median) line per market; the game from the line, else the
 * schedule / games row of the player's team that day; the team from the
 * line, else the player's last game.
 */
static const char SQL_TARGETS_LINES[] =
    "INSERT INTO pred_targets (idx, player_id, game_date, game_id, team_id, opp_team_id, "
    "line_pts, line_reb, line_ast, injury_status) "
    "SELECT (row_number() OVER (ORDER BY l.player_id) - 1)::int, l.player_id, $1::date, "
    "coalesce(l.gid, g.game_id), tm.team_id, "
    "CASE WHEN g.home_team_id = tm.team_id THEN g.away_team_id "
    "WHEN g.away_team_id = tm.team_id THEN g.home_team_id END, l.pts, l.reb, l.ast, "
    "(SELECT u.injury_status FROM analytics.upcoming_player_game_context u "
    "WHERE u.game_date = $1::date AND u.player_id = l.player_id) "
    "FROM (SELECT player_id, "
    "percentile_disc(0.5) WITHIN GROUP (ORDER BY line) FILTER (WHERE market = 'points') pts, "
    "percentile_disc(0.5) WITHIN GROUP (ORDER BY line) FILTER (WHERE market = 'rebounds') reb, "
    "percentile_disc(0.5) WITHIN GROUP (ORDER BY line) FILTER (WHERE market = 'assists') ast, "
    "min(game_id) gid, min(team_id) tid FROM raw.prop_lines WHERE game_date = $1::date "
    "AND market IN ('points', 'rebounds', 'assists') "
    "AND ($2::bigint[] IS NULL OR player_id = ANY ($2::bigint[])) GROUP BY player_id) l "
    "CROSS JOIN LATERAL (SELECT coalesce(l.tid, (SELECT s.team_id FROM "
    "analytics.player_game_summary s WHERE s.player_id = l.player_id AND s.game_date < $1::date "
    "ORDER BY s.game_date DESC LIMIT 1)) AS team_id) tm "
    "LEFT JOIN LATERAL (SELECT x.game_id, x.home_team_id, x.away_team_id FROM ("
    "SELECT game_id, home_team_id, away_team_id, 0 AS pri FROM raw.schedule WHERE game_date = "
    "$1::date UNION ALL SELECT game_id, home_team_id, away_team_id, 1 FROM raw.games "
    "WHERE game_date = $1::date) x WHERE x.game_id = l.gid OR (l.gid IS NULL AND tm.team_id "
    "IN (x.home_team_id, x.away_team_id)) ORDER BY x.pri LIMIT 1) g ON true "
    "WHERE coalesce(l.gid, g.game_id) IS NOT NULL";

int pred_targets_from_lines(struct sl_pg *pg, const char *game_date, const char *players,
                            char *errstr, size_t n)
{
        const char *params[] = {game_date, players};
        int rc = targets_reset(pg, errstr, n);

        return rc < 0 ? rc : targets_insert(pg, SQL_TARGETS_LINES, 2, params, errstr, n);
}

int pred_targets_from_games(struct sl_pg *pg, const char *from, const char *to, char *errstr,
                            size_t n)
{
        const char *params[] = {from, to};
        int rc = targets_reset(pg, errstr, n);

        if (rc < 0)
                return rc;
        return targets_insert(pg,
                              "INSERT INTO pred_targets (idx, player_id, game_date, game_id, "
                              "team_id, opp_team_id) SELECT (row_number() OVER (ORDER BY "
                              "game_date, player_id) - 1)::int, player_id, game_date, game_id, "
                              "team_id, opponent_team_id FROM analytics.player_game_summary "
                              "WHERE game_date BETWEEN $1::date AND $2::date AND minutes > 0",
                              2, params, errstr, n);
}

/* ---- loading ------------------------------------------------------------------------ */

void pred_set_fini(struct pred_set *set)
{
        for (size_t i = 0; set->t && i < set->n; i++)
                free(set->t[i].features);
        free(set->t);
        for (int s = 0; s < PRED_N_SYSTEMS; s++)
                for (int m = 0; m < PRED_N_MARKETS; m++)
                        free(set->out[s][m]);
        memset(set, 0, sizeof(*set));
}

/* "{1.5,2,NULL}" -> floats; returns the count (NULL entries are NaN), -1 on junk. */
static long parse_floats(const char *s, float *out, size_t max)
{
        size_t k = 0;

        if (*s++ != '{')
                return -1;
        while (*s && *s != '}') {
                char *end;
                if (k == max)
                        return -1;
                if (strncmp(s, "NULL", 4) == 0) {
                        out[k++] = NAN;
                        end = (char *)s + 4;
                } else {
                        out[k++] = strtof(s, &end);
                        if (end == s)
                                return -1;
                }
                s = end;
                if (*s == ',')
                        s++;
        }
        return (long)k;
}

static int pick_version(struct sl_pg *pg, struct pred_set *set, const char *want, char *errstr,
                        size_t n)
{
        PGresult *res = NULL;
        int rc;

        if (want && *want) {
                snprintf(set->feature_version, sizeof(set->feature_version), "%s", want);
                return 0;
        }
        rc = sl_pg_exec(pg,
                        "SELECT f.feature_version FROM precompute.ml_feature_store f "
                        "JOIN pred_targets t ON t.player_id = f.player_id AND t.game_date = "
                        "f.game_date GROUP BY 1 ORDER BY count(*) DESC, 1 DESC LIMIT 1",
                        0, NULL, &res, errstr, n);
        if (rc == 0 && PQntuples(res) == 1)
                snprintf(set->feature_version, sizeof(set->feature_version), "%s",
                         PQgetvalue(res, 0, 0));
        PQclear(res);
        return rc;
}

static const char SQL_LOAD[] =
    "SELECT t.player_id, t.game_date::text, t.game_id, t.team_id, t.opp_team_id, t.line_pts, "
    "t.line_reb, t.line_ast, a.pts, a.reb, a.ast, "
    "(SELECT avg(s.pts) FROM analytics.player_game_summary s WHERE s.player_id = t.player_id "
    "AND s.minutes > 0 AND s.game_date < t.game_date AND s.game_date >= make_date("
    "extract(year FROM t.game_date)::int - (extract(month FROM t.game_date) < 8)::int, 8, 1)), "
    "f.features::text, t.injury_status FROM pred_targets t "
    "LEFT JOIN analytics.player_game_summary a ON a.player_id = t.player_id "
    "AND a.game_id = t.game_id "
    "LEFT JOIN precompute.ml_feature_store f ON f.player_id = t.player_id "
    "AND f.game_date = t.game_date AND f.feature_version = $1 ORDER BY t.idx";

static void load_row(struct pred_set *set, PGresult *res, int r)
{
        struct pred_target *t = &set->t[r];
        float buf[PRED_MAX_FEATURES];
        long nf;

        t->player_id = i64(res, r, 0);
        snprintf(t->game_date, sizeof(t->game_date), "%s", PQgetvalue(res, r, 1));
        snprintf(t->game_id, sizeof(t->game_id), "%s", PQgetvalue(res, r, 2));
        t->team_id = i64(res, r, 3);
        t->opp_team_id = i64(res, r, 4);
        for (int m = 0; m < PRED_N_MARKETS; m++) {
                t->line[m] = num(res, r, 5 + m);
                t->actual[m] = num(res, r, 8 + m);
        }
        t->season_avg_pts = num(res, r, 11);
        snprintf(t->status, sizeof(t->status), "%s", PQgetvalue(res, r, 13));
        if (PQgetisnull(res, r, 12))
                return;
        nf = parse_floats(PQgetvalue(res, r, 12), buf, PRED_MAX_FEATURES);
        if (nf <= 0)
                return;
        if (set->nf == 0)
                set->nf = (size_t)nf;
        if ((size_t)nf != set->nf)
                return; /* a row of another layout: treated as missing */
        t->features = sl_xmalloc(set->nf * sizeof(float));
        memcpy(t->features, buf, set->nf * sizeof(float));
}

int pred_set_load(struct sl_pg *pg, struct pred_set *set, const char *feature_version, char *errstr,
                  size_t n)
{
        struct pred_hcache *hcache = set->hcache;
        PGresult *res = NULL;
        const char *params[1];
        int rc;

        pred_set_fini(set);
        set->hcache = hcache;
        rc = pick_version(pg, set, feature_version, errstr, n);
        if (rc < 0)
                return rc;
        params[0] = set->feature_version;
        rc = sl_pg_exec(pg, SQL_LOAD, 1, params, &res, errstr, n);
        if (rc < 0)
                return rc;
        set->n = (size_t)PQntuples(res);
        set->t = sl_xcalloc(set->n ? set->n : 1, sizeof(*set->t));
        for (size_t i = 0; i < set->n; i++)
                load_row(set, res, (int)i);
        PQclear(res);
        for (int s = 0; s < PRED_N_SYSTEMS; s++)
                for (int m = 0; m < PRED_N_MARKETS; m++) {
                        set->out[s][m] =
                            sl_xmalloc((set->n ? set->n : 1) * sizeof(struct pred_value));
                        for (size_t i = 0; i < set->n; i++)
                                set->out[s][m][i] = (struct pred_value){NAN, 0.0, 0.0};
                }
        return 0;
}

/* ---- the SQL systems ------------------------------------------------------------------ */

static const char SQL_MOVING_AVERAGE[] =
    "SELECT t.idx, sum(h.pts * h.w)::float8 / sum(h.w), sum(h.reb * h.w)::float8 / sum(h.w), "
    "sum(h.ast * h.w)::float8 / sum(h.w), coalesce(stddev_pop(h.pts), 0), "
    "coalesce(stddev_pop(h.reb), 0), coalesce(stddev_pop(h.ast), 0), count(*) "
    "FROM pred_targets t CROSS JOIN LATERAL (SELECT s.pts, s.reb, s.ast, "
    "$1::int + 1 - row_number() OVER (ORDER BY s.game_date DESC, s.game_id DESC) AS w "
    "FROM analytics.player_game_summary s WHERE s.player_id = t.player_id "
    "AND s.game_date < t.game_date AND s.minutes > 0 "
    "ORDER BY s.game_date DESC, s.game_id DESC LIMIT $1::int) h GROUP BY t.idx";

static int run_moving_average(struct sl_pg *pg, struct pred_set *set, char *errstr, size_t n)
{
        char games[16];
        const char *params[] = {games};
        PGresult *res = NULL;
        int rc;

        snprintf(games, sizeof(games), "%d", PRED_MA_GAMES);
        rc = sl_pg_exec(pg, SQL_MOVING_AVERAGE, 1, params, &res, errstr, n);
        if (rc < 0)
                return rc;
        for (int r = 0; r < PQntuples(res); r++) {
                int64_t idx = i64(res, r, 0);
                if (idx < 0 || (size_t)idx >= set->n)
                        continue;
                for (int m = 0; m < PRED_N_MARKETS; m++)
                        set->out[PRED_MOVING_AVERAGE][m][idx] = (struct pred_value){
                            num(res, r, 1 + m), num(res, r, 4 + m), num(res, r, 7)};
        }
        if (PQntuples(res) == 0)
                snprintf(set->skip_reason[PRED_MOVING_AVERAGE], sizeof(set->skip_reason[0]),
                         "no player has past games");
        PQclear(res);
        return 0;
}

/*
 * The league's per-team-game averages of each target date's window ($1
 * days before it): every player row of ~60 days (~10,000 rows, 15-20 ms),
 * the same for every run of the date, so read apart from SQL_ZONE and
 * reused while the window's rows are unchanged (zone_league()).
 */
static const char SQL_ZONE_LEAGUE[] =
    "SELECT d.game_date::text, count(DISTINCT (s.game_id, s.team_id))::float8, "
    "sum(2 * (s.fgm - s.fg3m))::float8, sum(3 * s.fg3m)::float8, sum(s.ftm)::float8 "
    "FROM (SELECT DISTINCT game_date FROM pred_targets) d "
    "JOIN analytics.player_game_summary s ON s.game_date < d.game_date "
    "AND s.game_date >= d.game_date - $1::int GROUP BY d.game_date ORDER BY 1";

/* The change-log fingerprint of player_game_summary over [$1 - $2 days, $1) (migration 0020). */
static const char SQL_ZONE_LEAGUE_FP[] =
    "SELECT count(*) || ':' || coalesce(sum(seq), 0) FROM ops.data_changes "
    "WHERE tbl = 'analytics.player_game_summary' AND (game_date IS NULL OR "
    "(game_date >= $1::date - $2::int AND game_date < $1::date))";

/*
 * zone_matchup_v1: the player's points by 2pt / 3pt / free throws (last N
 * games) times what the opponent allowed in each, relative to the league
 * (per team-game, last PRED_ZONE_DAYS days), shrunk toward 1.0. The
 * opponents' rows are also bounded by the earliest target date's window (a
 * redundant condition the game_date index can use: the join's own window
 * is per row, so PostgreSQL read every earlier date of the season).
 * $3..$7: the league averages by date (zone_league(), as text: float8
 * round-trips exactly).
 */
static const char SQL_ZONE[] =
    "WITH p AS (SELECT t.idx, avg(2 * (h.fgm - h.fg3m))::float8 AS p2, avg(3 * h.fg3m)::float8 "
    "AS p3, avg(h.ftm)::float8 AS pft, coalesce(stddev_pop(h.pts), 0)::float8 AS sd, count(*) n "
    "FROM pred_targets t CROSS JOIN LATERAL (SELECT s.fgm, s.fg3m, s.ftm, s.pts FROM "
    "analytics.player_game_summary s WHERE s.player_id = t.player_id AND s.game_date < "
    "t.game_date AND s.minutes > 0 ORDER BY s.game_date DESC, s.game_id DESC LIMIT $1::int) h "
    "WHERE t.opp_team_id IS NOT NULL GROUP BY t.idx), "
    "lg AS (SELECT * FROM unnest($3::date[], $4::float8[], $5::float8[], $6::float8[], "
    "$7::float8[]) AS u(game_date, tg, a2, a3, aft)), "
    "o AS (SELECT x.game_date, x.opp_team_id, count(DISTINCT s.game_id)::float8 AS g, "
    "sum(2 * (s.fgm - s.fg3m))::float8 AS a2, sum(3 * s.fg3m)::float8 AS a3, "
    "sum(s.ftm)::float8 AS aft FROM (SELECT DISTINCT game_date, opp_team_id FROM pred_targets "
    "WHERE opp_team_id IS NOT NULL) x JOIN analytics.player_game_summary s "
    "ON s.opponent_team_id = x.opp_team_id AND s.game_date < x.game_date "
    "AND s.game_date >= x.game_date - $2::int "
    "AND s.game_date >= (SELECT min(game_date) FROM pred_targets) - $2::int GROUP BY 1, 2) "
    "SELECT p.idx, p.p2, p.p3, p.pft, "
    "coalesce((o.a2 / o.g) / nullif(lg.a2 / lg.tg, 0), 1), "
    "coalesce((o.a3 / o.g) / nullif(lg.a3 / lg.tg, 0), 1), "
    "coalesce((o.aft / o.g) / nullif(lg.aft / lg.tg, 0), 1), coalesce(o.g, 0), p.sd, p.n "
    "FROM p JOIN pred_targets t ON t.idx = p.idx LEFT JOIN lg ON lg.game_date = t.game_date "
    "LEFT JOIN o ON o.game_date = t.game_date AND o.opp_team_id = t.opp_team_id";

/* One date's league averages as SQL_ZONE_LEAGUE returns them (text). */
struct zone_league {
        char date[11];
        char fp[64]; /* SQL_ZONE_LEAGUE_FP when read, "" = nothing kept */
        char v[4][32];
};

/*
 * What the service keeps between runs (pred_hcache): similarity_balanced_v1's
 * history rows (below) and zone_matchup_v1's league averages (above).
 */
struct history {
        size_t n, nf;
        float *x;           /* n * nf */
        int64_t *player_id; /* n */
        char (*date)[11];   /* n */
        double (*y)[PRED_N_MARKETS];
};

struct pred_hcache {
        struct zone_league league; /* zone_matchup_v1's league averages of the last date */
        char version[64];          /* feature version of the rows */
        char lo[11], hi[11];       /* the window the rows cover: lo <= game_date < hi */
        char fp[160];              /* fingerprint of the window's rows when they were read */
        struct history h;
        uint64_t hits, loads, appends;
};

/*
 * The league averages of the targets' dates into five array literals
 * (dates, tg, a2, a3, aft). A single-date set (every service run) reuses
 * the averages kept in *kept while their window's change-log fingerprint is
 * the same (read before the averages: a change committed in between moves
 * the next fingerprint); several dates (training) read them all.
 */
static int zone_league(struct sl_pg *pg, const struct pred_set *set, struct zone_league *kept,
                       struct sl_buf arr[5], char *errstr, size_t n)
{
        char days[16], fp[sizeof(kept->fp)] = "";
        const char *params[2];
        PGresult *res = NULL;
        bool one = kept != NULL;
        int rc;

        if (set->n == 0) { /* no target: nothing to average */
                for (int k = 0; k < 5; k++)
                        sl_buf_puts(&arr[k], "{}");
                return 0;
        }
        snprintf(days, sizeof(days), "%d", PRED_ZONE_DAYS);
        params[0] = set->t[0].game_date;
        params[1] = days;
        for (size_t i = 1; i < set->n && one; i++)
                one = strcmp(set->t[i].game_date, set->t[0].game_date) == 0;
        if (one) {
                rc = sl_pg_exec(pg, SQL_ZONE_LEAGUE_FP, 2, params, &res, errstr, n);
                if (rc < 0)
                        return rc;
                snprintf(fp, sizeof(fp), "%s", PQgetvalue(res, 0, 0));
                PQclear(res);
                res = NULL;
        }
        for (int k = 0; k < 5; k++)
                sl_buf_puts(&arr[k], "{");
        if (one && kept->fp[0] && strcmp(kept->fp, fp) == 0 &&
            strcmp(kept->date, set->t[0].game_date) == 0) {
                sl_buf_puts(&arr[0], kept->date);
                for (int k = 0; k < 4; k++)
                        sl_buf_puts(&arr[k + 1], kept->v[k]);
        } else {
                rc = sl_pg_exec(pg, SQL_ZONE_LEAGUE, 1, params + 1, &res, errstr, n);
                if (rc < 0)
                        return rc;
                for (int r = 0; r < PQntuples(res); r++)
                        for (int k = 0; k < 5; k++)
                                sl_buf_printf(&arr[k], "%s%s", r ? "," : "",
                                              PQgetisnull(res, r, k) ? "NULL"
                                                                     : PQgetvalue(res, r, k));
                if (one) {
                        kept->fp[0] = '\0';
                        if (PQntuples(res) == 1) {
                                snprintf(kept->date, sizeof(kept->date), "%s", set->t[0].game_date);
                                for (int k = 0; k < 4; k++)
                                        snprintf(kept->v[k], sizeof(kept->v[k]), "%s",
                                                 PQgetisnull(res, 0, k + 1)
                                                     ? "NULL"
                                                     : PQgetvalue(res, 0, k + 1));
                                snprintf(kept->fp, sizeof(kept->fp), "%s", fp);
                        }
                }
                PQclear(res);
        }
        for (int k = 0; k < 5; k++)
                sl_buf_puts(&arr[k], "}");
        return 0;
}

static int run_zone(struct sl_pg *pg, struct pred_set *set, char *errstr, size_t n)
{
        char games[16], days[16];
        struct sl_buf lg[5];
        const char *params[7] = {games, days};
        PGresult *res = NULL;
        int rc;

        snprintf(games, sizeof(games), "%d", PRED_ZONE_GAMES);
        snprintf(days, sizeof(days), "%d", PRED_ZONE_DAYS);
        for (int k = 0; k < 5; k++)
                sl_buf_init(&lg[k], 0);
        rc = zone_league(pg, set, set->hcache ? &set->hcache->league : NULL, lg, errstr, n);
        for (int k = 0; k < 5; k++)
                params[2 + k] = lg[k].data;
        if (rc == 0)
                rc = sl_pg_exec(pg, SQL_ZONE, 7, params, &res, errstr, n);
        for (int k = 0; k < 5; k++)
                sl_buf_fini(&lg[k]);
        if (rc < 0)
                return rc;
        for (int r = 0; r < PQntuples(res); r++) {
                int64_t idx = i64(res, r, 0);
                double g = num(res, r, 7), v = 0.0;
                if (idx < 0 || (size_t)idx >= set->n)
                        continue;
                for (int z = 0; z < 3; z++) {
                        double f =
                            (g * num(res, r, 4 + z) + PRED_ZONE_PRIOR) / (g + PRED_ZONE_PRIOR);
                        v += num(res, r, 1 + z) * f;
                }
                set->out[PRED_ZONE_MATCHUP][PRED_POINTS][idx] =
                    (struct pred_value){v, num(res, r, 8), num(res, r, 9)};
        }
        if (PQntuples(res) == 0) {
                snprintf(set->skip_reason[PRED_ZONE_MATCHUP], sizeof(set->skip_reason[0]),
                         "no player with past games and a known opponent");
                snprintf(set->missing[PRED_ZONE_MATCHUP], sizeof(set->missing[0]),
                         "analytics.player_game_summary");
        }
        PQclear(res);
        return 0;
}

/* ---- similarity_balanced_v1 --------------------------------------------------------- */

static void history_fini(struct history *h)
{
        free(h->x);
        free(h->player_id);
        free(h->date);
        free(h->y);
        memset(h, 0, sizeof(*h));
}

struct pred_hcache *pred_hcache_new(void)
{
        return sl_xcalloc(1, sizeof(struct pred_hcache));
}

void pred_hcache_free(struct pred_hcache *cache)
{
        if (!cache)
                return;
        history_fini(&cache->h);
        free(cache);
}

void pred_hcache_stats(const struct pred_hcache *cache, uint64_t *hits, uint64_t *loads)
{
        *hits = cache ? cache->hits + cache->appends : 0;
        *loads = cache ? cache->loads : 0;
}

/* The history window of pred_targets and fingerprints of its rows (history_window()). */
struct hwin {
        char lo[11], hi[11];
        char fp[160];     /* count + sum of updated_at of [lo, hi) */
        char fp_old[160]; /* the same over the cached window [old lo, old hi) */
};

/*
 * The window of pred_targets (PRED_SIM_DAYS before the first target date up
 * to the last) and the fingerprint of the rows history_load() reads from
 * it: count + sum(seq) of the change log's rows (migration 0020) of the
 * window's dates of ml_feature_store and player_game_summary, one row per
 * committed statement that changed a date there (a few thousand rows by
 * index; the sums over the rows themselves took 20-40 ms). Every version's
 * feature rows count: a change of another version only costs a reload.
 * With a cached window (old_lo, old_hi non-NULL) also that window's
 * fingerprint now, to tell whether the cached rows still hold.
 */
static int history_window(struct sl_pg *pg, const struct pred_set *set, const char *old_lo,
                          const char *old_hi, struct hwin *w, char *errstr, size_t n)
{
        char days[16];
        const char *params[] = {set->feature_version, days, old_lo, old_hi};
        PGresult *res = NULL;
        int rc;

        snprintf(days, sizeof(days), "%d", PRED_SIM_DAYS);
        rc = sl_pg_exec(pg,
                        "WITH w AS (SELECT min(game_date) - $2::int AS lo, max(game_date) AS hi "
                        "FROM pred_targets), "
                        /* the ranges: 1 = the window, 2 = the cached window (if any) */
                        "r AS (SELECT 1 AS k, lo, hi FROM w UNION ALL SELECT 2, $3::date, $4::date "
                        "WHERE $3::date IS NOT NULL) "
                        "SELECT (SELECT lo::text FROM w), (SELECT hi::text FROM w), "
                        "coalesce(max(fp) FILTER (WHERE k = 1), ''), "
                        "coalesce(max(fp) FILTER (WHERE k = 2), '') FROM (SELECT r.k, "
                        "(SELECT $1::text || ':' || count(*) || ':' || coalesce(sum(d.seq), 0) "
                        "FROM ops.data_changes d WHERE d.tbl IN ("
                        "'precompute.ml_feature_store', 'analytics.player_game_summary') "
                        "AND (d.game_date IS NULL OR (d.game_date >= r.lo AND d.game_date < "
                        "r.hi))) AS fp FROM r) x",
                        4, params, &res, errstr, n);
        if (rc < 0)
                return rc;
        memset(w, 0, sizeof(*w));
        if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) && !PQgetisnull(res, 0, 1)) {
                snprintf(w->lo, sizeof(w->lo), "%s", PQgetvalue(res, 0, 0));
                snprintf(w->hi, sizeof(w->hi), "%s", PQgetvalue(res, 0, 1));
                if (snprintf(w->fp, sizeof(w->fp), "%s", PQgetvalue(res, 0, 2)) >=
                        (int)sizeof(w->fp) ||
                    snprintf(w->fp_old, sizeof(w->fp_old), "%s", PQgetvalue(res, 0, 3)) >=
                        (int)sizeof(w->fp_old))
                        w->fp[0] = w->fp_old[0] = '\0'; /* cannot happen; never matches then */
        }
        PQclear(res);
        return 0;
}

/*
 * Appends the feature rows with outcomes of lo <= game_date < hi (ordered by
 * date and player, as a whole load orders them) to h.
 */
static int history_load(struct sl_pg *pg, const struct pred_set *set, const char *lo,
                        const char *hi, struct history *h, char *errstr, size_t n)
{
        const char *params[] = {set->feature_version, lo, hi};
        PGresult *res = NULL;
        float buf[PRED_MAX_FEATURES];
        int rc;

        rc = sl_pg_exec(pg,
                        "SELECT f.player_id, f.game_date::text, f.features::text, s.pts, s.reb, "
                        "s.ast FROM precompute.ml_feature_store f JOIN "
                        "analytics.player_game_summary s ON s.player_id = f.player_id AND "
                        "s.game_date = f.game_date WHERE f.feature_version = $1 AND s.minutes > 0 "
                        "AND f.game_date >= $2::date AND f.game_date < $3::date "
                        "ORDER BY f.game_date, f.player_id",
                        3, params, &res, errstr, n);
        if (rc < 0)
                return rc;
        size_t rows = (size_t)PQntuples(res), cap = h->n + rows + 1;
        h->nf = set->nf;
        h->x = sl_xrealloc(h->x, cap * h->nf * sizeof(float));
        h->player_id = sl_xrealloc(h->player_id, cap * sizeof(int64_t));
        h->date = sl_xrealloc(h->date, cap * sizeof(*h->date));
        h->y = sl_xrealloc(h->y, cap * sizeof(*h->y));
        for (size_t r = 0; r < rows; r++) {
                if (parse_floats(PQgetvalue(res, (int)r, 2), buf, PRED_MAX_FEATURES) != (long)h->nf)
                        continue;
                memcpy(h->x + h->n * h->nf, buf, h->nf * sizeof(float));
                h->player_id[h->n] = i64(res, (int)r, 0);
                snprintf(h->date[h->n], sizeof(h->date[0]), "%s", PQgetvalue(res, (int)r, 1));
                for (int m = 0; m < PRED_N_MARKETS; m++)
                        h->y[h->n][m] = num(res, (int)r, 3 + m);
                h->n++;
        }
        PQclear(res);
        return 0;
}

/* Drops the rows dated before lo (the rows are in date order). */
static void history_drop_before(struct history *h, const char *lo)
{
        size_t k = 0;

        while (k < h->n && strcmp(h->date[k], lo) < 0)
                k++;
        if (k == 0)
                return;
        memmove(h->x, h->x + k * h->nf, (h->n - k) * h->nf * sizeof(float));
        memmove(h->player_id, h->player_id + k, (h->n - k) * sizeof(*h->player_id));
        memmove(h->date, h->date + k, (h->n - k) * sizeof(*h->date));
        memmove(h->y, h->y + k, (h->n - k) * sizeof(*h->y));
        h->n -= k;
}

/*
 * The history of set's window into cache: kept when the window and its
 * fingerprint are unchanged; when the window moved forward (the next game
 * date) and the cached window's rows are unchanged, only the new dates'
 * rows are read and appended and the rows before the new start dropped
 * (the same rows in the same order as a whole load); otherwise reloaded.
 */
static int history_get(struct sl_pg *pg, const struct pred_set *set, struct pred_hcache *c,
                       char *errstr, size_t n)
{
        bool have = c->version[0] && strcmp(c->version, set->feature_version) == 0 &&
                    c->h.nf == set->nf && c->fp[0];
        struct hwin w;
        int rc;

        rc = history_window(pg, set, have ? c->lo : NULL, have ? c->hi : NULL, &w, errstr, n);
        if (rc < 0)
                return rc;
        if (have && w.fp[0] && strcmp(w.lo, c->lo) == 0 && strcmp(w.hi, c->hi) == 0 &&
            strcmp(w.fp, c->fp) == 0) {
                c->hits++;
                return 0;
        }
        if (have && w.fp[0] && strcmp(w.fp_old, c->fp) == 0 && strcmp(w.lo, c->lo) >= 0 &&
            strcmp(w.hi, c->hi) > 0) {
                c->fp[0] = '\0'; /* until the append is complete */
                rc = history_load(pg, set, c->hi, w.hi, &c->h, errstr, n);
                if (rc < 0)
                        return rc;
                history_drop_before(&c->h, w.lo);
                c->appends++;
        } else {
                history_fini(&c->h);
                c->fp[0] = '\0';
                if (!w.lo[0]) /* no target dates: nothing to read */
                        return 0;
                rc = history_load(pg, set, w.lo, w.hi, &c->h, errstr, n);
                if (rc < 0)
                        return rc;
                c->loads++;
        }
        snprintf(c->version, sizeof(c->version), "%s", set->feature_version);
        snprintf(c->lo, sizeof(c->lo), "%s", w.lo);
        snprintf(c->hi, sizeof(c->hi), "%s", w.hi);
        snprintf(c->fp, sizeof(c->fp), "%s", w.fp);
        return 0;
}

/* Mean and spread of the neighbours' outcomes for market m. */
static void neighbour_stats(const struct history *h, const size_t *idx, size_t k, int m,
                            double *mean, double *sd)
{
        double s = 0.0, s2 = 0.0;

        for (size_t j = 0; j < k; j++) {
                s += h->y[idx[j]][m];
                s2 += h->y[idx[j]][m] * h->y[idx[j]][m];
        }
        *mean = s / (double)k;
        *sd = sqrt(fmax(s2 / (double)k - *mean * *mean, 0.0));
}

/*
 * The k nearest rows to query: pred_knn()'s result, by the same arithmetic
 * (squared standardised distance ((q - r) / scale)^2 summed in feature
 * order, a NaN term contributing nothing, strictly closer only, ties keeping
 * the lower index), over rows list[0..n-1] (NULL: rows 0..n-1). scale[f] is
 * sd[f] when positive, else 1; inv[f] = 1 / scale[f].
 *
 * Once k rows are held, a row is first bounded from below cheaply:
 * multiplications by inv instead of divisions, the query's most distant
 * features (|q - mean| / scale) first, abandoned as soon as the partial sum
 * exceeds the k-th best by a margin (1e-9 relative, far above the rounding
 * of 31 terms, ~1e-14): every term is non-negative, so the exact distance
 * could not be strictly closer. A row not abandoned gets the exact distance
 * and the same comparison as pred_knn(). The same rows, in the same order.
 */
static size_t sim_knn(const float *query, const float *rows, size_t nf, const double *mean,
                      const double *scale, const double *inv, const size_t *list, size_t n,
                      size_t k, size_t *out_idx)
{
        double best[64], w[PRED_MAX_FEATURES];
        size_t found = 0, ord[PRED_MAX_FEATURES];

        if (k > sizeof(best) / sizeof(best[0]))
                k = sizeof(best) / sizeof(best[0]);
        if (k == 0 || nf > PRED_MAX_FEATURES)
                return 0;
        for (size_t f = 0; f < nf; f++) { /* bound order: the query's most distant features */
                double z = ((double)query[f] - mean[f]) * inv[f];
                size_t p = f;
                w[f] = isnan(z) ? -1.0 : fabs(z);
                while (p > 0 && w[ord[p - 1]] < w[f]) {
                        ord[p] = ord[p - 1];
                        p--;
                }
                ord[p] = f;
        }
        for (size_t j = 0; j < n; j++) {
                size_t i = list ? list[j] : j;
                const float *row = rows + i * nf;
                double d = 0.0;

                if (found == k) {
                        double lim = best[k - 1] * (1.0 + 1e-9), e = 0.0;
                        for (size_t o = 0; o < nf && e <= lim; o++) {
                                size_t f = ord[o];
                                double t = ((double)query[f] - (double)row[f]) * inv[f];
                                if (!isnan(t))
                                        e += t * t;
                        }
                        if (e > lim)
                                continue;
                }
                for (size_t f = 0; f < nf; f++) {
                        double t = ((double)query[f] - (double)row[f]) / scale[f];
                        if (!isnan(t))
                                d += t * t;
                }
                pred_knn_keep(best, out_idx, &found, k, d, i);
        }
        return found;
}

/* Rows of h dated before date: a prefix, the rows being in date order. */
static size_t rows_before(const struct history *h, const char *date)
{
        size_t lo = 0, hi = h->n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (strcmp(h->date[mid], date) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

/* by_player: the row indices ordered by (player, index); qsort context-free. */
static const struct history *sim_sort_h;

static int cmp_player_row(const void *a, const void *b)
{
        size_t x = *(const size_t *)a, y = *(const size_t *)b;
        int64_t px = sim_sort_h->player_id[x], py = sim_sort_h->player_id[y];

        if (px != py)
                return px < py ? -1 : 1;
        return (x > y) - (x < y);
}

/*
 * Balanced: half the player's own most similar games, half the league's.
 * The league's candidates are the rows before the target's date (a prefix
 * of h); the player's own are read from by_player (h's indices ordered by
 * player, then index).
 */
static void similarity_one(struct pred_set *set, const struct history *h, size_t i,
                           const double *mean, const double *scale, const double *inv,
                           const size_t *by_player, size_t *own)
{
        const struct pred_target *t = &set->t[i];
        size_t lidx[PRED_SIM_K_LEAGUE], oidx[PRED_SIM_K_OWN], kl, ko, lo = 0, hi = h->n, nown = 0;
        size_t before = rows_before(h, t->game_date);

        while (lo < hi) { /* first entry of the player in by_player */
                size_t mid = lo + (hi - lo) / 2;
                if (h->player_id[by_player[mid]] < t->player_id)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        for (; lo < h->n && h->player_id[by_player[lo]] == t->player_id; lo++)
                if (by_player[lo] < before)
                        own[nown++] = by_player[lo];
        kl = sim_knn(t->features, h->x, h->nf, mean, scale, inv, NULL, before, PRED_SIM_K_LEAGUE,
                     lidx);
        ko = sim_knn(t->features, h->x, h->nf, mean, scale, inv, own, nown, PRED_SIM_K_OWN, oidx);
        if (kl == 0)
                return;
        for (int m = 0; m < PRED_N_MARKETS; m++) {
                double lm, ls, om, os;
                neighbour_stats(h, lidx, kl, m, &lm, &ls);
                if (ko >= 3) {
                        neighbour_stats(h, oidx, ko, m, &om, &os);
                        set->out[PRED_SIMILARITY][m][i] = (struct pred_value){
                            0.5 * lm + 0.5 * om, 0.5 * ls + 0.5 * os, (double)(kl + ko) / 2.0};
                } else {
                        set->out[PRED_SIMILARITY][m][i] =
                            (struct pred_value){lm, ls, (double)kl / 2.0};
                }
        }
}

/*
 * The targets of a whole date are independent searches over the same
 * read-only history: with SIM_PAR_MIN targets or more they are split over
 * up to SIM_PAR_THREADS threads (one per online CPU), target i to thread
 * i % threads; each thread has its own scratch list and writes only its
 * targets' outputs, so the results are those of one thread, in any
 * interleaving. A date's search took ~110 ms of a ~370 ms prediction run on
 * one core (docs/performance.md, pass 5); an injury update's one target
 * stays on the calling thread.
 */
#define SIM_PAR_MIN     32
#define SIM_PAR_THREADS 4

struct sim_job {
        struct pred_set *set;
        const struct history *h;
        const double *mean, *scale, *inv;
        const size_t *by_player;
        size_t *own; /* this thread's scratch, h->n entries */
        size_t first, step, with;
};

static void *sim_worker(void *arg)
{
        struct sim_job *job = arg;

        for (size_t i = job->first; i < job->set->n; i += job->step) {
                if (!job->set->t[i].features)
                        continue;
                similarity_one(job->set, job->h, i, job->mean, job->scale, job->inv, job->by_player,
                               job->own);
                job->with++;
        }
        return NULL;
}

/* Runs every target's search; the number of targets with features. */
static size_t similarity_all(struct pred_set *set, const struct history *h, const double *mean,
                             const double *scale, const double *inv, const size_t *by_player)
{
        struct sim_job jobs[SIM_PAR_THREADS];
        pthread_t tid[SIM_PAR_THREADS];
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        size_t nt = 1, with = 0;

        if (set->n >= SIM_PAR_MIN && cpus > 1)
                nt = cpus < SIM_PAR_THREADS ? (size_t)cpus : SIM_PAR_THREADS;
        for (size_t t = 0; t < nt; t++)
                jobs[t] = (struct sim_job){.set = set,
                                           .h = h,
                                           .mean = mean,
                                           .scale = scale,
                                           .inv = inv,
                                           .by_player = by_player,
                                           .own = sl_xmalloc((h->n ? h->n : 1) * sizeof(size_t)),
                                           .first = t,
                                           .step = nt};
        /* a thread that cannot start leaves its share to this one */
        size_t started = 1;
        for (size_t t = 1; t < nt; t++) {
                if (pthread_create(&tid[t], NULL, sim_worker, &jobs[t]) != 0)
                        break;
                started++;
        }
        for (size_t t = started; t < nt; t++)
                sim_worker(&jobs[t]);
        sim_worker(&jobs[0]);
        for (size_t t = 1; t < started; t++)
                pthread_join(tid[t], NULL);
        for (size_t t = 0; t < nt; t++) {
                with += jobs[t].with;
                free(jobs[t].own);
        }
        return with;
}

static int run_similarity(struct sl_pg *pg, struct pred_set *set, char *errstr, size_t n)
{
        struct history h = {0}, *hp = &h;
        double mean[PRED_MAX_FEATURES], sd[PRED_MAX_FEATURES], scale[PRED_MAX_FEATURES],
            inv[PRED_MAX_FEATURES];
        size_t *by_player = NULL;
        size_t with = 0;
        int rc;

        if (set->nf == 0) {
                snprintf(set->skip_reason[PRED_SIMILARITY], sizeof(set->skip_reason[0]),
                         "no feature rows for the targets");
                snprintf(set->missing[PRED_SIMILARITY], sizeof(set->missing[0]),
                         "precompute.ml_feature_store");
                return 0;
        }
        if (set->hcache) {
                rc = history_get(pg, set, set->hcache, errstr, n);
                if (rc < 0) {
                        history_fini(&set->hcache->h); /* a half-appended history is not kept */
                        set->hcache->fp[0] = '\0';
                        goto out;
                }
                hp = &set->hcache->h;
        } else {
                struct hwin w;
                rc = history_window(pg, set, NULL, NULL, &w, errstr, n);
                if (rc == 0 && w.lo[0])
                        rc = history_load(pg, set, w.lo, w.hi, &h, errstr, n);
                if (rc < 0)
                        goto out;
        }
        if (hp->n == 0) {
                snprintf(set->skip_reason[PRED_SIMILARITY], sizeof(set->skip_reason[0]),
                         "no past feature rows with outcomes");
                goto out;
        }
        pred_col_stats(hp->x, hp->n, hp->nf, mean, sd);
        for (size_t f = 0; f < hp->nf; f++) {
                scale[f] = sd[f] > 0.0 ? sd[f] : 1.0;
                inv[f] = 1.0 / scale[f];
        }
        by_player = sl_xmalloc(hp->n * sizeof(size_t));
        for (size_t r = 0; r < hp->n; r++)
                by_player[r] = r;
        sim_sort_h = hp;
        sl_qsort(by_player, hp->n, sizeof(size_t), cmp_player_row);
        sim_sort_h = NULL;
        with = similarity_all(set, hp, mean, scale, inv, by_player);
        if (with == 0)
                snprintf(set->skip_reason[PRED_SIMILARITY], sizeof(set->skip_reason[0]),
                         "no target has a feature row");
out:
        free(by_player);
        history_fini(&h);
        return rc;
}

/* ---- xgboost_v1 and ensemble_v1 -------------------------------------------------------- */

static int run_xgboost(struct pred_set *set, const struct pred_model *model, char *errstr, size_t n)
{
        float *x;
        double *y;
        size_t *map, k = 0;
        int rc;

        if (!model) {
                snprintf(set->skip_reason[PRED_XGBOOST], sizeof(set->skip_reason[0]),
                         "no trained model (run statline-train)");
                snprintf(set->missing[PRED_XGBOOST], sizeof(set->missing[0]), "prediction.models");
                return 0;
        }
        if (set->nf != pred_model_nfeatures(model)) {
                snprintf(set->skip_reason[PRED_XGBOOST], sizeof(set->skip_reason[0]),
                         "feature rows have %zu features, the model %zu", set->nf,
                         pred_model_nfeatures(model));
                return 0;
        }
        x = sl_xmalloc((set->n ? set->n : 1) * set->nf * sizeof(float));
        y = sl_xmalloc((set->n ? set->n : 1) * sizeof(double));
        map = sl_xmalloc((set->n ? set->n : 1) * sizeof(size_t));
        for (size_t i = 0; i < set->n; i++) {
                if (!set->t[i].features)
                        continue;
                memcpy(x + k * set->nf, set->t[i].features, set->nf * sizeof(float));
                map[k++] = i;
        }
        rc = pred_model_predict(model, x, k, set->nf, y, errstr, n);
        for (size_t j = 0; rc == 0 && j < k; j++)
                set->out[PRED_XGBOOST][PRED_POINTS][map[j]] =
                    (struct pred_value){y[j] < 0 ? 0.0 : y[j], NAN, 10.0};
        if (rc == 0 && k == 0)
                snprintf(set->skip_reason[PRED_XGBOOST], sizeof(set->skip_reason[0]),
                         "no target has a feature row");
        free(x);
        free(y);
        free(map);
        return rc < 0 ? -EIO : 0; /* errstr already says why */
}

/* Recent MAE per system and market as of the newest target date (NaN: unknown). */
static int load_errors(struct sl_pg *pg, double mae[PRED_N_SYSTEMS][PRED_N_MARKETS], char *errstr,
                       size_t n)
{
        PGresult *res = NULL;
        int rc;

        for (int s = 0; s < PRED_N_SYSTEMS; s++)
                for (int m = 0; m < PRED_N_MARKETS; m++)
                        mae[s][m] = NAN;
        rc = sl_pg_exec(pg,
                        "SELECT DISTINCT ON (system_id, market) system_id, market, mae "
                        "FROM prediction.system_errors WHERE as_of_date <= (SELECT "
                        "max(game_date) FROM pred_targets) AND n_samples > 0 AND mae IS NOT NULL "
                        "ORDER BY system_id, market, as_of_date DESC",
                        0, NULL, &res, errstr, n);
        if (rc < 0)
                return rc;
        for (int r = 0; r < PQntuples(res); r++) {
                int m = pred_market_from_name(PQgetvalue(res, r, 1));
                for (int s = 0; s < PRED_N_SYSTEMS && m >= 0; s++)
                        if (strcmp(PQgetvalue(res, r, 0), pred_system_name(s)) == 0)
                                mae[s][m] = num(res, r, 2);
        }
        PQclear(res);
        return 0;
}

static int run_ensemble(struct sl_pg *pg, struct pred_set *set, bool use_errors, char *errstr,
                        size_t n)
{
        double mae[PRED_N_SYSTEMS][PRED_N_MARKETS];
        int rc = 0;

        if (use_errors)
                rc = load_errors(pg, mae, errstr, n);
        else
                for (int s = 0; s < PRED_N_SYSTEMS; s++)
                        for (int m = 0; m < PRED_N_MARKETS; m++)
                                mae[s][m] = NAN;
        if (rc < 0)
                return rc;
        for (int m = 0; m < PRED_N_MARKETS; m++) {
                double w[PRED_ENSEMBLE];
                for (int s = 0; s < PRED_ENSEMBLE; s++)
                        w[s] = mae[s][m];
                for (size_t i = 0; i < set->n; i++) {
                        struct pred_value parts[PRED_ENSEMBLE];
                        for (int s = 0; s < PRED_ENSEMBLE; s++)
                                parts[s] = set->out[s][m][i];
                        set->out[PRED_ENSEMBLE][m][i] = pred_ensemble(parts, w, PRED_ENSEMBLE);
                }
        }
        return 0;
}

/*
 * The system breaker's side of one system (set->rt): 1 = refused (skip_reason
 * "circuit open", nothing attempted), else 0 with *cb (NULL: no breaker) and a
 * SAVEPOINT taken (negative errno when it could not be).
 */
static int system_enter(struct sl_pg *pg, struct pred_set *set, int s, struct sl_cb **cb,
                        char *errstr, size_t n)
{
        char dep[SL_CB_NAME_MAX];

        *cb = NULL;
        if (!set->rt)
                return 0;
        snprintf(dep, sizeof(dep), "system:%s", pred_system_name(s));
        *cb = sl_svc_cb(set->rt, dep, NULL);
        if (*cb && !sl_cb_allow(*cb, sl_mono_ms())) {
                set->cb_open[s] = true;
                snprintf(set->skip_reason[s], sizeof(set->skip_reason[0]), "circuit open");
                return 1;
        }
        int rc = sl_pg_exec(pg, "SAVEPOINT pred_system", 0, NULL, NULL, errstr, n);
        if (rc < 0 && *cb) /* not the system's fault: give a half-open permit back */
                sl_cb_record(*cb, -EBUSY, 0, sl_mono_ms());
        return rc;
}

/*
 * After system s returned rc (set->rt only): success releases the savepoint;
 * a failure of the system is rolled back to it and recorded (0 returned so
 * the run goes on); a lost connection or a transaction to redo is returned.
 */
static int system_leave(struct sl_pg *pg, struct pred_set *set, int s, struct sl_cb *cb, int rc,
                        int64_t t0, char *errstr, size_t n)
{
        char err[PRED_ERRSTR_SIZE];

        if (rc == 0) {
                if (cb)
                        sl_cb_record(cb, 0, sl_mono_ms() - t0, sl_mono_ms());
                return sl_pg_exec(pg, "RELEASE SAVEPOINT pred_system", 0, NULL, NULL, errstr, n);
        }
        if (rc == -ECONNRESET || rc == -EAGAIN) {
                /* the whole run fails (the runtime waits / retries); not the system's fault */
                if (cb)
                        sl_cb_record(cb, -EBUSY, 0, sl_mono_ms());
                return rc;
        }
        snprintf(err, sizeof(err), "%s", errstr[0] ? errstr : sl_strerror(rc));
        int rb = sl_pg_exec(pg, "ROLLBACK TO SAVEPOINT pred_system", 0, NULL, NULL, errstr, n);
        if (rb < 0) {
                if (cb)
                        sl_cb_record(cb, -EBUSY, 0, sl_mono_ms());
                return rb;
        }
        /* any error is the system's failure here (sl_cb_record counts -EIO) */
        if (cb)
                sl_cb_record(cb, -EIO, sl_mono_ms() - t0, sl_mono_ms());
        for (int m = 0; m < PRED_N_MARKETS; m++)
                for (size_t i = 0; i < set->n; i++)
                        set->out[s][m][i] = (struct pred_value){NAN, 0.0, 0.0};
        set->failed[s] = true;
        snprintf(set->skip_reason[s], sizeof(set->skip_reason[0]), "system failed: %.140s", err);
        sl_log_warn("prediction.system.failed", "system=%s: %s (%s)", pred_system_name(s), err,
                    sl_strerror(rc));
        errstr[0] = '\0';
        return 0;
}

int pred_run_systems(struct sl_pg *pg, struct pred_set *set, const struct pred_model *model,
                     bool use_errors, char *errstr, size_t n)
{
        int rc = 0;

        for (int s = 0; s < PRED_N_SYSTEMS && rc == 0; s++) {
                int64_t t0 = sl_mono_ms();
                struct sl_cb *cb = NULL;
                set->skip_reason[s][0] = set->missing[s][0] = '\0';
                set->failed[s] = set->cb_open[s] = false;
                if (n > 0)
                        errstr[0] = '\0';
                rc = system_enter(pg, set, s, &cb, errstr, n);
                if (rc == 1) { /* circuit open: nothing attempted */
                        rc = 0;
                        set->ran[s] = false;
                        set->duration_ms[s] = 0;
                        continue;
                }
                if (rc < 0)
                        break;
                switch (s) {
                case PRED_MOVING_AVERAGE:
                        rc = run_moving_average(pg, set, errstr, n);
                        break;
                case PRED_ZONE_MATCHUP:
                        rc = run_zone(pg, set, errstr, n);
                        break;
                case PRED_SIMILARITY:
                        rc = run_similarity(pg, set, errstr, n);
                        break;
                case PRED_XGBOOST:
                        rc = run_xgboost(set, model, errstr, n);
                        break;
                default:
                        rc = run_ensemble(pg, set, use_errors, errstr, n);
                        break;
                }
                if (set->rt)
                        rc = system_leave(pg, set, s, cb, rc, t0, errstr, n);
                set->ran[s] = rc == 0 && set->skip_reason[s][0] == '\0';
                set->duration_ms[s] = sl_mono_ms() - t0;
        }
        return rc;
}

double pred_mae(const struct pred_set *set, enum pred_system s, enum pred_market m, size_t *count)
{
        double sum = 0.0;
        size_t c = 0;

        for (size_t i = 0; i < set->n; i++) {
                double v = set->out[s][m][i].value, a = set->t[i].actual[m];
                if (isnan(v) || isnan(a))
                        continue;
                sum += fabs(v - a);
                c++;
        }
        if (count)
                *count = c;
        return c ? sum / (double)c : NAN;
}
