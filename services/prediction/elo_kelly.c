#include "prediction.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sl/elo.h>
#include <sl/err.h>
#include <sl/kelly.h>
#include <sl/odds.h>
#include <sl/pg.h>
#include <sl/util.h>

/*
 * Elo win probabilities and Kelly stakes of a date (prediction.h, README.md
 * "Elo" and "Kelly"): glue between the database and libmodels (sl/elo.h,
 * sl/odds.h, sl/kelly.h), which holds every formula. Both run inside the
 * prediction run's transaction and rewrite the same values on a replay.
 */

double pred_p_over(double mean, double sd, double line)
{
        if (!isfinite(mean) || !isfinite(sd) || !isfinite(line) || !(sd > 0))
                return NAN;
        return 0.5 * erfc((line - mean) / (sd * sqrt(2.0)));
}

static const char *const KELLY_KEYS[6] = {"kelly.bankroll",      "kelly.fraction",
                                          "kelly.max_bet",       "kelly.max_day",
                                          "kelly.max_portfolio", "kelly.min_edge"};

int pred_kelly_cfg_parse(const char *const text[6], struct pred_kelly_cfg *out, char *errstr,
                         size_t n)
{
        double v[6];

        for (int i = 0; i < 6; i++) {
                char *end;
                if (!text[i] || !*text[i])
                        return sl_errf(errstr, n, -EINVAL, "%s: empty", KELLY_KEYS[i]);
                v[i] = strtod(text[i], &end);
                if (end == text[i] || *end || !isfinite(v[i]))
                        return sl_errf(errstr, n, -EINVAL, "%s: '%s' is not a number",
                                       KELLY_KEYS[i], text[i]);
        }
        if (!(v[0] > 0 && v[0] < 1e12))
                return sl_errf(errstr, n, -EINVAL, "kelly.bankroll: must be in (0, 1e12)");
        for (int i = 1; i < 5; i++)
                if (!(v[i] > 0 && v[i] <= 1))
                        return sl_errf(errstr, n, -EINVAL, "%s: must be in (0, 1]", KELLY_KEYS[i]);
        if (!(v[2] <= v[3] && v[3] <= v[4]))
                return sl_errf(errstr, n, -EINVAL,
                               "kelly caps: need max_bet <= max_day <= max_portfolio");
        if (!(v[5] >= 0 && v[5] < 1))
                return sl_errf(errstr, n, -EINVAL, "kelly.min_edge: must be in [0, 1)");
        *out =
            (struct pred_kelly_cfg){.bankroll = v[0],
                                    .fraction = v[1],
                                    .max_bet = v[2],
                                    .max_day = v[3],
                                    .max_portfolio = v[4],
                                    .min_edge = v[5],
                                    .market_weight = strtod(PRED_KELLY_MARKET_WEIGHT, NULL),
                                    .ml_market_weight = strtod(PRED_KELLY_ML_MARKET_WEIGHT, NULL)};
        return 0;
}

int pred_kelly_weight_parse(const char *text, const char *ml_text, struct pred_kelly_cfg *out,
                            char *errstr, size_t n)
{
        const char *t[2] = {text ? text : PRED_KELLY_MARKET_WEIGHT,
                            ml_text ? ml_text : PRED_KELLY_ML_MARKET_WEIGHT};
        static const char *const keys[2] = {"kelly.market_weight", "kelly.moneyline_market_weight"};
        double w[2];

        for (int i = 0; i < 2; i++) {
                char *end;
                w[i] = strtod(t[i], &end);
                if (end == t[i] || *end || !(w[i] >= 0 && w[i] <= 1))
                        return sl_errf(errstr, n, -EINVAL, "%s: '%s' is not in [0, 1]", keys[i],
                                       t[i]);
        }
        out->market_weight = w[0];
        out->ml_market_weight = w[1];
        return 0;
}

/* The model probability shrunk toward the market: (1 - w) p + w p_fair. */
static double shrink(double p, double p_fair, double w)
{
        return (1.0 - w) * p + w * p_fair;
}

/* Appends one element to a PostgreSQL array literal under construction. */
static void arr_add(struct sl_buf *b, bool first, const char *v)
{
        sl_buf_puts(b, first ? "{" : ",");
        if (v)
                sl_buf_printf(b, "\"%s\"", v); /* ids, names, numbers: no quotes inside */
        else
                sl_buf_puts(b, "NULL");
}

/* Runs sql with the n array literals (closed here) plus extra params; returns rows returned. */
static int exec_arrays(struct sl_pg *pg, const char *sql, struct sl_buf *cols, int ncols,
                       const char *const *extra, int nextra, char *errstr, size_t n)
{
        const char *params[24];
        PGresult *res = NULL;
        int rc;

        for (int i = 0; i < ncols; i++) {
                sl_buf_puts(&cols[i], "}");
                params[i] = cols[i].data;
        }
        for (int i = 0; i < nextra; i++)
                params[ncols + i] = extra[i];
        rc = sl_pg_exec(pg, sql, ncols + nextra, params, &res, errstr, n);
        if (rc == 0)
                rc = PQntuples(res);
        PQclear(res);
        return rc;
}

/*
 * Runs delete_sql ($1 date, $2 sport, $3.. the first nkeys array literals
 * under construction, closed on copies: the caller still appends to them)
 * to drop the date's rows that are no candidates any more; adds the rows
 * deleted to *written. Returns 0 or the error.
 */
