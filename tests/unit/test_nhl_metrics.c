/*
 * NHL metrics (libmodels sl/nhl.h) and the play-by-play loader
 * (tools/nhl/pbp.c): the real game 2024021015 against counts made
 * independently with python3 from the raw JSON (the numbers below; the
 * integration test tests/integration/nhl_metrics.sh recomputes them live),
 * shot geometry worked by hand, the trainer on synthetic data with known
 * coefficients, the xG model on simulated seasons (held-out log loss below
 * the base rate), and z-scores/TPI/GOI on a hand-computed league.
 */

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sl/nhl.h>
#include <sl/util.h>

#include "nhl_render.h"
#include "nhl_sim.h"
#include "pbp.h"
#include "sl_test.h"

static bool near(double a, double b, double tol)
{
        return fabs(a - b) <= tol;
}

static void test_real_game(void)
{
        const char *shared = getenv("STATLINE_SHARED"), *src = getenv("STATLINE_SRC");
        char path[1024], err[256], *data = NULL;
        struct nhl_pbp_game g;
        struct sl_nhl_team_game tg[2];
        size_t len = 0;
        int no_xy = -1, rc;

        if (shared)
                snprintf(path, sizeof(path), "%s/data/nhl/gamecenter_2024021015_play-by-play.json",
                         shared);
        else
                snprintf(path, sizeof(path),
                         "%s/../shared/data/nhl/gamecenter_2024021015_play-by-play.json",
                         src ? src : ".");
        rc = nhl_read_file(path, &data, &len);
        SL_CHECKF(rc == 0, "%s: %s", path, strerror(-rc));
        if (rc < 0)
                return;
        rc = nhl_pbp_load(data, len, &g, err, sizeof(err));
        free(data);
        SL_CHECKF(rc == 0, "%s", err);
        if (rc < 0)
                return;
        SL_CHECK(g.nplays_all == 295 && g.nplays == 295);
        SL_CHECK(g.home_id == 30 && g.away_id == 5 && g.home_score == 1 && g.away_score == 3);
        rc = sl_nhl_game_metrics(g.plays, g.nplays, g.home_id, g.away_id, NULL, tg, &no_xy);
        SL_CHECK(rc == 0 && no_xy == 0);
        /* python3: all situations Corsi {30: 74, 5: 48}, Fenwick {30: 48, 5: 28};
         * 5v5 Corsi {30: 48, 5: 38}, Fenwick {30: 34, 5: 22} */
        SL_CHECK(tg[0].all_for.corsi == 74 && tg[1].all_for.corsi == 48);
        SL_CHECK(tg[0].all_against.corsi == 48 && tg[1].all_against.corsi == 74);
        SL_CHECK(tg[0].all_for.fenwick == 48 && tg[1].all_for.fenwick == 28);
        SL_CHECK(tg[0].ev_for.corsi == 48 && tg[1].ev_for.corsi == 38);
        SL_CHECK(tg[0].ev_for.fenwick == 34 && tg[1].ev_for.fenwick == 22);
        /* shots on goal as the NHL counts them = the file's homeTeam.sog 30, awayTeam.sog 22 */
        SL_CHECK(tg[0].all_for.shots == 30 && tg[1].all_for.shots == 22);
        SL_CHECK(tg[0].all_for.goals == 1 && tg[1].all_for.goals == 3);
        SL_CHECK(tg[0].all_for.blocked == 26 && tg[1].all_for.blocked == 20);
        SL_CHECK(tg[0].all_for.xg > 0 && tg[1].all_for.xg > 0);
        SL_CHECK(near(tg[0].all_for.xg, tg[1].all_against.xg, 1e-12));
        printf("# real game xG: MIN %.3f PIT %.3f (5v5 %.3f / %.3f)\n", tg[0].all_for.xg,
               tg[1].all_for.xg, tg[0].ev_for.xg, tg[1].ev_for.xg);
        /* the first shot: MIN (home, defending the right net) from (-47, 32): the attacked
         * net is (-89, 0), distance sqrt(42^2 + 32^2) = 52.802, angle atan(32/42) = 37.303 deg */
        for (size_t i = 0; i < g.nplays; i++) {
                double d, a;
                if (g.plays[i].event != SL_NHL_EV_SOG)
                        continue;
                SL_CHECK(sl_nhl_shot_geometry(&g.plays[i], true, &d, &a) == 0);
                SL_CHECKF(near(d, 52.802, 1e-3) && near(a, 37.303, 1e-3), "d %f a %f", d, a);
                break;
        }
        nhl_pbp_fini(&g);
        SL_CHECK(nhl_pbp_load("{\"id\": 1}", 9, &g, err, sizeof(err)) == -EBADMSG);
        SL_CHECK(nhl_pbp_load("[", 1, &g, err, sizeof(err)) == -EBADMSG);
}

