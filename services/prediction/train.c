/*
 * statline-train: trains xgboost_v1 (points) from the feature store, saves
 * the model file content-addressed under --model-dir, records it in
 * prediction.models and prints an accuracy report: MAE per system on the
 * held-out dates (the last --holdout share of dates) next to a naive
 * baseline (the player's season average before the date).
 *
 *   statline-train --pg-dsn DSN --model-dir DIR [--migrations DIR]
 *                  [--feature-version V] [--holdout 0.2] [--rounds 200]
 *                  [--require-beat-baseline]
 * Exit: 0, 1 on errors, 2 with --require-beat-baseline when the model does
 * not beat the baseline, 64 on bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sl/log.h>
#include <sl/pg.h>
#include <sl/sha256.h>
#include <sl/util.h>

#include "prediction.h"

struct args {
        const char *dsn, *model_dir, *migrations, *feature_version;
        double holdout;
        int rounds;
        bool require_beat;
};

struct data {
        float *x, *y;
        size_t n, nf;
        char from[11], to[11]; /* training dates */
        char hold_from[11], hold_to[11];
        char fv[64];
};

static int usage(void)
{
        fprintf(stderr, "usage: statline-train --pg-dsn DSN --model-dir DIR [--migrations DIR]\n"
                        "         [--feature-version V] [--holdout 0.2] [--rounds 200]\n"
                        "         [--require-beat-baseline]\n");
        return 64;
}

static int parse_args(int argc, char **argv, struct args *a)
{
        static const struct option lo[] = {{"pg-dsn", required_argument, NULL, 'd'},
                                           {"model-dir", required_argument, NULL, 'm'},
                                           {"migrations", required_argument, NULL, 'g'},
                                           {"feature-version", required_argument, NULL, 'f'},
                                           {"holdout", required_argument, NULL, 'h'},
                                           {"rounds", required_argument, NULL, 'r'},
                                           {"require-beat-baseline", no_argument, NULL, 'b'},
                                           {NULL, 0, NULL, 0}};
        int c;
        int64_t v;

        a->holdout = 0.2;
        a->rounds = 200;
        while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
                switch (c) {
                case 'd':
                        a->dsn = optarg;
                        break;
                case 'm':
                        a->model_dir = optarg;
                        break;
                case 'g':
                        a->migrations = optarg;
                        break;
                case 'f':
                        a->feature_version = optarg;
                        break;
                case 'h':
                        a->holdout = strtod(optarg, NULL);
                        break;
                case 'r':
                        if (sl_parse_i64(optarg, 1, 10000, &v) < 0)
                                return -EINVAL;
                        a->rounds = (int)v;
                        break;
                case 'b':
                        a->require_beat = true;
                        break;
                default:
                        return -EINVAL;
                }
        }
        if (!a->dsn || !a->model_dir || !(a->holdout > 0 && a->holdout < 1))
                return -EINVAL;
        return 0;
}

/* Feature version, date split: the last holdout share of dates with outcomes is held out. */
static int plan(struct sl_pg *pg, const struct args *a, struct data *d, char *err, size_t n)
{
        PGresult *res = NULL;
        const char *p1[1];
        int rc, nd, k;

        if (a->feature_version) {
                snprintf(d->fv, sizeof(d->fv), "%s", a->feature_version);
        } else {
                rc =
                    sl_pg_exec(pg,
                               "SELECT feature_version FROM precompute.ml_feature_store GROUP BY 1 "
                               "ORDER BY count(*) DESC, 1 DESC LIMIT 1",
                               0, NULL, &res, err, n);
                if (rc < 0)
                        return rc;
                if (PQntuples(res) == 0) {
                        PQclear(res);
                        snprintf(err, n, "precompute.ml_feature_store is empty");
                        return -ENOENT;
                }
                snprintf(d->fv, sizeof(d->fv), "%s", PQgetvalue(res, 0, 0));
                PQclear(res);
        }
        p1[0] = d->fv;
        rc = sl_pg_exec(pg,
                        "SELECT DISTINCT f.game_date::text FROM precompute.ml_feature_store f "
                        "JOIN analytics.player_game_summary s ON s.player_id = f.player_id AND "
                        "s.game_date = f.game_date WHERE f.feature_version = $1 ORDER BY 1",
                        1, p1, &res, err, n);
        if (rc < 0)
                return rc;
        nd = PQntuples(res);
        k = (int)ceil(nd * a->holdout);
        if (nd < 2 || k < 1 || k >= nd) {
                PQclear(res);
                snprintf(err, n, "%d dates with features and outcomes: need at least 2", nd);
                return -ENOENT;
        }
        snprintf(d->from, sizeof(d->from), "%s", PQgetvalue(res, 0, 0));
        snprintf(d->to, sizeof(d->to), "%s", PQgetvalue(res, nd - k - 1, 0));
        snprintf(d->hold_from, sizeof(d->hold_from), "%s", PQgetvalue(res, nd - k, 0));
        snprintf(d->hold_to, sizeof(d->hold_to), "%s", PQgetvalue(res, nd - 1, 0));
        PQclear(res);
        return 0;
}