static int delete_stale(struct sl_pg *pg, const char *delete_sql, const char *date,
                        const char *sport, const struct sl_buf *keys, int nkeys, int *written,
                        char *errstr, size_t n)
{
        const char *params[2 + 4] = {date, sport};
        struct sl_buf closed[4];
        PGresult *res = NULL;
        int rc;

        for (int i = 0; i < nkeys && i < 4; i++) {
                sl_buf_init(&closed[i], 0);
                sl_buf_printf(&closed[i], "%s}", keys[i].data);
                params[2 + i] = closed[i].data;
        }
        rc = sl_pg_exec(pg, delete_sql, 2 + nkeys, params, &res, errstr, n);
        if (rc == 0)
                *written += PQntuples(res);
        PQclear(res);
        for (int i = 0; i < nkeys && i < 4; i++)
                sl_buf_fini(&closed[i]);
        return rc;
}

/* ---- Elo -------------------------------------------------------------------------------- */

static const char SQL_ELO_FINALS[] =
    "SELECT game_id, season, home_team_id, away_team_id, home_pts, away_pts FROM raw.games "
    "WHERE status = 'final' AND league = '00' AND game_date < $1::date "
    "ORDER BY game_date, game_id";

static const char SQL_ELO_DAY[] =
    "WITH ids AS (SELECT game_id FROM raw.schedule WHERE game_date = $1::date "
    "             UNION SELECT game_id FROM raw.games WHERE game_date = $1::date) "
    "SELECT i.game_id, coalesce(g.season, s.season), coalesce(g.home_team_id, s.home_team_id), "
    "coalesce(g.away_team_id, s.away_team_id) FROM ids i "
    "LEFT JOIN raw.games g ON g.game_id = i.game_id LEFT JOIN raw.schedule s ON s.game_id = "
    "i.game_id ORDER BY i.game_id";

static const char SQL_ELO_RATINGS[] =
    "INSERT INTO prediction.elo_ratings (sport, team_id, as_of_date, rating, games) "
    "SELECT $3, t, $4::date, r, g FROM unnest($1::bigint[], $2::numeric[], $5::int[]) AS x(t, r, "
    "g) ON CONFLICT (sport, team_id, as_of_date) DO UPDATE SET rating = excluded.rating, "
    "games = excluded.games RETURNING 1";

static const char SQL_ELO_PROBS[] =
    "INSERT INTO prediction.game_win_probs (sport, game_id, game_date, home_team_id, "
    "away_team_id, r_home, r_away, p_home, p_away, model) "
    "SELECT $8, g, $9::date, h, a, rh, ra, ph, pa, $10 FROM unnest($1::text[], $2::bigint[], "
    "$3::bigint[], $4::numeric[], $5::numeric[], $6::numeric[], $7::numeric[]) "
    "AS x(g, h, a, rh, ra, ph, pa) ON CONFLICT (sport, game_id) DO UPDATE SET "
    "game_date = excluded.game_date, home_team_id = excluded.home_team_id, "
    "away_team_id = excluded.away_team_id, r_home = excluded.r_home, r_away = excluded.r_away, "
    "p_home = excluded.p_home, p_away = excluded.p_away, model = excluded.model RETURNING 1";

/* "2024-25" -> 2024; 0 when absent. */
static int season_year(const char *s)
{
        int64_t y = 0;
        char buf[5];

        if (!s || strlen(s) < 4)
                return 0;
        memcpy(buf, s, 4);
        buf[4] = '\0';
        return sl_parse_i64(buf, 1000, 9999, &y) == 0 ? (int)y : 0;
}

/* Replays the finals before date into league. */
static int elo_replay(struct sl_pg *pg, struct sl_elo_league *league, const char *date,
                      struct pred_elo_stats *st, char *errstr, size_t n)
{
        const char *params[] = {date};
        PGresult *res = NULL;
        int rc;

        rc = sl_pg_exec(pg, SQL_ELO_FINALS, 1, params, &res, errstr, n);
        for (int r = 0; rc == 0 && r < PQntuples(res); r++) {
                const char *gid = PQgetvalue(res, r, 0);
                int64_t hp = 0, ap = 0;
                struct sl_elo_outcome out;
                struct sl_elo_match m = {
                    .team1 = PQgetvalue(res, r, 2),
                    .team2 = PQgetvalue(res, r, 3),
                    .season = season_year(PQgetvalue(res, r, 1)),
                    .neutral = false,
                    .playoff = strlen(gid) >= 3 && gid[2] == '4', /* 004...: playoffs */
                };
                sl_parse_i64(PQgetvalue(res, r, 4), 0, 1000, &hp);
                sl_parse_i64(PQgetvalue(res, r, 5), 0, 1000, &ap);
                m.score1 = (int)hp;
                m.score2 = (int)ap;
                if (sl_elo_league_play(league, &m, &out) < 0)
                        rc = sl_errf(errstr, n, -EBADMSG, "elo: game %s cannot be rated", gid);
                else
                        st->games_played++;
        }
        PQclear(res);
        return rc;
}

static int elo_store_ratings(struct sl_pg *pg, const struct sl_elo_league *league,
                             const char *sport, const char *date, struct pred_elo_stats *st,
                             char *errstr, size_t n)
{
        struct sl_buf c[3];
        const char *extra[] = {sport, date};
        char num[48];
        size_t nt = sl_elo_league_count(league);
        int rc = 0;

        st->teams = (int)nt;
        if (nt == 0)
                return 0;
        for (int i = 0; i < 3; i++)
                sl_buf_init(&c[i], 0);
        for (size_t i = 0; i < nt; i++) {
                const char *name;
                double rating;
                int played;
                sl_elo_league_team(league, i, &name, &rating, &played);
                arr_add(&c[0], i == 0, name);
                snprintf(num, sizeof(num), "%.4f", rating);
                arr_add(&c[1], i == 0, num);
                snprintf(num, sizeof(num), "%d", played);
                arr_add(&c[2], i == 0, num);
        }
        {
                /* $1 teams, $2 ratings, $3 sport, $4 date, $5 games */
                const char *params[5];
                PGresult *res = NULL;
                for (int i = 0; i < 3; i++)
                        sl_buf_puts(&c[i], "}");
                params[0] = c[0].data;
                params[1] = c[1].data;
                params[2] = extra[0];
                params[3] = extra[1];
                params[4] = c[2].data;
                rc = sl_pg_exec(pg, SQL_ELO_RATINGS, 5, params, &res, errstr, n);
                if (rc == 0)
                        st->ratings_written = PQntuples(res);
                PQclear(res);
        }
        for (int i = 0; i < 3; i++)
                sl_buf_fini(&c[i]);
        return rc;
}

