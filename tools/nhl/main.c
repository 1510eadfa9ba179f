/*
 * statline-nhl: NHL metrics and the xG shot model (README.md,
 * docs/models-nhl.md).
 *   statline-nhl metrics FILE [--model F] [--json]
 *   statline-nhl train-xg [--sim-seed N] [--season Y] [--test-season Y] [--lambda L]
 *                         [--out F] [FILE...]
 *   statline-nhl ratings [--sim-seed N] [--season Y] [--model F]
 */

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sl/nhl.h>
#include <sl/util.h>

#include "nhl_render.h"
#include "nhl_sim.h"
#include "pbp.h"

#define EX_USAGE 64
#define EX_DATA  65

static const char *const feat_names[SL_NHL_XG_NFEAT] = {
    "intercept", "dist10", "dist10_sq", "angle45", "ln_dist",    "snap",        "slap",
    "backhand",  "tip_in", "deflected", "other",   "power_play", "shorthanded", "empty_net"};

static void usage(FILE *f)
{
        fprintf(f,
                "usage: statline-nhl COMMAND [options]\n"
                "\n"
                "NHL shot metrics and the expected-goals model (docs/models-nhl.md).\n"
                "\n"
                "commands:\n"
                "  metrics FILE [--model F] [--json]\n"
                "      Corsi, Fenwick, shots, goals and xG for and against of both teams of one\n"
                "      api-web.nhle.com gamecenter play-by-play file, all situations and 5v5.\n"
                "      --model F: coefficients from train-xg (default: the built-in model).\n"
                "      --json: one JSON object instead of the table.\n"
                "  train-xg [--sim-seed N] [--season Y] [--test-season Y] [--lambda L] [--out F]\n"
                "           [FILE...]\n"
                "      Fits the xG logistic regression. Without FILEs: on the simulated season Y\n"
                "      (first year, default 2023) of seed N (default 1), every game rendered as\n"
                "      play-by-play JSON and read back, and tests it on season --test-season\n"
                "      (default Y+1). With FILEs (play-by-play JSON): every 5th game is held\n"
                "      out. Prints rows, goals, train and held-out log loss and the base-rate\n"
                "      log loss; --out F writes the coefficients as JSON. L2 penalty default 1.\n"
                "  ratings [--sim-seed N] [--season Y] [--model F]\n"
                "      Team aggregates, z-scores and TPI of the simulated season's first half,\n"
                "      then GOI win probabilities checked on the second half (accuracy,\n"
                "      log loss, Brier).\n"
                "\n"
                "exit: 0 ok, 64 usage, 65 bad data, 1 other errors\n");
}

/* ---- collecting shots ----------------------------------------------------------------- */

struct rows {
        double *X;
        int *y;
        size_t n, cap;
};

static void rows_add_game(struct rows *r, const struct nhl_pbp_game *g)
{
        for (size_t i = 0; i < g->nplays; i++) {
                double x[SL_NHL_XG_NFEAT];
                if (sl_nhl_xg_features(&g->plays[i], g->home_id, x) < 0)
                        continue;
                if (r->n == r->cap) {
                        r->cap = r->cap ? r->cap * 2 : 4096;
                        r->X = sl_xrealloc(r->X, r->cap * SL_NHL_XG_NFEAT * sizeof(double));
                        r->y = sl_xrealloc(r->y, r->cap * sizeof(int));
                }
                memcpy(r->X + r->n * SL_NHL_XG_NFEAT, x, sizeof(x));
                r->y[r->n++] = g->plays[i].event == SL_NHL_EV_GOAL;
        }
}

/* Calls fn for every game of the simulated season, through its rendered play-by-play. */
typedef int game_fn(const struct nhl_pbp_game *g, int gi, void *opaque);

