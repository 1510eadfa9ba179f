/*
 * Odds conversion and margin removal (sl/odds.h). docs/models.md "Odds".
 */
#include <sl/odds.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#define SOLVE_ITERS 200 /* bisection steps: interval width 2^-200 is far below 1e-15 */

int sl_odds_american_to_decimal(double american, double *decimal)
{
        if (!decimal || !isfinite(american) || fabs(american) < 100.0)
                return -EINVAL;
        *decimal = american > 0 ? 1.0 + american / 100.0 : 1.0 + 100.0 / -american;
        return 0;
}

int sl_odds_decimal_to_american(double decimal, double *american)
{
        if (!american || !isfinite(decimal) || decimal <= 1.0)
                return -EINVAL;
        *american = decimal >= 2.0 ? 100.0 * (decimal - 1.0) : -100.0 / (decimal - 1.0);
        return 0;
}

int sl_odds_parse(const char *text, double *decimal)
{
        char *end;
        double v;

        if (!text || !decimal || !*text)
                return -EINVAL;
        v = strtod(text, &end);
        if (end == text || *end != '\0' || !isfinite(v))
                return -EINVAL;
        if (text[0] == '+' || text[0] == '-')
                return sl_odds_american_to_decimal(v, decimal);
        if (v <= 1.0)
                return -EINVAL;
        *decimal = v;
        return 0;
}

double sl_odds_implied(double decimal)
{
        return 1.0 / decimal;
}

static int check_market(const double *decimal, size_t n, double *sum_q)
{
        double s = 0;

        if (!decimal || n < 2)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                if (!isfinite(decimal[i]) || decimal[i] <= 1.0)
                        return -EINVAL;
                s += 1.0 / decimal[i];
        }
        *sum_q = s;
        return 0;
}

int sl_odds_overround(const double *decimal, size_t n, double *overround)
{
        double s;
        int rc = check_market(decimal, n, &s);

        if (rc < 0 || !overround)
                return rc < 0 ? rc : -EINVAL;
        *overround = s - 1.0;
        return 0;
}

static double power_sum(const double *decimal, size_t n, double k)
{
        double s = 0;

        for (size_t i = 0; i < n; i++)
                s += pow(1.0 / decimal[i], k);
        return s;
}

/* Shin's probability of outcome i for insider share z (q_i implied, sq = sum q). */
static double shin_p(double q, double sq, double z)
{
        return (sqrt(z * z + 4.0 * (1.0 - z) * q * q / sq) - z) / (2.0 * (1.0 - z));
}

static double shin_sum(const double *decimal, size_t n, double sq, double z)
{
        double s = 0;

        for (size_t i = 0; i < n; i++)
                s += shin_p(1.0 / decimal[i], sq, z);
        return s;
}

/* Bisection for f(x) = target on [lo, hi] where f is decreasing in x. */
static double solve_decreasing(double (*f)(const double *, size_t, double, double),
                               const double *decimal, size_t n, double aux, double lo, double hi)
{
        for (int i = 0; i < SOLVE_ITERS; i++) {
                double mid = 0.5 * (lo + hi);

                if (f(decimal, n, aux, mid) > 1.0)
                        lo = mid;
                else
                        hi = mid;
        }
        return 0.5 * (lo + hi);
}

static double power_sum_aux(const double *decimal, size_t n, double aux, double k)
{
        (void)aux;
        return power_sum(decimal, n, k);
}

int sl_odds_fair(const double *decimal, size_t n, enum sl_odds_devig method, double *fair,
                 double *param)
{
        double sq, x = 1.0, total = 0;
        int rc = check_market(decimal, n, &sq);

        if (rc < 0 || !fair)
                return rc < 0 ? rc : -EINVAL;
        if (method != SL_ODDS_PROPORTIONAL && sq < 1.0)
                return -EINVAL; /* no margin to remove: power/Shin are undefined */
        if (method == SL_ODDS_POWER) {
                /* sum q_i^k is decreasing in k (q_i < 1); k = 1 gives sq >= 1 */
                x = solve_decreasing(power_sum_aux, decimal, n, 0, 1.0, 64.0);
                if (fabs(power_sum(decimal, n, x) - 1.0) > 1e-12)
                        return -ERANGE;
        } else if (method == SL_ODDS_SHIN) {
                /* sum p_i(z) falls from sq (z = 0) to below 1 as z grows */
                x = solve_decreasing(shin_sum, decimal, n, sq, 0.0, 0.999);
                if (fabs(shin_sum(decimal, n, sq, x) - 1.0) > 1e-12)
                        return -ERANGE;
        } else if (method != SL_ODDS_PROPORTIONAL) {
                return -EINVAL;
        }
        for (size_t i = 0; i < n; i++) {
                double q = 1.0 / decimal[i];

                if (method == SL_ODDS_POWER)
                        fair[i] = pow(q, x);
                else if (method == SL_ODDS_SHIN)
                        fair[i] = shin_p(q, sq, x);
                else
                        fair[i] = q / sq;
                total += fair[i];
        }
        for (size_t i = 0; i < n; i++)
                fair[i] /= total; /* removes the last ~1e-15 of solver error */
        if (param)
                *param = x;
        return 0;
}

double sl_odds_edge(double p_model, double p_fair)
{
        return p_model - p_fair;
}

double sl_odds_ev(double p_model, double decimal)
{
        return p_model * decimal - 1.0;
}