static void test_basics(void)
{
        int ag, as, hs, hg;
        struct sl_nhl_play p = {.event = SL_NHL_EV_GOAL, .team_id = 5, .has_xy = true};
        double x[SL_NHL_XG_NFEAT];

        SL_CHECK(sl_nhl_situation("1451", &ag, &as, &hs, &hg) == 0 && ag == 1 && as == 4 &&
                 hs == 5 && hg == 1);
        SL_CHECK(sl_nhl_situation("1560", &ag, &as, &hs, &hg) == 0 && hs == 6 && hg == 0);
        SL_CHECK(sl_nhl_situation("155", &ag, &as, &hs, &hg) == -EINVAL);
        SL_CHECK(sl_nhl_situation("2551", &ag, &as, &hs, &hg) == -EINVAL);
        SL_CHECK(sl_nhl_is_5v5("1551") && !sl_nhl_is_5v5("1451") && !sl_nhl_is_5v5(NULL));
        SL_CHECK(sl_nhl_event_from_key("blocked-shot") == SL_NHL_EV_BLOCKED);
        SL_CHECK(sl_nhl_event_from_key("hit") == SL_NHL_EV_OTHER);
        SL_CHECK(sl_nhl_shot_type_from_key("tip-in") == SL_NHL_ST_TIP_IN);
        SL_CHECK(sl_nhl_shot_type_from_key("wrap-around") == SL_NHL_ST_OTHER);
        /* away (5) shooting on a power play into the right net, home goalie pulled */
        p.x = 79;
        p.y = 0;
        p.home_def_right = 1;
        snprintf(p.situation, sizeof(p.situation), "1540");
        p.shot_type = SL_NHL_ST_SLAP;
        SL_CHECK(sl_nhl_xg_features(&p, 30, x) == 0);
        SL_CHECK(near(x[1], 1.0, 1e-12) && near(x[3], 0, 1e-12) && x[6] == 1 && x[11] == 1 &&
                 x[12] == 0 && x[13] == 1);
        p.event = SL_NHL_EV_BLOCKED;
        SL_CHECK(sl_nhl_xg_features(&p, 30, x) == -ENOENT);
        p.event = SL_NHL_EV_SOG;
        p.shootout = true;
        SL_CHECK(sl_nhl_xg_features(&p, 30, x) == -ENOENT);
        {
                struct sl_nhl_team_game tg[2];
                p.shootout = false;
                p.team_id = 7;
                SL_CHECK(sl_nhl_game_metrics(&p, 1, 30, 5, NULL, tg, NULL) == -EINVAL);
                SL_CHECK(sl_nhl_game_metrics(&p, 1, 30, 30, NULL, tg, NULL) == -EINVAL);
        }
}