static int elo_predict_day(struct sl_pg *pg, const struct sl_elo_league *league, const char *sport,
                           const char *date, struct pred_elo_stats *st, char *errstr, size_t n)
{
        const char *params[] = {date};
        char model[40], num[48];
        PGresult *res = NULL;
        struct sl_buf c[7];
        int rc, k = 0;

        rc = sl_pg_exec(pg, SQL_ELO_DAY, 1, params, &res, errstr, n);
        if (rc < 0)
                return rc;
        for (int i = 0; i < 7; i++)
                sl_buf_init(&c[i], 0);
        for (int r = 0; rc == 0 && r < PQntuples(res); r++) {
                struct sl_elo_outcome out;
                struct sl_elo_match m = {
                    .team1 = PQgetvalue(res, r, 2),
                    .team2 = PQgetvalue(res, r, 3),
                    .season = season_year(PQgetvalue(res, r, 1)),
                };
                const char *gid = PQgetvalue(res, r, 0);
                m.playoff = strlen(gid) >= 3 && gid[2] == '4';
                if (sl_elo_league_predict(league, &m, &out) < 0) {
                        rc = sl_errf(errstr, n, -EBADMSG, "elo: game %s cannot be predicted", gid);
                        break;
                }
                arr_add(&c[0], k == 0, gid);
                arr_add(&c[1], k == 0, m.team1);
                arr_add(&c[2], k == 0, m.team2);
                snprintf(num, sizeof(num), "%.4f", out.r1);
                arr_add(&c[3], k == 0, num);
                snprintf(num, sizeof(num), "%.4f", out.r2);
                arr_add(&c[4], k == 0, num);
                snprintf(num, sizeof(num), "%.6f", out.p_win1);
                arr_add(&c[5], k == 0, num);
                snprintf(num, sizeof(num), "%.6f", out.p_win2);
                arr_add(&c[6], k == 0, num);
                k++;
        }
        PQclear(res);
        st->games_predicted = k;
        if (rc == 0 && k > 0) {
                const char *extra[] = {sport, date, model};
                snprintf(model, sizeof(model), "elo:%s", sport);
                rc = exec_arrays(pg, SQL_ELO_PROBS, c, 7, extra, 3, errstr, n);
                if (rc >= 0) {
                        st->probs_written = rc;
                        rc = 0;
                }
        }
        for (int i = 0; i < 7; i++)
                sl_buf_fini(&c[i]);
        return rc;
}

int pred_elo_run(struct sl_pg *pg, const char *sport, const char *date,
                 struct pred_elo_stats *stats, char *errstr, size_t n)
{
        enum sl_elo_sport sp;
        struct sl_elo_league *league;
        int rc;

        memset(stats, 0, sizeof(*stats));
        if (strcmp(sport, "nba") != 0 || sl_elo_sport_parse(sport, &sp) < 0)
                return 1; /* raw.games holds NBA results only */
        league = sl_elo_league_new(sl_elo_params_get(sp));
        rc = elo_replay(pg, league, date, stats, errstr, n);
        if (rc == 0)
                rc = elo_store_ratings(pg, league, sport, date, stats, errstr, n);
        if (rc == 0)
                rc = elo_predict_day(pg, league, sport, date, stats, errstr, n);
        sl_elo_league_free(league);
        return rc;
}

/* ---- Kelly ------------------------------------------------------------------------------ */

/*
 * The date's priced props with the ensemble's spread: player, market, book,
 * line, over, under, sd (the latest usable system_errors row of the market,
 * else the market's default). The ensemble's predictions of the date
 * (SQL_KELLY_PREDS) are joined to them in C (kelly_candidates()): as a join
 * in SQL, PostgreSQL planned it from statistics that never hold the date
 * being backfilled (one row estimated) and nested-looped every line over the
 * date's predictions (up to 540,000 pairs, 20-160 ms a run, growing with the
 * slate); two index scans by date and a binary search per line do not depend
 * on the statistics (the spreads are MATERIALIZED: computed once, not once
 * per line of a nested loop).
 */
static const char SQL_KELLY_LINES[] =
    "WITH e AS MATERIALIZED (SELECT DISTINCT ON (x.market) x.market, x.rmse "
    "  FROM prediction.system_errors x WHERE x.system_id = 'ensemble_v1' "
    "  AND x.as_of_date <= $1::date AND x.rmse > 0 AND x.n_samples >= $2::int "
    "  ORDER BY x.market, x.as_of_date DESC) "
    "SELECT l.player_id, l.market, l.book, l.line, l.over_price, l.under_price, "
    "coalesce(e.rmse, CASE l.market WHEN 'points' THEN $3::numeric WHEN 'rebounds' "
    "THEN $4::numeric ELSE $5::numeric END) "
    "FROM raw.prop_lines l LEFT JOIN e ON e.market = l.market "
    "WHERE l.game_date = $1::date AND l.over_price IS NOT NULL AND l.under_price IS NOT NULL "
    "ORDER BY l.player_id, l.market, l.book";

/* The date's ensemble predictions that are bets: player, market, value, game id. */
static const char SQL_KELLY_PREDS[] =
    "SELECT q.player_id, q.market, q.predicted_value, q.game_id "
    "FROM prediction.player_prop_predictions q WHERE q.game_date = $1::date "
    "AND q.system_id = 'ensemble_v1' AND q.recommendation <> 'NO_BET'";

