#include "prediction.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The pure parts of the prediction systems (prediction.h): no I/O. */

static const char *const market_names[PRED_N_MARKETS] = {"points", "rebounds", "assists"};
static const char *const system_names[PRED_N_SYSTEMS] = {
    "moving_average", "zone_matchup_v1", "similarity_balanced_v1", "xgboost_v1", "ensemble_v1"};

const char *pred_market_name(enum pred_market m)
{
        return (unsigned)m < PRED_N_MARKETS ? market_names[m] : "?";
}

int pred_market_from_name(const char *name)
{
        for (int m = 0; name && m < PRED_N_MARKETS; m++)
                if (strcmp(name, market_names[m]) == 0)
                        return m;
        return -1;
}

const char *pred_system_name(enum pred_system s)
{
        return (unsigned)s < PRED_N_SYSTEMS ? system_names[s] : "?";
}

/* x as printed with two decimals (one when tenths), in hundredths: the stored numeric. */
static long long hundredths(double x, bool tenths)
{
        char buf[64];

        if (!(fabs(x) < 1e12))
                return x < 0 ? -100000000000000LL : 100000000000000LL;
        if (tenths)
                snprintf(buf, sizeof(buf), "%.1f", x);
        else
                snprintf(buf, sizeof(buf), "%.2f", x);
        return llround(strtod(buf, NULL) * 100.0);
}

const char *pred_recommend(double value, double line, double edge)
{
        long long v, l, e;

        if (isnan(value) || isnan(line) || isnan(edge))
                return "PASS";
        v = hundredths(value, false); /* as prediction.c stores them */
        l = hundredths(line, true);
        e = hundredths(edge, false);
        if (v - l >= e)
                return "OVER";
        if (l - v >= e)
                return "UNDER";
        return "PASS";
}

double pred_confidence(double value, double line, double sd, double n)
{
        double c;

        if (isnan(value) || isnan(line) || isnan(n) || n <= 0)
                return 0.0;
        if (isnan(sd) || sd < 1.0)
                sd = 1.0;
        c = (1.0 - exp(-fabs(value - line) / sd)) * (n >= 10.0 ? 1.0 : n / 10.0);
        return c < 0.0 ? 0.0 : c > 1.0 ? 1.0 : c;
}

struct pred_value pred_ensemble(const struct pred_value *parts, const double *mae, size_t k)
{
        struct pred_value out = {NAN, 0.0, 0.0};
        double w[PRED_N_SYSTEMS], wsum = 0.0, mean = 0.0, var = 0.0;
        bool equal = false;

        if (k > PRED_N_SYSTEMS)
                k = PRED_N_SYSTEMS;
        for (size_t i = 0; i < k; i++)
                if (!isnan(parts[i].value) && (!mae || isnan(mae[i])))
                        equal = true; /* one unknown error: no basis to rank the others */
        for (size_t i = 0; i < k; i++) {
                w[i] = 0.0;
                if (isnan(parts[i].value))
                        continue;
                w[i] = equal ? 1.0 : 1.0 / (mae[i] > 0.25 ? mae[i] : 0.25);
                wsum += w[i];
        }
        if (wsum <= 0.0)
                return out;
        for (size_t i = 0; i < k; i++)
                mean += w[i] * (w[i] > 0.0 ? parts[i].value : 0.0);
        mean /= wsum;
        for (size_t i = 0; i < k; i++) {
                if (w[i] <= 0.0)
                        continue;
                double d = parts[i].value - mean, sd = isnan(parts[i].sd) ? 0.0 : parts[i].sd;
                var += w[i] / wsum * (d * d + sd * sd);
                out.n += w[i] / wsum * (isnan(parts[i].n) ? 0.0 : parts[i].n);
        }
        out.value = mean;
        out.sd = sqrt(var);
        return out;
}

void pred_col_stats(const float *rows, size_t n, size_t nf, double *mean, double *sd)
{
        for (size_t f = 0; f < nf; f++) {
                double s = 0.0, s2 = 0.0;
                size_t c = 0;
                for (size_t i = 0; i < n; i++) {
                        double v = rows[i * nf + f];
                        if (isnan(v))
                                continue;
                        s += v;
                        s2 += v * v;
                        c++;
                }
                mean[f] = c ? s / (double)c : 0.0;
                sd[f] = c ? sqrt(fmax(s2 / (double)c - mean[f] * mean[f], 0.0)) : 1.0;
        }
}

/* Squared standardised distance; a NaN on either side contributes nothing. */
static double dist2(const float *a, const float *b, size_t nf, const double *mean, const double *sd)
{
        double d2 = 0.0;

        (void)mean; /* (a - m)/s - (b - m)/s = (a - b)/s */
        for (size_t f = 0; f < nf; f++) {
                double s = sd[f] > 0.0 ? sd[f] : 1.0, d = ((double)a[f] - (double)b[f]) / s;
                if (!isnan(d))
                        d2 += d * d;
        }
        return d2;
}

size_t pred_knn(const float *query, const float *rows, size_t n, size_t nf, const double *mean,
                const double *sd, const bool *use, size_t k, size_t *out_idx)
{
        double best[64];
        size_t found = 0;

        if (k > sizeof(best) / sizeof(best[0]))
                k = sizeof(best) / sizeof(best[0]);
        for (size_t i = 0; i < n; i++) {
                if (use && !use[i])
                        continue;
                pred_knn_keep(best, out_idx, &found, k, dist2(query, rows + i * nf, nf, mean, sd),
                              i);
        }
        return found;
}

void pred_knn_keep(double *best, size_t *out_idx, size_t *found, size_t k, double d, size_t i)
{
        size_t j;

        if (*found == k && d >= best[k - 1])
                return; /* strictly closer only: ties keep the lower index */
        j = *found < k ? (*found)++ : k - 1;
        while (j > 0 && best[j - 1] > d) {
                best[j] = best[j - 1];
                out_idx[j] = out_idx[j - 1];
                j--;
        }
        best[j] = d;
        out_idx[j] = i;
}
