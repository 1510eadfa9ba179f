/*
 * Simulated seasons with known true strengths (replay.h): shows that the
 * tennis and college ratings converge toward the truth. The generator is
 * splitmix64, so a seed always gives the same seasons.
 */
#include "replay.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sl/util.h>

#define ELO_PER_POINT 28.0 /* 538 NBA: one point of spread ~ 28 Elo */
#define POINT_SD      10.5 /* spread of a game's margin around its mean, points */
#define TRUTH_RHO     0.85 /* college: season-to-season correlation of true strength */

struct rng {
        uint64_t s;
};

static uint64_t next_u64(struct rng *r)
{
        uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
}

/* Uniform in (0, 1). */
static double uniform(struct rng *r)
{
        return ((double)(next_u64(r) >> 11) + 0.5) / 9007199254740992.0;
}

/* Standard normal (Box-Muller). */
static double normal(struct rng *r)
{
        return sqrt(-2.0 * log(uniform(r))) * cos(2.0 * M_PI * uniform(r));
}

static void team_name(int i, char out[16])
{
        snprintf(out, 16, "T%03d", i);
}

/* Rating-vs-truth error at the end of a season (both centred on their means). */
static void measure(const struct sl_elo_league *league, double initial, const double *truth, int n,
                    struct elo_sim_season *ss)
{
        double mr = 0, mt = 0, sxy = 0, sxx = 0, syy = 0, se = 0;
        double *rating = sl_xcalloc((size_t)n, sizeof(*rating));
        char name[16];

        for (int i = 0; i < n; i++) {
                team_name(i, name);
                if (sl_elo_league_get(league, name, &rating[i], NULL) < 0)
                        rating[i] = initial;
                mr += rating[i] / n;
                mt += truth[i] / n;
        }
        for (int i = 0; i < n; i++) {
                double x = rating[i] - mr, y = truth[i] - mt;

                sxy += x * y;
                sxx += x * x;
                syy += y * y;
                se += (x - y) * (x - y);
        }
        ss->rmse = sqrt(se / n);
        ss->corr = sxx > 0 && syy > 0 ? sxy / sqrt(sxx * syy) : 0;
        free(rating);
}

/* Plays one game; returns its true P(team 1 wins) and fills the match. */
static double play_one(struct rng *rng, const struct sl_elo_params *params, bool college,
                       const double *truth, int i, int j, struct sl_elo_match *m)
{
        double d = truth[i] - truth[j], p;

        m->neutral = !college || uniform(rng) < 0.1;
        if (college && !m->neutral)
                d += params->home_adv;
        if (!college) {
                p = sl_elo_expected(d, params->scale);
                m->score1 = uniform(rng) < p ? 2 : 0; /* sets; only the winner matters */
                m->score2 = 2 - m->score1;
                return p;
        }
        /* margin ~ Normal(d/28, 10.5): P(win) = Phi(d/28/10.5), close to the logistic */
        p = 0.5 * erfc(-(d / ELO_PER_POINT / POINT_SD) / sqrt(2.0));
        for (;;) {
                long margin = lround(d / ELO_PER_POINT + POINT_SD * normal(rng));

                if (margin == 0)
                        continue; /* no ties in basketball: replay the draw */
                m->score1 = 70 + (margin > 0 ? (int)margin : 0);
                m->score2 = 70 + (margin < 0 ? (int)-margin : 0);
                return p;
        }
}

int elo_simulate(const struct elo_sim_opts *opts, struct elo_sim_result *res)
{
        const struct sl_elo_params *params = sl_elo_params_get(opts->sport);
        bool college = opts->sport == SL_ELO_NCAAB || opts->sport == SL_ELO_WNCAAB;
        int nteams = opts->teams > 0 ? opts->teams : (college ? 120 : 64);
        int nseasons = opts->seasons > 0 ? opts->seasons : 5;
        int per_team = opts->games > 0 ? opts->games : 30;
        struct rng rng = {opts->seed};
        struct sl_elo_league *league;
        double *truth;

        memset(res, 0, sizeof(*res));
        if (!params || (!college && opts->sport != SL_ELO_TENNIS) || nteams < 2)
                return -EINVAL;
        res->truth_sd = college ? 220 : 180;
        res->seasons = sl_xcalloc((size_t)nseasons, sizeof(*res->seasons));
        res->nseasons = nseasons;
        res->ev.sport = opts->sport;
        res->ev.max_prob_err = res->ev.max_pre_err = res->ev.max_post_err = NAN;
        res->ev.max_post_err_538prob = res->ev.max_implied_hfa = res->ev.min_implied_hfa = NAN;
        res->ev.mean_prob_err = NAN;
        snprintf(res->ev.source, sizeof(res->ev.source),
                 "simulated: %d teams, %d seasons, %d games/team/season, seed %llu", nteams,
                 nseasons, per_team, opts->seed);
        truth = sl_xcalloc((size_t)nteams, sizeof(*truth));
        for (int i = 0; i < nteams; i++)
                truth[i] = params->mean + res->truth_sd * normal(&rng);
        league = sl_elo_league_new(params);
        double oracle_sum = 0, oracle_ll = 0;
        for (int s = 0; s < nseasons; s++) {
                struct elo_sim_season *ss = &res->seasons[s];
                size_t ngames = (size_t)nteams * (size_t)per_team / 2;
                double b = 0, bo = 0;

                if (college && s > 0) {
                        for (int i = 0; i < nteams; i++)
                                truth[i] =
                                    params->mean + TRUTH_RHO * (truth[i] - params->mean) +
                                    sqrt(1 - TRUTH_RHO * TRUTH_RHO) * res->truth_sd * normal(&rng);
                }
                ss->season = s + 1;
                for (size_t g = 0; g < ngames; g++) {
                        int i = (int)(uniform(&rng) * nteams), j;
                        char n1[16], n2[16];
                        struct sl_elo_match m = {.team1 = n1, .team2 = n2, .season = s + 1};
                        struct sl_elo_outcome o;
                        double p_true, obs;

                        do
                                j = (int)(uniform(&rng) * nteams);
                        while (j == i);
                        team_name(i, n1);
                        team_name(j, n2);
                        p_true = play_one(&rng, params, college, truth, i, j, &m);
                        if (sl_elo_league_play(league, &m, &o) < 0)
                                continue;
                        obs = o.result1;
                        b += (o.p_win1 - obs) * (o.p_win1 - obs);
                        bo += (p_true - obs) * (p_true - obs);
                        oracle_ll -= obs ? log(p_true) : log(1 - p_true);
                        res->ev.logloss -= obs ? log(o.p_win1) : log(1 - o.p_win1);
                        elo_calib_add(&res->ev.calib, o.p_win1, obs);
                        elo_calib_add(&res->ev.calib_538, p_true, obs);
                }
                ss->games = ngames;
                ss->brier = b / (double)ngames;
                ss->brier_oracle = bo / (double)ngames;
                res->ev.brier += b;
                oracle_sum += bo;
                res->ev.games += ngames;
                measure(league, params->initial, truth, nteams, ss);
        }
        res->ev.rows = res->ev.games;
        res->ev.brier /= (double)res->ev.games;
        res->ev.logloss /= (double)res->ev.games;
        res->ev.brier_538 = oracle_sum / (double)res->ev.games;
        res->ev.logloss_538 = oracle_ll / (double)res->ev.games;
        sl_elo_league_free(league);
        free(truth);
        return 0;
}