/* Stakes on bets of earlier dates whose game is not final yet. */
static const char SQL_KELLY_OPEN[] =
    "SELECT coalesce(sum(b.stake), 0) FROM (SELECT sport, game_date, game_id, stake "
    "FROM prediction.prop_bets UNION ALL SELECT sport, game_date, game_id, stake "
    "FROM prediction.moneyline_bets) b WHERE b.sport = $2 "
    "AND b.game_date < $1::date AND b.stake > 0 AND NOT EXISTS (SELECT 1 FROM raw.games g "
    "WHERE g.game_id = b.game_id AND g.status IN ('final', 'cancelled', 'postponed'))";

/*
 * The date's bets that are no candidates any more. NOT IN (no NULLs on
 * either side, so the same rows as NOT EXISTS) is a hashed subplan whatever
 * the statistics say: as NOT EXISTS, PostgreSQL estimated one row for the
 * date just written (its statistics do not hold it yet) and rescanned the
 * candidate arrays for every bet (726 x 726: 101 ms instead of 0.5 ms).
 */
static const char SQL_KELLY_DELETE[] =
    "DELETE FROM prediction.prop_bets b WHERE b.game_date = $1::date AND b.sport = $2 AND "
    "(b.player_id, b.market) NOT IN (SELECT x.p, x.m FROM unnest($3::bigint[], $4::text[]) "
    "AS x(p, m)) RETURNING 1";

static const char SQL_KELLY_BETS[] =
    "INSERT INTO prediction.prop_bets (game_date, player_id, market, sport, game_id, book, side, "
    "line, price, predicted_value, sd, p_model, p_fair, edge, ev, full_kelly, stake, capped) "
    "SELECT $17::date, p, m, $18, g, bk, sd_, l, pr, pv, s, pm, pf, e, ev, fk, st, "
    "string_to_array(cp, ' ') FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], "
    "$5::text[], $6::numeric[], $7::int[], $8::numeric[], $9::numeric[], $10::numeric[], "
    "$11::numeric[], $12::numeric[], $13::numeric[], $14::numeric[], $15::numeric[], $16::text[]) "
    "AS x(p, m, g, bk, sd_, l, pr, pv, s, pm, pf, e, ev, fk, st, cp) "
    "ON CONFLICT (game_date, player_id, market) DO UPDATE SET sport = excluded.sport, "
    "game_id = excluded.game_id, book = excluded.book, side = excluded.side, "
    "line = excluded.line, price = excluded.price, predicted_value = excluded.predicted_value, "
    "sd = excluded.sd, p_model = excluded.p_model, p_fair = excluded.p_fair, "
    "edge = excluded.edge, ev = excluded.ev, full_kelly = excluded.full_kelly, "
    "stake = excluded.stake, capped = excluded.capped RETURNING 1";

static const char SQL_KELLY_PORTFOLIO[] =
    "INSERT INTO prediction.kelly_portfolio (sport, game_date, bankroll, fraction, n_bets, "
    "n_staked, total_stake, expected_profit, scale_day, scale_portfolio, caps_bet, "
    "open_exposure, n_moneyline, moneyline_staked, moneyline_stake, min_edge, market_weight, "
    "moneyline_market_weight) "
    "VALUES ($1, $2::date, $3::numeric, $4::numeric, $5::int, $6::int, "
    "$7::numeric, $8::numeric, $9::numeric, $10::numeric, $11::int, $12::numeric, $13::int, "
    "$14::int, $15::numeric, $16::numeric, $17::numeric, $18::numeric) "
    "ON CONFLICT (sport, game_date) DO UPDATE SET bankroll = excluded.bankroll, "
    "fraction = excluded.fraction, n_bets = excluded.n_bets, n_staked = excluded.n_staked, "
    "total_stake = excluded.total_stake, expected_profit = excluded.expected_profit, "
    "scale_day = excluded.scale_day, scale_portfolio = excluded.scale_portfolio, "
    "caps_bet = excluded.caps_bet, open_exposure = excluded.open_exposure, "
    "n_moneyline = excluded.n_moneyline, moneyline_staked = excluded.moneyline_staked, "
    "moneyline_stake = excluded.moneyline_stake, min_edge = excluded.min_edge, "
    "market_weight = excluded.market_weight, "
    "moneyline_market_weight = excluded.moneyline_market_weight RETURNING 1";

/* One candidate bet (the best book and side of a player's market). */
struct cand {
        char player[24], market[32], game_id[16], book[64];
        const char *side;
        double line, pred, sd, p, p_fair, decimal;
        int price;
};

/* One ensemble prediction of the date (SQL_KELLY_PREDS row r), keyed by player and market. */
struct kpred {
        int64_t player;
        const char *market;
        int r;
};

static int kpred_cmp(const void *a, const void *b)
{
        const struct kpred *x = a, *y = b;

        if (x->player != y->player)
                return x->player < y->player ? -1 : 1;
        return strcmp(x->market, y->market);
}

/*
 * Reads the candidates, keeping per (player, market) the book and side with
 * the largest edge: the lines with a prediction (an inner join on player and
 * market, the primary key making it at most one prediction per line).
 */