static int sim_games(uint64_t seed, int year, game_fn *fn, void *opaque)
{
        struct nhl_league *lg = nhl_league_new(seed, year);
        struct sl_buf b;
        char err[256];
        int rc = 0;

        if (!lg) {
                fprintf(stderr, "statline-nhl: season %d out of range\n", year);
                return -EINVAL;
        }
        sl_buf_init(&b, 64u << 20);
        for (int gi = 0; rc == 0 && gi < NHL_GAMES; gi++) {
                struct nhl_pbp_game g;
                sl_buf_reset(&b);
                rc = nhl_render_pbp(lg, gi, nhl_last_day(lg) + 1, &b);
                if (rc == 0)
                        rc = nhl_pbp_load(b.data, b.len, &g, err, sizeof(err));
                if (rc < 0) {
                        fprintf(stderr, "statline-nhl: simulated game %d: %s\n", gi,
                                rc == -EBADMSG ? err : strerror(-rc));
                        break;
                }
                rc = fn(&g, gi, opaque);
                nhl_pbp_fini(&g);
        }
        sl_buf_fini(&b);
        nhl_league_free(lg);
        return rc;
}

static int add_rows(const struct nhl_pbp_game *g, int gi, void *opaque)
{
        (void)gi;
        rows_add_game(opaque, g);
        return 0;
}

static int load_file(const char *path, struct nhl_pbp_game *g)
{
        char *data = NULL, err[256];
        size_t len = 0;
        int rc = nhl_read_file(path, &data, &len);

        if (rc < 0) {
                fprintf(stderr, "statline-nhl: %s: %s\n", path, strerror(-rc));
                return rc;
        }
        rc = nhl_pbp_load(data, len, g, err, sizeof(err));
        free(data);
        if (rc < 0)
                fprintf(stderr, "statline-nhl: %s: %s\n", path, err);
        return rc;
}

/* ---- options ------------------------------------------------------------------------- */

struct opts {
        uint64_t seed;
        int season, test_season;
        double lambda;
        const char *out, *model;
        bool json;
        const char *files[4096];
        int nfiles;
};

static int parse_opts(int argc, char **argv, struct opts *o)
{
        o->seed = 1;
        o->season = 2023;
        o->lambda = 1.0;
        for (int i = 0; i < argc; i++) {
                const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
                int64_t n;
                if (strcmp(a, "--json") == 0) {
                        o->json = true;
                        continue;
                }
                if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
                        usage(stdout);
                        exit(0);
                }
                if (a[0] == '-' && a[1] == '-') {
                        if (!v) {
                                fprintf(stderr, "statline-nhl: %s needs a value\n", a);
                                return -EINVAL;
                        }
                        i++;
                        if (strcmp(a, "--sim-seed") == 0 && sl_parse_i64(v, 0, INT64_MAX, &n) == 0)
                                o->seed = (uint64_t)n;
                        else if (strcmp(a, "--season") == 0 && sl_parse_i64(v, 2000, 2099, &n) == 0)
                                o->season = (int)n;
                        else if (strcmp(a, "--test-season") == 0 &&
                                 sl_parse_i64(v, 2000, 2099, &n) == 0)
                                o->test_season = (int)n;
                        else if (strcmp(a, "--lambda") == 0) {
                                char *end;
                                o->lambda = strtod(v, &end);
                                if (*end || !(o->lambda >= 0)) {
                                        fprintf(stderr, "statline-nhl: bad --lambda %s\n", v);
                                        return -EINVAL;
                                }
                        } else if (strcmp(a, "--out") == 0)
                                o->out = v;
                        else if (strcmp(a, "--model") == 0)
                                o->model = v;
                        else {
                                fprintf(stderr, "statline-nhl: bad option %s %s\n", a, v);
                                return -EINVAL;
                        }
                        continue;
                }
                if (o->nfiles == (int)(sizeof(o->files) / sizeof(*o->files))) {
                        fprintf(stderr, "statline-nhl: too many files\n");
                        return -EINVAL;
                }
                o->files[o->nfiles++] = a;
        }
        if (!o->test_season)
                o->test_season = o->season + 1;
        return 0;
}

static int get_model(const struct opts *o, struct sl_nhl_xg_model *m)
{
        char err[256];
        int rc;

        if (!o->model) {
                sl_nhl_xg_default(m);
                return 0;
        }
        rc = nhl_model_load(o->model, m, err, sizeof(err));
        if (rc < 0)
                fprintf(stderr, "statline-nhl: %s\n", rc == -EBADMSG ? err : strerror(-rc));
        return rc;
}

/* ---- metrics ------------------------------------------------------------------------- */

