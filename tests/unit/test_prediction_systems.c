/*
 * Unit tests for statline-prediction's pure parts (systems.c) and the
 * XGBoost model (model.c): recommendation bands, confidence bounds, the
 * ensemble weighting, k-nearest neighbours, and a model trained on
 * simulated data beating the naive season-average baseline on held-out rows.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prediction.h"
#include "sl_test.h"

static void test_recommend(void)
{
        SL_CHECK(strcmp(pred_recommend(25.0, 22.5, 1.0), "OVER") == 0);
        SL_CHECK(strcmp(pred_recommend(20.0, 22.5, 1.0), "UNDER") == 0);
        SL_CHECK(strcmp(pred_recommend(23.0, 22.5, 1.0), "PASS") == 0);
        SL_CHECK(strcmp(pred_recommend(23.5, 22.5, 1.0), "OVER") == 0); /* edge inclusive */
        SL_CHECK(strcmp(pred_recommend(30.0, NAN, 1.0), "PASS") == 0);
        SL_CHECK(strcmp(pred_recommend(NAN, 20.0, 1.0), "PASS") == 0);
        /*
         * Decided on the published values ("%.2f" value, "%.1f" line):
         * 23.496 is published as 23.50, one full edge over 22.5: OVER;
         * 23.494 is published as 23.49: PASS. The unrounded value said PASS
         * for both.
         */
        SL_CHECK(strcmp(pred_recommend(23.496, 22.5, 1.0), "OVER") == 0);
        SL_CHECK(strcmp(pred_recommend(23.494, 22.5, 1.0), "PASS") == 0);
        SL_CHECK(strcmp(pred_recommend(21.506, 22.5, 1.0), "PASS") == 0);
        SL_CHECK(strcmp(pred_recommend(21.504, 22.5, 1.0), "UNDER") == 0);
        /* floating point: 2.3 - 1.5 is 0.7999999... in doubles; in hundredths exactly 80 */
        SL_CHECK(strcmp(pred_recommend(2.3, 1.5, 0.8), "OVER") == 0);
        SL_CHECK(strcmp(pred_recommend(0.7, 1.5, 0.8), "UNDER") == 0);
        SL_CHECK(strcmp(pred_recommend(7.0, 6.5, 0.5), "OVER") == 0);
}

static void test_confidence(void)
{
        double c1 = pred_confidence(25.0, 22.5, 4.0, 10), c2 = pred_confidence(30.0, 22.5, 4.0, 10);

        SL_CHECK(c1 > 0.0 && c1 < 1.0);
        SL_CHECK(c2 > c1); /* farther from the line: more confident */
        SL_CHECK(pred_confidence(30.0, 22.5, 4.0, 5) < c2); /* less evidence: less */
        SL_CHECK(pred_confidence(22.5, 22.5, 4.0, 10) == 0.0);
        SL_CHECK(pred_confidence(25.0, NAN, 4.0, 10) == 0.0);
        SL_CHECK(pred_confidence(1000.0, 0.0, 0.0, 100) <= 1.0);
}

static void test_ensemble(void)
{
        struct pred_value parts[3] = {{10.0, 1.0, 10}, {20.0, 1.0, 10}, {NAN, 0, 0}};
        double mae_known[3] = {1.0, 3.0, NAN}, mae_unknown[3] = {NAN, 2.0, NAN};
        struct pred_value e;

        e = pred_ensemble(parts, mae_known, 3); /* weights 1 and 1/3 */
        SL_CHECKF(fabs(e.value - 12.5) < 1e-9, "got %f", e.value);
        SL_CHECK(e.sd > 1.0 && e.n > 9.99);
        e = pred_ensemble(parts, mae_unknown, 3); /* one unknown: equal weights */
        SL_CHECKF(fabs(e.value - 15.0) < 1e-9, "got %f", e.value);
        e = pred_ensemble(parts, NULL, 3);
        SL_CHECK(fabs(e.value - 15.0) < 1e-9);
        parts[0].value = parts[1].value = NAN;
        e = pred_ensemble(parts, mae_known, 3);
        SL_CHECK(isnan(e.value));
}

/*
 * A system that failed or whose breaker was open (pred_run_systems) leaves
 * NaN values: its weight is left out even when its recent error is the best
 * one, and the weights of the systems that ran are their own 1 / mae.
 */