static int kelly_candidates(struct sl_pg *pg, const char *date, double w, struct cand **out,
                            size_t *nout, char *errstr, size_t n)
{
        char minn[16], sdp[32], sdr[32], sda[32];
        const char *params[] = {date, minn, sdp, sdr, sda};
        PGresult *res = NULL, *pres = NULL;
        struct cand *c = NULL;
        struct kpred *preds = NULL;
        size_t np = 0;
        double best_edge = 0;
        size_t k = 0;
        int rc;

        snprintf(minn, sizeof(minn), "%d", PRED_KELLY_MIN_SAMPLES);
        snprintf(sdp, sizeof(sdp), "%.3f", PRED_KELLY_SD_POINTS);
        snprintf(sdr, sizeof(sdr), "%.3f", PRED_KELLY_SD_REBOUNDS);
        snprintf(sda, sizeof(sda), "%.3f", PRED_KELLY_SD_ASSISTS);
        rc = sl_pg_exec(pg, SQL_KELLY_PREDS, 1, params, &pres, errstr, n);
        if (rc == 0)
                rc = sl_pg_exec(pg, SQL_KELLY_LINES, 5, params, &res, errstr, n);
        if (rc < 0) {
                PQclear(pres);
                return rc;
        }
        preds = sl_xcalloc((size_t)PQntuples(pres) + 1, sizeof(*preds));
        for (int r = 0; r < PQntuples(pres); r++) {
                if (sl_parse_i64(PQgetvalue(pres, r, 0), INT64_MIN, INT64_MAX, &preds[np].player) <
                    0)
                        continue; /* bigint: unreachable */
                preds[np].market = PQgetvalue(pres, r, 1);
                preds[np++].r = r;
        }
        sl_qsort(preds, np, sizeof(*preds), kpred_cmp);
        c = sl_xcalloc((size_t)PQntuples(res) + 1, sizeof(*c));
        for (int r = 0; r < PQntuples(res); r++) {
                struct cand x;
                struct kpred key = {.market = PQgetvalue(res, r, 1)}, *p;
                double dec[2], fair[2], p_over, edge_o, edge_u;
                int64_t po = 0, pu = 0;

                if (sl_parse_i64(PQgetvalue(res, r, 0), INT64_MIN, INT64_MAX, &key.player) < 0)
                        continue; /* bigint: unreachable */
                p = np ? sl_bsearch(&key, preds, np, sizeof(*preds), kpred_cmp) : NULL;
                if (!p)
                        continue; /* no ensemble bet prediction for this line */
                memset(&x, 0, sizeof(x));
                snprintf(x.player, sizeof(x.player), "%s", PQgetvalue(res, r, 0));
                snprintf(x.market, sizeof(x.market), "%s", PQgetvalue(res, r, 1));
                snprintf(x.book, sizeof(x.book), "%s", PQgetvalue(res, r, 2));
                snprintf(x.game_id, sizeof(x.game_id), "%s", PQgetvalue(pres, p->r, 3));
                x.line = strtod(PQgetvalue(res, r, 3), NULL);
                x.pred = strtod(PQgetvalue(pres, p->r, 2), NULL);
                x.sd = strtod(PQgetvalue(res, r, 6), NULL);
                if (sl_parse_i64(PQgetvalue(res, r, 4), -100000, 100000, &po) < 0 ||
                    sl_parse_i64(PQgetvalue(res, r, 5), -100000, 100000, &pu) < 0 ||
                    sl_odds_american_to_decimal((double)po, &dec[0]) < 0 ||
                    sl_odds_american_to_decimal((double)pu, &dec[1]) < 0 ||
                    sl_odds_fair(dec, 2, SL_ODDS_PROPORTIONAL, fair, NULL) < 0)
                        continue; /* the table's checks make this unreachable */
                p_over = pred_p_over(x.pred, x.sd, x.line);
                if (isnan(p_over))
                        continue;
                edge_o = p_over - fair[0];
                edge_u = (1 - p_over) - fair[1];
                if (edge_o >= edge_u) {
                        x.side = "OVER";
                        x.p = shrink(p_over, fair[0], w);
                        x.p_fair = fair[0];
                        x.decimal = dec[0];
                        x.price = (int)po;
                } else {
                        x.side = "UNDER";
                        x.p = shrink(1 - p_over, fair[1], w);
                        x.p_fair = fair[1];
                        x.decimal = dec[1];
                        x.price = (int)pu;
                }
                /* same player and market as the previous candidate: keep the larger edge */
                if (k > 0 && strcmp(c[k - 1].player, x.player) == 0 &&
                    strcmp(c[k - 1].market, x.market) == 0) {
                        if (x.p - x.p_fair > best_edge) {
                                c[k - 1] = x;
                                best_edge = x.p - x.p_fair;
                        }
                        continue;
                }
                c[k++] = x;
                best_edge = x.p - x.p_fair;
        }
        PQclear(res);
        PQclear(pres);
        free(preds);
        *out = c;
        *nout = k;
        return 0;
}

/*
 * What SQL_KELLY_OPEN reads, from the change log: the bets of earlier dates
 * and every game (a game's status settles a bet whatever date it moved to).
 */
static const char SQL_KELLY_OPEN_FP[] =
    "SELECT count(*) || ':' || coalesce(sum(seq), 0) FROM ops.data_changes "
    "WHERE (tbl IN ('prediction.prop_bets', 'prediction.moneyline_bets') "
    "AND (game_date < $1::date OR game_date IS NULL)) OR tbl = 'raw.games'";

static double open_exposure(struct sl_pg *pg, const char *date, const char *sport,
                            struct pred_kelly_open *oc, int *rc, char *errstr, size_t n)
{
        const char *params[] = {date, sport};
        PGresult *res = NULL;
        char fp[sizeof(oc->fp)] = "";
        double v = 0;

        if (oc) {
                /* read before the sum: a change committed in between moves the next fp */
                *rc = sl_pg_exec(pg, SQL_KELLY_OPEN_FP, 1, params, &res, errstr, n);
                if (*rc < 0)
                        return 0;
                snprintf(fp, sizeof(fp), "%s", PQgetvalue(res, 0, 0));
                PQclear(res);
                res = NULL;
                if (oc->fp[0] && strcmp(oc->fp, fp) == 0 && strcmp(oc->date, date) == 0 &&
                    strcmp(oc->sport, sport) == 0)
                        return oc->value;
        }
        *rc = sl_pg_exec(pg, SQL_KELLY_OPEN, 2, params, &res, errstr, n);
        if (*rc == 0)
                v = strtod(PQgetvalue(res, 0, 0), NULL);
        PQclear(res);
        if (oc && *rc == 0 && strlen(sport) < sizeof(oc->sport) &&
            strlen(date) < sizeof(oc->date)) {
                snprintf(oc->sport, sizeof(oc->sport), "%s", sport);
                snprintf(oc->date, sizeof(oc->date), "%s", date);
                snprintf(oc->fp, sizeof(oc->fp), "%s", fp);
                oc->value = v;
        }
        return v;
}