static void counts_json(const char *name, const struct sl_nhl_counts *c, bool comma)
{
        printf("\"%s\":{\"corsi\":%d,\"fenwick\":%d,\"shots\":%d,\"goals\":%d,\"sog\":%d,"
               "\"missed\":%d,\"blocked\":%d,\"xg\":%.4f}%s",
               name, c->corsi, c->fenwick, c->shots, c->goals, c->sog, c->missed, c->blocked, c->xg,
               comma ? "," : "");
}

static int cmd_metrics(const struct opts *o)
{
        struct sl_nhl_xg_model m;
        struct sl_nhl_team_game tg[2];
        struct nhl_pbp_game g;
        int no_xy = 0, rc;

        if (o->nfiles != 1) {
                fprintf(stderr, "statline-nhl: metrics takes one FILE\n");
                return EX_USAGE;
        }
        if (get_model(o, &m) < 0)
                return EX_DATA;
        if (load_file(o->files[0], &g) < 0)
                return EX_DATA;
        rc = sl_nhl_game_metrics(g.plays, g.nplays, g.home_id, g.away_id, &m, tg, &no_xy);
        if (rc < 0) {
                fprintf(stderr, "statline-nhl: %s: a shot play of neither team\n", o->files[0]);
                nhl_pbp_fini(&g);
                return EX_DATA;
        }
        if (o->json) {
                printf("{\"game_id\":%lld,\"game_date\":\"%s\",\"plays\":%zu,\"no_xy\":%d,"
                       "\"teams\":[",
                       (long long)g.id, g.date, g.nplays_all, no_xy);
                for (int s = 0; s < 2; s++) {
                        printf("{\"team_id\":%lld,\"abbrev\":\"%s\",\"home\":%s,\"score\":%d,",
                               (long long)tg[s].team_id, s == 0 ? g.home_abbr : g.away_abbr,
                               s == 0 ? "true" : "false", s == 0 ? g.home_score : g.away_score);
                        counts_json("all_for", &tg[s].all_for, true);
                        counts_json("all_against", &tg[s].all_against, true);
                        counts_json("ev_for", &tg[s].ev_for, true);
                        counts_json("ev_against", &tg[s].ev_against, false);
                        printf("}%s", s == 0 ? "," : "");
                }
                printf("]}\n");
        } else {
                printf("game %lld %s: %s %d @ %s %d (%zu plays)\n", (long long)g.id, g.date,
                       g.away_abbr, g.away_score, g.home_abbr, g.home_score, g.nplays_all);
                printf("%-5s %-4s %5s %5s %5s %5s %5s %5s %6s %6s %5s %5s %6s %6s\n", "team",
                       "side", "CF", "CA", "FF", "FA", "SF", "GF", "xGF", "xGA", "CF5", "CA5",
                       "xGF5", "xGA5");
                for (int s = 0; s < 2; s++) {
                        const struct sl_nhl_team_game *t = &tg[s];
                        printf("%-5s %-4s %5d %5d %5d %5d %5d %5d %6.2f %6.2f %5d %5d %6.2f "
                               "%6.2f\n",
                               s == 0 ? g.home_abbr : g.away_abbr, s == 0 ? "home" : "away",
                               t->all_for.corsi, t->all_against.corsi, t->all_for.fenwick,
                               t->all_against.fenwick, t->all_for.shots, t->all_for.goals,
                               t->all_for.xg, t->all_against.xg, t->ev_for.corsi,
                               t->ev_against.corsi, t->ev_for.xg, t->ev_against.xg);
                }
        }
        nhl_pbp_fini(&g);
        return 0;
}

/* ---- train-xg ------------------------------------------------------------------------ */

static int write_model(const char *path, const struct sl_nhl_xg_model *m, size_t n, double ll,
                       double ll_test, double ll_base, const char *source)
{
        FILE *f = fopen(path, "w");

        if (!f) {
                fprintf(stderr, "statline-nhl: %s: %s\n", path, strerror(errno));
                return -errno;
        }
        fprintf(f, "{\"model\":\"statline-nhl-xg\",\"source\":\"%s\",\"features\":[", source);
        for (int j = 0; j < SL_NHL_XG_NFEAT; j++)
                fprintf(f, "%s\"%s\"", j ? "," : "", feat_names[j]);
        fprintf(f, "],\"coef\":[");
        for (int j = 0; j < SL_NHL_XG_NFEAT; j++)
                fprintf(f, "%s%.6f", j ? "," : "", m->w[j]);
        fprintf(f,
                "],\"train_rows\":%zu,\"train_log_loss\":%.6f,\"test_log_loss\":%.6f,"
                "\"base_log_loss\":%.6f}\n",
                n, ll, ll_test, ll_base);
        if (fclose(f) != 0) {
                fprintf(stderr, "statline-nhl: %s: %s\n", path, strerror(errno));
                return -EIO;
        }
        return 0;
}