/* The trainer recovers known coefficients from data drawn from them. */
static void test_trainer(void)
{
        enum { N = 40000 };
        double *X = sl_xcalloc(N * SL_NHL_XG_NFEAT, sizeof(double));
        int *y = sl_xcalloc(N, sizeof(int)), iters = 0;
        struct sl_nhl_xg_model truth = {{0}}, fit;
        uint64_t s = 12345;

        truth.w[0] = -1.0;
        truth.w[1] = -0.6;
        truth.w[3] = -0.5;
        truth.w[11] = 0.8;
        for (int i = 0; i < N; i++) {
                double *x = X + (size_t)i * SL_NHL_XG_NFEAT, u;
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                x[0] = 1;
                x[1] = (double)(s >> 40) / (double)(1ull << 24) * 6.0;
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                x[3] = (double)(s >> 40) / (double)(1ull << 24) * 2.0;
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                x[11] = (s >> 63) ? 1 : 0;
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                u = (double)(s >> 11) / 9007199254740992.0;
                y[i] = u < sl_nhl_xg_prob(&truth, x);
        }
        SL_CHECK(sl_nhl_xg_train(X, y, N, 1e-6, &fit, &iters) == 0);
        SL_CHECKF(near(fit.w[0], -1.0, 0.12) && near(fit.w[1], -0.6, 0.05) &&
                      near(fit.w[3], -0.5, 0.1) && near(fit.w[11], 0.8, 0.1),
                  "fit %f %f %f %f in %d iterations", fit.w[0], fit.w[1], fit.w[3], fit.w[11],
                  iters);
        SL_CHECK(sl_nhl_log_loss(&fit, X, y, N) < sl_nhl_log_loss(&truth, X, y, N) + 1e-6 + 0.001);
        SL_CHECK(sl_nhl_xg_train(X, y, 0, 1, &fit, &iters) == -EINVAL);
        memset(y, 0, N * sizeof(int));
        SL_CHECK(sl_nhl_xg_train(X, y, N, 1, &fit, &iters) == -EINVAL);
        /* base-rate log loss of a constant 0.5 is ln 2 */
        y[0] = 1;
        SL_CHECK(near(sl_nhl_base_log_loss(0.5, y, 2), log(2.0), 1e-12));
        free(X);
        free(y);
}

struct rows {
        double *X;
        int *y;
        size_t n, cap;
};

/* Unblocked attempts of n games of a simulated season, through the rendered JSON. */
static void sim_rows(uint64_t seed, int year, int ngames, struct rows *r)
{
        struct nhl_league *lg = nhl_league_new(seed, year);
        struct sl_buf b;
        char err[256];

        sl_buf_init(&b, 64u << 20);
        for (int gi = 0; lg && gi < ngames; gi++) {
                struct nhl_pbp_game g;
                sl_buf_reset(&b);
                if (nhl_render_pbp(lg, gi, nhl_last_day(lg) + 1, &b) < 0 ||
                    nhl_pbp_load(b.data, b.len, &g, err, sizeof(err)) < 0) {
                        SL_CHECKF(0, "game %d: %s", gi, err);
                        break;
                }
                for (size_t i = 0; i < g.nplays; i++) {
                        double x[SL_NHL_XG_NFEAT];
                        if (sl_nhl_xg_features(&g.plays[i], g.home_id, x) < 0)
                                continue;
                        if (r->n == r->cap) {
                                r->cap = r->cap ? 2 * r->cap : 4096;
                                r->X = sl_xrealloc(r->X, r->cap * sizeof(x));
                                r->y = sl_xrealloc(r->y, r->cap * sizeof(int));
                        }
                        memcpy(r->X + r->n * SL_NHL_XG_NFEAT, x, sizeof(x));
                        r->y[r->n++] = g.plays[i].event == SL_NHL_EV_GOAL;
                }
                nhl_pbp_fini(&g);
        }
        sl_buf_fini(&b);
        nhl_league_free(lg);
}