static int kelly_store(struct sl_pg *pg, const char *sport, const char *date, const struct cand *c,
                       const struct sl_kelly_stake *st, size_t k, struct pred_kelly_stats *stats,
                       char *errstr, size_t n)
{
        struct sl_buf a[16];
        char num[64];
        int rc;

        for (int i = 0; i < 16; i++)
                sl_buf_init(&a[i], 0);
        for (size_t i = 0; i < k; i++) {
                bool f = i == 0;
                arr_add(&a[0], f, c[i].player);
                arr_add(&a[1], f, c[i].market);
                arr_add(&a[2], f, c[i].game_id[0] ? c[i].game_id : NULL);
                arr_add(&a[3], f, c[i].book);
                arr_add(&a[4], f, c[i].side);
                snprintf(num, sizeof(num), "%.1f", c[i].line);
                arr_add(&a[5], f, num);
                snprintf(num, sizeof(num), "%d", c[i].price);
                arr_add(&a[6], f, num);
                snprintf(num, sizeof(num), "%.2f", c[i].pred);
                arr_add(&a[7], f, num);
                snprintf(num, sizeof(num), "%.3f", c[i].sd);
                arr_add(&a[8], f, num);
                snprintf(num, sizeof(num), "%.6f", c[i].p);
                arr_add(&a[9], f, num);
                snprintf(num, sizeof(num), "%.6f", c[i].p_fair);
                arr_add(&a[10], f, num);
                snprintf(num, sizeof(num), "%.6f", st[i].edge);
                arr_add(&a[11], f, num);
                snprintf(num, sizeof(num), "%.6f", st[i].ev);
                arr_add(&a[12], f, num);
                snprintf(num, sizeof(num), "%.6f", st[i].full_kelly);
                arr_add(&a[13], f, num);
                snprintf(num, sizeof(num), "%.2f", st[i].stake);
                arr_add(&a[14], f, num);
                snprintf(num, sizeof(num), "%s%s%s", st[i].capped & SL_KELLY_CAP_BET ? "bet " : "",
                         st[i].capped & SL_KELLY_CAP_DAY ? "day " : "",
                         st[i].capped & SL_KELLY_CAP_PORTFOLIO ? "portfolio " : "");
                if (num[0])
                        num[strlen(num) - 1] = '\0';
                arr_add(&a[15], f, num);
        }
        if (k == 0)
                for (int i = 0; i < 16; i++)
                        sl_buf_puts(&a[i], "{");
        /* drop the date's bets that are no candidates any more (a player now Out) */
        rc = delete_stale(pg, SQL_KELLY_DELETE, date, sport, a, 2, &stats->written, errstr, n);
        if (rc == 0 && k > 0) {
                const char *extra[] = {date, sport};
                rc = exec_arrays(pg, SQL_KELLY_BETS, a, 16, extra, 2, errstr, n);
                if (rc >= 0) {
                        stats->written += rc;
                        rc = 0;
                }
        }
        for (int i = 0; i < 16; i++)
                sl_buf_fini(&a[i]);
        return rc;
}

/* ---- Moneylines ------------------------------------------------------------------------- */

/*
 * The date's games with Elo probabilities and moneyline odds, one row per
 * game and book: game, home, away, p_home, book, home/away decimal, home/away
 * price as quoted, odds format.
 */
static const char SQL_ML_CANDIDATES[] =
    "SELECT w.game_id, w.home_team_id, w.away_team_id, w.p_home, o.book, o.home_decimal, "
    "o.away_decimal, o.home_price, o.away_price, o.odds_format "
    "FROM prediction.game_win_probs w JOIN raw.moneyline_odds o ON o.game_date = w.game_date "
    "AND o.home_team_id = w.home_team_id AND o.away_team_id = w.away_team_id "
    "WHERE w.sport = $2 AND w.game_date = $1::date ORDER BY w.game_id, o.book";

static const char SQL_ML_DELETE[] =
    "DELETE FROM prediction.moneyline_bets b WHERE b.game_date = $1::date AND b.sport = $2 AND "
    "NOT (b.game_id = ANY ($3::text[])) RETURNING 1";

static const char SQL_ML_BETS[] =
    "INSERT INTO prediction.moneyline_bets (sport, game_id, game_date, side, team_id, book, "
    "price, decimal_odds, p_elo, p_model, p_fair, edge, ev, full_kelly, stake, capped) "
    "SELECT $15, g, $16::date, sd_, t, bk, pr, dc, pe, pm, pf, e, ev, fk, st, "
    "string_to_array(cp, ' ') FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], "
    "$5::int[], $6::numeric[], $7::numeric[], $8::numeric[], $9::numeric[], $10::numeric[], "
    "$11::numeric[], $12::numeric[], $13::numeric[], $14::text[]) "
    "AS x(g, sd_, t, bk, pr, dc, pe, pm, pf, e, ev, fk, st, cp) "
    "ON CONFLICT (sport, game_id) DO UPDATE SET game_date = excluded.game_date, "
    "side = excluded.side, team_id = excluded.team_id, book = excluded.book, "
    "price = excluded.price, decimal_odds = excluded.decimal_odds, p_elo = excluded.p_elo, "
    "p_model = excluded.p_model, p_fair = excluded.p_fair, edge = excluded.edge, "
    "ev = excluded.ev, full_kelly = excluded.full_kelly, stake = excluded.stake, "
    "capped = excluded.capped RETURNING 1";