static void test_ensemble_failed_system(void)
{
        struct pred_value parts[5] = {
            {10.0, 0, 10}, {20.0, 0, 10}, {NAN, 0, 0}, {16.0, 0, 10}, {NAN, 0, 0}};
        double mae[5] = {2.0, 4.0, 0.5, 1.0, 0.1};
        struct pred_value e = pred_ensemble(parts, mae, 5);

        /* (10 / 2 + 20 / 4 + 16 / 1) / (1 / 2 + 1 / 4 + 1 / 1) = 26 / 1.75 */
        SL_CHECKF(fabs(e.value - 26.0 / 1.75) < 1e-9, "got %f", e.value);
        SL_CHECKF(fabs(e.n - 10.0) < 1e-9, "n %f", e.n);
        /* only the failed ones: nothing */
        parts[0].value = parts[1].value = parts[3].value = NAN;
        e = pred_ensemble(parts, mae, 5);
        SL_CHECK(isnan(e.value));
}

static void test_knn(void)
{
        const float rows[] = {0, 0, 1, 1, 5, 5, 0.5f, 0.5f, 1, 1};
        const float q[] = {0.9f, 0.9f};
        double mean[2], sd[2];
        bool use[5] = {true, true, true, true, false};
        size_t idx[3], idx10[10], k;

        pred_col_stats(rows, 5, 2, mean, sd);
        SL_CHECK(fabs(mean[0] - 1.5) < 1e-6 && sd[0] > 0);
        k = pred_knn(q, rows, 5, 2, mean, sd, NULL, 3, idx);
        SL_CHECK(k == 3 && idx[0] == 1 && idx[1] == 4 && idx[2] == 3); /* tie: lower index first */
        k = pred_knn(q, rows, 5, 2, mean, sd, use, 3, idx);
        SL_CHECK(k == 3 && idx[0] == 1 && idx[1] == 3 && idx[2] == 0);
        k = pred_knn(q, rows, 5, 2, mean, sd, use, 10, idx10);
        SL_CHECK(k == 4);
}

static uint64_t rng_state;