static int cmd_train(const struct opts *o)
{
        struct rows tr = {0}, te = {0};
        struct sl_nhl_xg_model m;
        char source[96];
        size_t goals = 0;
        double rate, ll, ll_test, ll_base;
        int iters = 0, rc = 0, ret = 1;

        if (o->nfiles == 0) {
                rc = sim_games(o->seed, o->season, add_rows, &tr);
                if (rc == 0)
                        rc = sim_games(o->seed, o->test_season, add_rows, &te);
                snprintf(source, sizeof(source), "sim seed %llu season %d, test season %d",
                         (unsigned long long)o->seed, o->season, o->test_season);
        } else {
                for (int i = 0; rc == 0 && i < o->nfiles; i++) {
                        struct nhl_pbp_game g;
                        rc = load_file(o->files[i], &g);
                        if (rc == 0)
                                rows_add_game(i % 5 == 4 ? &te : &tr, &g);
                        nhl_pbp_fini(&g);
                }
                snprintf(source, sizeof(source), "%d files, every 5th held out", o->nfiles);
        }
        if (rc < 0) {
                ret = EX_DATA;
                goto cleanup;
        }
        for (size_t i = 0; i < tr.n; i++)
                goals += tr.y[i] != 0;
        rc = sl_nhl_xg_train(tr.X, tr.y, tr.n, o->lambda, &m, &iters);
        if (rc < 0) {
                fprintf(stderr, "statline-nhl: training failed: %s (%zu rows, %zu goals)\n",
                        rc == -EDOM ? "no convergence" : "need both goals and non-goals", tr.n,
                        goals);
                ret = EX_DATA;
                goto cleanup;
        }
        rate = (double)goals / (double)tr.n;
        ll = sl_nhl_log_loss(&m, tr.X, tr.y, tr.n);
        ll_test = te.n ? sl_nhl_log_loss(&m, te.X, te.y, te.n) : NAN;
        ll_base = te.n ? sl_nhl_base_log_loss(rate, te.y, te.n) : NAN;
        printf("train rows %zu goals %zu (%.4f per unblocked attempt), %d Newton iterations\n",
               tr.n, goals, rate, iters);
        printf("train log loss %.5f, base rate %.5f\n", ll, sl_nhl_base_log_loss(rate, tr.y, tr.n));
        printf("held-out rows %zu: log loss %.5f, base-rate log loss %.5f\n", te.n, ll_test,
               ll_base);
        printf("coef");
        for (int j = 0; j < SL_NHL_XG_NFEAT; j++)
                printf(" %s=%.4f", feat_names[j], m.w[j]);
        printf("\n");
        ret = 0;
        if (o->out && write_model(o->out, &m, tr.n, ll, ll_test, ll_base, source) < 0)
                ret = 1;
cleanup:
        free(tr.X);
        free(tr.y);
        free(te.X);
        free(te.y);
        return ret;
}

/* ---- ratings ------------------------------------------------------------------------- */

struct season {
        const struct sl_nhl_xg_model *m;
        struct sl_nhl_team_agg agg[NHL_TEAMS];
        int64_t ids[NHL_TEAMS];
        int half; /* games with gi < half are the rating window */
        struct sl_nhl_rating rt[NHL_TEAMS];
        bool rated;
        int n_test, correct;
        double ll, brier, home_wins;
        double goals, sog, attempts, team_games;
};

static int team_slot(const struct season *s, int64_t id)
{
        for (int t = 0; t < NHL_TEAMS; t++)
                if (s->ids[t] == id)
                        return t;
        return -1;
}