static void test_xg_on_sim(void)
{
        struct rows tr = {0}, te = {0};
        struct sl_nhl_xg_model m, def;
        size_t goals = 0;
        double ll, base, ll_def;
        int iters;

        sim_rows(11, 2022, 500, &tr);
        sim_rows(12, 2023, 300, &te); /* another seed and season: held out */
        for (size_t i = 0; i < tr.n; i++)
                goals += tr.y[i];
        SL_CHECK(tr.n > 20000 && te.n > 10000);
        SL_CHECK(sl_nhl_xg_train(tr.X, tr.y, tr.n, 1.0, &m, &iters) == 0);
        ll = sl_nhl_log_loss(&m, te.X, te.y, te.n);
        base = sl_nhl_base_log_loss((double)goals / (double)tr.n, te.y, te.n);
        sl_nhl_xg_default(&def);
        ll_def = sl_nhl_log_loss(&def, te.X, te.y, te.n);
        printf("# xG held-out log loss %.5f, base rate %.5f, built-in model %.5f (%zu train, "
               "%zu test rows)\n",
               ll, base, ll_def, tr.n, te.n);
        SL_CHECK(ll < base - 0.01);
        SL_CHECK(ll_def < base - 0.01);
        /* the shape the simulation has: farther and wider is worse, empty nets are better */
        SL_CHECK(m.w[1] < 0 && m.w[3] < 0 && m.w[13] > 1.0 && m.w[11] > 0);
        /* calibration: predicted goals on the other league within 8% of actual (the two
         * simulated leagues' team strengths differ; the binomial sd alone is ~2.5%) */
        {
                double pred = 0, act = 0;
                for (size_t i = 0; i < te.n; i++) {
                        pred += sl_nhl_xg_prob(&m, te.X + i * SL_NHL_XG_NFEAT);
                        act += te.y[i];
                }
                SL_CHECKF(fabs(pred - act) < 0.08 * act, "pred %.1f act %.0f", pred, act);
        }
        free(tr.X);
        free(tr.y);
        free(te.X);
        free(te.y);
}

/* Three teams worked by hand: z-scores, TPI, GOI. */
static void test_ratings(void)
{
        struct sl_nhl_team_agg a[3];
        struct sl_nhl_rating r[3];
        struct sl_nhl_team_game tg = {.team_id = 9};
        double p, sd;

        memset(a, 0, sizeof(a));
        for (int i = 0; i < 3; i++) {
                a[i].team_id = i + 1;
                a[i].games = 10;
                a[i].sf = a[i].sa = 300;
                a[i].gf = a[i].ga = 30;
                a[i].cf5 = a[i].ca5 = 400;
                a[i].xgf5 = a[i].xga5 = 20;
        }
        /* team 1: xGF%5 0.6, team 2: 0.5, team 3: 0.4; everything else equal */
        a[0].xgf5 = 30;
        a[0].xga5 = 20;
        a[2].xgf5 = 20;
        a[2].xga5 = 30;
        SL_CHECK(sl_nhl_ratings(a, 3, r) == 0);
        sd = sqrt((0.01 + 0 + 0.01) / 3.0); /* population sd of 0.6, 0.5, 0.4 */
        SL_CHECK(near(r[0].value[SL_NHL_M_XGF_PCT5], 0.6, 1e-12));
        SL_CHECK(near(r[0].z[SL_NHL_M_XGF_PCT5], 0.1 / sd, 1e-9));
        SL_CHECK(near(r[1].z[SL_NHL_M_XGF_PCT5], 0, 1e-9));
        SL_CHECK(near(r[0].z[SL_NHL_M_CF_PCT5], 0, 1e-12)); /* no spread: z = 0 */
        SL_CHECK(near(r[0].tpi, 0.30 * 0.1 / sd, 1e-9));
        SL_CHECK(near(r[0].value[SL_NHL_M_SV_PCT], 0.9, 1e-12));
        SL_CHECK(near(sl_nhl_goi(&r[1], &r[1], &p), 0.27, 1e-12));
        SL_CHECK(near(p, 1.0 / (1.0 + exp(-0.35 * 0.27)), 1e-12));
        /* TPI +-0.30 * 0.1 / sd for teams 1 and 3: GOI = 0.6 * 0.1 / sd + 0.27 */
        SL_CHECK(near(sl_nhl_goi(&r[0], &r[2], &p), 0.6 * 0.1 / sd + 0.27, 1e-9));
        SL_CHECK(near(p, 1.0 / (1.0 + exp(-0.35 * (0.6 * 0.1 / sd + 0.27))), 1e-9));
        SL_CHECK(sl_nhl_agg_add(&a[0], &tg) == -EINVAL);
        a[1].games = 0;
        SL_CHECK(sl_nhl_ratings(a, 3, r) == -EINVAL);
        SL_CHECK(sl_nhl_ratings(a, 1, r) == -EINVAL);
}

int main(void)
{
        test_basics();
        test_real_game();
        test_trainer();
        test_ratings();
        test_xg_on_sim();
        return SL_DONE();
}