/* xorshift64*: a deterministic uniform in [0, 1) (rand() is banned by checksrc). */
static double uni(void)
{
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return (double)((rng_state * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

/* Simulated player-games: pts depend on recent minutes (role changes), opponent and home. */
static void simulate(float *x, float *y, float *season, size_t n, unsigned seed)
{
        rng_state = 0x9E3779B97F4A7C15ULL * (seed + 1);
        for (size_t i = 0; i < n; i++) {
                double ppm = 0.3 + 0.5 * uni();
                double m_recent = 10 + 28 * uni();
                double m_old = 10 + 28 * uni();
                double opp = 0.8 + 0.4 * uni();
                double home = uni() < 0.5 ? 1.0 : 0.0;
                double noise = ((uni()) - 0.5) * 3.0;
                double mean = ppm * m_recent * opp * (home ? 1.05 : 0.97);
                x[i * 5 + 0] = (float)(ppm * m_recent); /* recent form */
                x[i * 5 + 1] = (float)m_recent;
                x[i * 5 + 2] = (float)(ppm * (m_old + m_recent) / 2); /* season average */
                x[i * 5 + 3] = (float)opp;
                x[i * 5 + 4] = (float)home;
                season[i] = x[i * 5 + 2];
                y[i] = (float)fmax(0.0, mean + noise);
        }
}

static void test_model(void)
{
        enum { N_TRAIN = 3000, N_TEST = 800, NF = 5 };
        static float xtr[N_TRAIN * NF], ytr[N_TRAIN], str[N_TRAIN];
        static float xte[N_TEST * NF], yte[N_TEST], ste[N_TEST];
        static double pred[N_TEST], pred2[N_TEST];
        struct pred_train_opts opts = {.rounds = 150};
        struct pred_model *model, *loaded;
        char err[512], path[] = "/tmp/sl-test-xgb-XXXXXX";
        double mae = 0, base = 0;
        int fd;

        simulate(xtr, ytr, str, N_TRAIN, 1);
        simulate(xte, yte, ste, N_TEST, 2);
        model = pred_model_train(xtr, ytr, N_TRAIN, NF, &opts, err, sizeof(err));
        SL_CHECKF(model != NULL, "%s", err);
        if (!model)
                return;
        SL_CHECK(pred_model_nfeatures(model) == NF);
        SL_CHECK(pred_model_predict(model, xte, N_TEST, NF, pred, err, sizeof(err)) == 0);
        for (size_t i = 0; i < N_TEST; i++) {
                mae += fabs(pred[i] - yte[i]);
                base += fabs(ste[i] - yte[i]);
        }
        mae /= N_TEST;
        base /= N_TEST;
        printf("# xgboost MAE %.3f vs season-average baseline %.3f on %d held-out rows\n", mae,
               base, N_TEST);
        SL_CHECKF(mae < base * 0.9, "mae %.3f base %.3f", mae, base);
        fd = mkstemp(path);
        SL_CHECK(fd >= 0);
        close(fd);
        SL_CHECK(pred_model_save(model, path, err, sizeof(err)) == 0);
        loaded = pred_model_load(path, NF, err, sizeof(err));
        SL_CHECKF(loaded != NULL, "%s", err);
        SL_CHECK(pred_model_load(path, NF + 1, err, sizeof(err)) == NULL); /* layout mismatch */
        if (loaded) {
                SL_CHECK(pred_model_predict(loaded, xte, N_TEST, NF, pred2, err, sizeof(err)) == 0);
                SL_CHECK(memcmp(pred, pred2, sizeof(pred)) == 0); /* same model, same numbers */
                SL_CHECK(pred_model_predict(loaded, xte, N_TEST, NF + 1, pred2, err, sizeof(err)) <
                         0);
        }
        unlink(path);
        pred_model_free(loaded);
        pred_model_free(model);
        pred_model_free(NULL);
}

/* P(over) under the normal model: values from the standard normal table (1 - Phi(z)). */
static void test_p_over(void)
{
        /* z = 0.5: 1 - Phi(0.5) = 0.3085375387 */
        SL_CHECK(fabs(pred_p_over(20, 5, 22.5) - 0.3085375387259869) < 1e-12);
        /* z = -0.5/6: 0.5332067519 */
        SL_CHECK(fabs(pred_p_over(25, 6, 24.5) - 0.5332067518526222) < 1e-12);
        SL_CHECK(fabs(pred_p_over(10, 1, 10) - 0.5) < 1e-15);
        /* z = 1.96: 0.0249978951 */
        SL_CHECK(fabs(pred_p_over(0, 1, 1.96) - 0.024997895148220435) < 1e-12);
        SL_CHECK(isnan(pred_p_over(10, 0, 10)));
        SL_CHECK(isnan(pred_p_over(10, -1, 10)));
        SL_CHECK(isnan(pred_p_over(NAN, 1, 10)));
}

static void test_kelly_cfg(void)
{
        const char *ok[6] = {"1000", "0.25", "0.05", "0.15", "0.30", "0.02"};
        const char *t[6];
        struct pred_kelly_cfg c;
        char err[256];

        SL_CHECK(pred_kelly_cfg_parse(ok, &c, err, sizeof(err)) == 0);
        SL_CHECK(c.bankroll == 1000 && c.fraction == 0.25 && c.max_bet == 0.05 &&
                 c.max_day == 0.15 && c.max_portfolio == 0.30 && c.min_edge == 0.02);
        memcpy(t, ok, sizeof(t));
        t[0] = "-5";
        SL_CHECK(pred_kelly_cfg_parse(t, &c, err, sizeof(err)) == -EINVAL);
        SL_CHECKF(strstr(err, "kelly.bankroll") != NULL, "%s", err);
        memcpy(t, ok, sizeof(t));
        t[1] = "1.5";
        SL_CHECK(pred_kelly_cfg_parse(t, &c, err, sizeof(err)) == -EINVAL);
        SL_CHECKF(strstr(err, "kelly.fraction") != NULL, "%s", err);
        memcpy(t, ok, sizeof(t));
        t[2] = "0.2"; /* max_bet above max_day */
        SL_CHECK(pred_kelly_cfg_parse(t, &c, err, sizeof(err)) == -EINVAL);
        memcpy(t, ok, sizeof(t));
        t[5] = "abc";
        SL_CHECK(pred_kelly_cfg_parse(t, &c, err, sizeof(err)) == -EINVAL);
        SL_CHECKF(strstr(err, "kelly.min_edge") != NULL, "%s", err);
        memcpy(t, ok, sizeof(t));
        t[4] = "";
        SL_CHECK(pred_kelly_cfg_parse(t, &c, err, sizeof(err)) == -EINVAL);
}

/*
 * Unchanged-input skips (inputs.c): which later runs of a date an earlier
 * run covers. Expected answers are worked out by hand from the sets.
 */
static void test_seen(void)
{
        struct pred_seen_cache c = {0};
        const char *k1 = "aaaa", *k2 = "bbbb";

        SL_CHECK(!pred_seen_covered(&c, "2024-11-01", k1, NULL));
        SL_CHECK(!pred_seen_covered(&c, "2024-11-01", k1, "{1}"));
        /* a player run covers its players (any order, duplicates), not the date */
        pred_seen_record(&c, "2024-11-01", k1, "{30,10,20}");
        SL_CHECK(pred_seen_covered(&c, "2024-11-01", k1, "{20,10}"));
        SL_CHECK(pred_seen_covered(&c, "2024-11-01", k1, "{10,10,30}"));
        SL_CHECK(!pred_seen_covered(&c, "2024-11-01", k1, "{10,40}"));
        SL_CHECK(!pred_seen_covered(&c, "2024-11-01", k1, "{5}"));
        SL_CHECK(!pred_seen_covered(&c, "2024-11-01", k1, NULL));
        SL_CHECK(!pred_seen_covered(&c, "2024-11-01", k2, "{10}")); /* inputs moved */
        SL_CHECK(!pred_seen_covered(&c, "2024-11-02", k1, "{10}")); /* another date */
        SL_CHECK(!pred_seen_covered(&c, "2024-11-01", "", "{10}"));
        SL_CHECK(!pred_seen_covered(&c, "2024-11-01", k1, "junk"));
        /* a second run with the same key adds its players */
        pred_seen_record(&c, "2024-11-01", k1, "{40,5}");
        SL_CHECK(pred_seen_covered(&c, "2024-11-01", k1, "{5,10,20,30,40}"));
        SL_CHECK(!pred_seen_covered(&c, "2024-11-01", k1, "{6}"));
        /* another key replaces the entry: the old players are not covered any more */
        pred_seen_record(&c, "2024-11-01", k2, "{7}");
        SL_CHECK(pred_seen_covered(&c, "2024-11-01", k2, "{7}"));
        SL_CHECK(!pred_seen_covered(&c, "2024-11-01", k2, "{10}"));
        SL_CHECK(!pred_seen_covered(&c, "2024-11-01", k1, "{10}"));
        /* a whole-date run covers every player and the whole date */
        pred_seen_record(&c, "2024-11-01", k2, NULL);
        SL_CHECK(pred_seen_covered(&c, "2024-11-01", k2, NULL));
        SL_CHECK(pred_seen_covered(&c, "2024-11-01", k2, "{123456789}"));
        pred_seen_record(&c, "2024-11-01", k2, "{1}"); /* stays whole */
        SL_CHECK(pred_seen_covered(&c, "2024-11-01", k2, NULL));
        /* PRED_SEEN_DATES dates kept: the oldest goes first */
        for (int i = 0; i < PRED_SEEN_DATES; i++) {
                char d[16];
                snprintf(d, sizeof(d), "2024-12-%02d", i + 1);
                pred_seen_record(&c, d, k1, NULL);
        }
        SL_CHECK(!pred_seen_covered(&c, "2024-11-01", k2, NULL));
        SL_CHECK(pred_seen_covered(&c, "2024-12-01", k1, NULL));
        SL_CHECK(pred_seen_covered(&c, "2024-12-08", k1, "{3}"));
        pred_seen_fini(&c);
        SL_CHECK(!pred_seen_covered(&c, "2024-12-08", k1, NULL));
}

int main(void)
{
        SL_CHECK(strcmp(pred_market_name(PRED_REBOUNDS), "rebounds") == 0);
        SL_CHECK(pred_market_from_name("assists") == PRED_ASSISTS);
        SL_CHECK(pred_market_from_name("steals") == -1);
        SL_CHECK(strcmp(pred_system_name(PRED_SIMILARITY), "similarity_balanced_v1") == 0);
        test_recommend();
        test_confidence();
        test_ensemble();
        test_ensemble_failed_system();
        test_knn();
        test_model();
        test_p_over();
        test_kelly_cfg();
        test_seen();
        return SL_DONE();
}