static int season_game(const struct nhl_pbp_game *g, int gi, void *opaque)
{
        struct season *s = opaque;
        struct sl_nhl_team_game tg[2];
        int h = team_slot(s, g->home_id), a = team_slot(s, g->away_id);

        if (h < 0 || a < 0 ||
            sl_nhl_game_metrics(g->plays, g->nplays, g->home_id, g->away_id, s->m, tg, NULL) < 0)
                return -EBADMSG;
        s->goals += tg[0].all_for.goals + tg[1].all_for.goals;
        s->sog += tg[0].all_for.shots + tg[1].all_for.shots;
        s->attempts += tg[0].all_for.corsi + tg[1].all_for.corsi;
        s->team_games += 2;
        if (gi < s->half) {
                sl_nhl_agg_add(&s->agg[h], &tg[0]);
                sl_nhl_agg_add(&s->agg[a], &tg[1]);
                return 0;
        }
        if (!s->rated) {
                if (sl_nhl_ratings(s->agg, NHL_TEAMS, s->rt) < 0)
                        return -EINVAL;
                s->rated = true;
        }
        {
                double p;
                int won = g->home_score > g->away_score;
                sl_nhl_goi(&s->rt[h], &s->rt[a], &p);
                s->n_test++;
                s->correct += (p >= 0.5) == (won == 1);
                s->ll -= won ? log(p) : log(1 - p);
                s->brier += (p - won) * (p - won);
                s->home_wins += won;
        }
        return 0;
}

static int cmd_ratings(const struct opts *o)
{
        struct nhl_league *lg = nhl_league_new(o->seed, o->season);
        struct sl_nhl_xg_model m;
        struct season *s;
        double hw;
        int rc;

        if (!lg || get_model(o, &m) < 0) {
                nhl_league_free(lg);
                return EX_DATA;
        }
        s = sl_xcalloc(1, sizeof(*s));
        s->m = &m;
        s->half = NHL_GAMES / 2;
        for (int t = 0; t < NHL_TEAMS; t++) {
                s->ids[t] = nhl_team(lg, t)->id;
                s->agg[t].team_id = s->ids[t];
        }
        rc = sim_games(o->seed, o->season, season_game, s);
        if (rc < 0 || s->n_test == 0) {
                fprintf(stderr, "statline-nhl: ratings failed\n");
                nhl_league_free(lg);
                free(s);
                return EX_DATA;
        }
        printf("season %d seed %llu: %.2f goals, %.2f shots on goal, %.2f shot attempts per team "
               "game; shooting %.2f%%\n",
               o->season, (unsigned long long)o->seed, s->goals / s->team_games,
               s->sog / s->team_games, s->attempts / s->team_games, 100.0 * s->goals / s->sog);
        printf("%-4s %3s %7s %7s %7s %7s %7s %7s\n", "team", "gp", "xGF%5", "CF%5", "GF%", "SV%",
               "SH%", "TPI");
        for (int t = 0; t < NHL_TEAMS; t++) {
                const struct sl_nhl_rating *r = &s->rt[t];
                printf("%-4s %3d %7.3f %7.3f %7.3f %7.3f %7.3f %+7.3f\n", nhl_team(lg, t)->abbr,
                       r->games, r->value[0], r->value[1], r->value[2], r->value[3], r->value[4],
                       r->tpi);
        }
        hw = s->home_wins / s->n_test;
        printf("GOI on the second half (%d games): accuracy %.3f, log loss %.4f (coin %.4f, "
               "home rate %.4f), Brier %.4f\n",
               s->n_test, (double)s->correct / s->n_test, s->ll / s->n_test, log(2.0),
               -(hw * log(hw) + (1 - hw) * log(1 - hw)), s->brier / s->n_test);
        nhl_league_free(lg);
        free(s);
        return 0;
}

int main(int argc, char **argv)
{
        struct opts *o;
        int rc;

        if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
                usage(argc < 2 ? stderr : stdout);
                return argc < 2 ? EX_USAGE : 0;
        }
        o = sl_xcalloc(1, sizeof(*o));
        if (parse_opts(argc - 2, argv + 2, o) < 0) {
                free(o);
                return EX_USAGE;
        }
        if (strcmp(argv[1], "metrics") == 0)
                rc = cmd_metrics(o);
        else if (strcmp(argv[1], "train-xg") == 0)
                rc = cmd_train(o);
        else if (strcmp(argv[1], "ratings") == 0)
                rc = cmd_ratings(o);
        else {
                fprintf(stderr, "statline-nhl: unknown command %s (see --help)\n", argv[1]);
                rc = EX_USAGE;
        }
        free(o);
        return rc;
}