/* One moneyline candidate: the best side and book of a game. */
struct ml_cand {
        char game_id[16], team[24], book[64];
        const char *side;
        double p_elo, p, p_fair, decimal;
        int price;
};

/* The American price of a side: as quoted, or from the decimal odds (rounded). */
static int ml_price(const char *quoted, const char *format, double decimal)
{
        double a = 0;

        if (strcmp(format, "american") == 0)
                return (int)lround(strtod(quoted, NULL));
        if (sl_odds_decimal_to_american(decimal, &a) < 0)
                return 100;
        a = (double)lround(a);
        return a > -100 && a < 100 ? (a < 0 ? -100 : 100) : (int)a;
}

/* Reads the moneyline candidates, keeping per game the side and book with the largest edge. */
static int ml_candidates(struct sl_pg *pg, const char *sport, const char *date, double w,
                         struct ml_cand **out, size_t *nout, char *errstr, size_t n)
{
        const char *params[] = {date, sport};
        PGresult *res = NULL;
        struct ml_cand *c;
        double best_edge = 0;
        size_t k = 0;
        int rc;

        rc = sl_pg_exec(pg, SQL_ML_CANDIDATES, 2, params, &res, errstr, n);
        if (rc < 0)
                return rc;
        c = sl_xcalloc((size_t)PQntuples(res) + 1, sizeof(*c));
        for (int r = 0; r < PQntuples(res); r++) {
                struct ml_cand x;
                double dec[2], fair[2], p_home = strtod(PQgetvalue(res, r, 3), NULL), ph, pa;
                const char *fmt = PQgetvalue(res, r, 9);

                memset(&x, 0, sizeof(x));
                dec[0] = strtod(PQgetvalue(res, r, 5), NULL);
                dec[1] = strtod(PQgetvalue(res, r, 6), NULL);
                if (sl_odds_fair(dec, 2, SL_ODDS_PROPORTIONAL, fair, NULL) < 0 ||
                    !(p_home >= 0 && p_home <= 1))
                        continue; /* the tables' checks make this unreachable */
                snprintf(x.game_id, sizeof(x.game_id), "%s", PQgetvalue(res, r, 0));
                snprintf(x.book, sizeof(x.book), "%s", PQgetvalue(res, r, 4));
                ph = shrink(p_home, fair[0], w);
                pa = shrink(1 - p_home, fair[1], w);
                if (ph - fair[0] >= pa - fair[1]) {
                        x.side = "HOME";
                        snprintf(x.team, sizeof(x.team), "%s", PQgetvalue(res, r, 1));
                        x.p_elo = p_home;
                        x.p = ph;
                        x.p_fair = fair[0];
                        x.decimal = dec[0];
                        x.price = ml_price(PQgetvalue(res, r, 7), fmt, dec[0]);
                } else {
                        x.side = "AWAY";
                        snprintf(x.team, sizeof(x.team), "%s", PQgetvalue(res, r, 2));
                        x.p_elo = 1 - p_home;
                        x.p = pa;
                        x.p_fair = fair[1];
                        x.decimal = dec[1];
                        x.price = ml_price(PQgetvalue(res, r, 8), fmt, dec[1]);
                }
                if (k > 0 && strcmp(c[k - 1].game_id, x.game_id) == 0) {
                        if (x.p - x.p_fair > best_edge) {
                                c[k - 1] = x;
                                best_edge = x.p - x.p_fair;
                        }
                        continue;
                }
                c[k++] = x;
                best_edge = x.p - x.p_fair;
        }
        PQclear(res);
        *out = c;
        *nout = k;
        return 0;
}

/* Writes the date's moneyline bets (stakes st[0..k-1]) and drops the date's other rows. */
static int ml_store(struct sl_pg *pg, const char *sport, const char *date, const struct ml_cand *c,
                    const struct sl_kelly_stake *st, size_t k, struct pred_kelly_stats *stats,
                    char *errstr, size_t n)
{
        struct sl_buf a[14];
        char num[64];
        int rc;

        for (int i = 0; i < 14; i++)
                sl_buf_init(&a[i], 0);
        for (size_t i = 0; i < k; i++) {
                bool f = i == 0;
                arr_add(&a[0], f, c[i].game_id);
                arr_add(&a[1], f, c[i].side);
                arr_add(&a[2], f, c[i].team);
                arr_add(&a[3], f, c[i].book);
                snprintf(num, sizeof(num), "%d", c[i].price);
                arr_add(&a[4], f, num);
                snprintf(num, sizeof(num), "%.6f", c[i].decimal);
                arr_add(&a[5], f, num);
                snprintf(num, sizeof(num), "%.6f", c[i].p_elo);
                arr_add(&a[6], f, num);
                snprintf(num, sizeof(num), "%.6f", c[i].p);
                arr_add(&a[7], f, num);
                snprintf(num, sizeof(num), "%.6f", c[i].p_fair);
                arr_add(&a[8], f, num);
                snprintf(num, sizeof(num), "%.6f", st[i].edge);
                arr_add(&a[9], f, num);
                snprintf(num, sizeof(num), "%.6f", st[i].ev);
                arr_add(&a[10], f, num);
                snprintf(num, sizeof(num), "%.6f", st[i].full_kelly);
                arr_add(&a[11], f, num);
                snprintf(num, sizeof(num), "%.2f", st[i].stake);
                arr_add(&a[12], f, num);
                snprintf(num, sizeof(num), "%s%s%s", st[i].capped & SL_KELLY_CAP_BET ? "bet " : "",
                         st[i].capped & SL_KELLY_CAP_DAY ? "day " : "",
                         st[i].capped & SL_KELLY_CAP_PORTFOLIO ? "portfolio " : "");
                if (num[0])
                        num[strlen(num) - 1] = '\0';
                arr_add(&a[13], f, num);
        }
        if (k == 0)
                for (int i = 0; i < 14; i++)
                        sl_buf_puts(&a[i], "{");
        rc = delete_stale(pg, SQL_ML_DELETE, date, sport, a, 1, &stats->written, errstr, n);
        if (rc == 0 && k > 0) {
                const char *extra[] = {sport, date};
                rc = exec_arrays(pg, SQL_ML_BETS, a, 14, extra, 2, errstr, n);
                if (rc >= 0) {
                        stats->written += rc;
                        rc = 0;
                }
        }
        for (int i = 0; i < 14; i++)
                sl_buf_fini(&a[i]);
        return rc;
}