static long parse_row(const char *s, float *out, size_t max)
{
        size_t k = 0;

        if (*s++ != '{')
                return -1;
        while (*s && *s != '}' && k < max) {
                char *end;
                out[k++] =
                    strncmp(s, "NULL", 4) == 0 ? (end = (char *)s + 4, NAN) : strtof(s, &end);
                if (end == s)
                        return -1;
                s = end + (*end == ',');
        }
        return (long)k;
}

static int load_training(struct sl_pg *pg, struct data *d, char *err, size_t n)
{
        const char *p[] = {d->fv, d->from, d->to};
        float buf[PRED_MAX_FEATURES];
        PGresult *res = NULL;
        int rc;

        rc = sl_pg_exec(pg,
                        "SELECT f.features::text, s.pts FROM precompute.ml_feature_store f JOIN "
                        "analytics.player_game_summary s ON s.player_id = f.player_id AND "
                        "s.game_date = f.game_date WHERE f.feature_version = $1 AND s.minutes > 0 "
                        "AND f.game_date BETWEEN $2::date AND $3::date "
                        "ORDER BY f.game_date, f.player_id",
                        3, p, &res, err, n);
        if (rc < 0)
                return rc;
        size_t rows = (size_t)PQntuples(res);
        for (size_t r = 0; r < rows; r++) {
                long nf = parse_row(PQgetvalue(res, (int)r, 0), buf, PRED_MAX_FEATURES);
                if (nf <= 0)
                        continue;
                if (d->nf == 0) {
                        d->nf = (size_t)nf;
                        d->x = sl_xmalloc(rows * d->nf * sizeof(float));
                        d->y = sl_xmalloc(rows * sizeof(float));
                }
                if ((size_t)nf != d->nf)
                        continue;
                memcpy(d->x + d->n * d->nf, buf, d->nf * sizeof(float));
                d->y[d->n++] = strtof(PQgetvalue(res, (int)r, 1), NULL);
        }
        PQclear(res);
        if (d->n == 0) {
                snprintf(err, n, "no training rows");
                return -ENOENT;
        }
        return 0;
}

/* Saves to a temp file, names it by its digest (atomic rename). */
static int save_model(const struct pred_model *model, const char *dir, const char *fv, char *path,
                      size_t path_size, char *sha, char *version, size_t vsize, char *err, size_t n)
{
        char tmp[4096];
        FILE *f;
        char *buf;
        long len;
        int rc;

        snprintf(tmp, sizeof(tmp), "%s/.xgboost_v1.%d.tmp.json", dir, (int)getpid());
        rc = pred_model_save(model, tmp, err, n);
        if (rc < 0)
                return rc;
        f = fopen(tmp, "rb");
        if (!f || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
                if (f)
                        fclose(f);
                snprintf(err, n, "%.900s: %s", tmp, strerror(errno));
                return -EIO;
        }
        buf = sl_xmalloc((size_t)len + 1);
        if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
                fclose(f);
                free(buf);
                snprintf(err, n, "%.900s: short read", tmp);
                return -EIO;
        }
        fclose(f);
        sl_sha256_hex(buf, (size_t)len, sha);
        free(buf);
        snprintf(version, vsize, "xgboost_v1-%s-%.12s", fv, sha);
        snprintf(path, path_size, "%s/%s.json", dir, version);
        if (rename(tmp, path) < 0) {
                snprintf(err, n, "rename %.900s: %s", path, strerror(errno));
                unlink(tmp);
                return -EIO;
        }
        return 0;
}