int pred_kelly_run(struct sl_pg *pg, const char *sport, const char *date,
                   const struct pred_kelly_cfg *cfg, struct pred_kelly_open *oc,
                   struct pred_kelly_stats *stats, char *errstr, size_t n)
{
        struct cand *c = NULL;
        struct ml_cand *mc = NULL;
        struct sl_kelly_bet *bets = NULL;
        struct sl_kelly_stake *st = NULL;
        struct sl_kelly_summary sum;
        struct sl_kelly_opts opts = {.fraction = cfg->fraction,
                                     .max_bet = cfg->max_bet,
                                     .max_day = cfg->max_day,
                                     .max_portfolio = cfg->max_portfolio,
                                     .min_edge = cfg->min_edge};
        size_t k = 0, km = 0;
        double open, ml_stake = 0;
        int rc, caps_bet = 0;

        memset(stats, 0, sizeof(*stats));
        rc = kelly_candidates(pg, date, cfg->market_weight, &c, &k, errstr, n);
        if (rc < 0)
                return rc;
        rc = ml_candidates(pg, sport, date, cfg->ml_market_weight, &mc, &km, errstr, n);
        if (rc < 0)
                goto cleanup;
        open = open_exposure(pg, date, sport, oc, &rc, errstr, n);
        if (rc < 0)
                goto cleanup;
        /* one slate: the props, then the moneylines (the day and portfolio caps cover both) */
        bets = sl_xcalloc(k + km + 1, sizeof(*bets));
        st = sl_xcalloc(k + km + 1, sizeof(*st));
        for (size_t i = 0; i < k; i++)
                bets[i] = (struct sl_kelly_bet){
                    .p = c[i].p, .decimal = c[i].decimal, .p_fair = c[i].p_fair};
        for (size_t i = 0; i < km; i++)
                bets[k + i] = (struct sl_kelly_bet){
                    .p = mc[i].p, .decimal = mc[i].decimal, .p_fair = mc[i].p_fair};
        /* min_edge 0 means "any positive edge" to sl_kelly_size too */
        rc = sl_kelly_size(&opts, cfg->bankroll, 0.0, open, bets, k + km, st, &sum);
        if (rc < 0) {
                rc = sl_errf(errstr, n, rc, "kelly: sizing the slate failed");
                goto cleanup;
        }
        for (size_t i = 0; i < k + km; i++)
                caps_bet += (st[i].capped & SL_KELLY_CAP_BET) != 0;
        for (size_t i = 0; i < km; i++) {
                /* staked = at least a cent once stored (what the published list shows) */
                stats->ml_staked += st[k + i].stake >= 0.005;
                ml_stake += st[k + i].stake;
        }
        stats->candidates = (int)(k + km);
        stats->ml_candidates = (int)km;
        stats->staked = (int)sum.n_staked;
        stats->total_stake = sum.total_stake;
        stats->expected_profit = sum.expected_profit;
        rc = kelly_store(pg, sport, date, c, st, k, stats, errstr, n);
        if (rc == 0)
                rc = ml_store(pg, sport, date, mc, st + k, km, stats, errstr, n);
        if (rc == 0) {
                char v[16][48];
                const char *params[18] = {sport, date};
                PGresult *res = NULL;
                snprintf(v[0], sizeof(v[0]), "%.2f", cfg->bankroll);
                snprintf(v[1], sizeof(v[1]), "%.4f", cfg->fraction);
                snprintf(v[2], sizeof(v[2]), "%zu", sum.n_bets);
                snprintf(v[3], sizeof(v[3]), "%zu", sum.n_staked);
                snprintf(v[4], sizeof(v[4]), "%.2f", sum.total_stake);
                snprintf(v[5], sizeof(v[5]), "%.2f", sum.expected_profit);
                snprintf(v[6], sizeof(v[6]), "%.6f", sum.scale_day);
                snprintf(v[7], sizeof(v[7]), "%.6f", sum.scale_portfolio);
                snprintf(v[8], sizeof(v[8]), "%d", caps_bet);
                snprintf(v[9], sizeof(v[9]), "%.2f", sum.open_exposure);
                snprintf(v[10], sizeof(v[10]), "%zu", km);
                snprintf(v[11], sizeof(v[11]), "%d", stats->ml_staked);
                snprintf(v[12], sizeof(v[12]), "%.2f", ml_stake);
                snprintf(v[13], sizeof(v[13]), "%.4f", cfg->min_edge);
                snprintf(v[14], sizeof(v[14]), "%.4f", cfg->market_weight);
                snprintf(v[15], sizeof(v[15]), "%.4f", cfg->ml_market_weight);
                for (int i = 0; i < 16; i++)
                        params[2 + i] = v[i];
                rc = sl_pg_exec(pg, SQL_KELLY_PORTFOLIO, 18, params, &res, errstr, n);
                if (rc == 0)
                        stats->written += PQntuples(res);
                PQclear(res);
        }
cleanup:
        free(c);
        free(mc);
        free(bets);
        free(st);
        return rc;
}