static void report(const struct pred_set *set, double *xgb_mae, double *base_mae)
{
        double bsum = 0.0;
        size_t bc = 0, c;

        for (size_t i = 0; i < set->n; i++) {
                if (isnan(set->t[i].season_avg_pts) || isnan(set->t[i].actual[PRED_POINTS]))
                        continue;
                bsum += fabs(set->t[i].season_avg_pts - set->t[i].actual[PRED_POINTS]);
                bc++;
        }
        *base_mae = bc ? bsum / (double)bc : NAN;
        printf("accuracy report: points, %zu held-out player-games\n", set->n);
        printf("  %-24s %8s %8s\n", "system", "MAE", "n");
        printf("  %-24s %8.3f %8zu\n", "baseline_season_avg", *base_mae, bc);
        for (int s = 0; s < PRED_N_SYSTEMS; s++) {
                double mae = pred_mae(set, s, PRED_POINTS, &c);
                printf("  %-24s %8.3f %8zu%s%s\n", pred_system_name(s), mae, c,
                       set->ran[s] ? "" : "  skipped: ", set->ran[s] ? "" : set->skip_reason[s]);
                if (s == PRED_XGBOOST)
                        *xgb_mae = mae;
        }
}

static int record(struct sl_pg *pg, const char *version, const struct data *d, const char *path,
                  const char *sha, double mae, char *err, size_t n)
{
        char m[32];
        const char *p[] = {version, d->fv, path, sha, d->from, d->to, m};

        snprintf(m, sizeof(m), "%.3f", mae);
        return sl_pg_exec(pg,
                          "INSERT INTO prediction.models (model_version, system_id, "
                          "feature_version, file_path, file_sha256, trained_from, trained_to, "
                          "holdout_mae) VALUES ($1, 'xgboost_v1', $2, $3, $4, $5::date, $6::date, "
                          "NULLIF($7, 'nan')::numeric) ON CONFLICT (model_version) DO UPDATE SET "
                          "file_path = excluded.file_path, holdout_mae = excluded.holdout_mae",
                          7, p, NULL, err, n);
}

int main(int argc, char **argv)
{
        struct args a = {0};
        struct data d = {0};
        struct pred_set set = {0};
        struct pred_model *model = NULL;
        struct pred_train_opts topts = {0};
        struct sl_pg *pg = NULL;
        char err[1024] = "", path[4096], sha[SL_SHA256_HEX_LEN + 1], version[128];
        double xgb_mae = NAN, base_mae = NAN;
        int rc, code = 1;

        if (parse_args(argc, argv, &a) < 0)
                return usage();
        sl_log_init("train", SL_LOG_WARN);
        pg = sl_pg_open(a.dsn, 10000, err, sizeof(err));
        if (!pg)
                goto out;
        rc = a.migrations ? sl_pg_migrate(pg, a.migrations, err, sizeof(err)) : 0;
        if (rc >= 0)
                rc = plan(pg, &a, &d, err, sizeof(err));
        if (rc >= 0)
                rc = load_training(pg, &d, err, sizeof(err));
        if (rc < 0)
                goto out;
        printf("training xgboost_v1 on %zu rows x %zu features (feature_version %s, %s..%s); "
               "held out %s..%s\n",
               d.n, d.nf, d.fv, d.from, d.to, d.hold_from, d.hold_to);
        topts.rounds = a.rounds;
        int64_t t0 = sl_mono_ms();
        model = pred_model_train(d.x, d.y, d.n, d.nf, &topts, err, sizeof(err));
        if (!model)
                goto out;
        printf("trained in %lld ms\n", (long long)(sl_mono_ms() - t0));
        rc = save_model(model, a.model_dir, d.fv, path, sizeof(path), sha, version, sizeof(version),
                        err, sizeof(err));
        if (rc == 0)
                rc = pred_targets_from_games(pg, d.hold_from, d.hold_to, err, sizeof(err));
        if (rc >= 0)
                rc = pred_set_load(pg, &set, d.fv, err, sizeof(err));
        if (rc == 0)
                rc = pred_run_systems(pg, &set, model, false, err, sizeof(err));
        if (rc < 0)
                goto out;
        report(&set, &xgb_mae, &base_mae);
        rc = record(pg, version, &d, path, sha, xgb_mae, err, sizeof(err));
        if (rc < 0)
                goto out;
        printf("model %s -> %s\n", version, path);
        bool beats = !isnan(xgb_mae) && !isnan(base_mae) && xgb_mae < base_mae;
        printf("xgboost_v1 beats baseline: %s (%.3f vs %.3f)\n", beats ? "yes" : "no", xgb_mae,
               base_mae);
        code = a.require_beat && !beats ? 2 : 0;
out:
        if (code == 1)
                fprintf(stderr, "statline-train: %s\n", err);
        pred_set_fini(&set);
        pred_model_free(model);
        free(d.x);
        free(d.y);
        sl_pg_close(pg);
        return code;
}
